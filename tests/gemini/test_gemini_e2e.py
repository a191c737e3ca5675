"""Gemini CLI end to end: the real CLI (@google/gemini-cli 0.61.0) run by the runner in a local
sandbox, talking to the fake Gemini API server, driven through the public AgentRuntime API.

One session carries several checks in turn (text, tool loop, resume, restore after the sandbox
is gone) because each CLI start costs seconds.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from runtime import AgentRuntime
from runtime.converters.gemini_cli import transcript_events
from tests.agent_support import ask
from tests.claude.netns import internet_reachable
from tests.fakes.gemini_server import ErrorReply, FakeGemini, FunctionCall, Text, Turn
from tests.gemini.conftest import API_KEY, MODEL, needs_gemini
from tests.helpers import collect_until, query_end
from tests.opencode.e2e_helpers import (
    block_events,
    comparable,
    reduce_drafts,
    session_processes,
    wait_for_fifo,
)

pytestmark = [needs_gemini]


async def new_session(runtime: AgentRuntime) -> str:
    session = await runtime.create_session({"architecture": "gemini-cli", "sessionOptions": {"model": MODEL}})
    return session.session_id


async def test_the_cli_can_reach_the_fake_and_nothing_else(loopback_only: bool, fake: FakeGemini) -> None:
    if not loopback_only:
        pytest.skip("no network namespace allowed here: tests run with the host's network")
    assert not internet_reachable()
    _reader, writer = await asyncio.open_connection("127.0.0.1", fake.port)
    writer.close()
    await writer.wait_closed()


async def test_text_tool_loop_resume_and_restore(gemini_runtime: AgentRuntime, fake: FakeGemini) -> None:
    runtime = gemini_runtime
    sid = await new_session(runtime)

    # 1. One message: text streams as deltas into one block, then that block is completed.
    reply = "Hello there! This reply comes from the fake model server, in several pieces."
    fake.script(Turn(Text(reply, chunk=10)))
    _, events = await ask(runtime, sid, "Say hello")
    assert events[-1].type == "query:completed", events[-1].payload
    [text_id] = {e.payload["block"]["id"] for e in events
                 if e.type == "block:upsert" and e.payload["block"]["type"] == "assistant_text"}
    sequence = block_events(events, text_id)
    assert sequence[0].type == "block:upsert" and sequence[0].payload["block"]["status"] == "pending"
    deltas = [e.payload["delta"] for e in sequence if e.type == "block:delta"]
    assert len(deltas) >= 3 and "".join(deltas) == reply
    assert sequence[-1].type == "block:upsert" and sequence[-1].payload["block"]["status"] == "complete"
    detail = await runtime.get_session(sid)
    assert [b.content for b in detail.blocks if b.type == "assistant_text"] == [reply]
    assert detail.metadata.usage is not None and detail.metadata.usage.output_tokens == 7
    assert detail.metadata.model == MODEL
    first = fake.conversation_requests()[-1]
    assert first.model == MODEL and "Say hello" in first.text()
    assert first.headers.get("x-goog-api-key") == API_KEY
    # Settings went into the session's home, never the host's.
    home = Path(runtime.config.resolved_data_dir()) / sid / "home"
    assert '"usageStatisticsEnabled": false' in (home / ".gemini" / "settings.json").read_text()

    # 2. Tool loop in the same conversation: the shell tool runs in the workspace; a command
    #    that exits 3 is an error result with its exit code (read from the CLI's chat file).
    command = "echo hi > hello.txt && cat hello.txt"
    tool = FunctionCall("run_shell_command", {"command": command, "description": "Write and show hello.txt"})
    failing = FunctionCall("run_shell_command", {"command": "echo oops >&2; exit 3"})
    fake.script(Turn(Text("Running it."), tool), Turn(failing), Turn(Text("Done: the file says hi.")))
    _, events = await ask(runtime, sid, "Make hello.txt")
    assert events[-1].type == "query:completed", events[-1].payload
    upserts = [e.payload["block"] for e in events
               if e.type == "block:upsert" and e.payload["block"]["type"] != "user_message"]
    kinds = [(b["type"], b["status"]) for b in upserts]
    use_at = kinds.index(("tool_use", "pending"))
    result_at = kinds.index(("tool_result", "complete"))
    final_at = max(i for i, k in enumerate(kinds) if k == ("assistant_text", "complete"))
    assert use_at < result_at < final_at
    detail = await runtime.get_session(sid)
    tool_use = next(b for b in detail.blocks if b.type == "tool_use")
    tool_result, failed = [b for b in detail.blocks if b.type == "tool_result"]
    assert tool_use.tool_name == "run_shell_command" and tool_use.input["command"] == command
    assert tool_use.status == "complete" and tool_use.tool_use_id == tool_result.tool_use_id
    assert tool_result.output.strip() == "hi" and tool_result.is_error is False
    assert tool_result.model_extra and tool_result.model_extra["exitCode"] == 0
    assert failed.output.strip() == "oops" and failed.is_error is True and failed.status == "error"
    assert failed.model_extra and failed.model_extra["exitCode"] == 3
    # The CLI prints no code in its stream; the model is told it in the function response.
    told = fake.conversation_requests()[-1].text()
    assert "Exit Code: 3" in told and "Output: oops" in told
    assert [b.content for b in detail.blocks if b.type == "assistant_text"][-2:] == [
        "Running it.", "Done: the file says hi."]
    workspace = Path(runtime.config.resolved_data_dir()) / sid / "workspace"
    assert (workspace / "hello.txt").read_text() == "hi\n"
    # Resumed: the second message's first request carries the first exchange.
    second = fake.conversation_requests()[-3]
    assert "Say hello" in second.text() and reply in second.text() and "Make hello.txt" in second.text()

    # 3. The sandbox goes away (app/ and home/ wiped); the next message restores the chat files.
    await runtime.terminate_environment(sid)
    assert not home.exists()
    fake.script(Turn(Text("Third answer.")))
    _, events = await ask(runtime, sid, "And now?")
    assert events[-1].type == "query:completed", events[-1].payload
    assert any(e.type == "ee:creating" and "Restoring" in e.payload["statusMessage"] for e in events)
    history = fake.conversation_requests()[-1].text()
    for said in ("Say hello", reply, "Make hello.txt", "Running it.", command, "hi",
                 "Done: the file says hi.", "And now?"):
        assert said in history, said

    # 4. Parity: the stored chat file parses into the blocks the live stream produced.
    stored = await runtime.store.load_transcript(sid, "gemini-cli")
    blocks = reduce_drafts(transcript_events(stored))
    live = await runtime.get_session(sid)
    assert comparable(blocks) == comparable(live.blocks)
    prompts = [b["content"] for b in blocks if b["type"] == "user_message"]
    assert prompts == ["Say hello", "Make hello.txt", "And now?"]
    assert fake.unscripted == 0


async def test_api_error_fails_the_query_readably_and_the_session_stays_usable(
        gemini_runtime: AgentRuntime, fake: FakeGemini) -> None:
    runtime = gemini_runtime
    sid = await new_session(runtime)
    # A 400 is not retried (a 5xx is, with 5 s back-off, up to 10 times).
    fake.script(ErrorReply(400, "API key not valid. Please pass a valid API key.", status_text="INVALID_ARGUMENT"))
    _, events = await ask(runtime, sid, "Hello?")
    assert events[-1].type == "query:failed"
    failure = events[-1].payload
    assert failure["error"] == "API error 400 INVALID_ARGUMENT: API key not valid. Please pass a valid API key."
    assert failure["code"] == "API_ERROR"
    assert [e.payload["message"] for e in events if e.type == "error"] == [failure["error"]]

    fake.script(Turn(Text("Back on my feet.")))
    _, events = await ask(runtime, sid, "Try again")
    assert events[-1].type == "query:completed", events[-1].payload
    detail = await runtime.get_session(sid)
    assert detail.blocks[-1].type == "assistant_text" and detail.blocks[-1].content == "Back on my feet."


async def test_interrupt_during_a_long_tool_ends_the_query_and_leaves_no_process(
        gemini_runtime: AgentRuntime, fake: FakeGemini) -> None:
    runtime = gemini_runtime
    sid = await new_session(runtime)
    fake.script(Turn(Text("Ready.")))
    _, events = await ask(runtime, sid, "Get ready")  # creates the sandbox (and its workspace)
    assert events[-1].type == "query:completed", events[-1].payload
    session_dir = Path(runtime.config.resolved_data_dir()) / sid
    fifo = session_dir / "workspace" / "started.fifo"
    os.mkfifo(fifo)

    # The tool tells the test it runs by writing into the FIFO (no polling), then sleeps; Gemini
    # CLI runs it in a process group of its own.
    fake.script(Turn(FunctionCall("run_shell_command", {"command": "echo started > started.fifo; sleep 30"})),
                Turn(Text("never")))
    message_id, _ = await runtime.send_message(sid, "Wait a while")
    assert await wait_for_fifo(fifo, timeout=120) == "started\n"
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
