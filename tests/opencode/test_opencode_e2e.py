"""OpenCode end to end: the real CLI (opencode-ai 1.18.33) run by the runner in a local sandbox,
talking to the fake OpenAI-compatible server, driven through the public AgentRuntime API.

One session carries several checks in turn (text, tool loop, resume, restore after the sandbox
is gone) because each CLI start costs seconds.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from runtime import AgentRuntime
from runtime.converters.opencode import transcript_events
from tests.agent_support import ask
from tests.claude.netns import internet_reachable
from tests.fakes.openai_server import ErrorReply, FakeOpenAI, Text, ToolCall, Turn
from tests.helpers import collect_until, query_end
from tests.opencode.conftest import MODEL, needs_opencode
from tests.opencode.e2e_helpers import (
    block_events,
    comparable,
    reduce_drafts,
    session_processes,
    start_a_long_tool,
)

pytestmark = [needs_opencode]


async def new_session(runtime: AgentRuntime) -> str:
    session = await runtime.create_session({"architecture": "opencode", "sessionOptions": {"model": MODEL}})
    return session.session_id


async def test_the_cli_can_reach_the_fake_and_nothing_else(loopback_only: bool, fake: FakeOpenAI) -> None:
    if not loopback_only:
        pytest.skip("no network namespace allowed here: tests run with the host's network")
    assert not internet_reachable()
    _reader, writer = await asyncio.open_connection("127.0.0.1", fake.port)
    writer.close()
    await writer.wait_closed()


async def test_text_tool_loop_resume_and_restore(opencode_runtime: AgentRuntime, fake: FakeOpenAI) -> None:
    runtime = opencode_runtime
    sid = await new_session(runtime)

    # 1. One message: the reply streams in as the model sends it (a pending block, deltas, then
    #    the finished block), and its text is the script's.
    reply = "Hello there! This reply comes from the fake model server, in several pieces."
    fake.script(Turn(Text(reply, chunk=10)))
    _, events = await ask(runtime, sid, "Say hello")
    assert events[-1].type == "query:completed", events[-1].payload
    texts = [e.payload["block"] for e in events
             if e.type == "block:upsert" and e.payload["block"]["type"] == "assistant_text"]
    text_id = texts[0]["id"]
    assert {b["id"] for b in texts} == {text_id}
    stream = block_events(events, text_id)
    assert stream[0].type == "block:upsert" and stream[0].payload["block"]["status"] == "pending"
    assert stream[-1].type == "block:upsert" and stream[-1].payload["block"]["status"] == "complete"
    assert stream[-1].payload["block"]["content"] == reply
    deltas = [e.payload["delta"] for e in stream if e.type == "block:delta"]
    assert len(deltas) >= 4, deltas  # the fake sent 8 pieces; OpenCode may merge some
    assert stream[0].payload["block"]["content"] + "".join(deltas) == reply
    detail = await runtime.get_session(sid)
    assert [b.content for b in detail.blocks if b.type == "assistant_text"] == [reply]
    assert detail.metadata.usage is not None and detail.metadata.usage.output_tokens == 7
    assert detail.metadata.usage.input_tokens == 12
    assert detail.metadata.model == f"agent-tui/{MODEL}"
    first = fake.conversation_requests()[-1]
    assert "Say hello" in first.text()
    assert first.headers.get("Authorization") == "Bearer sk-openai-test-not-a-real-key"
    assert first.body["model"] == MODEL and first.body["stream"] is True
    # The config went into the session's home, never the host's; the key is not in it.
    home = Path(runtime.config.resolved_data_dir()) / sid / "home"
    config_text = (home / ".config" / "opencode" / "opencode.json").read_text()
    assert fake.url in config_text and "sk-openai" not in config_text

    # 2. Tool loop in the same conversation: bash runs in the workspace; a failing command is a
    #    failed tool, not a failed query.
    command = "echo hi > hello.txt && cat hello.txt"
    tool = ToolCall("bash", {"command": command, "description": "Write and show hello.txt"})
    failing = ToolCall("bash", {"command": "echo oops >&2; exit 3", "description": "Fail on purpose"})
    fake.script(Turn(Text("Running it."), tool), Turn(failing), Turn(Text("Done: the file says hi.")))
    _, events = await ask(runtime, sid, "Make hello.txt")
    assert events[-1].type == "query:completed", events[-1].payload
    finished = [e.payload["block"] for e in events if e.type == "block:upsert"
                and e.payload["block"]["type"] != "user_message" and e.payload["block"]["status"] != "pending"]
    order = [(b["type"], b.get("toolUseId") or b.get("content")) for b in finished]
    assert order == [("assistant_text", "Running it."), ("tool_use", tool.id), ("tool_result", tool.id),
                     ("tool_use", failing.id), ("tool_result", failing.id),
                     ("assistant_text", "Done: the file says hi.")]
    # A tool call shows as soon as it starts: a pending card with its input, before its result.
    pending = [e for e in events if e.type == "block:upsert" and e.payload["block"]["id"] == tool.id
               and e.payload["block"]["status"] == "pending"]
    running = pending[-1]  # OpenCode announces the call, then its input once the model sent it all
    assert running.payload["block"]["input"]["command"] == command
    assert events.index(running) < next(i for i, e in enumerate(events) if e.type == "block:upsert"
                                         and e.payload["block"]["id"] == f"{tool.id}:result")
    detail = await runtime.get_session(sid)
    results = {b.tool_use_id: b for b in detail.blocks if b.type == "tool_result"}
    uses = {b.tool_use_id: b for b in detail.blocks if b.type == "tool_use"}
    assert uses[tool.id].tool_name == "bash" and uses[tool.id].input["command"] == command
    assert results[tool.id].output.strip() == "hi" and results[tool.id].is_error is False
    assert results[failing.id].is_error is True and "oops" in results[failing.id].output
    assert detail.blocks[-1].type == "assistant_text" and detail.blocks[-1].content == "Done: the file says hi."
    workspace = Path(runtime.config.resolved_data_dir()) / sid / "workspace"
    assert (workspace / "hello.txt").read_text() == "hi\n"
    # Resumed: the second message's first request carries the first exchange.
    second = fake.conversation_requests()[-3]
    assert "Say hello" in second.text() and reply in second.text() and "Make hello.txt" in second.text()

    # 3. The sandbox goes away (app/ and home/ wiped); the next message restores the database.
    await runtime.terminate_environment(sid)
    assert not home.exists()
    fake.script(Turn(Text("Third answer.")))
    _, events = await ask(runtime, sid, "And now?")
    assert events[-1].type == "query:completed", events[-1].payload
    assert any(e.type == "ee:creating" and "Restoring" in e.payload["statusMessage"] for e in events)
    history = fake.conversation_requests()[-1].text()
    for said in ("Say hello", reply, "Make hello.txt", "Running it.", command, "hi", "oops",
                 "Done: the file says hi.", "And now?"):
        assert said in history, said

    # 4. Parity: the stored database parses into the blocks the live stream produced.
    stored = await runtime.store.load_transcript(sid, "opencode")
    blocks = reduce_drafts(transcript_events(stored))
    live = await runtime.get_session(sid)
    assert comparable(blocks) == comparable(live.blocks)
    prompts = [b["content"] for b in blocks if b["type"] == "user_message"]
    assert prompts == ["Say hello", "Make hello.txt", "And now?"]
    assert fake.unscripted == 0


async def test_api_error_fails_the_query_readably_and_the_session_stays_usable(
        opencode_runtime: AgentRuntime, fake: FakeOpenAI) -> None:
    runtime = opencode_runtime
    sid = await new_session(runtime)
    # OpenCode retries a 500 five times, waiting what ``retry-after-ms`` says (here: nothing).
    fake.script(ErrorReply(500, "the fake model is on fire", times=6, retry_after_ms=0))
    _, events = await ask(runtime, sid, "Hello?")
    assert events[-1].type == "query:failed"
    failure = events[-1].payload
    assert "500" in failure["error"] and "the fake model is on fire" in failure["error"]
    assert failure["code"] == "API_ERROR"
    assert any(e.type == "error" and "the fake model is on fire" in e.payload["message"] for e in events)
    assert len(fake.conversation_requests()) == 6

    fake.script(Turn(Text("Back on my feet.")))
    _, events = await ask(runtime, sid, "Try again")
    assert events[-1].type == "query:completed", events[-1].payload
    detail = await runtime.get_session(sid)
    assert detail.blocks[-1].type == "assistant_text" and detail.blocks[-1].content == "Back on my feet."


async def test_interrupt_during_a_long_tool_ends_the_query_and_leaves_no_process(
        opencode_runtime: AgentRuntime, fake: FakeOpenAI) -> None:
    runtime = opencode_runtime
    sid = await new_session(runtime)
    fake.script(Turn(Text("Ready.")))
    _, events = await ask(runtime, sid, "Get ready")  # creates the sandbox (and its workspace)
    assert events[-1].type == "query:completed", events[-1].payload
    session_dir = Path(runtime.config.resolved_data_dir()) / sid
    message_id = await start_a_long_tool(runtime, fake, sid, session_dir / "workspace")
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await runtime.interrupt(sid) is True
    events = await collect_until(runtime, sid, query_end(message_id), timeout=10)
    elapsed = loop.time() - started
    assert events[-1].type == "query:interrupted" and events[-1].payload["reason"] == "user"
    assert elapsed < 2.0, f"interrupt took {elapsed:.2f}s"
    assert session_processes(session_dir) == []

    # The conversation goes on afterwards.
    fake.script(Turn(Text("Still here.")))
    _, events = await ask(runtime, sid, "Are you there?")
    assert events[-1].type == "query:completed", events[-1].payload
    assert "Get ready" in fake.conversation_requests()[-1].text()


async def test_the_question_tool_is_declined_and_the_query_ends_cleanly(
        opencode_runtime: AgentRuntime, fake: FakeOpenAI) -> None:
    """OpenCode's ``question`` tool waits for a person to pick an answer in its own UI; nobody
    can, so the driver declines it (docs/agents/opencode.md) instead of the query hanging.
    OpenCode then ends its turn (a dismissed question stops the loop, as a refusal does): the
    query completes with the tool's error shown, and the next message carries on."""
    runtime = opencode_runtime
    sid = await new_session(runtime)
    question = ToolCall("question", {"questions": [{
        "question": "Which database?", "header": "Database",
        "options": [{"label": "SQLite", "description": "embedded"}, {"label": "Postgres", "description": "server"}]}]})
    fake.script(Turn(question))
    _, events = await ask(runtime, sid, "Set up storage", timeout=120)
    assert events[-1].type == "query:completed", events[-1].payload
    assert any(e.type == "log" and "question" in e.payload["message"] for e in events)
    detail = await runtime.get_session(sid)
    [result] = [b for b in detail.blocks if b.type == "tool_result" and b.tool_use_id == question.id]
    assert result.is_error is True and "dismissed" in result.output

    fake.script(Turn(Text("Going with SQLite, then.")))
    _, events = await ask(runtime, sid, "Use SQLite")
    assert events[-1].type == "query:completed", events[-1].payload
    detail = await runtime.get_session(sid)
    assert detail.blocks[-1].type == "assistant_text" and detail.blocks[-1].content == "Going with SQLite, then."
