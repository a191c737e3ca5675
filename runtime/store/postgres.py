"""Postgres persistence adapter (asyncpg): the store of a team server that runs as several nodes.

Same interface and guarantees as ``SQLiteStore``: gapless per-session seqs (primary key
``(session_id, seq)`` and a high-water check in the same transaction), persist-before-publish
through the event bus's group commit (everything queued in one writer turn lands in one
transaction, written with ``COPY``), numbered migrations (serialised across nodes by an advisory
lock). Why asyncpg: docs/deploy.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from ..errors import StoreError
from ..models import AgentProfile, SessionEvent, make_event
from .base import SessionRecord
from .summaries import BACKFILL_WHERE, HIGHS_SQL, Digest, DigestCache, backfill, summary_fields, update_rows

try:  # an optional dependency: `pip install agent-tui[postgres]`
    import asyncpg
except ImportError:  # pragma: no cover - exercised only where asyncpg is missing
    asyncpg = None

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3

#: Any constant: every node takes this advisory lock while migrating, so two starting at once
#: do not both run migration N.
_MIGRATION_LOCK = 0x61677475  # "agtu"

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE sessions (
        session_id TEXT PRIMARY KEY,
        data TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE events (
        session_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        source TEXT NOT NULL,
        PRIMARY KEY (session_id, seq)
    );
    CREATE TABLE transcripts (
        session_id TEXT NOT NULL,
        architecture TEXT NOT NULL,
        data TEXT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (session_id, architecture)
    );
    CREATE TABLE workspace_files (
        session_id TEXT NOT NULL,
        path TEXT NOT NULL,
        content BYTEA NOT NULL,
        PRIMARY KEY (session_id, path)
    );
    CREATE TABLE agent_profiles (
        id TEXT PRIMARY KEY,
        data TEXT NOT NULL
    )
    """,
    # Session ownership of a multi-node server (runtime/cluster): one row per owned session.
    2: """
    CREATE TABLE session_leases (
        session_id TEXT PRIMARY KEY,
        node_id TEXT NOT NULL,
        node_url TEXT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX session_leases_node ON session_leases (node_id)
    """,
    # Per-session summaries kept as events are appended (runtime/store/summaries.py); filled for
    # existing sessions by ``_backfill_summaries``.
    3: """
    ALTER TABLE sessions
        ADD COLUMN status TEXT NOT NULL DEFAULT 'idle',
        ADD COLUMN cost_usd DOUBLE PRECISION,
        ADD COLUMN last_activity BIGINT NOT NULL DEFAULT 0,
        ADD COLUMN last_seq BIGINT NOT NULL DEFAULT 0,
        ADD COLUMN unread BIGINT NOT NULL DEFAULT 0,
        ADD COLUMN needs_input BIGINT NOT NULL DEFAULT 0,
        ADD COLUMN summary TEXT
    """,
}

#: The summary columns of a batch's sessions, one row per session (``summaries.update_rows``).
_UPDATE_SUMMARY = """
UPDATE sessions s SET status = u.status, cost_usd = u.cost, last_activity = u.activity,
    last_seq = u.seq, needs_input = u.needs_input, summary = u.summary, unread = s.unread + u.unread
FROM unnest($1::text[], $2::float8[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::bigint[],
            $8::text[]) AS u(status, cost, activity, seq, needs_input, summary, unread, session_id)
WHERE s.session_id = u.session_id
"""

_EVENT_COLUMNS = ("session_id", "seq", "type", "payload", "timestamp", "conversation_id", "source")

#: Writer turns of at least this many events go through ``COPY``; smaller ones through one
#: ``INSERT ... unnest`` statement (COPY costs extra round trips: BEGIN, a column lookup, COMMIT).
COPY_THRESHOLD = 500

# Gapless across nodes too: a batch must continue exactly where each session's log ends (a node
# with a stale high-water mark after a failover is refused, not merged). A concurrent writer of the
# same seqs loses on the primary key.
_INSERT_CHECKED = """
WITH batch AS (
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
        AS b(session_id, seq, type, payload, timestamp, conversation_id, source)
), firsts AS (
    SELECT session_id, MIN(seq) AS first FROM batch GROUP BY session_id
), fence AS (
    -- $8: the writing node (NULL: no fencing). Its leases are locked FOR SHARE, so a node taking
    -- a session over (an UPDATE of the row) waits for this write, then sees it in the log.
    SELECT COUNT(*) FILTER (WHERE l.node_id = $8) AS mine FROM (
        SELECT node_id FROM session_leases
        WHERE $8::text IS NOT NULL AND session_id IN (SELECT session_id FROM firsts) FOR SHARE
    ) l
), broken AS (
    SELECT 1 FROM firsts f
    WHERE f.first <> COALESCE((SELECT MAX(e.seq) FROM events e WHERE e.session_id = f.session_id), 0) + 1
    UNION ALL
    SELECT 1 FROM fence WHERE $8::text IS NOT NULL AND fence.mine <> (SELECT COUNT(*) FROM firsts)
), summaries AS (
    -- The sessions' summaries, in the same statement (no extra round trip per batch).
    UPDATE sessions s SET status = u.status, cost_usd = u.cost, last_activity = u.activity,
        last_seq = u.seq, needs_input = u.needs_input, summary = u.summary, unread = s.unread + u.unread
    FROM unnest($9::text[], $10::float8[], $11::bigint[], $12::bigint[], $13::bigint[], $14::text[],
                $15::bigint[], $16::text[]) AS u(status, cost, activity, seq, needs_input, summary, unread, session_id)
    WHERE s.session_id = u.session_id AND NOT EXISTS (SELECT 1 FROM broken)
)
INSERT INTO events SELECT * FROM batch WHERE NOT EXISTS (SELECT 1 FROM broken)
"""


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


_loads = orjson.loads


def redact(url: str) -> str:
    """``url`` without its password (a DSN is printed in errors; a secret never is)."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


class PostgresStore:
    def __init__(
        self, url: str, *, min_size: int = 0, max_size: int = 10, command_timeout: float = 30.0
    ) -> None:
        # min_size 0: asyncpg would otherwise log a traceback per retry while Postgres restarts
        # (it keeps reconnecting to hold the floor); connections are opened on demand and kept.
        self.url = url
        self._min_size = min_size
        self._max_size = max_size
        self._command_timeout = command_timeout
        self._pool: Any = None
        #: Set by a cluster node (runtime/cluster): event appends are refused for any session
        #: whose lease this node does not hold (fencing: a node that stalled past its lease
        #: cannot write after another took the session over).
        self.fence_node_id: str | None = None
        #: Summaries of the sessions this node writes (a session has one writer: its lease holder).
        self._digests = DigestCache()

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        if asyncpg is None:
            raise StoreError("the Postgres store needs asyncpg: pip install 'agent-tui[postgres]'")
        try:
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=self._min_size,
                max_size=self._max_size,
                command_timeout=self._command_timeout,
            )
        except Exception as exc:  # noqa: BLE001 - refused, bad DSN, auth: one clear error
            raise StoreError(f"cannot connect to Postgres at {redact(self.url)}: {exc}") from exc
        try:
            await self._migrate()  # the first connection is made here (the pool starts empty)
        except StoreError:
            await self.close()
            raise
        except Exception as exc:  # noqa: BLE001
            await self.close()
            what = "connect to Postgres" if _connection_lost(exc) else "open the Postgres database"
            raise StoreError(f"cannot {what} at {redact(self.url)}: {_reason(exc)}") from exc
        except BaseException:
            await self.close()
            raise

    async def _migrate(self) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            current = await conn.fetchval("SELECT MAX(version) FROM schema_version") or 0
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"database {redact(self.url)} has schema version {current}, "
                    f"newer than this agent-tui ({SCHEMA_VERSION})"
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                await conn.execute(_MIGRATIONS[version])
                if version == 3:
                    await _backfill_summaries(conn)
                await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", version)

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                # close() waits for every connection to be released: bounded, so a query stuck on
                # a dead server cannot hold a shutdown.
                await asyncio.wait_for(pool.close(), 5)
            except Exception:  # noqa: BLE001 - the server may already be gone
                pool.terminate()

    @property
    def pool(self) -> Any:
        if self._pool is None:
            raise StoreError("store is not open")
        return self._pool

    # ------------------------------------------------------------------ sessions

    async def list_sessions(self) -> list[SessionRecord]:
        rows = await self._fetch(
            "SELECT session_id, data, summary, unread FROM sessions ORDER BY created_at, session_id"
        )
        records: list[SessionRecord] = []
        for session_id, data, summary, unread in rows:
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
            records.append(self._with_summary(record, summary, unread))
        return records

    def _with_summary(self, record: SessionRecord, summary: str | None, unread: int) -> SessionRecord:
        digest = Digest.from_json(_loads(summary) if summary else None)
        self._digests.put(record["sessionId"], digest)
        return {**record, **summary_fields(digest.to_json(), unread)}

    async def load_session(self, session_id: str) -> SessionRecord | None:
        rows = await self._fetch(
            "SELECT data, summary, unread FROM sessions WHERE session_id = $1", session_id
        )
        return self._with_summary(json.loads(rows[0][0]), rows[0][1], rows[0][2]) if rows else None

    async def mark_read(self, session_id: str) -> None:
        """Zero the session's unread counter (docs/protocol.md, "Session summaries and unread")."""
        await self._execute("UPDATE sessions SET unread = 0 WHERE session_id = $1", session_id)

    async def create_session(self, record: SessionRecord) -> None:
        await self._execute(
            "INSERT INTO sessions (session_id, data, created_at) VALUES ($1, $2, $3)",
            record["sessionId"],
            _dumps(record),
            int(record["createdAt"]),
        )
        self._digests.put_new(record["sessionId"])

    async def update_session(self, session_id: str, changes: Mapping[str, Any]) -> None:
        # Read-modify-write under a row lock, so two nodes updating different fields do not lose
        # each other's change. Not jsonb ``||``: jsonb refuses a NUL escape, which a name may hold.
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                data = await conn.fetchval(
                    "SELECT data FROM sessions WHERE session_id = $1 FOR UPDATE", session_id
                )
                if data is None:
                    return
                record = json.loads(data)
                record.update(changes)
                await conn.execute(
                    "UPDATE sessions SET data = $2 WHERE session_id = $1", session_id, _dumps(record)
                )
        except Exception as exc:  # noqa: BLE001
            raise StoreError(f"database write failed: {_reason(exc)}") from exc

    async def delete_session(self, session_id: str) -> None:
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                for table in ("events", "transcripts", "workspace_files", "session_leases", "sessions"):
                    await conn.execute(f"DELETE FROM {table} WHERE session_id = $1", session_id)
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise StoreError(f"could not delete session {session_id}: {_reason(exc)}") from exc
        self._digests.drop(session_id)

    # ------------------------------------------------------------------ events

    async def append_events(self, session_id: str, events: Sequence[SessionEvent]) -> None:
        await self.append_batch([(session_id, e) for e in events])

    async def append_batch(
        self, batch: Sequence[tuple[str, SessionEvent]], payloads: Sequence[str] | None = None
    ) -> None:
        if not batch:
            return
        folded: dict[str, tuple[Digest, int]] = {}
        try:
            if payloads is None:
                payloads = [_dumps(e.payload) for _, e in batch]
            rows = [
                (sid, e.seq, e.type, text, e.timestamp, e.conversation_id, e.source)
                for (sid, e), text in zip(batch, payloads, strict=True)
            ]
            missing = self._digests.missing(batch)
            if missing:
                for sid, summary in await self.pool.fetch(
                    "SELECT session_id, summary FROM sessions WHERE session_id = ANY($1::text[])", missing
                ):
                    self._digests.put(sid, Digest.from_json(_loads(summary) if summary else None))
            folded = self._digests.fold(batch)
            summaries = update_rows(folded)
            if len(rows) >= COPY_THRESHOLD:
                await self._copy(rows, summaries)
            else:
                await self._insert(rows, summaries)
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - connection lost, server restarting, bad data
            if _connection_lost(exc) and await self._landed(batch):
                # The COMMIT reached the server but its answer was lost: the events are stored.
                self._digests.commit(folded)
                return
            raise StoreError(f"could not persist {len(batch)} events: {_reason(exc)}") from exc
        self._digests.commit(folded)

    async def _insert(self, rows: list[tuple[Any, ...]], summaries: list[tuple[Any, ...]]) -> None:
        """One statement, one round trip: the high-water check, the insert and the sessions'
        summaries, atomic together."""
        columns = list(zip(*rows, strict=True))
        status = await self.pool.execute(
            _INSERT_CHECKED, *columns, self.fence_node_id, *_summary_columns(summaries)
        )
        if status != f"INSERT 0 {len(rows)}":
            await self._refuse(rows)

    async def _copy(self, rows: list[tuple[Any, ...]], summaries: list[tuple[Any, ...]]) -> None:
        """A large writer turn: ``COPY`` (binary), the check in the same transaction."""
        async with self.pool.acquire() as conn, conn.transaction():
            if self.fence_node_id is not None:
                ids = list({r[0] for r in rows})
                owners = dict(
                    await conn.fetch(
                        "SELECT session_id, node_id FROM session_leases WHERE session_id = ANY($1::text[]) "
                        "FOR SHARE",
                        ids,
                    )
                )
                self._check_fence(ids, owners)
            highs = dict(
                await conn.fetch(
                    "SELECT session_id, MAX(seq) FROM events WHERE session_id = ANY($1::text[]) "
                    "GROUP BY session_id",
                    list({r[0] for r in rows}),
                )
            )
            _check_follows(rows, highs)
            await conn.copy_records_to_table("events", records=rows, columns=_EVENT_COLUMNS)
            await conn.execute(_UPDATE_SUMMARY, *_summary_columns(summaries))

    def _check_fence(self, session_ids: list[str], owners: Mapping[str, str]) -> None:
        for sid in session_ids:
            if owners.get(sid) != self.fence_node_id:
                raise StoreError(
                    f"session {sid} is owned by another node now ({owners.get(sid) or 'nobody'}); "
                    "this node's events for it are refused"
                )

    async def _refuse(self, rows: list[tuple[Any, ...]]) -> None:
        ids = list({r[0] for r in rows})
        highs = {sid: await self.last_seq(sid) for sid in ids}
        _check_follows(rows, highs)
        if self.fence_node_id is not None:
            owners = dict(
                await self._fetch(
                    "SELECT session_id, node_id FROM session_leases WHERE session_id = ANY($1::text[])", ids
                )
            )
            self._check_fence(ids, owners)
        raise StoreError(f"could not persist {len(rows)} events: the log changed while writing them")

    async def _landed(self, batch: Sequence[tuple[str, SessionEvent]]) -> bool:
        sid, last = batch[-1]
        try:
            row = await self._fetch(
                "SELECT type, timestamp FROM events WHERE session_id = $1 AND seq = $2", sid, last.seq
            )
        except StoreError:
            return False
        return bool(row) and tuple(row[0]) == (last.type, last.timestamp)

    async def load_events(
        self, session_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[SessionEvent]:
        rows = await self._fetch(
            "SELECT seq, type, payload, timestamp, conversation_id, source FROM events "
            "WHERE session_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            session_id,
            after_seq,
            limit,
        )
        return [make_event(r[0], r[1], _loads(r[2]), r[3], r[4], r[5]) for r in rows]

    async def last_seq(self, session_id: str) -> int:
        rows = await self._fetch("SELECT MAX(seq) FROM events WHERE session_id = $1", session_id)
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    # ------------------------------------------------------------------ transcripts and files

    async def save_transcript(self, session_id: str, architecture: str, transcript: Any) -> None:
        await self._execute(
            "INSERT INTO transcripts VALUES ($1, $2, $3, $4) ON CONFLICT (session_id, architecture) "
            "DO UPDATE SET data = EXCLUDED.data, updated_at = EXCLUDED.updated_at",
            session_id,
            architecture,
            _dumps(transcript),
            int(time.time() * 1000),
        )

    async def load_transcript(self, session_id: str, architecture: str) -> Any | None:
        rows = await self._fetch(
            "SELECT data FROM transcripts WHERE session_id = $1 AND architecture = $2",
            session_id,
            architecture,
        )
        return json.loads(rows[0][0]) if rows else None

    async def save_workspace_file(self, session_id: str, path: str, content: bytes) -> None:
        await self._execute(
            "INSERT INTO workspace_files VALUES ($1, $2, $3) ON CONFLICT (session_id, path) "
            "DO UPDATE SET content = EXCLUDED.content",
            session_id,
            path,
            bytes(content),
        )

    async def delete_workspace_file(self, session_id: str, path: str) -> None:
        await self._execute(
            "DELETE FROM workspace_files WHERE session_id = $1 AND path = $2", session_id, path
        )

    async def list_workspace_files(self, session_id: str) -> dict[str, bytes]:
        rows = await self._fetch(
            "SELECT path, content FROM workspace_files WHERE session_id = $1", session_id
        )
        return {r[0]: bytes(r[1]) for r in rows}

    # ------------------------------------------------------------------ profiles

    async def list_agent_profiles(self) -> list[AgentProfile]:
        profiles: list[AgentProfile] = []
        for profile_id, data in await self._fetch("SELECT id, data FROM agent_profiles ORDER BY id"):
            try:
                profiles.append(AgentProfile.model_validate_json(data))
            except ValueError:
                log.error("agent profile %s in the store is damaged; skipped", profile_id)
        return profiles

    async def load_agent_profile(self, profile_id: str) -> AgentProfile | None:
        rows = await self._fetch("SELECT data FROM agent_profiles WHERE id = $1", profile_id)
        return AgentProfile.model_validate_json(rows[0][0]) if rows else None

    async def save_agent_profile(self, profile: AgentProfile) -> None:
        await self._execute(
            "INSERT INTO agent_profiles VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data",
            profile.id,
            profile.model_dump_json(by_alias=True),
        )

    # ------------------------------------------------------------------ helpers

    async def ping(self) -> None:
        """Raise ``StoreError`` unless the database answers now (the readiness probe)."""
        await self._fetch("SELECT 1")

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        try:
            return list(await self.pool.fetch(sql, *args))
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise StoreError(f"database read failed: {_reason(exc)}") from exc

    async def _execute(self, sql: str, *args: Any) -> None:
        try:
            await self.pool.execute(sql, *args)
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise StoreError(f"database write failed: {_reason(exc)}") from exc


def _summary_columns(summaries: list[tuple[Any, ...]]) -> list[list[Any]]:
    return [list(column) for column in zip(*summaries, strict=True)] if summaries else [[]] * 8


async def _backfill_summaries(conn: Any) -> None:
    """Fold each existing session's log into its summary, once, at the upgrade to schema 3."""
    rows = await conn.fetch(
        "SELECT session_id, seq, type, payload, timestamp, conversation_id, source FROM events WHERE "
        f"{BACKFILL_WHERE} ORDER BY session_id, seq"
    )
    highs = await conn.fetch(HIGHS_SQL)
    summaries = update_rows(backfill(rows, highs))
    if summaries:
        await conn.execute(_UPDATE_SUMMARY, *_summary_columns(summaries))


def _check_follows(rows: list[tuple[Any, ...]], highs: Mapping[str, int | None]) -> None:
    first: dict[str, int] = {}
    for row in rows:
        first.setdefault(row[0], row[1])
    for sid, start in first.items():
        last = highs.get(sid) or 0
        if start != last + 1:
            raise StoreError(
                f"seq {start} does not follow {last} in session {sid} (another node wrote to this session)"
            )


def _connection_lost(exc: BaseException) -> bool:
    if isinstance(exc, (OSError, ConnectionError)):
        return True
    if asyncpg is None:
        return False
    return isinstance(
        exc,
        (
            asyncpg.exceptions.ConnectionDoesNotExistError,
            asyncpg.exceptions.InterfaceError,
            asyncpg.exceptions.CannotConnectNowError,
            asyncpg.exceptions.AdminShutdownError,
        ),
    )


def _reason(exc: BaseException) -> str:
    if _connection_lost(exc):
        return f"Postgres is unreachable ({type(exc).__name__}: {exc})"
    return f"{type(exc).__name__}: {exc}"
