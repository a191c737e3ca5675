"""Gemini CLI over ACP (``gemini --acp``, the pinned 0.61.0) end to end: the real CLI under the
runner's ACP client in a local sandbox, talking to the fake Gemini API inside the loopback-only
network namespace, driven through the public AgentRuntime API (and a Socket.IO client for the
approval)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runtime import AgentRuntime
from tests.acp.support import answer, recording, socket_client
from tests.agent_support import ask, started_runtime
from tests.fakes.gemini_server import ErrorReply, FakeGemini, FunctionCall, Text, Turn
from tests.gemini.conftest import (  # noqa: F401 - fake, loopback_only: fixtures for this module
    GEMINI_BIN,
    MODEL,
    fake,
    gemini_host_env,
    loopback_only,
    needs_gemini,
)
from tests.helpers import NODE_BIN, collect_until, make_config, process_alive, query_end, sandbox_pid

pytestmark = [needs_gemini]

_ENV = 'env = ["GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL", "AGENT_TUI_ACP_RECORD"]\n'
PROFILES = {"bypass": f'name = "Bypass"\n{_ENV}', "ask": f'name = "Ask"\npermissionMode = "ask"\n{_ENV}'}


@pytest.fixture
async def runtime(tmp_path: Path, fake: FakeGemini) -> AsyncIterator[AgentRuntime]:  # noqa: F811
    config = make_config(tmp_path, agent_bin_dirs=[str(NODE_BIN)], host_env=gemini_host_env(fake, **recording()))
    profiles = Path(config.config_dir) / "profiles"  # type: ignore[arg-type]
    profiles.mkdir(parents=True)
    for name, text in PROFILES.items():
        (profiles / f"{name}.toml").write_text(text)
    async with started_runtime(config) as started:
        yield started


async def new_session(runtime: AgentRuntime, profile: str = "bypass") -> str:
    session = await runtime.create_session({"architecture": "acp-gemini", "agentProfileRef": profile,
                                            "sessionOptions": {"model": MODEL}})
    return session.session_id


def workspace(runtime: AgentRuntime, sid: str) -> Path:
    return Path(runtime.config.resolved_data_dir()) / sid / "workspace"


async def test_text_tool_card_and_resume_after_terminate(runtime: AgentRuntime, fake: FakeGemini) -> None:  # noqa: F811
    assert GEMINI_BIN.exists()
    sid = await new_session(runtime)
    reply = "Hello over ACP! This reply comes from the fake model server, in several pieces."
    fake.script(Turn(Text(reply, chunk=10)))
    _, events = await ask(runtime, sid, "Say hello")
    assert events[-1].type == "query:completed", events[-1].payload
    text_ids = {e.payload["block"]["id"] for e in events
                if e.type == "block:upsert" and e.payload["block"]["type"] == "assistant_text"}
    deltas = [e.payload["delta"] for e in events if e.type == "block:delta" and e.payload["blockId"] in text_ids]
    assert len(deltas) >= 2 and "".join(deltas) == reply

    # A tool call (bypass: approved by the client itself) shows as a card with its output.
    command = "echo hi > hello.txt && cat hello.txt"
    fake.script(Turn(FunctionCall("run_shell_command", {"command": command, "description": "Write hello.txt"})),
                Turn(Text("Done.")))
    _, events = await ask(runtime, sid, "Make hello.txt")
    assert events[-1].type == "query:completed", events[-1].payload
    detail = await runtime.get_session(sid)
    use = next(b for b in detail.blocks if b.type == "tool_use")
    result = next(b for b in detail.blocks if b.type == "tool_result" and b.tool_use_id == use.tool_use_id)
    assert use.tool_name == "execute" and use.status == "complete"
    # Gemini CLI's update says nothing of the output: it is read from its chat file at the end.
    assert result.output == "hi\n" and result.status == "complete" and result.model_extra["exitCode"] == 0
    assert (workspace(runtime, sid) / "hello.txt").read_text() == "hi\n"

    # The sandbox goes away; the next message restores the session home. Gemini CLI 0.61.0's
    # session/load fails: the client warns and starts a new ACP session (the CLI forgets).
    await runtime.terminate_environment(sid)
    fake.script(Turn(Text("Third answer.")))
    _, events = await ask(runtime, sid, "And now?")
    assert events[-1].type == "query:completed", events[-1].payload
    assert any(e.type == "ee:creating" and "Restoring" in e.payload["statusMessage"] for e in events)
    logged = [e.payload["message"] for e in events if e.type == "log"]
    resumed = any("(resumed)" in m for m in logged)
    warned = any("could not load its session" in m for m in logged)
    assert resumed or warned, logged
    if resumed:
        history = fake.conversation_requests()[-1].text()
        assert "Say hello" in history and "Make hello.txt" in history
    assert (await runtime.get_session(sid)).blocks[-1].content == "Third answer."


async def test_approval_answered_over_socketio(runtime: AgentRuntime, fake: FakeGemini) -> None:  # noqa: F811
    sid = await new_session(runtime, "ask")
    fake.script(Turn(FunctionCall("run_shell_command", {"command": "echo yes > asked.txt"})), Turn(Text("Ok.")))
    async with socket_client(runtime) as client:
        after = (await runtime.get_summary(sid)).last_seq
        message_id, _ = await runtime.send_message(sid, "Write asked.txt")
        events = await collect_until(runtime, sid, lambda e: e.type == "permission:requested" or query_end()(e),
                                     after_seq=after, timeout=120)
        assert events[-1].type == "permission:requested", events[-1].payload
        requested = events[-1].payload
        assert {o["kind"] for o in requested["options"]} >= {"allow_once", "reject_once"}
        assert not (workspace(runtime, sid) / "asked.txt").exists()
        assert await answer(client, sid, requested["requestId"], "allow") == {"success": True}
        events = await collect_until(runtime, sid, query_end(message_id), after_seq=after, timeout=120)
    assert events[-1].type == "query:completed", events[-1].payload
    assert (workspace(runtime, sid) / "asked.txt").read_text() == "yes\n"


async def test_interrupt_is_quick_and_leaves_nothing_running(runtime: AgentRuntime, fake: FakeGemini) -> None:  # noqa: F811
    sid = await new_session(runtime)
    fake.script(Turn(FunctionCall("run_shell_command", {"command": "echo $$ > shell.pid; sleep 600"})))
    after = (await runtime.get_summary(sid)).last_seq
    message_id, _ = await runtime.send_message(sid, "Sleep")
    pid_file = workspace(runtime, sid) / "shell.pid"
    for _ in range(1200):
        if pid_file.exists() and pid_file.read_text().strip():
            break
        await asyncio.sleep(0.05)
    # As this test sees it: under bubblewrap the sandbox numbers its processes itself.
    pid = sandbox_pid(int(pid_file.read_text()), pid_file.parent.parent)
    assert pid is not None
    assert process_alive(pid)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await runtime.interrupt(sid)
    events = await collect_until(runtime, sid, query_end(message_id), after_seq=after, timeout=10)
    assert events[-1].type == "query:interrupted", events[-1].payload
    assert loop.time() - started < 2.0
    assert not process_alive(pid)


async def test_provider_error_is_a_readable_failed_query(runtime: AgentRuntime, fake: FakeGemini) -> None:  # noqa: F811
    sid = await new_session(runtime)
    fake.script(ErrorReply(400, "API key not valid. Please pass a valid API key.", status_text="INVALID_ARGUMENT"))
    _, events = await ask(runtime, sid, "Hello?")
    assert events[-1].type == "query:failed", events[-1].payload
    assert "API key not valid" in events[-1].payload["error"]
