"""Claude Code over ACP (``@agentclientprotocol/claude-agent-acp``, pinned in ``tests/node``) end
to end: the real adapter (Claude Agent SDK and its bundled Claude Code) under the runner's ACP
client in a local sandbox, talking to the fake Anthropic API inside the loopback-only network
namespace, driven through the public AgentRuntime API (and a Socket.IO client for the approval)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runtime import AgentRuntime
from tests.acp.support import answer, recording, socket_client
from tests.agent_support import ask, needs_cli, started_runtime
from tests.claude.conftest import claude_host_env, fake, loopback_only  # noqa: F401 - fixtures
from tests.fakes.anthropic_server import ErrorReply, FakeAnthropic, Text, ToolUse, Turn
from tests.helpers import NODE_BIN, collect_until, make_config, process_alive, query_end, sandbox_pid

ADAPTER_BIN = NODE_BIN / "claude-agent-acp"
pytestmark = [needs_cli(ADAPTER_BIN, "claude-agent-acp")]

_ENV = 'env = ["ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "CLAUDE_CODE_MAX_RETRIES", "AGENT_TUI_ACP_RECORD"]\n'
PROFILES = {"bypass": f'name = "Bypass"\n{_ENV}', "ask": f'name = "Ask"\npermissionMode = "ask"\n{_ENV}'}


@pytest.fixture
async def runtime(tmp_path: Path, fake: FakeAnthropic) -> AsyncIterator[AgentRuntime]:  # noqa: F811
    config = make_config(tmp_path, agent_bin_dirs=[str(NODE_BIN)], host_env=claude_host_env(fake, **recording()))
    profiles = Path(config.config_dir) / "profiles"  # type: ignore[arg-type]
    profiles.mkdir(parents=True)
    for name, text in PROFILES.items():
        (profiles / f"{name}.toml").write_text(text)
    async with started_runtime(config) as started:
        yield started


async def new_session(runtime: AgentRuntime, profile: str = "bypass") -> str:
    session = await runtime.create_session({"architecture": "acp-claude", "agentProfileRef": profile})
    return session.session_id


def workspace(runtime: AgentRuntime, sid: str) -> Path:
    return Path(runtime.config.resolved_data_dir()) / sid / "workspace"


async def test_text_tool_card_and_resume_after_terminate(runtime: AgentRuntime, fake: FakeAnthropic) -> None:  # noqa: F811
    sid = await new_session(runtime)
    reply = "Hello over ACP from the fake Anthropic server, in several streamed pieces."
    fake.script(Turn(Text(reply, chunk=10)))
    _, events = await ask(runtime, sid, "Say hello")
    assert events[-1].type == "query:completed", events[-1].payload
    text_ids = {e.payload["block"]["id"] for e in events
                if e.type == "block:upsert" and e.payload["block"]["type"] == "assistant_text"}
    deltas = [e.payload["delta"] for e in events if e.type == "block:delta" and e.payload["blockId"] in text_ids]
    assert len(deltas) >= 2 and "".join(deltas) == reply

    command = "echo hi > hello.txt && cat hello.txt"
    fake.script(Turn(ToolUse("Bash", {"command": command, "description": "Write hello.txt"})), Turn(Text("Done.")))
    _, events = await ask(runtime, sid, "Make hello.txt")
    assert events[-1].type == "query:completed", events[-1].payload
    detail = await runtime.get_session(sid)
    use = next(b for b in detail.blocks if b.type == "tool_use")
    result = next(b for b in detail.blocks if b.type == "tool_result" and b.tool_use_id == use.tool_use_id)
    assert use.tool_name == "execute" and use.status == "complete"
    assert "hi" in result.output and result.status == "complete"
    assert (workspace(runtime, sid) / "hello.txt").read_text() == "hi\n"

    await runtime.terminate_environment(sid)
    fake.script(Turn(Text("Third answer.")))
    _, events = await ask(runtime, sid, "And now?")
    assert events[-1].type == "query:completed", events[-1].payload
    logged = [e.payload["message"] for e in events if e.type == "log"]
    assert any("(resumed)" in m for m in logged), logged
    # session/load found the restored conversation: the model sees the earlier turns.
    history = fake.conversation_requests()[-1].text()
    assert "Say hello" in history and "Make hello.txt" in history
    assert (await runtime.get_session(sid)).blocks[-1].content == "Third answer."


async def test_approval_answered_over_socketio(runtime: AgentRuntime, fake: FakeAnthropic) -> None:  # noqa: F811
    sid = await new_session(runtime, "ask")
    fake.script(Turn(ToolUse("Bash", {"command": "echo yes > asked.txt", "description": "Write asked.txt"})),
                Turn(Text("Ok.")))
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


async def test_interrupt_is_quick_and_leaves_nothing_running(runtime: AgentRuntime, fake: FakeAnthropic) -> None:  # noqa: F811
    sid = await new_session(runtime)
    fake.script(Turn(ToolUse("Bash", {"command": "echo $$ > shell.pid; sleep 600", "description": "Sleep"})))
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


async def test_provider_error_is_a_readable_failed_query(runtime: AgentRuntime, fake: FakeAnthropic) -> None:  # noqa: F811
    sid = await new_session(runtime)
    fake.script(ErrorReply(400, "prompt is too long: 300000 tokens > 200000 maximum",
                           error_type="invalid_request_error", times=3))
    _, events = await ask(runtime, sid, "Hello?")
    assert events[-1].type == "query:failed", events[-1].payload
    assert "prompt is too long" in events[-1].payload["error"].lower()
    assert [e.payload["message"] for e in events if e.type == "error"] == [events[-1].payload["error"]]
