"""A permission request raised on the session's owner is answered by a client of another node: the
answer is forwarded to the owner (the operation table marks ``resolvePermission`` forwarded), the
agent gets it, and every client sees one ``permission:resolved``."""

from __future__ import annotations

from pathlib import Path

from tests.acp.conftest import acp_profile
from tests.team.conftest import Team

ENDS = {"query:completed", "query:failed", "query:interrupted"}


async def test_a_permission_answered_on_another_node_reaches_the_agent_on_the_owner(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    team = Team(tmp_path, postgres_url, redis_url)
    try:
        # Unisolated: the fake ACP agent lives in this checkout, which bubblewrap hides when it is
        # under /tmp (as in CI); isolation is not what this test is about.
        profiles = {"fake-ask": acp_profile("Fake ACP agent, asks", "ask")}
        n0 = await team.start_node(("--no-isolation",), profiles)
        n1 = await team.start_node(("--no-isolation",), profiles)
        c0, seen0 = await team.client(n0)
        c1, seen1 = await team.client(n1)
        created = await c0.call("session:create", {"architecture": "acp", "agentProfileRef": "fake-ask"}, timeout=10)
        sid = created["session"]["sessionId"]
        assert await team.owner(sid) == n0.url
        assert (await c1.call("session:join", {"sessionId": sid}, timeout=10))["success"] is True
        ack = await c0.call("session:message", {"sessionId": sid, "content": "ask"}, timeout=10)
        assert ack["success"] is True, ack

        def requested() -> list[dict]:
            return [e for e in seen1.events.get(sid, []) if e["type"] == "permission:requested"]

        await seen1.wait_for(lambda: bool(requested()), timeout=60)
        request_id = requested()[0]["payload"]["requestId"]
        answer = {"sessionId": sid, "requestId": request_id, "decision": "allow"}
        assert await c1.call("session:permission", answer, timeout=15) == {"success": True}
        # A second answer, from the owner's side, is refused: the first one won.
        late = await c0.call("session:permission", {**answer, "decision": "deny"}, timeout=15)
        assert late["success"] is False and late.get("code") == "ALREADY_RESOLVED", late

        def ended(seen) -> list[dict]:  # noqa: ANN001
            return [e for e in seen.events.get(sid, []) if e["type"] in ENDS]

        await seen1.wait_for(lambda: bool(ended(seen1)), timeout=60)
        await seen0.wait_for(lambda: bool(ended(seen0)), timeout=30)
        assert ended(seen1)[0]["type"] == "query:completed", ended(seen1)
        for seen in (seen0, seen1):
            resolved = [e["payload"] for e in seen.events[sid] if e["type"] == "permission:resolved"]
            assert len(resolved) == 1 and resolved[0]["decision"] == "allow", resolved
        # The agent got "allow once" (its reply names the option it was given).
        detail = await team.get(n1, f"/sessions/{sid}")
        texts = [b["content"] for b in detail["blocks"] if b["type"] == "assistant_text"]
        assert texts and texts[-1] == "Answer: yes.", texts
    finally:
        await team.close()
