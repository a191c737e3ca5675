"""HTTP routes of SPEC §3 against a real runtime (SQLite, local sandboxes), at / and under /api."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from runtime import AgentRuntime, SessionDetail
from runtime.server.app import AgentServer
from tests.helpers import collect_until, query_end


def assert_error(body: Any, code: str) -> None:
    assert isinstance(body, dict) and body["code"] == code and isinstance(body["error"], str), body
    assert set(body) <= {"error", "code", "details"}
    assert "Traceback" not in body["error"]


@pytest.mark.parametrize("prefix", ["", "/api"])
async def test_session_lifecycle_over_http(
    http: aiohttp.ClientSession, runtime: AgentRuntime, prefix: str
) -> None:
    async with http.get(f"{prefix}/health") as r:
        health = await r.json()
        assert (
            r.status == 200
            and health["status"] == "ok"
            and set(health) == {"status", "version", "uptimeS", "sessionsLoaded"}
        )
    async with http.post(
        f"{prefix}/sessions", json={"architecture": "shell", "name": "h", "sessionOptions": {"model": "x"}}
    ) as r:
        assert r.status == 201
        created = await r.json()
    sid = created["sessionId"]
    assert created["name"] == "h" and created["sessionOptions"] == {"model": "x"} and created["lastSeq"] == 0
    async with http.get(f"{prefix}/sessions") as r:
        assert [s["sessionId"] for s in (await r.json())["sessions"]] == [sid]

    async with http.post(
        f"{prefix}/sessions/{sid}/messages", json={"content": "echo hi > f.txt; echo done"}
    ) as r:
        assert r.status == 202
        sent = await r.json()
    assert sent["success"] is True and sent["sessionId"] == sid and sent["queued"] is False
    await collect_until(runtime, sid, query_end(sent["messageId"]))

    async with http.get(f"{prefix}/sessions/{sid}") as r:
        detail = await r.json()
    assert detail["sessionId"] == sid and [b["type"] for b in detail["blocks"]] == [
        "user_message",
        "tool_use",
        "tool_result",
    ]
    assert detail["blocks"][2]["output"] == "done\n" and detail["subagents"] == []

    async with http.get(f"{prefix}/sessions/{sid}/events", params={"after": "2", "limit": "3"}) as r:
        page = await r.json()
    assert [e["seq"] for e in page["events"]] == [3, 4, 5] and page["lastSeq"] == detail["lastSeq"]
    assert page["hasMore"] is True
    async with http.get(f"{prefix}/sessions/{sid}/events") as r:
        page = await r.json()
    assert [e["seq"] for e in page["events"]] == list(range(1, detail["lastSeq"] + 1)) and not page["hasMore"]

    async with http.get(f"{prefix}/sessions/{sid}/files") as r:
        files = (await r.json())["files"]
    assert [f["path"] for f in files] == ["f.txt"] and files[0]["size"] == 3 and files[0]["modifiedAt"] > 0
    async with http.get(f"{prefix}/sessions/{sid}/files/f.txt") as r:
        assert r.status == 200 and await r.read() == b"hi\n"
        assert r.headers["X-Content-Type-Options"] == "nosniff"

    async with http.patch(
        f"{prefix}/sessions/{sid}/options", json={"sessionOptions": {"effort": "high"}}
    ) as r:
        assert await r.json() == {
            "success": True,
            "sessionId": sid,
            "sessionOptions": {"model": "x", "effort": "high"},
        }
    async with http.patch(f"{prefix}/sessions/{sid}", json={"name": "renamed"}) as r:
        assert (await r.json())["name"] == "renamed"
    async with http.post(f"{prefix}/sessions/{sid}/interrupt") as r:
        assert await r.json() == {"success": True, "interrupted": False}
    async with http.post(f"{prefix}/sessions/{sid}/environment/terminate") as r:
        body = await r.json()
    assert body["success"] and body["sessionId"] == sid
    assert body["runtime"]["executionEnvironment"]["status"] == "terminated"
    async with http.post(f"{prefix}/sessions/{sid}/permissions/req-x", json={"decision": "allow"}) as r:
        assert r.status == 404
        assert_error(await r.json(), "PERMISSION_NOT_FOUND")

    async with http.get(f"{prefix}/profiles") as r:
        assert (await r.json())["profiles"][0] == {
            "id": "default",
            "name": "Default",
            "description": (await r.json())["profiles"][0]["description"],
        }
    async with http.get(f"{prefix}/architectures") as r:
        assert any(a["id"] == "shell" and a["available"] for a in (await r.json())["architectures"])

    async with http.delete(f"{prefix}/sessions/{sid}") as r:
        assert await r.json() == {"success": True, "sessionId": sid}
    async with http.get(f"{prefix}/sessions/{sid}") as r:
        assert r.status == 404
        assert_error(await r.json(), "SESSION_NOT_FOUND")
    # Nothing of it is left in storage.
    assert await runtime.store.load_session(sid) is None
    assert await runtime.store.load_events(sid) == []


async def test_permission_over_http_first_answer_wins(
    http: aiohttp.ClientSession, runtime: AgentRuntime
) -> None:
    session = await runtime.create_session({"architecture": "shell"})
    sid = session.session_id
    assert runtime.bus is not None
    await runtime.bus.publish(
        sid,
        [{"type": "permission:requested", "payload": {"requestId": "r1", "toolName": "Write", "input": {}}}],
    )
    async with http.post(f"/sessions/{sid}/permissions/r1", json={"decision": "deny", "message": "no"}) as r:
        assert r.status == 200 and await r.json() == {"success": True}
    async with http.post(f"/api/sessions/{sid}/permissions/r1", json={"decision": "allow"}) as r:
        assert r.status == 409
        assert_error(await r.json(), "ALREADY_RESOLVED")
    events, _ = await runtime.get_events(sid)
    assert events[-1].payload == {"requestId": "r1", "decision": "deny", "message": "no", "by": "http client"}


async def test_error_shapes(http: aiohttp.ClientSession, server: AgentServer, runtime: AgentRuntime) -> None:
    session = await runtime.create_session({"architecture": "shell"})
    sid = session.session_id
    cases: list[tuple[str, str, Any, int, str]] = [
        ("GET", "/nope", None, 404, "NOT_FOUND"),
        ("GET", "/api/sessions/x/y/z", None, 404, "NOT_FOUND"),
        ("PUT", "/sessions", b"{}", 405, "METHOD_NOT_ALLOWED"),
        ("DELETE", "/health", None, 405, "METHOD_NOT_ALLOWED"),
        ("POST", "/sessions", b"{not json", 400, "INVALID_REQUEST"),
        ("POST", "/sessions", b"\xff\xfe\x00garbage", 400, "INVALID_REQUEST"),
        ("POST", "/sessions", b"", 400, "INVALID_REQUEST"),
        ("POST", "/sessions", b"[1, 2]", 400, "INVALID_REQUEST"),
        ("POST", "/sessions", b'{"architecture": 3}', 400, "INVALID_REQUEST"),
        ("POST", "/sessions", b'{"architecture": "nope"}', 400, "UNKNOWN_ARCHITECTURE"),
        (
            "POST",
            "/sessions",
            b'{"architecture": "shell", "agentProfileRef": "ghost"}',
            404,
            "PROFILE_NOT_FOUND",
        ),
        ("POST", "/sessions", b'{"architecture": "shell", "primitive": "cloud9"}', 400, "INVALID_REQUEST"),
        ("POST", "/sessions", b"[" * 100_000, 400, "INVALID_REQUEST"),
        (
            "POST",
            "/sessions",
            b'{"architecture": "shell", "sessionOptions": ' + b'{"a": ' * 40 + b"1" + b"}" * 41,
            400,
            "INVALID_REQUEST",
        ),
        (
            "POST",
            "/sessions",
            b'{"architecture": "shell", "sessionOptions": {"m": "\\ud800"}}',
            400,
            "INVALID_REQUEST",
        ),
        (
            "POST",
            "/sessions",
            b'{"architecture": "shell", "sessionOptions": {"\\udfff": 1}}',
            400,
            "INVALID_REQUEST",
        ),
        (
            "PATCH",
            f"/sessions/{sid}/options",
            b'{"sessionOptions": {"m": ["\\ud800"]}}',
            400,
            "INVALID_REQUEST",
        ),
        ("POST", f"/sessions/{sid}/messages", b'{"content": "echo \\ud800"}', 400, "INVALID_REQUEST"),
        (
            "POST",
            "/sessions",
            b'{"architecture": "shell", "sessionOptions": {"n": NaN}}',
            400,
            "INVALID_REQUEST",
        ),
        (
            "POST",
            "/sessions",
            b'{"architecture": "shell", "sessionOptions": {"n": 1e999}}',
            400,
            "INVALID_REQUEST",
        ),
        (
            "POST",
            "/sessions",
            b'{"architecture": "shell", "sessionOptions": {"n": 99999999999999999999}}',
            400,
            "INVALID_REQUEST",
        ),
        ("POST", f"/sessions/{sid}/messages", b'{"content": ""}', 400, "INVALID_REQUEST"),
        ("POST", f"/sessions/{sid}/messages", b'{"content": 12}', 400, "INVALID_REQUEST"),
        ("POST", "/sessions/ses-missing/messages", b'{"content": "ls"}', 404, "SESSION_NOT_FOUND"),
        ("PATCH", f"/sessions/{sid}/options", b'{"sessionOptions": []}', 400, "INVALID_REQUEST"),
        ("POST", f"/sessions/{sid}/permissions/r", b'{"decision": "sure"}', 400, "INVALID_REQUEST"),
        ("GET", f"/sessions/{sid}/events?after=-1", None, 400, "INVALID_REQUEST"),
        ("GET", f"/sessions/{sid}/events?limit=abc", None, 400, "INVALID_REQUEST"),
        ("GET", f"/sessions/{sid}/files/..%2F..%2Fetc%2Fpasswd", None, 400, "INVALID_PATH"),
        ("GET", f"/sessions/{sid}/files/%2Fetc%2Fpasswd", None, 400, "INVALID_PATH"),
        ("GET", f"/sessions/{sid}/files/missing.txt", None, 404, "FILE_NOT_FOUND"),
        ("POST", "/sessions", b"x" * (1024 * 1024 + 1), 413, "PAYLOAD_TOO_LARGE"),
    ]
    for method, path, body, status, code in cases:
        async with http.request(method, path, data=body, headers={"Content-Type": "application/json"}) as r:
            payload = await r.json()
            assert r.status == status, (method, path, r.status, payload)
            assert_error(payload, code)
    # Validation failures carry the pydantic details, JSON-safe.
    async with http.post("/sessions", json={"architecture": ["x"], "name": 5}) as r:
        details = (await r.json())["details"]
    assert {tuple(d["loc"]) for d in details} == {("architecture",), ("name",)}

    # A chunked body over the limit (no Content-Length) is refused too.

    async def chunks() -> Any:
        for _ in range(20):
            yield b"a" * 65536

    async with http.post("/sessions", data=chunks(), headers={"Content-Type": "application/json"}) as r:
        assert r.status == 413
        assert_error(await r.json(), "PAYLOAD_TOO_LARGE")
    assert (await runtime.get_summary(sid)).last_seq == 0  # nothing above touched the session's log
    assert len(await runtime.list_sessions()) == 1


async def test_internal_errors_are_500_without_traceback(
    http: aiohttp.ClientSession, runtime: AgentRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken() -> list[Any]:
        raise RuntimeError("secret internals /home/x/.ssh")

    async def invalid_state(session_id: str) -> Any:
        # A ValidationError raised by the server's own data (not by the request) is a 500, not a 400.
        return SessionDetail.model_validate(
            {"sessionId": session_id, "blocks": [{"id": "b", "type": "alien"}]}
        )

    monkeypatch.setattr(runtime, "list_sessions", broken)
    monkeypatch.setattr(runtime, "get_session", invalid_state)
    for path in ("/sessions", "/api/sessions/ses-x"):
        async with http.get(path) as r:
            assert r.status == 500
            body = await r.json()
        assert body == {"error": "internal server error", "code": "INTERNAL_ERROR"}


async def test_file_types_that_a_browser_would_run_are_served_as_text(
    http: aiohttp.ClientSession, runtime: AgentRuntime, tmp_path: Path
) -> None:
    session = await runtime.create_session({"architecture": "shell"})
    sid = session.session_id
    message_id, _ = await runtime.send_message(sid, "mkdir -p d && echo '<script>x</script>' > d/p.html")
    await collect_until(runtime, sid, query_end(message_id))
    async with http.get(f"/sessions/{sid}/files/d/p.html") as r:
        assert r.status == 200 and r.content_type == "text/plain"
        assert r.headers["Content-Security-Policy"] == "sandbox"
