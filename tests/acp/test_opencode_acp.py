"""OpenCode over ACP (``opencode acp``, the pinned opencode-ai) end to end: the real CLI under the
runner's ACP client in a local sandbox, talking to the fake OpenAI-compatible API inside the
loopback-only network namespace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runtime import AgentRuntime
from tests.acp.support import recording
from tests.agent_support import ask, started_runtime
from tests.fakes.openai_server import FakeOpenAI, Text, ToolCall, Turn
from tests.helpers import NODE_BIN, make_config
from tests.opencode.conftest import (  # noqa: F401 - fake, loopback_only: fixtures for this module
    MODEL,
    fake,
    loopback_only,
    needs_opencode,
    opencode_host_env,
)

pytestmark = [needs_opencode]
PROFILE = 'name = "Bypass"\nenv = ["OPENAI_API_KEY", "OPENAI_BASE_URL", "AGENT_TUI_ACP_RECORD"]\n'


@pytest.fixture
async def runtime(tmp_path: Path, fake: FakeOpenAI) -> AsyncIterator[AgentRuntime]:  # noqa: F811
    config = make_config(tmp_path, agent_bin_dirs=[str(NODE_BIN)], host_env=opencode_host_env(fake, **recording()))
    profiles = Path(config.config_dir) / "profiles"  # type: ignore[arg-type]
    profiles.mkdir(parents=True)
    (profiles / "bypass.toml").write_text(PROFILE)
    async with started_runtime(config) as started:
        yield started


async def test_text_tool_card_and_resume_after_terminate(runtime: AgentRuntime, fake: FakeOpenAI) -> None:  # noqa: F811
    session = await runtime.create_session({"architecture": "acp-opencode", "agentProfileRef": "bypass",
                                            "sessionOptions": {"model": MODEL}})
    sid = session.session_id
    reply = "Hello over ACP from the fake OpenAI-compatible server, in pieces."
    fake.script(Turn(Text(reply)))
    _, events = await ask(runtime, sid, "Say hello")
    assert events[-1].type == "query:completed", events[-1].payload
    text_ids = {e.payload["block"]["id"] for e in events
                if e.type == "block:upsert" and e.payload["block"]["type"] == "assistant_text"}
    deltas = [e.payload["delta"] for e in events if e.type == "block:delta" and e.payload["blockId"] in text_ids]
    assert len(deltas) >= 2 and "".join(deltas) == reply

    fake.script(Turn(ToolCall("bash", {"command": "echo hi > hello.txt && cat hello.txt",
                                       "description": "Write hello.txt"})), Turn(Text("Done.")))
    _, events = await ask(runtime, sid, "Make hello.txt")
    assert events[-1].type == "query:completed", events[-1].payload
    detail = await runtime.get_session(sid)
    use = next(b for b in detail.blocks if b.type == "tool_use")
    result = next(b for b in detail.blocks if b.type == "tool_result" and b.tool_use_id == use.tool_use_id)
    assert use.status == "complete" and "hi" in result.output
    workspace = Path(runtime.config.resolved_data_dir()) / sid / "workspace"
    assert (workspace / "hello.txt").read_text() == "hi\n"

    await runtime.terminate_environment(sid)
    fake.script(Turn(Text("Third answer.")))
    _, events = await ask(runtime, sid, "And now?")
    assert events[-1].type == "query:completed", events[-1].payload
    logged = [e.payload["message"] for e in events if e.type == "log"]
    assert any("(resumed)" in m for m in logged), logged
    assert "Say hello" in str(fake.requests[-1].body)
    assert (await runtime.get_session(sid)).blocks[-1].content == "Third answer."
