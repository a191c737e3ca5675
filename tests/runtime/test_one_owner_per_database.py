"""One process owns a database at a time (issue 20 item 2).

A second agent-tui on the same database used to run its start-up recovery over the first one's
running query (marking it interrupted) and then collide with its event numbers. Now the second
refuses, naming the first (pid, and its URL when it serves), and nothing of the first is touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pexpect
import pytest

from runtime import AgentRuntime, SQLiteStore
from runtime.instance_lock import DatabaseInUse, InstanceLock, lock_path_for
from tests.helpers import make_config
from tests.tui.servers import AGENT_TUI, child_env


async def test_a_second_store_on_the_same_database_is_refused_and_the_first_keeps_working(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    async with AgentRuntime(config) as first:
        session = await first.create_session({"architecture": "shell"})
        second = AgentRuntime(make_config(tmp_path))
        with pytest.raises(DatabaseInUse) as caught:
            await second.start()
        message = caught.value.message
        assert f"pid {os.getpid()}" in message and str(config.db_path) in message and "--connect" in message
        await second.shutdown()
        # The first is untouched: its session is there and takes messages.
        message_id, _ = await first.send_message(session.session_id, "echo still mine")
        assert message_id
    # Released at close: the next process opens it.
    store = SQLiteStore(tmp_path / "agent-tui.db")
    await store.open()
    await store.close()


def test_the_lock_file_names_the_owner_and_its_url(tmp_path: Path) -> None:
    db = tmp_path / "agent-tui.db"
    owner = InstanceLock(db)
    owner.acquire()
    try:
        owner.record_url("http://0.0.0.0:8123")
        assert json.loads(lock_path_for(db).read_text()) == {"pid": os.getpid(), "url": "http://127.0.0.1:8123"}
        with pytest.raises(DatabaseInUse) as caught:
            InstanceLock(db).acquire()
        assert "serving http://127.0.0.1:8123" in caught.value.message
        assert "`agent-tui --connect http://127.0.0.1:8123`" in caught.value.message
    finally:
        owner.release()
    other = InstanceLock(db)
    other.acquire()  # free again
    other.release()


def test_serve_on_a_database_in_use_refuses_naming_the_running_server(tmp_path: Path) -> None:
    """`agent-tui serve` twice on one database: the second names the first one's URL and exits 1."""
    home = tmp_path / "home"
    home.mkdir()
    env = child_env(home)
    db = tmp_path / "agent-tui.db"
    first = pexpect.spawn(str(AGENT_TUI), ["serve", "--port", "0", "--db", str(db)], env=env,
                          encoding="utf-8", codec_errors="replace", timeout=60)
    try:
        first.expect(r"listening on (http://\S+)")
        url = first.match.group(1).strip()
        second = pexpect.spawn(str(AGENT_TUI), ["serve", "--port", "0", "--db", str(db)], env=env,
                               encoding="utf-8", codec_errors="replace", timeout=60)
        second.expect(pexpect.EOF)
        second.close()
        output = second.before
        assert second.exitstatus == 1, output
        assert f"pid {first.pid}" in output and f"agent-tui --connect {url}" in output, output
        assert "Traceback" not in output and len(output.strip().splitlines()) == 1, output
        assert first.isalive()
    finally:
        first.kill(2)
        first.expect(pexpect.EOF)
        first.close()


def test_two_agent_tui_processes_on_one_database(tmp_path: Path) -> None:
    """Real `agent-tui` in two ptys: the first runs a query, the second refuses while it runs, the
    first's query completes and its next message works."""
    home = tmp_path / "home"
    home.mkdir()
    env = {**child_env(home), "TERM": "xterm-256color"}
    db = tmp_path / "data" / "agent-tui.db"
    started, go = tmp_path / "started", tmp_path / "go"

    def spawn() -> pexpect.spawn:
        # --no-isolation: the query signals through files in the test's folder, which bubblewrap hides.
        return pexpect.spawn(str(AGENT_TUI), ["--db", str(db), "--no-bell", "--no-isolation"], env=env, cwd=str(tmp_path),
                             dimensions=(40, 120), encoding="utf-8", codec_errors="replace", timeout=60)

    first = spawn()
    try:
        first.expect("No sessions yet")  # the list (a long --db path can push the header's count off)
        first.sendcontrol("n")
        first.expect("Shell")
        first.sendcontrol("s")
        first.expect("shell · local")
        # Runs until the test says go: the second process starts while it is surely running.
        first.send(f"touch {started}; while [ ! -e {go} ]; do sleep 0.05; done; echo o''k\r")
        _drain_until(first, started.exists)

        second = spawn()
        second.expect(pexpect.EOF)
        second.close()
        refused = " ".join(second.before.split())  # the app's exit message is wrapped to the terminal
        assert second.exitstatus == 1, refused[-2000:]
        assert "in use by another agent-tui" in refused and f"pid {first.pid}" in refused, refused[-2000:]
        assert "--connect" in refused and "Traceback" not in refused

        go.touch()
        first.expect("ok")
        first.send("echo sec''ond\r")
        first.expect("second")
        # Quit once the second query has ended: its output can show before it ends, and quitting
        # while it runs stops it (a query:interrupted in the log; CI saw it once).
        _drain_until(first, lambda: _completed_queries(db) == 2)
        first.sendcontrol("q")
        # If the status line lagged behind the output, the app asks first; ctrl+q again answers it.
        if first.expect([pexpect.EOF, "Quit agent-tui"]) == 1:
            first.sendcontrol("q")
            first.expect(pexpect.EOF)
    finally:
        first.close()
    assert first.exitstatus == 0
    # The first one's log is whole: no restart recovery ran over it.
    events = asyncio.run(_event_types(db))
    assert "query:interrupted" not in events and events.count("query:completed") == 2, events


def _drain_until(child: pexpect.spawn, condition: Callable[[], bool], timeout: float = 30) -> None:
    """Keep reading the child's screen (so it never blocks on a full pty) until ``condition``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        child.expect([pexpect.TIMEOUT, r"\S"], timeout=0.05)


def _completed_queries(db: Path) -> int:
    """Read-only, beside the process that owns the database (WAL lets a reader in)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM events WHERE type = 'query:completed'").fetchone()[0])


async def _event_types(db: Path) -> list[str]:
    store = SQLiteStore(db)
    await store.open()
    try:
        (record,) = await store.list_sessions()
        return [e.type for e in await store.load_events(record["sessionId"], 0, 10_000)]
    finally:
        await store.close()
