"""SQLite persistence adapter (the embedded default): one file, WAL, group-committed event appends.

Every ``await`` on aiosqlite is a thread hop (~75 µs here), so the event bus hands this store
everything queued in one loop turn and it is written with one ``executemany`` and one commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from ..errors import StoreError
from ..instance_lock import InstanceLock
from ..logfile import FILE_ONLY
from ..models import AgentProfile, SessionEvent, make_event
from ..private_paths import make_private_dir
from .base import SessionRecord
from .summaries import BACKFILL_WHERE, HIGHS_SQL, Digest, DigestCache, backfill, summary_fields, update_rows

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE sessions (
        session_id TEXT PRIMARY KEY,
        data TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE events (
        session_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        source TEXT NOT NULL,
        PRIMARY KEY (session_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE transcripts (
        session_id TEXT NOT NULL,
        architecture TEXT NOT NULL,
        data TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (session_id, architecture)
    );
    CREATE TABLE workspace_files (
        session_id TEXT NOT NULL,
        path TEXT NOT NULL,
        content BLOB NOT NULL,
        PRIMARY KEY (session_id, path)
    );
    CREATE TABLE agent_profiles (
        id TEXT PRIMARY KEY,
        data TEXT NOT NULL
    );
    """,
    # Per-session summaries, kept as events are appended (runtime/store/summaries.py): the session
    # list without reading any log. Filled for existing sessions by ``_backfill_summaries``.
    2: """
    ALTER TABLE sessions ADD COLUMN status TEXT NOT NULL DEFAULT 'idle';
    ALTER TABLE sessions ADD COLUMN cost_usd REAL;
    ALTER TABLE sessions ADD COLUMN last_activity INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN unread INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN needs_input INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN summary TEXT
    """,
}

#: One statement per session per appended batch, in the batch's transaction.
_UPDATE_SUMMARY = (
    "UPDATE sessions SET status = ?, cost_usd = ?, last_activity = ?, last_seq = ?, needs_input = ?, "
    "summary = ?, unread = unread + ? WHERE session_id = ?"
)


def _dumps(value: Any) -> str:
    # orjson: ~5x faster than json here, and this runs once per persisted event.
    return orjson.dumps(value).decode()


_loads = orjson.loads


class SQLiteStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db: aiosqlite.Connection | None = None
        # One connection is shared by every coroutine: writes must not interleave, or one's BEGIN
        # lands inside another's transaction ("cannot start a transaction within a transaction").
        self._write_lock = asyncio.Lock()
        #: Set when a corrupt database was found at open and moved here (shown to the user).
        self.moved_aside: Path | None = None
        #: Held from open() to close(): one process owns a database at a time.
        self.instance_lock = InstanceLock(self.path)
        self._digests = DigestCache()

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        try:
            make_private_dir(self.path.parent)
        except OSError as exc:
            raise StoreError(f"cannot create the database folder {self.path.parent}: {exc.strerror or exc}") from exc
        # Before anything is locked, created or moved: a file that is not ours is left as it is.
        try:
            _refuse_foreign_file(self.path)
            # Before recovery or a move aside: those assume this process is the database's only user.
            self.instance_lock.acquire()
        except StoreError as exc:
            log.error("%s", exc.message, extra=FILE_ONLY)
            raise
        try:
            await self._open_locked()
        except BaseException:
            self.instance_lock.release()
            raise

    async def _open_locked(self) -> None:
        # The file (so its -wal and -shm, which SQLite creates with the database's mode) is
        # created private up front: SQLite would create it 0644 under the usual umask.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
        try:
            self._db = await self._connect()
        except sqlite3.DatabaseError as exc:
            if not _is_corruption(exc):
                if _is_read_only(exc, self.path):
                    raise StoreError(
                        f"database {self.path} is read-only ({exc}): agent-tui writes to it and to "
                        "its folder (the -wal and -shm files beside it)"
                    ) from exc
                raise StoreError(f"cannot open database {self.path}: {exc}") from exc
            # Never overwrite a damaged file: move it (and its WAL) aside and start a new one.
            # Only reached for a file recognisably ours (_refuse_foreign_file let it through).
            moved = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            for suffix in ("", "-wal", "-shm"):
                src = Path(str(self.path) + suffix)
                if src.exists():
                    src.rename(Path(str(moved) + suffix))
            log.error(
                "database %s is corrupt (%s); moved aside to %s and started a new one", self.path, exc, moved
            )
            self.moved_aside = moved
            with contextlib.suppress(FileExistsError):
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
            self._db = await self._connect()

    async def _connect(self) -> aiosqlite.Connection:
        db = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA busy_timeout=5000")
            await db.execute("PRAGMA foreign_keys=ON")
            await self._migrate(db)
            # A database that opens but cannot be written (a read-only file) is refused now,
            # with a clear error, not at the first event of the first query.
            await db.execute("BEGIN IMMEDIATE")
            await db.execute("ROLLBACK")
            async with db.execute("PRAGMA quick_check") as cursor:
                row = await cursor.fetchone()
            if row is None or row[0] != "ok":
                raise sqlite3.DatabaseError(f"database disk image is malformed: {row}")
        except BaseException:
            await db.close()
            raise
        return db

    async def _migrate(self, db: aiosqlite.Connection) -> None:
        await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        async with db.execute("SELECT MAX(version) FROM schema_version") as cursor:
            row = await cursor.fetchone()
        current = (row[0] if row else None) or 0
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"database {self.path} has schema version {current}, newer than this agent-tui ({SCHEMA_VERSION})"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            await db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _split_sql(_MIGRATIONS[version]):
                    await db.execute(statement)
                if version == 2:
                    await _backfill_summaries(db)
                await db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
                await db.execute("COMMIT")
            except BaseException:
                await db.execute("ROLLBACK")
                raise

    async def close(self) -> None:
        try:
            if self._db is not None:
                db, self._db = self._db, None
                await db.close()
        finally:
            self.instance_lock.release()

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("store is not open")
        return self._db

    # ------------------------------------------------------------------ sessions

    async def list_sessions(self) -> list[SessionRecord]:
        async with self.db.execute(
            "SELECT session_id, data, summary, unread FROM sessions ORDER BY created_at, session_id"
        ) as cursor:
            rows = await cursor.fetchall()
        records: list[SessionRecord] = []
        for session_id, data, summary, unread in rows:
            # One damaged row must not stop every start (a crash loop): it is left in the file.
            try:
                record = json.loads(data)
            except ValueError:
                record = None
            if not isinstance(record, dict) or record.get("sessionId") != session_id:
                log.error(
                    "session %s could not be loaded (its record is damaged); it is kept in the store untouched",
                    session_id,
                )
                continue
            records.append(self._with_summary(record, summary, unread))  # type: ignore[arg-type]
        return records

    def _with_summary(self, record: SessionRecord, summary: str | None, unread: int) -> SessionRecord:
        digest = Digest.from_json(_loads(summary) if summary else None)
        self._digests.put(record["sessionId"], digest)
        return {**record, **summary_fields(digest.to_json(), unread)}

    async def load_session(self, session_id: str) -> SessionRecord | None:
        async with self.db.execute(
            "SELECT data, summary, unread FROM sessions WHERE session_id = ?", (session_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return self._with_summary(json.loads(row[0]), row[1], row[2]) if row else None

    async def mark_read(self, session_id: str) -> None:
        """Zero the session's unread counter (docs/protocol.md, "Session summaries and unread")."""
        await self._write("UPDATE sessions SET unread = 0 WHERE session_id = ?", (session_id,))

    async def create_session(self, record: SessionRecord) -> None:
        await self._write(
            "INSERT INTO sessions (session_id, data, created_at) VALUES (?, ?, ?)",
            (record["sessionId"], _dumps(record), record["createdAt"]),
        )
        self._digests.put_new(record["sessionId"])

    async def update_session(self, session_id: str, changes: Mapping[str, Any]) -> None:
        async with self.db.execute("SELECT data FROM sessions WHERE session_id = ?", (session_id,)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return
        record = json.loads(row[0])
        record.update(changes)
        await self._write("UPDATE sessions SET data = ? WHERE session_id = ?", (_dumps(record), session_id))

    async def delete_session(self, session_id: str) -> None:
        async with self._write_lock:
            try:
                await self.db.execute("BEGIN IMMEDIATE")
                for table in ("events", "transcripts", "workspace_files", "sessions"):
                    await self.db.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))
                await self.db.execute("COMMIT")
            except Exception as exc:  # as in append_batch: never leave the transaction open
                await self._rollback()
                raise StoreError(f"could not delete session {session_id}: {exc}") from exc
        self._digests.drop(session_id)

    # ------------------------------------------------------------------ events

    async def append_events(self, session_id: str, events: Sequence[SessionEvent]) -> None:
        await self.append_batch([(session_id, e) for e in events])

    async def append_batch(
        self, batch: Sequence[tuple[str, SessionEvent]], payloads: Sequence[str] | None = None
    ) -> None:
        if payloads is None:
            payloads = [_dumps(e.payload) for _, e in batch]
        rows = [
            (sid, e.seq, e.type, text, e.timestamp, e.conversation_id, e.source)
            for (sid, e), text in zip(batch, payloads, strict=True)
        ]
        async with self._write_lock:
            try:
                for sid in self._digests.missing(batch):
                    await self._read_digest(sid)
                folded = self._digests.fold(batch)
                # One hop to the database thread for the whole transaction (each await on
                # aiosqlite is one): the events and their sessions' summaries commit together.
                db = self.db
                await db._execute(_append_transaction, db._conn, rows, update_rows(folded))
                self._digests.commit(folded)
            except Exception as exc:
                # Not only sqlite3.Error: binding a string with a lone surrogate raises
                # UnicodeEncodeError inside the transaction, which must not stay open (every later
                # BEGIN would fail: "cannot start a transaction within a transaction").
                await self._rollback()
                raise StoreError(f"could not persist {len(rows)} events: {exc}") from exc

    async def _read_digest(self, session_id: str) -> None:
        async with self.db.execute("SELECT summary FROM sessions WHERE session_id = ?", (session_id,)) as cursor:
            row = await cursor.fetchone()
        self._digests.put(session_id, Digest.from_json(_loads(row[0]) if row and row[0] else None))

    async def load_events(
        self, session_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[SessionEvent]:
        sql = (
            "SELECT seq, type, payload, timestamp, conversation_id, source FROM events "
            "WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?"
        )
        async with self.db.execute(sql, (session_id, after_seq, -1 if limit is None else limit)) as cursor:
            rows = await cursor.fetchall()
        return [make_event(r[0], r[1], _loads(r[2]), r[3], r[4], r[5]) for r in rows]

    async def last_seq(self, session_id: str) -> int:
        async with self.db.execute(
            "SELECT MAX(seq) FROM events WHERE session_id = ?", (session_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    async def last_event_of(self, session_id: str, prefix: str) -> SessionEvent | None:
        """The newest event whose type starts with ``prefix`` (used by start-up recovery)."""
        sql = (
            "SELECT seq, type, payload, timestamp, conversation_id, source FROM events "
            "WHERE session_id = ? AND type >= ? AND type < ? ORDER BY seq DESC LIMIT 1"
        )
        async with self.db.execute(sql, (session_id, prefix, prefix + "\uffff")) as cursor:
            r = await cursor.fetchone()
        if r is None:
            return None
        return make_event(r[0], r[1], _loads(r[2]), r[3], r[4], r[5])

    # ------------------------------------------------------------------ transcripts and files

    async def save_transcript(self, session_id: str, architecture: str, transcript: Any) -> None:
        await self._write(
            "INSERT OR REPLACE INTO transcripts VALUES (?, ?, ?, ?)",
            (session_id, architecture, _dumps(transcript), int(time.time() * 1000)),
        )

    async def load_transcript(self, session_id: str, architecture: str) -> Any | None:
        sql = "SELECT data FROM transcripts WHERE session_id = ? AND architecture = ?"
        async with self.db.execute(sql, (session_id, architecture)) as cursor:
            row = await cursor.fetchone()
        return json.loads(row[0]) if row else None

    async def save_workspace_file(self, session_id: str, path: str, content: bytes) -> None:
        await self._write(
            "INSERT OR REPLACE INTO workspace_files VALUES (?, ?, ?)", (session_id, path, content)
        )

    async def delete_workspace_file(self, session_id: str, path: str) -> None:
        await self._write("DELETE FROM workspace_files WHERE session_id = ? AND path = ?", (session_id, path))

    async def list_workspace_files(self, session_id: str) -> dict[str, bytes]:
        async with self.db.execute(
            "SELECT path, content FROM workspace_files WHERE session_id = ?", (session_id,)
        ) as cursor:
            return {row[0]: bytes(row[1]) for row in await cursor.fetchall()}

    # ------------------------------------------------------------------ profiles

    async def list_agent_profiles(self) -> list[AgentProfile]:
        async with self.db.execute("SELECT id, data FROM agent_profiles ORDER BY id") as cursor:
            rows = await cursor.fetchall()
        profiles: list[AgentProfile] = []
        for profile_id, data in rows:
            try:
                profiles.append(AgentProfile.model_validate_json(data))
            except ValueError:  # pydantic's ValidationError is a ValueError
                log.error("agent profile %s in the store is damaged; skipped", profile_id)
        return profiles

    async def load_agent_profile(self, profile_id: str) -> AgentProfile | None:
        async with self.db.execute("SELECT data FROM agent_profiles WHERE id = ?", (profile_id,)) as cursor:
            row = await cursor.fetchone()
        return AgentProfile.model_validate_json(row[0]) if row else None

    async def save_agent_profile(self, profile: AgentProfile) -> None:
        await self._write(
            "INSERT OR REPLACE INTO agent_profiles VALUES (?, ?)",
            (profile.id, profile.model_dump_json(by_alias=True)),
        )

    # ------------------------------------------------------------------ helpers

    async def integrity_check(self) -> str:
        async with self.db.execute("PRAGMA integrity_check") as cursor:
            row = await cursor.fetchone()
        return str(row[0]) if row else "no result"

    async def _write(self, sql: str, params: Sequence[Any]) -> None:
        async with self._write_lock:
            try:
                await self.db.execute(sql, params)
            except sqlite3.Error as exc:
                raise StoreError(f"database write failed: {exc}") from exc

    async def _rollback(self) -> None:
        try:
            await self.db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # no transaction was open


def _append_transaction(
    conn: sqlite3.Connection, rows: list[tuple[Any, ...]], summaries: list[tuple[Any, ...]]
) -> None:
    """Runs in aiosqlite's thread: BEGIN, the events, the summaries, COMMIT (or ROLLBACK)."""
    conn.execute("BEGIN")
    try:
        conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        conn.executemany(_UPDATE_SUMMARY, summaries)
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise


async def _backfill_summaries(db: aiosqlite.Connection) -> None:
    """Fold each existing session's log into its summary, once, at the upgrade to schema 2."""
    sql = "SELECT session_id, seq, type, payload, timestamp, conversation_id, source FROM events WHERE "
    async with db.execute(f"{sql}{BACKFILL_WHERE} ORDER BY session_id, seq") as cursor:
        rows = await cursor.fetchall()
    async with db.execute(HIGHS_SQL) as cursor:
        highs = await cursor.fetchall()
    await db.executemany(_UPDATE_SUMMARY, update_rows(backfill(rows, highs)))


def _split_sql(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _is_read_only(exc: sqlite3.DatabaseError, path: Path) -> bool:
    text = str(exc).lower()
    if "readonly" in text or "read-only" in text:
        return True
    # "unable to open database file": often the folder cannot take the -wal/-shm files.
    folder = path.parent
    return "unable to open" in text and (
        not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK))
    )


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "file is encrypted" in text


SQLITE_HEADER = b"SQLite format 3\x00"
#: Text of our first migration, which SQLite keeps verbatim in sqlite_master on page 1: our
#: version table and one of ours no other program is likely to have beside it.
_OUR_MARKS = (b"CREATE TABLE schema_version", b"CREATE TABLE workspace_files")


def _refuse_foreign_file(path: Path) -> None:
    """Raise unless ``path`` is absent, empty, an empty SQLite database or recognisably ours.

    Ours means an SQLite header and our ``schema_version`` table, read from the raw first pages
    (which works on a damaged file) or from the schema. Anything else (a text file given to
    ``--db`` by mistake, another program's database) is refused untouched: neither migrated into
    nor moved aside as "corrupt".
    """
    try:
        with path.open("rb") as handle:
            head = handle.read(64 * 1024)
    except FileNotFoundError:
        return
    except IsADirectoryError:
        raise StoreError(f"database {path} is a folder, not a file: give --db a file path") from None
    except OSError as exc:
        raise StoreError(f"cannot read database {path}: {exc.strerror or exc}") from exc
    if not head:
        return
    if not head.startswith(SQLITE_HEADER):
        raise StoreError(
            f"{path} is not an agent-tui database (not an SQLite file); it was left as it is: "
            "give --db a new file or an agent-tui database"
        )
    if all(mark in head for mark in _OUR_MARKS):
        return
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"{path} is a damaged SQLite file that is not recognisably agent-tui's ({exc}); "
            "it was left as it is: give --db another file"
        ) from exc
    ours = tables <= {"schema_version"} or {"schema_version", "sessions", "events"} <= tables
    if not ours:
        raise StoreError(
            f"{path} is another program's SQLite database (tables: {', '.join(sorted(tables)[:5])}); "
            "it was left as it is: give --db a new file or an agent-tui database"
        )
