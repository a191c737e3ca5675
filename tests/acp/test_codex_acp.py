"""Codex over ACP (``@agentclientprotocol/codex-acp`` 2.6.0 with @openai/codex, pinned in
``tests/node``) end to end: the real adapter under the runner's ACP client in a local sandbox,
talking to the fake OpenAI Responses API (``tests/fakes/responses_server.py``) inside the
loopback-only network namespace."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runtime import AgentRuntime
from tests import agent_support
from tests.acp.support import answer, recording, socket_client
from tests.agent_support import ask, needs_cli, started_runtime
from tests.fakes.responses_server import ErrorReply, FakeResponses, FunctionCall, Text, Turn
from tests.helpers import NODE_BIN, collect_until, make_config, process_alive, query_end, sandbox_pid

ADAPTER_BIN = NODE_BIN / "codex-acp"
pytestmark = [needs_cli(ADAPTER_BIN, "codex-acp")]
loopback_only = agent_support.loopback_only
_ENV = 'env = ["OPENAI_API_KEY", "OPENAI_BASE_URL", "AGENT_TUI_ACP_RECORD"]\n'
PROFILES = {"bypass": f'name = "Bypass"\n{_ENV}', "ask": f'name = "Ask"\npermissionMode = "ask"\n{_ENV}'}


@pytest.fixture
async def fake(loopback_only: bool) -> AsyncIterator[FakeResponses]:
    async with FakeResponses() as server:
        yield server


@pytest.fixture
async def runtime(tmp_path: Path, fake: FakeResponses) -> AsyncIterator[AgentRuntime]:
    host_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "OPENAI_BASE_URL": f"{fake.url}/v1",
                "OPENAI_API_KEY": "sk-test-not-a-real-key", **recording()}
    config = make_config(tmp_path, agent_bin_dirs=[str(NODE_BIN)], host_env=host_env)
    profiles = Path(config.config_dir) / "profiles"  # type: ignore[arg-type]
    profiles.mkdir(parents=True)
    for name, text in PROFILES.items():
        (profiles / f"{name}.toml").write_text(text)
    async with started_runtime(config) as started:
        yield started


async def new_session(runtime: AgentRuntime, profile: str = "bypass") -> str:
    session = await runtime.create_session({"architecture": "acp-codex", "agentProfileRef": profile})
    return session.session_id


def workspace(runtime: AgentRuntime, sid: str) -> Path:
    return Path(runtime.config.resolved_data_dir()) / sid / "workspace"


async def test_text_tool_card_and_resume_after_terminate(runtime: AgentRuntime, fake: FakeResponses) -> None:
    sid = await new_session(runtime)
    reply = "Hello over ACP from the fake Responses API, in several pieces."
    fake.script(Turn(Text(reply)))
    _, events = await ask(runtime, sid, "Say hello")
    assert events[-1].type == "query:completed", events[-1].payload
    text_ids = {e.payload["block"]["id"] for e in events
                if e.type == "block:upsert" and e.payload["block"]["type"] == "assistant_text"}
    deltas = [e.payload["delta"] for e in events if e.type == "block:delta" and e.payload["blockId"] in text_ids]
    assert len(deltas) >= 2 and "".join(deltas) == reply

    fake.script(Turn(FunctionCall("exec_command", {"cmd": "echo hi > hello.txt && cat hello.txt"})),
                Turn(Text("Done.")))
    _, events = await ask(runtime, sid, "Make hello.txt")
    assert events[-1].type == "query:completed", events[-1].payload
    detail = await runtime.get_session(sid)
    use = next(b for b in detail.blocks if b.type == "tool_use")
    result = next(b for b in detail.blocks if b.type == "tool_result" and b.tool_use_id == use.tool_use_id)
    assert use.status == "complete" and "hi" in result.output, (use, result)
    assert (workspace(runtime, sid) / "hello.txt").read_text() == "hi\n"

    await runtime.terminate_environment(sid)
    fake.script(Turn(Text("Third answer.")))
    _, events = await ask(runtime, sid, "And now?")
    assert events[-1].type == "query:completed", events[-1].payload
    logged = [e.payload["message"] for e in events if e.type == "log"]
    assert any("(resumed)" in m for m in logged), logged
    history = fake.conversation_requests()[-1].text()
    assert "Say hello" in history and "Make hello.txt" in history
    assert (await runtime.get_session(sid)).blocks[-1].content == "Third answer."


async def test_approval_answered_over_socketio(runtime: AgentRuntime, fake: FakeResponses) -> None:
    sid = await new_session(runtime, "ask")
    # Codex asks when the model requests escalation for a command (approval_policy on-request).
    fake.script(Turn(FunctionCall("exec_command", {"cmd": "echo yes > asked.txt",
                                                   "sandbox_permissions": "require_escalated",
                                                   "justification": "Write asked.txt?"})), Turn(Text("Ok.")))
    async with socket_client(runtime) as client:
        after = (await runtime.get_summary(sid)).last_seq
        message_id, _ = await runtime.send_message(sid, "Write asked.txt")
        events = await collect_until(runtime, sid, lambda e: e.type == "permission:requested" or query_end()(e),
                                     after_seq=after, timeout=120)
        assert events[-1].type == "permission:requested", events[-1].payload
        requested = events[-1].payload
        assert any(o["kind"].startswith("allow") for o in requested["options"])
        assert not (workspace(runtime, sid) / "asked.txt").exists()
        assert await answer(client, sid, requested["requestId"], "allow") == {"success": True}
        events = await collect_until(runtime, sid, query_end(message_id), after_seq=after, timeout=120)
    assert events[-1].type == "query:completed", events[-1].payload
    assert (workspace(runtime, sid) / "asked.txt").read_text() == "yes\n"


async def test_provider_error_is_a_readable_failed_query(runtime: AgentRuntime, fake: FakeResponses) -> None:
    sid = await new_session(runtime)
    fake.script(ErrorReply(400, "The model `gpt-5.5` does not exist or you do not have access to it.", times=10))
    _, events = await ask(runtime, sid, "Hello?")
    assert events[-1].type == "query:failed", events[-1].payload
    assert "does not exist" in events[-1].payload["error"]


async def test_interrupt_is_quick_and_leaves_nothing_running(runtime: AgentRuntime, fake: FakeResponses) -> None:
    sid = await new_session(runtime)
    fake.script(Turn(FunctionCall("exec_command", {"cmd": "echo $$ > shell.pid; sleep 600", "yield_time_ms": 60000})))
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
