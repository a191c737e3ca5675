"""Focused tests of the runtime fixes the reliability suite led to (each names the suite test that
found the problem), on real SQLite files and the real runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runtime import AgentRuntime, SQLiteStore, StoreError
from runtime.models import make_event
from runtime.reducer import SessionState, apply_event
from tests.helpers import make_config, sandbox_pid


def _event(seq: int, kind: str, payload: dict) -> object:
    return make_event(seq, kind, payload, "2026-01-01T00:00:00.000Z")


def test_a_message_sent_while_idle_is_unstarted_until_its_query_starts() -> None:
    state = SessionState()
    block = {"id": "m1", "type": "user_message", "content": "x", "status": "pending"}
    apply_event(state, _event(1, "block:upsert", {"block": block}))  # type: ignore[arg-type]
    assert state.unstarted == ["m1"] and state.queued == []
    assert state.runtime().queued_messages == 0  # not shown as queued
    apply_event(state, _event(2, "query:started", {"messageId": "m1", "content": "x"}))  # type: ignore[arg-type]
    assert state.unstarted == [] and state.active_query is not None


async def test_a_message_accepted_just_before_a_crash_is_closed_at_restart(tmp_path: Path) -> None:
    """Found by test_crash_consistency: SIGKILL between a message's ``user_message`` event and its
    ``query:started`` left the message pending forever (neither queued nor running, so recovery
    did not see it)."""
    config = make_config(tmp_path)
    async with AgentRuntime(config) as runtime:
        sid = (await runtime.create_session({"architecture": "shell"})).session_id
        assert runtime.bus is not None
        # The state a crash at that moment leaves in the store: the message, and nothing after it.
        block = {"id": "msg-crashed", "type": "user_message", "content": "echo hi", "status": "pending"}
        await runtime.bus.publish(sid, [{"type": "block:upsert", "payload": {"block": block}}])
    async with AgentRuntime(config) as runtime:
        events, _ = await runtime.get_events(sid)
        failed = [e for e in events if e.type == "query:failed"]
        assert [(e.payload["messageId"], e.payload["code"]) for e in failed] == [
            ("msg-crashed", "INTERRUPTED_BY_RESTART")
        ]
        assert "before this message ran" in failed[0].payload["error"]
        detail = await runtime.get_session(sid)
        message = next(b for b in detail.blocks if b.id == "msg-crashed")
        assert message.status == "error"
        assert runtime.sessions is not None and runtime.sessions.get(sid).state.unstarted == []


async def test_a_write_that_fails_inside_its_transaction_does_not_wedge_the_store(tmp_path: Path) -> None:
    """Found by test_hostile_runner: a lone surrogate in an event's text column made sqlite3 raise
    UnicodeEncodeError (not sqlite3.Error) between BEGIN and COMMIT; the transaction stayed open
    and every later write failed with "cannot start a transaction within a transaction"."""
    store = SQLiteStore(tmp_path / "a.db")
    await store.open()
    try:
        bad = make_event(1, "log", {"level": "info", "message": "x"}, "2026-01-01T00:00:00Z", "\ud800")
        with pytest.raises(StoreError, match="surrogates not allowed"):
            await store.append_events("s", [bad])
        good = make_event(1, "log", {"level": "info", "message": "y"}, "2026-01-01T00:00:00Z")
        await store.append_events("s", [good])
        assert [e.payload["message"] for e in await store.load_events("s")] == ["y"]
    finally:
        await store.close()


async def test_reading_a_file_never_follows_what_was_swapped_in_after_the_check(tmp_path: Path) -> None:
    """Found by test_hostile_input (a symlink raced against the check leaked 65 of 2,000 reads):
    the path was confined by its real path, then read by name, following whatever was there by
    then. Also: a FIFO blocked a thread forever, and a sparse 3 GB file was read into memory."""
    from runtime.errors import FileNotFound, FileTooLarge, InvalidPath
    from runtime.primitives import local
    from runtime.primitives.paths import confine

    root = tmp_path / "workspace"
    root.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    (root / "f.txt").write_text("harmless")
    checked = confine(root, "f.txt")  # the check sees a regular file ...
    (root / "f.txt").unlink()
    (root / "f.txt").symlink_to(secret)  # ... which is a symlink to outside by the time of the read
    with pytest.raises(InvalidPath):
        local._read_confined(root, checked, "f.txt")
    # A folder on the way swapped for a symlink: the descriptor's real path is checked.
    (root / "d").mkdir()
    (root / "d" / "secret.txt").write_text("inside")
    checked = confine(root, "d/secret.txt")
    (root / "d" / "secret.txt").unlink()
    (root / "d").rmdir()
    (root / "d").symlink_to(tmp_path)
    with pytest.raises(InvalidPath):
        local._read_confined(root, checked, "d/secret.txt")
    os.mkfifo(root / "fifo")
    with pytest.raises(FileNotFound, match="not a regular file"):
        local._read_confined(root, confine(root, "fifo"), "fifo")
    with open(root / "huge.bin", "wb") as handle:
        handle.truncate(local.MAX_READ_BYTES + 1)
    with pytest.raises(FileTooLarge):
        local._read_confined(root, confine(root, "huge.bin"), "huge.bin")
    # Found by the long mode of tests/server/test_fuzz.py: a 5,000-character name was a 500.
    with pytest.raises(InvalidPath, match="too long"):
        local._read_confined(root, confine(root, "a" * 5000), "a" * 5000)


async def test_a_failed_write_with_events_queued_behind_it_fails_its_publishers_and_renumbers(
    tmp_path: Path,
) -> None:
    """Found by test_storage_faults (read-only mid-query): when a write failed while more events
    were queued behind it, renumbering those raised AttributeError (pydantic's __setattr__ on an
    event built by make_event), the writer task died and every publisher waited forever."""
    import asyncio

    from runtime.events import EventBus

    store = SQLiteStore(tmp_path / "a.db")
    await store.open()
    bus = EventBus(store)
    try:
        await store.db.execute("PRAGMA query_only = ON")
        first = asyncio.create_task(bus.publish("s", [{"type": "log", "payload": {"message": "a"}}]))
        while not bus._pending:  # noqa: SLF001 - until the first publish is queued ...
            await asyncio.sleep(0)
        while bus._pending:  # noqa: SLF001 - ... and the writer has taken it (now writing)
            await asyncio.sleep(0)
        second = asyncio.create_task(bus.publish("s", [{"type": "log", "payload": {"message": "b"}}]))
        for task in (first, second):
            with pytest.raises(StoreError):
                await asyncio.wait_for(task, 10)
        await store.db.execute("PRAGMA query_only = OFF")
        events = await asyncio.wait_for(bus.publish("s", [{"type": "log", "payload": {"message": "c"}}]), 10)
        assert [e.seq for e in events] == [1]  # gapless: the failed seqs were reused
    finally:
        await bus.close()
        await store.close()


async def test_a_store_failure_mid_query_ends_it_and_the_queued_message_runs_once_the_store_works(
    tmp_path: Path,
) -> None:
    """The store-failure behaviour (docs/reliability.md): the failing query's agent is stopped,
    its end is recorded once the store takes writes again, and a message queued behind it runs."""
    import asyncio

    from tests.helpers import collect_until, query_end

    async with AgentRuntime(make_config(tmp_path)) as runtime:
        sid = (await runtime.create_session({"architecture": "shell"})).session_id
        first, _ = await runtime.send_message(
            sid, "echo $$ > bash.pid; while true; do echo tick; sleep 0.02; done"
        )
        second, queued = await runtime.send_message(sid, "echo second")
        assert queued
        pid_file = runtime.config.resolved_data_dir() / sid / "workspace" / "bash.pid"
        for _ in range(500):
            if pid_file.exists() and pid_file.read_text().strip():
                break
            await asyncio.sleep(0.01)
        host_pid = sandbox_pid(int(pid_file.read_text()), pid_file.parent.parent)  # bubblewrap numbers its own
        assert host_pid is not None
        pgid = os.getpgid(host_pid)
        store = runtime.store
        assert isinstance(store, SQLiteStore)
        await store.db.execute("PRAGMA query_only = ON")
        for _ in range(500):  # the agent's whole group is killed once a write fails
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the agent was not stopped")
        with pytest.raises(StoreError):
            await runtime.send_message(sid, "echo refused")  # clear error while failing
        await store.db.execute("PRAGMA query_only = OFF")
        events = await collect_until(runtime, sid, query_end(second), timeout=30)
        ends = [(e.payload["messageId"], e.type, e.payload.get("code")) for e in events if query_end()(e)]
        assert ends == [(first, "query:failed", "STORE_ERROR"), (second, "query:completed", None)]
        detail = await runtime.get_session(sid)
        assert detail.runtime.active_query is None and detail.runtime.queued_messages == 0
