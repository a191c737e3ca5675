"""The SQLite adapter: schema versioning, corrupt files moved aside, clear errors."""

from __future__ import annotations

import sqlite3
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


async def test_a_corrupt_database_is_moved_aside_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "agent-tui.db"
    garbage = b"this is not a database" * 1000
    path.write_bytes(garbage)
    async with AgentRuntime(make_config(tmp_path)) as runtime:
        assert await runtime.list_sessions() == []
        moved = runtime.store.moved_aside  # type: ignore[attr-defined]
        assert moved is not None and moved.read_bytes() == garbage
        await runtime.create_session({"architecture": "shell"})
    assert len(await _sessions(path)) == 1


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
