"""``session/request_permission`` through the approval flow: the fake ACP agent asks, a Socket.IO
client answers, the agent gets the option of the matching kind."""

from __future__ import annotations

import pytest

from runtime import AgentRuntime
from tests.acp.conftest import new_session
from tests.acp.support import answer, socket_client
from tests.acp.test_fake_agent import workspace_of
from tests.agent_support import ask
from tests.helpers import collect_until, query_end


@pytest.mark.parametrize(("decision", "option", "written"), [
    ("allow", "yes", True), ("allow_always", "always", True), ("deny", "no", False)])
async def test_permission_answered_over_socketio_picks_the_agents_option(
        acp_runtime: AgentRuntime, decision: str, option: str, written: bool) -> None:
    sid = await new_session(acp_runtime, "fake-ask")
    async with socket_client(acp_runtime) as client:
        after = (await acp_runtime.get_summary(sid)).last_seq
        message_id, _ = await acp_runtime.send_message(sid, "ask")
        events = await collect_until(acp_runtime, sid, lambda e: e.type == "permission:requested",
                                     after_seq=after, timeout=30)
        requested = events[-1].payload
        assert requested["toolUseId"] == "call-ask" and requested["title"] == "Write asked.txt"
        assert [o["kind"] for o in requested["options"]] == ["allow_once", "allow_always", "reject_once"]
        # The agent really waits: nothing written yet.
        assert not (workspace_of(acp_runtime, sid) / "asked.txt").exists()
        assert await answer(client, sid, requested["requestId"], decision) == {"success": True}
        events = await collect_until(acp_runtime, sid, query_end(message_id), after_seq=after, timeout=30)
    assert events[-1].type == "query:completed", events[-1].payload
    assert (workspace_of(acp_runtime, sid) / "asked.txt").exists() is written
    detail = await acp_runtime.get_session(sid)
    assert detail.blocks[-1].content == f"Answer: {option}."
    result = next(b for b in detail.blocks if b.type == "tool_result" and b.tool_use_id == "call-ask")
    assert result.is_error is (not written)
    assert not detail.runtime.pending_permissions


async def test_bypass_answers_the_agent_itself(acp_runtime: AgentRuntime) -> None:
    sid = await new_session(acp_runtime, "fake")
    _, events = await ask(acp_runtime, sid, "ask")
    assert events[-1].type == "query:completed"
    assert not [e for e in events if e.type == "permission:requested"]
    assert (workspace_of(acp_runtime, sid) / "asked.txt").read_text() == "allowed\n"


async def test_interrupt_with_a_question_open_closes_it_and_cancels_it_for_the_agent(
        acp_runtime: AgentRuntime) -> None:
    sid = await new_session(acp_runtime, "fake-ask")
    after = (await acp_runtime.get_summary(sid)).last_seq
    message_id, _ = await acp_runtime.send_message(sid, "ask")
    await collect_until(acp_runtime, sid, lambda e: e.type == "permission:requested", after_seq=after, timeout=30)
    await acp_runtime.interrupt(sid)
    events = await collect_until(acp_runtime, sid, query_end(message_id), after_seq=after, timeout=10)
    assert events[-1].type == "query:interrupted"
    resolved = [e.payload for e in events if e.type == "permission:resolved"]
    assert len(resolved) == 1 and resolved[0]["decision"] == "deny"
    assert not (workspace_of(acp_runtime, sid) / "asked.txt").exists()
