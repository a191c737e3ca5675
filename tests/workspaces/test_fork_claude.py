"""Forking a Claude Code session (the real pinned CLI against the fake model API): the fork's
agent resumes a copy of the conversation cut at the checkpoint (``--fork-session``), and the
source's conversation goes on untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime import AgentRuntime
from tests.claude.conftest import PROFILE_ID, claude_runtime, fake, loopback_only, needs_claude  # noqa: F401
from tests.fakes.anthropic_server import FakeAnthropic, Text, ToolUse, Turn
from tests.helpers import collect_until, query_end

pytestmark = [pytest.mark.claude, needs_claude]


async def ask(runtime: AgentRuntime, sid: str, prompt: str) -> None:
    message_id, _ = await runtime.send_message(sid, prompt)
    events = await collect_until(runtime, sid, query_end(message_id), timeout=120)
    assert events[-1].type == "query:completed", events[-1].payload


async def test_fork_resumes_a_copy_of_the_conversation_cut_at_the_checkpoint(
    claude_runtime: AgentRuntime, fake: FakeAnthropic, repo: Path  # noqa: F811
) -> None:
    runtime = claude_runtime
    summary = await runtime.create_session({"architecture": "claude-code", "agentProfileRef": PROFILE_ID,
                                            "name": "source", "workspace": {"project": str(repo)}})
    sid, worktree = summary.session_id, summary.workspace.path
    fake.script(
        Turn(ToolUse("Write", {"file_path": f"{worktree}/alpha.txt", "content": "alpha\n"})),
        Turn(Text("Wrote alpha.")),
        Turn(ToolUse("Write", {"file_path": f"{worktree}/beta.txt", "content": "beta\n"})),
        Turn(Text("Wrote beta.")),
    )
    await ask(runtime, sid, "PROMPT-ALPHA write alpha.txt")
    await ask(runtime, sid, "PROMPT-BETA write beta.txt")
    events, _ = await runtime.get_events(sid)
    first = next(e for e in events if e.type == "workspace:checkpoint").payload["ref"].rsplit("/", 1)[1]

    fork = await runtime.fork_session(sid, first, name="forked")
    assert sorted(p.name for p in Path(fork.workspace.path).glob("*.txt")) == ["alpha.txt"]
    # A fork of that fork before it ever ran (from the state before a restore) carries the same copy.
    await runtime.restore_checkpoint(fork.session_id, "base")
    fork = await runtime.fork_session(fork.session_id, "pre-restore", name="forked twice")
    fake.script(Turn(Text("Fork reply.")), Turn(Text("Fork again.")), Turn(Text("Source reply.")))
    await ask(runtime, fork.session_id, "PROMPT-FORK-1 what did you do?")
    carried = fake.conversation_requests()[-1].text()
    # The fork's agent has the conversation up to the checkpoint, and nothing after it.
    assert "PROMPT-ALPHA" in carried and "Wrote alpha." in carried
    assert "PROMPT-BETA" not in carried and "Wrote beta." not in carried
    # It goes on as its own conversation (resumed under the fork's id, not forked again).
    await ask(runtime, fork.session_id, "PROMPT-FORK-2 and then?")
    carried = fake.conversation_requests()[-1].text()
    assert "PROMPT-FORK-1" in carried and "Fork reply." in carried and "PROMPT-BETA" not in carried
    # The source's conversation is untouched by the fork.
    await ask(runtime, sid, "PROMPT-SOURCE-3 and you?")
    carried = fake.conversation_requests()[-1].text()
    assert "PROMPT-BETA" in carried and "Wrote beta." in carried and "PROMPT-FORK" not in carried
