"""Persistence across processes and across a SIGKILL, on real SQLite files."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from runtime import AgentRuntime, SQLiteStore
from runtime.primitives.isolation import detect
from tests.helpers import collect_until, make_config, process_alive, query_end, sandbox_pid

CHILD = Path(__file__).with_name("child_runtime.py")


def _child(*args: str, **kwargs) -> subprocess.Popen:  # type: ignore[no-untyped-def]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.Popen(
        [sys.executable, str(CHILD), *args], env=env, stdout=subprocess.PIPE, text=True, **kwargs
    )


async def test_a_second_runtime_in_another_process_sees_identical_sessions_and_logs(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    async with AgentRuntime(config) as runtime:
        session = await runtime.create_session({"architecture": "shell", "name": "persisted"})
        sid = session.session_id
        for command in ("echo one", "printf 'two\\nthree'; exit 2"):
            message_id, _ = await runtime.send_message(sid, command)
            await collect_until(runtime, sid, query_end(message_id))
        await runtime.update_options(sid, {"model": "m-1"})
        detail = (await runtime.get_session(sid)).model_dump(mode="json", by_alias=True)
        events = [e.wire() for e in (await runtime.get_events(sid))[0]]

    proc = _child("dump", str(config.db_path), str(config.data_dir))
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    other = json.loads(out)
    assert [s["sessionId"] for s in other["sessions"]] == [sid]
    assert other["sessions"][0]["name"] == "persisted"
    assert other["sessions"][0]["sessionOptions"] == {"model": "m-1"}
    # Same log; same blocks (the view a reloaded runtime derives equals the live one).
    assert other["events"][sid][: len(events)] == events
    assert other["details"][sid]["blocks"] == detail["blocks"]
    outputs = [b["output"] for b in other["details"][sid]["blocks"] if b["type"] == "tool_result"]
    assert outputs == ["one\n", "two\nthree"]


async def test_sigkill_mid_stream_loses_nothing_received_and_closes_the_query_on_restart(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path)
    proc = _child(
        "stream",
        str(config.db_path),
        str(config.data_dir),
        "echo $$ > shell.pid; for i in $(seq 1 100000); do echo line $i; sleep 0.002; done",
    )
    assert proc.stdout is not None
    sid = json.loads(proc.stdout.readline())["sessionId"]
    received: list[dict] = []
    deltas = 0
    loop = asyncio.get_running_loop()
    while deltas < 5:
        line = await loop.run_in_executor(None, proc.stdout.readline)
        assert line, "child ended early"
        event = json.loads(line)
        received.append(event)
        deltas += event["type"] == "block:delta"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    # Whatever else the pipe still held was also delivered to the subscriber, hence persisted.
    received.extend(json.loads(line) for line in proc.stdout.read().splitlines() if line.strip())
    folder = config.resolved_data_dir() / sid
    shell_pid = sandbox_pid(int((folder / "workspace" / "shell.pid").read_text()), folder)
    if detect()[1] is not None:
        # Under bubblewrap (--die-with-parent) the sandbox's PID namespace ends with agent-tui.
        for _ in range(500):  # the kernel kills the namespace asynchronously: up to 5 s
            if sandbox_pid(int((folder / "workspace" / "shell.pid").read_text()), folder) is None:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the sandbox outlived agent-tui under bubblewrap")
        shell_pid = None
    else:
        assert shell_pid is not None and process_alive(shell_pid)  # the sandbox outlived its dead parent ...

    store = SQLiteStore(config.resolved_db_path())
    await store.open()
    assert await store.integrity_check() == "ok"
    stored = {e.seq: e.wire() for e in await store.load_events(sid)}
    await store.close()
    for event in received:
        assert stored[event["seq"]] == event

    async with AgentRuntime(config) as runtime:
        assert shell_pid is None or not process_alive(shell_pid)  # ... until the restart swept it
        detail = await runtime.get_session(sid)
        assert detail.runtime.active_query is None
        events, last = await runtime.get_events(sid, after_seq=max(stored))
        failed = [e for e in events if e.type == "query:failed"]
        assert len(failed) == 1 and failed[0].payload["code"] == "INTERRUPTED_BY_RESTART"
        assert any(e.type == "ee:terminated" for e in events)
        # And the session works afterwards.
        message_id, _ = await runtime.send_message(sid, "echo alive")
        done = await collect_until(runtime, sid, query_end(message_id), after_seq=last)
        assert done[-1].type == "query:completed"
