"""Sandbox faults through a real ``agent-tui serve``: the agent process killed mid-query (shell and
Claude Code), the sandbox folder deleted under the runtime, a runner that prints garbage, prints
nothing and exits, or prints nothing and hangs, a child that ignores SIGTERM (and one that leaves
the process group), and ``yes`` until interrupted.

Each ends as a failed (or, when the user stopped it, interrupted) query with a clear message, the
session runs the next message to completion, and no process is left behind: checked by the
agent's process group and by scanning /proc for anything whose working directory or command line
is inside the session's sandbox folder.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.anthropic_server import FakeAnthropic, Text, Turn
from tests.helpers import NODE_BIN, sandbox_pid
from tests.reliability.harness import (
    Http,
    ServeProcess,
    describe,
    ends_query,
    group_members,
    kill_all,
    processes_in,
    wait_until,
)

CLAUDE_BIN = NODE_BIN / "claude"


@dataclass
class Served:
    server: ServeProcess
    http: Http
    data_dir: Path

    def folder(self, session_id: str) -> Path:
        return self.data_dir / session_id

    async def send(self, session_id: str, content: str) -> str:
        status, body = await self.http.send(session_id, content)
        assert status == 202, (status, body)
        return str(body["messageId"])

    async def end_of(self, session_id: str, message_id: str, timeout: float = 60) -> dict[str, Any]:
        return await self.http.wait_for_event(session_id, ends_query(message_id), timeout=timeout)

    async def recovers(self, session_id: str) -> None:
        """The next message runs to completion (in a new sandbox when the old one was dropped)."""
        message_id = await self.send(session_id, "echo recovered")
        end = await self.end_of(session_id, message_id)
        assert end["type"] == "query:completed", end
        events = await self.http.events(session_id)
        result = [
            e["payload"]["block"]
            for e in events
            if e["type"] == "block:upsert" and e["payload"]["block"].get("id") == f"{message_id}-result"
        ]
        assert result and result[-1].get("exitCode") == 0, result

    def assert_nothing_left(self, session_id: str, pgid: int | None = None) -> None:
        if pgid is not None:
            members = group_members(pgid)
            assert not members, describe(members)
        leftovers = processes_in(self.folder(session_id))
        assert not leftovers, describe(leftovers)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    data_dir = tmp_path / "sandboxes"
    server = ServeProcess(db=tmp_path / "agent-tui.db", data_dir=data_dir, home=tmp_path / "home")
    url = await server.start()
    try:
        async with Http(url) as http:
            yield Served(server, http, data_dir)
    finally:
        await server.kill()
        kill_all(processes_in(data_dir))


async def _wait_for_file(path: Path, timeout: float = 30) -> str:
    await wait_until(lambda: path.exists() and path.read_text().strip() != "", timeout, f"{path.name}")
    return path.read_text().strip()


async def _pid_file(path: Path) -> int:
    """A pid the sandbox wrote to ``<session>/workspace/<name>`` (in its own numbering, under
    bubblewrap), as this test sees it."""
    inner = int(await _wait_for_file(path))
    pid = sandbox_pid(inner, path.parent.parent)
    assert pid is not None, f"no process {inner} in the sandbox at {path.parent.parent}"
    return pid


async def test_the_agent_process_killed_mid_query_fails_the_query_and_the_session_recovers(
    served: Served, record_property: Any
) -> None:
    sid = await served.http.create("shell")
    workspace = served.folder(sid) / "workspace"
    message_id = await served.send(sid, "echo $$ > bash.pid; echo $PPID > runner.pid; sleep 600")
    runner_pid = await _pid_file(workspace / "runner.pid")
    pgid = os.getpgid(await _pid_file(workspace / "bash.pid"))
    started = time.monotonic()
    os.kill(runner_pid, signal.SIGKILL)
    end = await served.end_of(sid, message_id)
    elapsed = time.monotonic() - started
    assert end["type"] == "query:failed" and end["payload"]["code"] == "AGENT_CRASHED", end
    assert "died unexpectedly (killed by signal 9)" in end["payload"]["error"]
    served.assert_nothing_left(sid, pgid)
    await served.recovers(sid)
    record_property("failure_reported_s", round(elapsed, 2))


@pytest.fixture
async def claude_served(tmp_path: Path, loopback_only: bool) -> AsyncIterator[tuple[Served, FakeAnthropic]]:
    if not os.access(CLAUDE_BIN, os.X_OK):
        pytest.skip(f"Claude Code CLI not installed at {CLAUDE_BIN} (run scripts/test)")
    data_dir = tmp_path / "sandboxes"
    async with FakeAnthropic() as fake:
        server = ServeProcess(
            db=tmp_path / "agent-tui.db",
            data_dir=data_dir,
            home=tmp_path / "home",
            env={
                "ANTHROPIC_BASE_URL": fake.url,
                "ANTHROPIC_API_KEY": "sk-ant-test-not-a-real-key",
                "AGENT_TUI_CLAUDE_PATH": str(CLAUDE_BIN),
            },
        )
        url = await server.start()
        try:
            async with Http(url) as http:
                yield Served(server, http, data_dir), fake
        finally:
            await server.kill()
            kill_all(processes_in(data_dir))


async def test_the_claude_cli_killed_mid_stream_fails_the_query_readably_and_the_next_message_works(
    claude_served: tuple[Served, FakeAnthropic],
) -> None:
    served, fake = claude_served
    # A reply slow enough to be killed in the middle of (about 20 s of SSE).
    fake.script(Turn(Text("slow words " * 400, chunk=4), delay_s=0.02), Turn(Text("I am back.")))
    sid = await served.http.create("claude-code")
    message_id = await served.send(sid, "Say a lot of words.")
    await served.http.wait_for_event(sid, lambda e: e["type"] == "block:delta", timeout=60)

    def cli() -> list[int]:
        found = []
        for pid in processes_in(served.folder(sid)):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    argv = handle.read().split(b"\0")
            except OSError:
                continue
            if any(part.endswith(b"claude") or b"claude-code" in part for part in argv[:2]):
                found.append(pid)
        return found

    await wait_until(lambda: bool(cli()), 30, "the claude process")
    for pid in cli():
        os.kill(pid, signal.SIGKILL)
    end = await served.end_of(sid, message_id)
    assert end["type"] == "query:failed", end
    error = end["payload"]["error"]
    assert "was killed by signal 9 (SIGKILL)" in error, error
    served.assert_nothing_left(sid)
    message_id = await served.send(sid, "Are you there?")
    end = await served.end_of(sid, message_id, timeout=90)
    assert end["type"] == "query:completed", end
    detail = await served.http.summary(sid)
    assert any(b["type"] == "assistant_text" and b.get("content") == "I am back." for b in detail["blocks"])


async def test_the_sandbox_folder_deleted_mid_query_fails_the_query_and_a_new_sandbox_is_made(
    served: Served, record_property: Any
) -> None:
    sid = await served.http.create("shell")
    folder = served.folder(sid)
    message_id = await served.send(
        sid, "echo $$ > bash.pid; for i in $(seq 1 6000); do echo tick $i; sleep 0.1; done"
    )
    pgid = os.getpgid(await _pid_file(folder / "workspace" / "bash.pid"))
    started = time.monotonic()
    await asyncio.to_thread(__import__("shutil").rmtree, folder)
    end = await served.end_of(sid, message_id, timeout=30)
    elapsed = time.monotonic() - started
    assert end["type"] == "query:failed", end
    assert end["payload"]["code"] == "SANDBOX_LOST", end
    assert "sandbox" in end["payload"]["error"] and "went away" in end["payload"]["error"], end
    served.assert_nothing_left(sid, pgid)
    await served.recovers(sid)
    record_property("failure_reported_s", round(elapsed, 2))


async def test_the_sandbox_folder_deleted_between_queries_is_replaced_on_the_next_message(
    served: Served,
) -> None:
    sid = await served.http.create("shell")
    end = await served.end_of(sid, await served.send(sid, "echo first"))
    assert end["type"] == "query:completed"
    await asyncio.to_thread(__import__("shutil").rmtree, served.folder(sid))
    await served.recovers(sid)
    kinds = [(e["type"], e["payload"].get("reason")) for e in await served.http.events(sid, end["seq"])]
    assert ("ee:terminated", "unhealthy") in kinds and ("ee:ready", None) in kinds, kinds


#: Stand-ins for the runner's entry point inside the sandbox (``app/agent_runner/__main__.py``):
#: the sandbox's copy of the runner is what breaks, as it would if the sandbox image were broken.
BROKEN_RUNNERS = {
    "garbage": r"""
import os, sys
out = sys.stdout.buffer
out.write(b'\xff\xfe not json at all\n{"type": 5}\n[1, 2]\n{"type": "block:delta", "payload": "x"}\n')
out.write(b'{"type": "query:completed", "payload": {}}\n{"type": "block:upsert", "payload": {"block": 7}}\n')
out.write(b'{"type": "block:upsert", "payload": {"block": {"id": 1, "type": []}}}\n{"truncated": \n')
out.write(os.urandom(4096) + b"\n" + b"x" * 3_000_000 + b"\n")
out.flush()
sys.stderr.write("runner: exploding now\n")
sys.exit(0)
""",
    "silent-exit-0": "import sys\nsys.exit(0)\n",
    "silent-exit-3": "import sys\nsys.exit(3)\n",
    "dies-by-signal": "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n",
}


async def _break_the_runner(served: Served, sid: str, source: str) -> None:
    """Create the sandbox with a first query, then replace its runner's entry point."""
    end = await served.end_of(sid, await served.send(sid, "echo setup"))
    assert end["type"] == "query:completed", end
    main = served.folder(sid) / "app" / "agent_runner" / "__main__.py"
    assert main.exists()
    main.write_text(source)


@pytest.mark.parametrize("kind", sorted(BROKEN_RUNNERS))
async def test_a_runner_that_prints_garbage_or_nothing_fails_the_query_and_the_session_recovers(
    served: Served, kind: str
) -> None:
    sid = await served.http.create("shell")
    await _break_the_runner(served, sid, BROKEN_RUNNERS[kind])
    message_id = await served.send(sid, "echo hi")
    end = await served.end_of(sid, message_id)
    assert end["type"] == "query:failed" and end["payload"]["code"] == "AGENT_CRASHED", end
    error = end["payload"]["error"]
    assert error.startswith("the agent process died unexpectedly ("), error
    if kind == "garbage":
        events = await served.http.events(sid)
        warnings = [e["payload"]["message"] for e in events if e["type"] == "log"]
        assert any("unparseable runner output" in w for w in warnings), warnings
        assert any("does not accept" in w for w in warnings), warnings  # the forged query:completed
        assert any("exploding now" in w for w in warnings), warnings  # stderr surfaced
        assert all(len(w) < 5000 for w in warnings)
    served.assert_nothing_left(sid)
    await served.recovers(sid)


async def test_a_runner_that_prints_nothing_and_hangs_is_interrupted_cleanly(served: Served) -> None:
    sid = await served.http.create("shell")
    # Ignores SIGTERM and never reads its stdin (so it never sees the interrupt message).
    await _break_the_runner(
        served,
        sid,
        "import signal, time, os\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "open('../workspace/hung.pid', 'w').write(str(os.getpid()))\ntime.sleep(3600)\n",
    )
    message_id = await served.send(sid, "echo hi")
    pid = await _pid_file(served.folder(sid) / "workspace" / "hung.pid")
    pgid = os.getpgid(pid)
    started = time.monotonic()
    status, body = await served.http.call("POST", f"/sessions/{sid}/interrupt")
    assert status == 200 and body["interrupted"] is True, body
    end = await served.end_of(sid, message_id)
    assert end["type"] == "query:interrupted" and end["payload"]["reason"] == "user", end
    assert time.monotonic() - started < 10
    served.assert_nothing_left(sid, pgid)
    await served.recovers(sid)


async def test_a_child_that_ignores_sigterm_or_leaves_the_group_is_gone_after_an_interrupt(
    served: Served, record_property: Any
) -> None:
    sid = await served.http.create("shell")
    workspace = served.folder(sid) / "workspace"
    message_id = await served.send(
        sid,
        "echo $$ > bash.pid; trap '' TERM; (trap '' TERM; sleep 3000) & "
        "setsid sh -c 'trap \"\" TERM; echo $$ > escaped.pid; sleep 3000' & "
        "(cd / && exec sleep 3001) & sleep 3000",
    )
    pgid = os.getpgid(await _pid_file(workspace / "bash.pid"))
    escaped = await _pid_file(workspace / "escaped.pid")
    assert os.getpgid(escaped) != pgid  # really out of the agent's process group
    started = time.monotonic()
    status, body = await served.http.call("POST", f"/sessions/{sid}/interrupt")
    assert status == 200 and body["interrupted"] is True, body
    end = await served.end_of(sid, message_id)
    elapsed = time.monotonic() - started
    assert end["type"] == "query:interrupted", end
    assert elapsed < 10, elapsed
    served.assert_nothing_left(sid, pgid)
    assert not os.path.exists(f"/proc/{escaped}") or not processes_in(served.folder(sid))
    await served.recovers(sid)
    record_property("interrupt_to_end_s", round(elapsed, 2))


async def test_yes_until_interrupted_keeps_the_log_bounded_and_ends_cleanly(
    served: Served, record_property: Any
) -> None:
    sid = await served.http.create("shell")
    workspace = served.folder(sid) / "workspace"
    message_id = await served.send(sid, "echo $$ > bash.pid; yes 'all work and no play'")
    pgid = os.getpgid(await _pid_file(workspace / "bash.pid"))
    # Past the tool output limit (1 MiB by default): the marker is in the log.
    await served.http.wait_for_event(
        sid, lambda e: e["type"] == "block:delta" and "output truncated" in e["payload"]["delta"], timeout=60
    )
    rss_before = served.server.rss_kib()
    status, body = await served.http.call("POST", f"/sessions/{sid}/interrupt")
    assert status == 200 and body["interrupted"] is True, body
    end = await served.end_of(sid, message_id)
    assert end["type"] == "query:interrupted", end
    served.assert_nothing_left(sid, pgid)
    events = await served.http.events(sid)
    stored = sum(len(e["payload"].get("delta", "")) for e in events if e["type"] == "block:delta")
    assert stored <= 1024 * 1024 + 200, stored
    result = next(
        e["payload"]["block"]
        for e in reversed(events)
        if e["type"] == "block:upsert" and e["payload"]["block"].get("id") == f"{message_id}-result"
    )
    assert result.get("truncatedBytes", 0) > 0, result
    await served.recovers(sid)
    record_property("stored_output_bytes", stored)
    record_property("dropped_output_bytes", result["truncatedBytes"])
    record_property("server_rss_mib", round(rss_before / 1024, 1))
