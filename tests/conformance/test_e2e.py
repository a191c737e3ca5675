"""Every agent, end to end: the pinned real CLI (or ACP adapter) run by the runner in a local
sandbox, talking to its fake model API, driven through the public AgentRuntime API (and a
Socket.IO client for approvals). The same scenarios for each architecture (``agents.py``);
what only one agent does is checked by its ``Quirks`` or in its own folder.

One session carries several checks in turn (text, tool loop, resume, restore after the sandbox
is gone, parity) because each CLI start costs seconds.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from runtime import AgentRuntime
from tests.acp.support import answer, socket_client
from tests.agent_support import ask
from tests.claude.netns import internet_reachable
from tests.conformance.agents import AGENTS, ASK_PROFILE, Agent
from tests.conformance.support import (
    LONG_COMMAND,
    block_events,
    comparable,
    reduce_drafts,
    session_dir,
    session_processes,
    start_a_long_tool,
    workspace,
)
from tests.fakes.scripted_server import Text, Thinking, Turn
from tests.helpers import collect_until, process_alive, query_end

#: Agents that run every scenario (``Agent.main_only``: only the first).
FULL = [a for a in AGENTS if not a.main_only]
REPLY = "Hello there! This reply comes from the fake model server, in several pieces."
COMMAND = "echo hi > hello.txt && cat hello.txt"
FAILING = "echo oops >&2; exit 3"


async def new_session(runtime: AgentRuntime, agent: Agent, profile: str | None = None) -> str:
    request = agent.session_request() if profile is None else agent.session_request(profile)
    return (await runtime.create_session(request)).session_id


def transcript_events(agent: Agent, stored: Any) -> list[dict[str, Any]]:
    from runtime.runner.converters import claude_transcript, gemini_cli, opencode

    parse = {"claude-code": claude_transcript.transcript_events, "opencode": opencode.transcript_events,
             "gemini-cli": gemini_cli.transcript_events}[agent.architecture]
    return parse(stored)


@pytest.mark.parametrize("agent", AGENTS[:1], indirect=True, ids=["any"])
async def test_the_cli_can_reach_the_fake_and_nothing_else(loopback_only: bool, fake: Any) -> None:
    if not loopback_only:
        pytest.skip("no network namespace allowed here: tests run with the host's network")
    assert not internet_reachable()
    _reader, writer = await asyncio.open_connection("127.0.0.1", fake.port)
    writer.close()
    await writer.wait_closed()


async def test_text_tool_loop_resume_and_restore(agent: Agent, agent_runtime: AgentRuntime, fake: Any) -> None:
    runtime = agent_runtime
    sid = await new_session(runtime, agent)

    # 1. One message: the reply streams as deltas into one block (pending, deltas, complete).
    thinking = [Thinking("The user greets me.")] if agent.thinking else []
    fake.script(Turn(*thinking, Text(REPLY, chunk=10)))
    _, events = await ask(runtime, sid, "Say hello")
    assert events[-1].type == "query:completed", events[-1].payload
    [text_id] = {e.payload["block"]["id"] for e in events
                 if e.type == "block:upsert" and e.payload["block"]["type"] == "assistant_text"}
    stream = block_events(events, text_id)
    assert stream[0].type == "block:upsert" and stream[0].payload["block"]["status"] == "pending"
    assert stream[-1].type == "block:upsert" and stream[-1].payload["block"]["status"] == "complete"
    deltas = [e.payload["delta"] for e in stream if e.type == "block:delta"]
    assert len(deltas) >= agent.min_deltas, deltas
    assert stream[0].payload["block"].get("content", "") + "".join(deltas) == REPLY
    detail = await runtime.get_session(sid)
    assert [b.content for b in detail.blocks if b.type == "assistant_text"] == [REPLY]
    if agent.thinking:
        assert [b.content for b in detail.blocks if b.type == "thinking"] == ["The user greets me."]
    if agent.usage:
        assert detail.metadata.usage is not None and detail.metadata.usage.output_tokens == 7
    assert "Say hello" in fake.conversation_requests()[-1].text()
    agent.quirks.after_text(runtime, sid, fake, detail)
    first_cost = detail.metadata.cost_usd

    # 2. Tool loop in the same conversation: the shell tool runs in the workspace; a failing
    #    command is a failed tool, not a failed query.
    tool, failing = agent.shell(COMMAND), agent.shell(FAILING)
    steps = [Turn(Text("Running it."), tool), *([Turn(failing)] if agent.failing_tool else []),
             Turn(Text("Done: the file says hi."))]
    fake.script(*steps)
    _, events = await ask(runtime, sid, "Make hello.txt")
    assert events[-1].type == "query:completed", events[-1].payload
    kinds = [(e.payload["block"]["type"], e.payload["block"]["status"]) for e in events if e.type == "block:upsert"]
    # A tool call shows as a pending card before its result, and the last reply comes after.
    use_at, result_at = kinds.index(("tool_use", "pending")), kinds.index(("tool_result", "complete"))
    assert use_at < result_at < max(i for i, k in enumerate(kinds) if k == ("assistant_text", "complete"))
    detail = await runtime.get_session(sid)
    uses = [b for b in detail.blocks if b.type == "tool_use"]
    results = {b.tool_use_id: b for b in detail.blocks if b.type == "tool_result"}
    assert all(u.status == "complete" for u in uses) and len(uses) == len(steps) - 1
    ran = results[uses[0].tool_use_id]
    assert ran.output.strip().endswith("hi") and ran.is_error is False, ran
    if agent.tool_name:
        assert uses[0].tool_name == agent.tool_name
    if agent.native:
        assert uses[0].input["command"] == COMMAND
    if agent.keeps_call_ids:
        assert [u.tool_use_id for u in uses] == [tool.id, failing.id]
    if agent.failing_tool:
        failed = results[uses[1].tool_use_id]
        assert failed.is_error is True and "oops" in failed.output
    assert detail.blocks[-1].type == "assistant_text" and detail.blocks[-1].content == "Done: the file says hi."
    assert (workspace(runtime, sid) / "hello.txt").read_text() == "hi\n"
    agent.quirks.after_tools(detail, fake, first_cost, events, [tool, failing])
    if agent.native:
        # Resumed: the second message's first request carries the first exchange.
        second = fake.conversation_requests()[-len(steps)].text()
        assert "Say hello" in second and REPLY in second and "Make hello.txt" in second

    # 3. The sandbox goes away (app/ and home/ wiped); the next message restores the session
    #    home, and the agent goes on with the conversation (native: the restored files; ACP:
    #    ``session/load``).
    await runtime.terminate_environment(sid)
    assert not (session_dir(runtime, sid) / "home").exists()
    fake.script(Turn(Text("Third answer.")))
    _, events = await ask(runtime, sid, "And now?")
    assert events[-1].type == "query:completed", events[-1].payload
    assert any(e.type == "ee:creating" and "Restoring" in e.payload["statusMessage"] for e in events)
    assert (await runtime.get_session(sid)).blocks[-1].content == "Third answer."
    history = fake.conversation_requests()[-1].text()
    said = ["Say hello", "Make hello.txt", "And now?"]
    if agent.native:
        said += [REPLY, "Running it.", COMMAND, "hi", "Done: the file says hi."]
    else:
        logged = [e.payload["message"] for e in events if e.type == "log"]
        resumed = any("(resumed)" in m for m in logged)
        if agent.load_may_fail and not resumed:
            assert any("could not load its session" in m for m in logged), logged
            said = []
        assert resumed or not said, logged
    for words in said:
        assert words in history, words

    if agent.native:
        # 4. Parity: the stored conversation parses into the blocks the live stream produced.
        stored = await runtime.store.load_transcript(sid, agent.architecture)
        agent.quirks.stored(stored, sid)
        blocks = reduce_drafts(transcript_events(agent, stored))
        assert comparable(blocks) == comparable((await runtime.get_session(sid)).blocks)
        assert [b["content"] for b in blocks if b["type"] == "user_message"] == ["Say hello", "Make hello.txt",
                                                                                 "And now?"]
        # (Claude's ACP adapter makes a request of its own after a tool loop, not scripted here.)
        assert fake.unscripted == 0


@pytest.mark.parametrize("agent", FULL, indirect=True, ids=[a.id for a in FULL])
async def test_provider_error_fails_the_query_readably_and_the_session_goes_on(
        agent: Agent, agent_runtime: AgentRuntime, fake: Any) -> None:
    runtime = agent_runtime
    sid = await new_session(runtime, agent)
    fake.script(agent.error)
    _, events = await ask(runtime, sid, "Hello?")
    assert events[-1].type == "query:failed", events[-1].payload
    failure = events[-1].payload
    assert agent.error_says.lower() in failure["error"].lower()
    assert failure["code"] == agent.error_code
    assert [e.payload["message"] for e in events if e.type == "error"] == [failure["error"]]
    if agent.error_requests is not None:
        assert len(fake.conversation_requests()) == agent.error_requests
    agent.quirks.after_error(events)

    fake.script(Turn(Text("Back on my feet.")))
    _, events = await ask(runtime, sid, "Try again")
    assert events[-1].type == "query:completed", events[-1].payload
    detail = await runtime.get_session(sid)
    assert detail.blocks[-1].type == "assistant_text" and detail.blocks[-1].content == "Back on my feet."


@pytest.mark.parametrize("agent", FULL, indirect=True, ids=[a.id for a in FULL])
async def test_interrupt_during_a_long_tool_is_quick_and_leaves_no_process(
        agent: Agent, agent_runtime: AgentRuntime, fake: Any) -> None:
    runtime = agent_runtime
    sid = await new_session(runtime, agent)
    fake.script(Turn(agent.shell(LONG_COMMAND)), Turn(Text("never")))

    async def send() -> str:
        return (await runtime.send_message(sid, "Wait a while"))[0]

    message_id, pid = await start_a_long_tool(runtime, sid, send)
    assert pid is not None and process_alive(pid)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await runtime.interrupt(sid) is True
    events = await collect_until(runtime, sid, query_end(message_id), timeout=10)
    elapsed = loop.time() - started
    assert events[-1].type == "query:interrupted" and events[-1].payload["reason"] == "user", events[-1].payload
    assert elapsed < 2.0, f"interrupt took {elapsed:.2f}s"
    assert not process_alive(pid)
    if agent.native:
        marker = agent.process_marker(sid) if agent.process_marker else None
        assert session_processes(session_dir(runtime, sid), marker) == []

    # The conversation goes on afterwards.
    fake.script(Turn(Text("Still here.")))
    _, events = await ask(runtime, sid, "Are you there?")
    assert events[-1].type == "query:completed", events[-1].payload
    history = fake.conversation_requests()[-1].text()
    assert "Are you there?" in history
    if agent.native:
        # Resumed after the interrupt: the interrupted message is still in the conversation.
        assert "Wait a while" in history


ASKING = [a for a in AGENTS if a.asks is not None]


@pytest.mark.parametrize("agent", ASKING, indirect=True, ids=[a.id for a in ASKING])
async def test_approval_answered_over_socketio(agent: Agent, agent_runtime: AgentRuntime, fake: Any) -> None:
    runtime = agent_runtime
    sid = await new_session(runtime, agent, ASK_PROFILE)
    assert agent.asks is not None
    fake.script(Turn(agent.asks("echo yes > asked.txt")), Turn(Text("Ok.")))
    async with socket_client(runtime) as client:
        after = (await runtime.get_summary(sid)).last_seq
        message_id, _ = await runtime.send_message(sid, "Write asked.txt")
        events = await collect_until(runtime, sid, lambda e: e.type == "permission:requested" or query_end()(e),
                                     after_seq=after, timeout=120)
        assert events[-1].type == "permission:requested", events[-1].payload
        requested = events[-1].payload
        assert any(o["kind"].startswith("allow") for o in requested["options"])
        assert {o["kind"] for o in requested["options"]} >= agent.ask_kinds
        # The agent really waits: nothing written yet.
        assert not (workspace(runtime, sid) / "asked.txt").exists()
        assert await answer(client, sid, requested["requestId"], "allow") == {"success": True}
        events = await collect_until(runtime, sid, query_end(message_id), after_seq=after, timeout=120)
    assert events[-1].type == "query:completed", events[-1].payload
    assert (workspace(runtime, sid) / "asked.txt").read_text() == "yes\n"
