"""The SQLite adapter: schema versioning, corrupt files moved aside, clear errors."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from runtime import AgentRuntime, SQLiteStore, StoreError
from runtime.store.sqlite import SCHEMA_VERSION
from tests.helpers import make_config


async def test_schema_version_is_recorded_and_a_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    store = SQLiteStore(path)
    await store.open()
    await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match="newer than this agent-tui"):
        await SQLiteStore(path).open()


async def _damaged_database(path: Path) -> bytes:
    """A real agent-tui database with its second half cut off (page 1, our schema, intact)."""
    store = SQLiteStore(path)
    await store.open()
    for i in range(40):
        await store.save_workspace_file("ses-filler", f"f{i}", os.urandom(2000))
    await store.close()
    data = path.read_bytes()
    assert len(data) > 8 * 4096
    path.write_bytes(data[: len(data) // 2])
    return path.read_bytes()


async def test_a_corrupt_database_of_ours_is_moved_aside_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "agent-tui.db"
    damaged = await _damaged_database(path)
    async with AgentRuntime(make_config(tmp_path)) as runtime:
        assert await runtime.list_sessions() == []
        moved = runtime.store.moved_aside  # type: ignore[attr-defined]
        assert moved is not None and moved.read_bytes() == damaged
        await runtime.create_session({"architecture": "shell"})
    assert len(await _sessions(path)) == 1


def _folder_state(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.parametrize(
    "content", [b"my notes\n" * 1000, b"SQLite format 3\x00" + b"\xff" * 8000], ids=["text", "foreign-damaged"]
)
async def test_a_file_that_is_not_ours_is_refused_and_left_byte_identical(
    tmp_path: Path, content: bytes
) -> None:
    """`--db notes.txt` (or a damaged SQLite file that is not recognisably ours) is never moved
    aside, written to, or joined by -wal/-shm/lock files."""
    folder = tmp_path / "mine"
    folder.mkdir()
    notes = folder / "notes.txt"
    notes.write_bytes(content)
    before = _folder_state(folder)
    with pytest.raises(StoreError, match="left as it is") as caught:
        await AgentRuntime(make_config(tmp_path, db_path=notes)).start()
    assert str(notes) in caught.value.message
    assert _folder_state(folder) == before


@pytest.mark.parametrize("tables", [["recipes"], ["schema_version", "recipes"]], ids=["plain", "own-versioning"])
async def test_another_programs_sqlite_database_is_refused_untouched(tmp_path: Path, tables: list[str]) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        for table in tables:
            db.execute(f"CREATE TABLE {table} (name TEXT)")
        db.execute("INSERT INTO recipes VALUES ('bread')")
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="another program's SQLite database"):
        await SQLiteStore(path).open()
    assert path.read_bytes() == before
    with sqlite3.connect(path) as db:
        assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == tables
    db.close()


async def test_an_empty_file_or_empty_sqlite_database_becomes_ours(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    blank = tmp_path / "blank.db"
    sqlite3.connect(blank).close()
    for path in (empty, blank):
        store = SQLiteStore(path)
        await store.open()
        await store.close()
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
        db.close()


async def test_database_wal_shm_and_data_dir_are_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        config = make_config(tmp_path, db_path=tmp_path / "new" / "deep" / "agent-tui.db",
                             data_dir=tmp_path / "data" / "sandboxes")
        async with AgentRuntime(config) as runtime:
            await runtime.create_session({"architecture": "shell"})
            db = Path(config.db_path)  # type: ignore[arg-type]
            for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}.lock")):
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
            for folder in (db.parent, db.parent.parent, tmp_path / "data", tmp_path / "data" / "sandboxes"):
                assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    finally:
        os.umask(old)


async def _sessions(path: Path) -> list:
    store = SQLiteStore(path)
    await store.open()
    try:
        return await store.list_sessions()
    finally:
        await store.close()


async def test_a_read_only_database_gives_a_clear_error_and_publishes_nothing(tmp_path: Path) -> None:
    async with AgentRuntime(make_config(tmp_path)) as runtime:
        session = await runtime.create_session({"architecture": "shell"})
        sid = session.session_id
        store = runtime.store
        assert isinstance(store, SQLiteStore)
        await store.db.execute("PRAGMA query_only = ON")  # the file can no longer be written
        delivered = []
        runtime.bus.add_listener(sid, lambda _s, events: delivered.extend(events))  # type: ignore[union-attr]
        with pytest.raises(StoreError, match="could not persist"):
            await runtime.send_message(sid, "echo hi")
        assert delivered == []
        await store.db.execute("PRAGMA query_only = OFF")
        message_id, _ = await runtime.send_message(sid, "echo hi")
        events, last = await runtime.get_events(sid)
        assert [e.seq for e in events] == list(range(1, last + 1))
        assert events[0].payload["block"]["id"] == message_id


def test_agent_tui_db_on_a_text_file_refuses_and_leaves_it_byte_identical(tmp_path: Path) -> None:
    """The real `agent-tui --db notes.txt` in a pty: exit 1, the reason on screen, the file as it was."""
    import pexpect

    from tests.tui.servers import AGENT_TUI, child_env

    home = tmp_path / "home"
    home.mkdir()
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"shopping: eggs, milk\n" * 50)
    before = _folder_state(tmp_path)
    child = pexpect.spawn(str(AGENT_TUI), ["--db", str(notes), "--no-bell"],
                          env={**child_env(home), "TERM": "xterm-256color"}, dimensions=(40, 120),
                          encoding="utf-8", codec_errors="replace", timeout=60)
    child.expect(pexpect.EOF)
    child.close()
    shown = " ".join(child.before.split())
    assert child.exitstatus == 1, shown[-2000:]
    assert "is not an agent-tui database" in shown and "Traceback" not in shown, shown[-2000:]
    assert _folder_state(tmp_path) == before
