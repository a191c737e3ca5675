"""Message queueing, interrupt, and an agent process that dies under the runtime."""

from __future__ import annotations

import asyncio
import os
import signal
import time

from runtime import AgentRuntime
from tests.helpers import collect_until, process_alive, query_end, sandbox_pid


async def _wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.01)


async def test_three_messages_sent_at_once_run_in_order(runtime: AgentRuntime) -> None:
    session = await runtime.create_session({"architecture": "shell"})
    sid = session.session_id
    # The first runs long enough that the other two are certainly queued behind it.
    sent = await asyncio.gather(
        runtime.send_message(sid, "sleep 0.3; echo one"),
        runtime.send_message(sid, "echo two"),
        runtime.send_message(sid, "echo three"),
    )
    assert [queued for _, queued in sent] == [False, True, True]
    summary = await runtime.get_summary(sid)
    assert summary.runtime.queued_messages == 2
    events = await collect_until(runtime, sid, query_end(sent[2][0]))
    starts = [e.payload["messageId"] for e in events if e.type == "query:started"]
    ends = [e.payload["messageId"] for e in events if e.type == "query:completed"]
    assert starts == ends == [m for m, _ in sent]
    # Each query ran to completion before the next one started.
    order = [
        (e.type, e.payload.get("messageId")) for e in events if e.type in ("query:started", "query:completed")
    ]
    assert order == [(k, m) for m, _ in sent for k in ("query:started", "query:completed")]
    detail = await runtime.get_session(sid)
    outputs = [b.output for b in detail.blocks if b.type == "tool_result"]
    assert outputs == ["one\n", "two\n", "three\n"]
    assert detail.runtime.queued_messages == 0


async def test_interrupt_ends_a_sleep_within_2s_and_kills_its_process_group(runtime: AgentRuntime) -> None:
    session = await runtime.create_session({"architecture": "shell"})
    sid = session.session_id
    # A child that ignores SIGTERM, in the background: only the group SIGKILL can end it.
    message_id, _ = await runtime.send_message(sid, "echo $$ > pid; (trap '' TERM; sleep 60) & sleep 30")
    await collect_until(runtime, sid, lambda e: e.type == "ee:ready")
    pid_file = runtime.config.resolved_data_dir() / sid / "workspace" / "pid"
    await _wait_for(pid_file.exists)
    await _wait_for(lambda: pid_file.read_text().strip() != "")
    shell_pid = sandbox_pid(int(pid_file.read_text()), pid_file.parent.parent)
    assert shell_pid is not None
    pgid = os.getpgid(shell_pid)
    started = time.monotonic()
    assert await runtime.interrupt(sid) is True
    events = await collect_until(runtime, sid, query_end(message_id))
    elapsed = time.monotonic() - started
    assert elapsed < 2.0
    assert events[-1].type == "query:interrupted" and events[-1].payload["reason"] == "user"
    alive = [p for p in _pids_in_group(pgid) if process_alive(p)]
    assert alive == []
    assert await runtime.interrupt(sid) is False
    # Usable afterwards.
    message_id, _ = await runtime.send_message(sid, "echo after")
    events = await collect_until(runtime, sid, query_end(message_id))
    assert events[-1].type == "query:completed"


def _pids_in_group(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    pids.append(int(entry))
            except ProcessLookupError:
                continue
    return pids


async def test_agent_killed_from_outside_fails_the_query_and_the_next_message_gets_a_new_sandbox(
    runtime: AgentRuntime,
) -> None:
    session = await runtime.create_session({"architecture": "shell"})
    sid = session.session_id
    message_id, _ = await runtime.send_message(sid, "echo $PPID > runner.pid; sleep 30")
    pid_file = runtime.config.resolved_data_dir() / sid / "workspace" / "runner.pid"
    await _wait_for(lambda: pid_file.exists() and pid_file.read_text().strip() != "")
    runner_pid = sandbox_pid(int(pid_file.read_text()), pid_file.parent.parent)
    assert runner_pid is not None
    first_env = (await runtime.get_summary(sid)).runtime.execution_environment
    assert first_env is not None and first_env.status == "ready"
    os.kill(runner_pid, signal.SIGKILL)  # the runner (the agent process as the runtime sees it) dies
    events = await collect_until(runtime, sid, lambda e: e.type == "ee:terminated")
    failed = next(e for e in events if e.type == "query:failed")
    assert failed.payload["messageId"] == message_id
    assert failed.payload["code"] == "AGENT_CRASHED"
    assert "died unexpectedly" in failed.payload["error"]
    assert events[-1].payload == {"reason": "unhealthy"}

    message_id, _ = await runtime.send_message(sid, "echo recovered")
    events = await collect_until(runtime, sid, query_end(message_id), after_seq=events[-1].seq)
    assert events[-1].type == "query:completed"
    ready = next(e for e in events if e.type == "ee:ready")
    assert ready.payload["eeId"] != first_env.id
    detail = await runtime.get_session(sid)
    assert [b.output for b in detail.blocks if b.type == "tool_result"][-1] == "recovered\n"
    assert any(b.type == "error" and b.code == "AGENT_CRASHED" for b in detail.blocks)


async def test_background_processes_end_with_the_query_even_in_their_own_session(runtime: AgentRuntime) -> None:
    session = await runtime.create_session({"architecture": "shell"})
    sid = session.session_id
    started = time.monotonic()
    # Both hold the output pipe open; one even escapes the process group with setsid.
    message_id, _ = await runtime.send_message(
        sid, "sleep 60 & echo $! > bg.pid; setsid sleep 61 & echo $! > setsid.pid; echo done")
    events = await collect_until(runtime, sid, query_end(message_id))
    assert events[-1].type == "query:completed"
    assert time.monotonic() - started < 10
    workspace = runtime.config.resolved_data_dir() / sid / "workspace"
    for name in ("bg.pid", "setsid.pid"):
        pid = sandbox_pid(int((workspace / name).read_text()), workspace.parent)
        if pid is not None:  # None: already gone (under bubblewrap, with its PID namespace)
            await _wait_for(lambda pid=pid: not process_alive(pid), timeout=5)
    detail = await runtime.get_session(sid)
    assert [b.output for b in detail.blocks if b.type == "tool_result"][-1] == "done\n"
