"""Claude Code end to end: the real CLI (2.1.332) run by the runner in a local sandbox, talking to
the fake Anthropic server, driven through the public AgentRuntime API.

One session carries several checks in turn (text, tool loop, resume, restore after the sandbox
is gone) because each CLI start costs about a second.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from runtime import AgentRuntime
from runtime.converters.claude_transcript import transcript_events
from runtime.models import SessionEvent
from runtime.reducer import SessionState, apply_event
from runtime.runner.claude_transcript import claude_session_id
from tests.claude.conftest import PROFILE_ID, needs_claude
from tests.claude.netns import internet_reachable
from tests.fakes.anthropic_server import (
    ErrorReply,
    FakeAnthropic,
    Text,
    Thinking,
    ToolUse,
    Turn,
    for_main,
    for_subagent,
)
from tests.helpers import collect_until, query_end

pytestmark = [pytest.mark.claude, needs_claude]


async def ask(runtime: AgentRuntime, session_id: str, content: str) -> tuple[str, list[SessionEvent]]:
    after = (await runtime.get_summary(session_id)).last_seq
    message_id, _queued = await runtime.send_message(session_id, content)
    events = await collect_until(runtime, session_id, query_end(message_id), after_seq=after, timeout=60)
    return message_id, events


def block_events(events: list[SessionEvent], block_id: str) -> list[SessionEvent]:
    return [e for e in events if (e.type == "block:upsert" and e.payload["block"]["id"] == block_id)
            or (e.type == "block:delta" and e.payload["blockId"] == block_id)]


def session_processes(session_dir: Path, claude_id: str) -> list[tuple[int, str]]:
    """Processes still running in the session's folder, or a ``claude`` of this session."""
    found = []
    folder = os.path.realpath(session_dir)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if state == "Z":
            continue
        if cwd == folder or cwd.startswith(folder + os.sep) or claude_id in cmdline:
            found.append((int(entry.name), cmdline))
    return found


def comparable(blocks: list[Any]) -> list[dict[str, Any]]:
    """Blocks as plain dicts, without what only the live run or only the reducer adds."""
    out = []
    for block in blocks:
        data = block if isinstance(block, dict) else block.model_dump(by_alias=True, exclude_none=True)
        data = {k: v for k, v in data.items() if k not in ("timestamp", "queued")}
        if data.get("type") in ("user_message", "error"):
            continue
        out.append(data)
    return out


async def test_the_cli_can_reach_the_fake_and_nothing_else(loopback_only: bool, fake: FakeAnthropic) -> None:
    if not loopback_only:
        pytest.skip("no network namespace allowed here: tests run with the host's network")
    assert not internet_reachable()
    _reader, writer = await asyncio.open_connection("127.0.0.1", fake.port)
    writer.close()
    await writer.wait_closed()


async def test_text_tool_loop_resume_and_restore(claude_runtime: AgentRuntime, fake: FakeAnthropic,
                                                 tmp_path: Path) -> None:
    runtime = claude_runtime
    session = await runtime.create_session({"architecture": "claude-code", "agentProfileRef": PROFILE_ID})
    sid = session.session_id

    # 1. One message: text streams as deltas into one block, then that block is completed.
    reply = "Hello there! This reply comes from the fake model server, in several pieces."
    fake.script(Turn(Thinking("The user greets me."), Text(reply, chunk=10)))
    _, events = await ask(runtime, sid, "Say hello")
    assert events[-1].type == "query:completed", events[-1].payload
    text_events = [e for e in events if e.type == "block:upsert" and e.payload["block"]["type"] == "assistant_text"]
    text_id = text_events[0].payload["block"]["id"]
    sequence = block_events(events, text_id)
    assert sequence[0].type == "block:upsert" and sequence[0].payload["block"]["status"] == "pending"
    deltas = [e.payload["delta"] for e in sequence if e.type == "block:delta"]
    assert len(deltas) >= 3 and "".join(deltas) == reply
    assert sequence[-1].type == "block:upsert" and sequence[-1].payload["block"]["status"] == "complete"
    detail = await runtime.get_session(sid)
    texts = [b for b in detail.blocks if b.type == "assistant_text"]
    assert [b.content for b in texts] == [reply]
    assert [b.content for b in detail.blocks if b.type == "thinking"] == ["The user greets me."]
    assert detail.metadata.usage is not None and detail.metadata.usage.output_tokens == 7
    assert detail.metadata.cost_usd and detail.metadata.cost_usd > 0
    first_cost = detail.metadata.cost_usd
    first_request = fake.conversation_requests()[-1]
    assert "Say hello" in first_request.text()
    assert first_request.headers.get("x-api-key") == "sk-ant-test-not-a-real-key"

    # 2. Tool loop in the same conversation (the CLI resumes it): Bash runs in the workspace.
    command = "echo hi > hello.txt && cat hello.txt"
    tool = ToolUse("Bash", {"command": command, "description": "Write and show hello.txt"})
    fake.script(Turn(Text("Running it."), tool), Turn(Text("Done: the file says hi.")))
    _, events = await ask(runtime, sid, "Make hello.txt")
    assert events[-1].type == "query:completed", events[-1].payload
    kinds = [(e.type, e.payload.get("block", {}).get("type"), e.payload.get("block", {}).get("status"))
             for e in events if e.type == "block:upsert"]
    use_at = kinds.index(("block:upsert", "tool_use", "pending"))
    result_at = kinds.index(("block:upsert", "tool_result", "complete"))
    final_at = max(i for i, k in enumerate(kinds) if k == ("block:upsert", "assistant_text", "complete"))
    assert use_at < result_at < final_at
    detail = await runtime.get_session(sid)
    tool_use = next(b for b in detail.blocks if b.type == "tool_use")
    tool_result = next(b for b in detail.blocks if b.type == "tool_result")
    assert tool_use.tool_name == "Bash" and tool_use.input["command"] == command
    assert tool_use.status == "complete" and tool_use.tool_use_id == tool.id
    assert tool_result.output.strip() == "hi" and tool_result.is_error is False
    assert detail.blocks[-1].type == "assistant_text" and detail.blocks[-1].content == "Done: the file says hi."
    workspace = Path(runtime.config.resolved_data_dir()) / sid / "workspace"
    assert (workspace / "hello.txt").read_text() == "hi\n"
    # Resumed: the request of the second message carries the first exchange.
    second = fake.conversation_requests()[-2]
    assert "Say hello" in second.text() and reply in second.text() and "Make hello.txt" in second.text()
    # Cost is per query (the CLI reports the conversation's running total).
    assert detail.metadata.cost_usd == pytest.approx(first_cost * 3, rel=0.01)

    # 3. The sandbox goes away (app/ and home/ wiped); the next message restores the transcript.
    await runtime.terminate_environment(sid)
    assert not (Path(runtime.config.resolved_data_dir()) / sid / "home").exists()
    fake.script(Turn(Text("Third answer.")))
    _, events = await ask(runtime, sid, "And now?")
    assert events[-1].type == "query:completed", events[-1].payload
    assert any(e.type == "ee:creating" and "Restoring" in e.payload["statusMessage"] for e in events)
    history = fake.conversation_requests()[-1].text()
    for said in ("Say hello", reply, "Make hello.txt", "Running it.", command, "hi",
                 "Done: the file says hi.", "And now?"):
        assert said in history, said

    # 4. Parity: the stored transcript parses into the blocks the live stream produced.
    stored = await runtime.store.load_transcript(sid, "claude-code")
    assert stored["claudeSessionId"] == claude_session_id(sid)
    state = SessionState()
    for seq, draft in enumerate(transcript_events(stored), 1):
        apply_event(state, SessionEvent(seq=seq, **{k: v for k, v in draft.items() if k != "source"}))
    live = await runtime.get_session(sid)
    assert comparable(state.blocks) == comparable(live.blocks)
    prompts = [b["content"] for b in state.blocks if b["type"] == "user_message"]
    assert prompts == ["Say hello", "Make hello.txt", "And now?"]
    assert fake.unscripted == 0


async def test_api_error_fails_the_query_readably_and_the_session_stays_usable(
        claude_runtime: AgentRuntime, fake: FakeAnthropic) -> None:
    runtime = claude_runtime
    session = await runtime.create_session({"architecture": "claude-sdk", "agentProfileRef": PROFILE_ID})
    # CLAUDE_CODE_MAX_RETRIES=1 (the test profile passes it): the first try and one retry.
    fake.script(ErrorReply(500, "the fake model is on fire", times=2))
    _, events = await ask(runtime, session.session_id, "Hello?")
    assert events[-1].type == "query:failed"
    failure = events[-1].payload
    assert "500" in failure["error"] and "the fake model is on fire" in failure["error"]
    assert failure["code"] == "API_ERROR"
    assert any(e.type == "error" and "the fake model is on fire" in e.payload["message"] for e in events)
    retries = [e for e in events if e.type == "log" and e.payload["level"] == "warn"
               and "retrying" in e.payload["message"]]
    assert retries and "500" in retries[0].payload["message"]
    assert len(fake.conversation_requests()) == 2

    fake.script(Turn(Text("Back on my feet.")))
    _, events = await ask(runtime, session.session_id, "Try again")
    assert events[-1].type == "query:completed", events[-1].payload
    detail = await runtime.get_session(session.session_id)
    assert detail.blocks[-1].type == "assistant_text" and detail.blocks[-1].content == "Back on my feet."


async def test_interrupt_during_a_long_tool_ends_the_query_and_leaves_no_process(
        claude_runtime: AgentRuntime, fake: FakeAnthropic) -> None:
    runtime = claude_runtime
    session = await runtime.create_session({"architecture": "claude-code", "agentProfileRef": PROFILE_ID})
    sid = session.session_id
    fake.script(Turn(ToolUse("Bash", {"command": "sleep 30", "description": "wait"})), Turn(Text("never")))
    message_id, _ = await runtime.send_message(sid, "Wait a while")

    def tool_running(event: SessionEvent) -> bool:
        block = event.payload.get("block") or {}
        return event.type == "block:upsert" and block.get("type") == "tool_use" and bool(block.get("input"))

    await collect_until(runtime, sid, tool_running, timeout=60)
    session_dir = Path(runtime.config.resolved_data_dir()) / sid
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await runtime.interrupt(sid) is True
    events = await collect_until(runtime, sid, query_end(message_id), timeout=10)
    elapsed = loop.time() - started
    assert events[-1].type == "query:interrupted" and events[-1].payload["reason"] == "user"
    assert elapsed < 2.0, f"interrupt took {elapsed:.2f}s"
    print(f"interrupt -> query:interrupted in {elapsed:.2f}s")
    assert session_processes(session_dir, claude_session_id(sid)) == []

    # The conversation goes on afterwards.
    fake.script(Turn(Text("Still here.")))
    _, events = await ask(runtime, sid, "Are you there?")
    assert events[-1].type == "query:completed", events[-1].payload


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
