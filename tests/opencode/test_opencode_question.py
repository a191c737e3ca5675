"""OpenCode's ``question`` tool, end to end (the real CLI against the fake OpenAI-compatible
server). What every agent does is in ``tests/conformance``; this is what only OpenCode does."""

from __future__ import annotations

from runtime import AgentRuntime
from tests.agent_support import ask
from tests.fakes.openai_server import FakeOpenAI, Text, ToolCall, Turn
from tests.opencode.conftest import MODEL, needs_opencode

pytestmark = [needs_opencode]


async def new_session(runtime: AgentRuntime) -> str:
    session = await runtime.create_session({"architecture": "opencode", "sessionOptions": {"model": MODEL}})
    return session.session_id


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
