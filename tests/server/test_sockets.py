"""Socket.IO events of SPEC §4 with python-socketio's AsyncClient against a real shell session."""

from __future__ import annotations

from typing import Any

import pytest

from runtime import AgentRuntime, SessionDetail
from runtime.server.app import AgentServer
from tests.server.clients import Collector
from tests.server.conftest import ClientFactory

ENDS = {"query:completed", "query:failed", "query:interrupted"}


def _ended(collector: Collector, session_id: str, n: int = 1) -> bool:
    return sum(1 for e in collector.events.get(session_id, []) if e["type"] in ENDS) >= n


async def test_create_message_and_stream_from_seq_1(sio_client: ClientFactory, runtime: AgentRuntime) -> None:
    client = await sio_client()
    seen = Collector(client)
    ack = await client.call("session:create", {"architecture": "shell", "name": "demo"}, timeout=10)
    assert ack["success"] is True
    session = ack["session"]
    sid = session["sessionId"]
    assert session["name"] == "demo" and session["architecture"] == "shell" and session["lastSeq"] == 0
    assert session["runtime"]["activeQuery"] is None  # explicit nulls, not missing keys

    ack = await client.call(
        "session:message", {"sessionId": sid, "content": "echo hello-socket ünï 😀"}, timeout=10
    )
    assert ack["success"] is True and ack["messageId"].startswith("msg-") and ack["queued"] is False
    await seen.wait_for(lambda: _ended(seen, sid))

    events = seen.events[sid]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert (
        events[0]["type"] == "block:upsert"
        and events[0]["payload"]["block"]["content"] == "echo hello-socket ünï 😀"
    )
    assert events[-1]["type"] == "query:completed"
    output = "".join(e["payload"].get("delta", "") for e in events if e["type"] == "block:delta")
    assert "hello-socket ünï 😀" in output
    assert set(events[0]) == {"seq", "type", "payload", "timestamp", "conversationId", "source"}
    # The stored log is exactly what was streamed.
    stored, last_seq = await runtime.get_events(sid)
    assert [e.wire() for e in stored] == events and last_seq == len(events)
    # session:status came for the join and for the runtime changes (query started / ended).
    statuses = [s for s in seen.statuses if s["sessionId"] == sid]
    assert statuses[0]["runtime"]["activeQuery"] is None
    assert any(s["runtime"]["activeQuery"] for s in statuses)
    assert statuses[-1]["runtime"]["activeQuery"] is None
    assert statuses[-1]["runtime"]["executionEnvironment"]["status"] == "ready"
    # sessions:changed: created, then updated when the query ended.
    actions = [c["action"] for c in seen.changes if c["session"]["sessionId"] == sid]
    assert actions[0] == "created" and "updated" in actions


async def test_join_replays_then_goes_live_and_batch_mode(
    sio_client: ClientFactory, runtime: AgentRuntime
) -> None:
    session = await runtime.create_session({"architecture": "shell"})
    sid = session.session_id
    await runtime.send_message(sid, "echo one")
    first = await sio_client()
    watcher = Collector(first)
    ack = await first.call("session:join", sid, timeout=10)  # a bare string id is accepted
    assert ack["success"] is True and isinstance(ack["lastSeq"], int)
    await watcher.wait_for(lambda: _ended(watcher, sid))
    n_first = len(watcher.events[sid])

    batched = await sio_client()
    batch_seen = Collector(batched)
    ack = await batched.call("session:join", {"sessionId": sid, "afterSeq": 3, "batch": True}, timeout=10)
    assert ack == {"success": True, "sessionId": sid, "runtime": ack["runtime"], "lastSeq": n_first}
    await batch_seen.wait_for(lambda: len(batch_seen.seqs(sid)) == n_first - 3)
    assert batch_seen.seqs(sid) == list(range(4, n_first + 1))
    assert batch_seen.singles == 0 and batch_seen.batches >= 1
    assert batch_seen.statuses and batch_seen.statuses[0]["sessionId"] == sid  # status right after the join

    await runtime.send_message(sid, "echo two")
    await watcher.wait_for(lambda: _ended(watcher, sid, 2))
    await batch_seen.wait_for(lambda: _ended(batch_seen, sid, 2))
    assert watcher.seqs(sid) == list(range(1, len(watcher.seqs(sid)) + 1))
    assert batch_seen.seqs(sid) == list(range(4, len(watcher.seqs(sid)) + 1))

    # Leave: nothing more arrives for that socket.
    assert await batched.call("session:leave", {"sessionId": sid}, timeout=10) == {"success": True}
    before = len(batch_seen.seqs(sid))
    await runtime.send_message(sid, "echo three")
    await watcher.wait_for(lambda: _ended(watcher, sid, 3))
    assert await batched.call("sessions:list", timeout=10)  # a round trip after the stream ended
    assert len(batch_seen.seqs(sid)) == before


async def test_list_interrupt_and_permission_errors(sio_client: ClientFactory, runtime: AgentRuntime) -> None:
    client = await sio_client()
    session = await runtime.create_session({"architecture": "shell"})
    sid = session.session_id
    ack = await client.call("sessions:list", {}, timeout=10)
    assert ack["success"] and [s["sessionId"] for s in ack["sessions"]] == [sid]
    assert await client.call("sessions:list", timeout=10) == ack  # no payload is fine too

    assert await client.call("session:interrupt", {"sessionId": sid}, timeout=10) == {
        "success": True,
        "interrupted": False,
    }
    seen = Collector(client)
    await client.call("session:join", {"sessionId": sid}, timeout=10)
    await client.call("session:message", {"sessionId": sid, "content": "sleep 30"}, timeout=10)
    await seen.wait_for(
        lambda: any(
            e["type"] == "block:upsert" and e["payload"]["block"]["type"] == "tool_use"
            for e in seen.events.get(sid, [])
        )
    )
    ack = await client.call("session:interrupt", {"sessionId": sid}, timeout=10)
    assert ack == {"success": True, "interrupted": True}
    await seen.wait_for(lambda: _ended(seen, sid))
    assert seen.events[sid][-1]["type"] == "query:interrupted"

    ack = await client.call(
        "session:permission", {"sessionId": sid, "requestId": "nope", "decision": "allow"}, timeout=10
    )
    assert ack["success"] is False and ack["code"] == "PERMISSION_NOT_FOUND" and ack["error"]
    ack = await client.call(
        "session:permission", {"sessionId": sid, "requestId": "r", "decision": "maybe"}, timeout=10
    )
    assert ack["success"] is False and ack["code"] == "INVALID_REQUEST"
    ack = await client.call("session:message", {"sessionId": "ses-missing", "content": "x"}, timeout=10)
    assert ack == {"success": False, "error": ack["error"], "code": "SESSION_NOT_FOUND"}


async def test_permission_first_answer_wins(sio_client: ClientFactory, runtime: AgentRuntime) -> None:
    session = await runtime.create_session({"architecture": "shell"})
    sid = session.session_id
    assert runtime.bus is not None
    await runtime.bus.publish(
        sid,
        [
            {
                "type": "permission:requested",
                "payload": {"requestId": "req-1", "toolName": "Bash", "input": {"command": "ls"}},
            }
        ],
    )
    a, b = await sio_client(), await sio_client()
    seen = Collector(a)
    await a.call("session:join", {"sessionId": sid}, timeout=10)
    await seen.wait_for(lambda: bool(seen.statuses))
    assert seen.statuses[0]["runtime"]["pendingPermissions"][0]["requestId"] == "req-1"
    first = await a.call(
        "session:permission", {"sessionId": sid, "requestId": "req-1", "decision": "allow"}, timeout=10
    )
    second = await b.call(
        "session:permission", {"sessionId": sid, "requestId": "req-1", "decision": "deny"}, timeout=10
    )
    assert first == {"success": True}
    assert second["success"] is False and second["code"] == "ALREADY_RESOLVED"
    await seen.wait_for(lambda: any(e["type"] == "permission:resolved" for e in seen.events.get(sid, [])))
    resolved = next(e for e in seen.events[sid] if e["type"] == "permission:resolved")
    assert resolved["payload"]["decision"] == "allow"
    await seen.wait_for(lambda: not seen.statuses[-1]["runtime"]["pendingPermissions"])


async def test_sessions_changed_reaches_every_client_and_delete_ends_streams(
    sio_client: ClientFactory, server: AgentServer, runtime: AgentRuntime
) -> None:
    a, b = await sio_client(), await sio_client(transports=["polling"])
    seen_a, seen_b = Collector(a), Collector(b)
    assert server.client_count == 2
    created = await a.call("session:create", {"architecture": "shell"}, timeout=10)
    sid = created["session"]["sessionId"]
    await b.call("session:join", {"sessionId": sid}, timeout=10)
    ack = await a.call("session:rename", {"sessionId": sid, "name": "renamed"}, timeout=10)
    assert ack["success"] and ack["session"]["name"] == "renamed"
    ack = await b.call("session:options", {"sessionId": sid, "sessionOptions": {"model": "m1"}}, timeout=10)
    assert ack == {"success": True, "sessionId": sid, "sessionOptions": {"model": "m1"}}
    detail = await b.call("session:get", {"sessionId": sid}, timeout=10)
    assert (
        detail["success"]
        and detail["session"]["blocks"] == []
        and detail["session"]["sessionOptions"] == {"model": "m1"}
    )
    await seen_b.wait_for(lambda: seen_b.seqs(sid) == [1])  # options:update
    assert await a.call("session:delete", {"sessionId": sid}, timeout=10) == {
        "success": True,
        "sessionId": sid,
    }

    def actions(seen: Collector) -> list[str]:
        return [c["action"] for c in seen.changes if c["session"]["sessionId"] == sid]

    for seen in (seen_a, seen_b):
        await seen.wait_for(lambda seen=seen: "deleted" in actions(seen))
        assert actions(seen) == ["created", "updated", "updated", "deleted"]
    assert await runtime.list_sessions() == []
    ack = await b.call("session:join", {"sessionId": sid}, timeout=10)
    assert ack["success"] is False and ack["code"] == "SESSION_NOT_FOUND"
    profiles = await a.call("profiles:list", timeout=10)
    assert profiles["success"] and profiles["profiles"][0]["id"] == "default"
    archs = await a.call("architectures:list", timeout=10)
    assert any(x["id"] == "shell" and x["available"] for x in archs["architectures"])


async def test_malformed_payloads_get_failed_acks(sio_client: ClientFactory, runtime: AgentRuntime) -> None:
    client = await sio_client()
    session = await runtime.create_session({"architecture": "shell"})
    cases: list[tuple[str, Any]] = [
        ("session:create", None),
        ("session:create", "shell"),
        ("session:create", {"architecture": 1}),
        ("session:message", {"sessionId": session.session_id}),
        ("session:message", [1, 2]),
        ("session:message", {"sessionId": session.session_id, "content": 5}),
        ("session:join", {"sessionId": session.session_id, "afterSeq": "3"}),
        ("session:join", 7),
        ("session:join", {"sessionId": session.session_id, "afterSeq": -1}),
        ("session:leave", None),
        ("session:interrupt", {"session": "x"}),
        ("sessions:list", "x"),
        ("session:permission", {"sessionId": session.session_id}),
    ]
    for event, payload in cases:
        ack = await client.call(event, payload, timeout=10)
        assert ack["success"] is False and ack["code"] == "INVALID_REQUEST", (event, payload, ack)
        assert isinstance(ack["error"], str) and isinstance(ack["details"], list)
    # Several arguments, or none where one is needed.
    ack = await client.call("session:message", ({"sessionId": session.session_id}, "extra"), timeout=10)
    assert ack["code"] == "INVALID_REQUEST"
    ack = await client.call("session:message", timeout=10)
    assert ack["code"] == "INVALID_REQUEST"
    assert (await runtime.get_summary(session.session_id)).last_seq == 0


async def test_a_server_side_failure_is_an_internal_error_ack(
    sio_client: ClientFactory, runtime: AgentRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def invalid_state(session_id: str) -> Any:
        return SessionDetail.model_validate(
            {"sessionId": session_id, "blocks": [{"id": "b", "type": "alien"}]}
        )

    monkeypatch.setattr(runtime, "get_session", invalid_state)
    client = await sio_client()
    ack = await client.call("session:get", {"sessionId": "ses-x"}, timeout=10)
    assert ack == {"success": False, "error": "internal error", "code": "INTERNAL_ERROR"}
