"""SPEC §10 over the wire: the HTTP routes (also under /api), Socket.IO events and RemoteRuntime."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from agent_tui.client import RemoteRuntime
from runtime import AgentRuntime, AgentTuiError
from runtime.server.app import AgentServer
from tests.helpers import collect_until, query_end
from tests.server.conftest import TOKEN, http, server, sio_client  # noqa: F401 - fixtures
from tests.workspaces.conftest import git, head, status


async def create(http: aiohttp.ClientSession, repo: Path, prefix: str = "", **workspace: object) -> str:  # noqa: F811
    body = {"architecture": "shell", "name": "wire", "workspace": {"project": str(repo), **workspace}}
    async with http.post(f"{prefix}/sessions", json=body) as response:
        data = await response.json()
        assert response.status == 201, data
    assert data["workspace"]["branch"].startswith("agent-tui/wire")
    assert data["workspace"]["baseCommit"] == head(repo)
    return data["sessionId"]


async def run(runtime: AgentRuntime, http: aiohttp.ClientSession, sid: str, command: str) -> None:  # noqa: F811
    async with http.post(f"/sessions/{sid}/messages", json={"content": command}) as response:
        assert response.status == 202
        message_id = (await response.json())["messageId"]
    events = await collect_until(runtime, sid, query_end(message_id), timeout=60)
    assert events[-1].type == "query:completed"


async def test_http_routes(runtime: AgentRuntime, http: aiohttp.ClientSession, repo: Path) -> None:  # noqa: F811
    sid = await create(http, repo)
    await run(runtime, http, sid, "echo new > new.txt && echo more >> README.md")
    for prefix in ("", "/api"):
        async with http.get(f"{prefix}/sessions/{sid}/changes") as response:
            assert response.status == 200
            changes = await response.json()
        assert {f["path"]: f["status"] for f in changes["files"]} == {"README.md": "modified", "new.txt": "added"}
        assert changes["baseCommit"] == head(repo)
        async with http.get(f"{prefix}/sessions/{sid}/diff", params={"path": "README.md", "context": "0"}) as response:
            assert response.status == 200
            assert response.content_type == "text/x-diff"
            text = await response.text()
        assert "+more" in text and "new.txt" not in text
    for bad in ("../etc/passwd", "/etc/passwd", ".git/config"):
        async with http.get(f"/sessions/{sid}/diff", params={"path": bad}) as response:
            assert response.status == 400
            assert (await response.json())["code"] == "INVALID_PATH"
    async with http.post(f"/sessions/{sid}/discard", json={"paths": ["new.txt"]}) as response:
        assert response.status == 200 and (await response.json()) == {"paths": ["new.txt"]}
    async with http.post(f"/sessions/{sid}/commit", json={"message": "agent work"}) as response:
        assert response.status == 200
        commit = (await response.json())["commit"]
    assert git(repo, "log", "-1", "--format=%s", commit).strip() == "agent work"
    async with http.post(f"/sessions/{sid}/commit", json={"message": "again"}) as response:
        assert response.status == 409 and (await response.json())["code"] == "NOTHING_TO_COMMIT"
    # A conflicting change on main: 409 with the files, nothing moved.
    (repo / "README.md").write_text("user\n")
    git(repo, "commit", "-q", "-am", "user")
    before = head(repo)
    async with http.post(f"/sessions/{sid}/merge", json={"strategy": "squash"}) as response:
        body = await response.json()
        assert response.status == 409
    assert body["code"] == "MERGE_CONFLICT" and body["details"] == {"files": ["README.md"]}
    assert head(repo) == before and status(repo) == ""
    async with http.post(f"/sessions/{sid}/merge", json={"strategy": "octopus"}) as response:
        assert response.status == 400
    async with http.delete(f"/sessions/{sid}") as response:
        body = await response.json()
    assert body == {"success": True, "sessionId": sid, "workspace": {"branch": "agent-tui/wire", "branchKept": True}}


async def test_http_errors(runtime: AgentRuntime, http: aiohttp.ClientSession, tmp_path: Path, repo: Path) -> None:  # noqa: F811
    plain = tmp_path / "not a répo"
    plain.mkdir()
    async with http.post("/sessions", json={"architecture": "shell", "workspace": {"project": str(plain)}}) as response:
        body = await response.json()
    assert response.status == 400 and body["code"] == "NOT_A_GIT_REPOSITORY" and str(plain) in body["error"]
    async with http.post(
        "/sessions", json={"architecture": "shell", "workspace": {"project": str(repo), "branch": "a b"}}
    ) as response:
        assert response.status == 400
    async with http.post("/sessions", json={"architecture": "shell"}) as response:
        plain_sid = (await response.json())["sessionId"]
    async with http.get(f"/sessions/{plain_sid}/changes") as response:
        assert response.status == 400 and (await response.json())["code"] == "NO_WORKSPACE"
    async with http.get("/sessions/nope/changes") as response:
        assert response.status == 404
    sid = await create(http, repo)
    async with http.post(f"/sessions/{sid}/messages", json={"content": "sleep 30"}) as response:
        message_id = (await response.json())["messageId"]
    await collect_until(runtime, sid, lambda e: e.type == "query:started", timeout=30)
    async with http.post(f"/sessions/{sid}/discard", json={}) as response:
        assert response.status == 409 and (await response.json())["code"] == "WORKSPACE_BUSY"
    await runtime.interrupt(sid)
    await collect_until(runtime, sid, query_end(message_id), timeout=30)
    async with http.get("/openapi.json") as response:
        doc = await response.json()
    for path in ("changes", "diff", "commit", "merge", "discard"):
        assert f"/sessions/{{id}}/{path}" in doc["paths"] and f"/api/sessions/{{id}}/{path}" in doc["paths"]
    assert "text/x-diff" in doc["paths"]["/sessions/{id}/diff"]["get"]["responses"]["200"]["content"]


async def test_socketio_events(runtime: AgentRuntime, http: aiohttp.ClientSession, sio_client, repo: Path) -> None:  # noqa: F811
    client = await sio_client()
    sid = await create(http, repo)
    await run(runtime, http, sid, "echo s > s.txt")
    ack = await client.call("session:changes", {"sessionId": sid}, timeout=30)
    assert ack["success"] and [f["path"] for f in ack["changes"]["files"]] == ["s.txt"]
    ack = await client.call("session:diff", {"sessionId": sid, "path": "s.txt"}, timeout=30)
    assert ack["success"] and "+s" in ack["diff"]
    ack = await client.call("session:diff", {"sessionId": sid, "path": "../x"}, timeout=30)
    assert ack == {"success": False, "error": ack["error"], "code": "INVALID_PATH"}
    ack = await client.call("session:commit", {"sessionId": sid, "message": "from socket"}, timeout=30)
    assert ack["success"] and len(ack["commit"]) == 40
    ack = await client.call("session:merge", {"sessionId": sid, "strategy": "squash"}, timeout=30)
    assert ack["success"] and ack["into"] == "main" and head(repo) == ack["commit"]
    ack = await client.call("session:discard", {"sessionId": sid, "paths": 5}, timeout=30)
    assert ack["success"] is False and ack["code"] == "INVALID_REQUEST"
    ack = await client.call("session:discard", {"sessionId": sid}, timeout=30)
    assert ack == {"success": True, "paths": []}


async def test_remote_runtime_has_the_same_methods(
    runtime: AgentRuntime, server: AgentServer, http: aiohttp.ClientSession, repo: Path  # noqa: F811
) -> None:
    sid = await create(http, repo)
    await run(runtime, http, sid, "echo r > r.txt && echo d >> README.md")
    async with RemoteRuntime(server.url, TOKEN) as remote:
        changes = await remote.get_changes(sid)
        assert [f.path for f in changes.files] == ["README.md", "r.txt"]
        assert "+d" in await remote.get_diff(sid, "README.md")
        assert await remote.discard(sid, ["README.md"]) == ["README.md"]
        with pytest.raises(AgentTuiError) as caught:
            await remote.get_diff(sid, "/etc/passwd")
        assert caught.value.code == "INVALID_PATH"
        commit = await remote.commit(sid, "remote commit")
        merged = await remote.merge(sid, strategy="rebase")
        assert merged == {"commit": commit, "into": "main"}  # a fast-forward: main had not moved
        assert head(repo) == commit and status(repo) == ""
        assert await remote.delete_session(sid) == {"branch": "agent-tui/wire", "branchKept": False}


async def test_the_javascript_client(runtime: AgentRuntime, server: AgentServer, repo: Path) -> None:  # noqa: F811
    from tests.server.test_js_client import NODE_DIR, run_node

    if not (NODE_DIR / "node_modules" / "socket.io-client").is_dir():
        pytest.skip("tests/node/node_modules (npm ci) is needed")
    code, lines, err = await run_node("workspace_client.mjs", server.url, TOKEN, str(repo))
    assert code == 0, (lines[-5:], err)
    acks = {line["event"]: line["ack"] for line in lines if line["kind"] == "ack"}
    events = next(line["types"] for line in lines if line["kind"] == "events")
    assert {"file:created", "file:modified", "workspace:changes"} <= set(events)
    files = {f["path"]: f["status"] for f in acks["session:changes"]["changes"]["files"]}
    assert files == {"js.txt": "added", "README.md": "modified"}
    assert "+more" in acks["session:diff"]["diff"]
    assert acks["session:diff(bad)"]["success"] is False and acks["session:diff(bad)"]["code"] == "INVALID_PATH"
    assert acks["session:discard"] == {"success": True, "paths": ["js.txt"]}
    assert acks["session:commit"]["success"]
    merged = acks["session:merge"]
    assert merged["success"] and merged["into"] == "main" and head(repo) == merged["commit"]
    assert git(repo, "show", "--name-only", "--format=", "main").split() == ["README.md"]
    assert status(repo) == ""
