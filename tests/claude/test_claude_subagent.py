"""Claude Code's subagents, end to end (the real CLI against the fake Anthropic server): the
blocks of a subagent go under its own conversation. What every agent does is in
``tests/conformance``; this is what only Claude Code does."""

from __future__ import annotations

import pytest

from runtime import AgentRuntime
from tests.agent_support import ask
from tests.claude.conftest import PROFILE_ID, needs_claude
from tests.fakes.anthropic_server import FakeAnthropic, Text, ToolUse, Turn, for_main, for_subagent

pytestmark = [pytest.mark.claude, needs_claude]


async def test_subagent_blocks_go_under_its_conversation(claude_runtime: AgentRuntime,
                                                         fake: FakeAnthropic) -> None:
    runtime = claude_runtime
    session = await runtime.create_session({"architecture": "claude-code", "agentProfileRef": PROFILE_ID})
    agent = ToolUse("Agent", {"description": "List files", "prompt": "List the files in the workspace",
                              "subagent_type": "general-purpose"})
    fake.script(
        Turn(Text("Delegating."), agent, match=for_main),
        Turn(Text("Listing."), ToolUse("Bash", {"command": "ls -a", "description": "list"}), match=for_subagent),
        Turn(Text("The workspace is empty."), match=for_subagent),
        Turn(Text("Waiting for the subagent."), match=for_main),
        Turn(Text("The subagent says the workspace is empty."), match=for_main),
    )
    _, events = await ask(runtime, session.session_id, "Delegate a listing")
    assert events[-1].type == "query:completed", events[-1].payload
    spawned = [e for e in events if e.type == "subagent:spawned"]
    completed = [e for e in events if e.type == "subagent:completed"]
    assert [e.payload["toolUseId"] for e in spawned] == [agent.id]
    assert spawned[0].payload["prompt"] == "List the files in the workspace"
    assert [e.payload["toolUseId"] for e in completed] == [agent.id]
    assert completed[0].payload["status"] == "completed"
    detail = await runtime.get_session(session.session_id)
    block = next(b for b in detail.blocks if b.type == "subagent")
    assert block.status == "complete" and block.output == "The workspace is empty."
    [thread] = detail.subagents
    assert thread.tool_use_id == agent.id and thread.status == "completed" and thread.agent_id
    assert thread.output == "The workspace is empty."
    texts = [b.content for b in thread.blocks if b.type == "assistant_text"]
    assert texts[-1] == "The workspace is empty."
    assert any(b.type == "tool_result" and b.output.strip() for b in thread.blocks)
    assert not any(b.type == "tool_result" and b.tool_use_id == agent.id for b in detail.blocks)
