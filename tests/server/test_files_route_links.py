"""Issue 21 #4: the files route never serves a hard link to a file outside the workspace, and a
symlink that cannot be examined does not break the listing."""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp

from runtime import AgentRuntime
from tests.helpers import collect_until, query_end


async def _workspace(runtime: AgentRuntime, http: aiohttp.ClientSession) -> tuple[str, Path]:
    async with http.post("/sessions", json={"architecture": "shell"}) as r:
        sid = (await r.json())["sessionId"]
    message_id, _ = await runtime.send_message(sid, "echo ok > ok.txt")
    await collect_until(runtime, sid, query_end(message_id))
    workspace = runtime.config.resolved_data_dir() / sid / "workspace"
    assert (workspace / "ok.txt").is_file()
    return sid, workspace


async def test_hard_links_to_files_outside_the_workspace_are_not_served(
    runtime: AgentRuntime, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    sid, workspace = await _workspace(runtime, http)
    outside = tmp_path / "outside-secret.txt"
    outside.write_text("top secret")
    targets = {"secret": outside, "db": Path(runtime.config.db_path)}
    passwd = Path("/etc/passwd")
    if os.stat(passwd).st_dev == os.stat(workspace).st_dev:
        targets["passwd"] = passwd
    for name, target in targets.items():
        # What an agent can do in its workspace (`ln /path/outside name`), done from here so the
        # test does not depend on what the sandbox lets the agent see.
        os.link(target, workspace / name)
    for name in targets:
        async with http.get(f"/sessions/{sid}/files/{name}") as r:
            body = await r.json()
            assert r.status == 400 and body["code"] == "INVALID_PATH", (name, body)
            assert "hard links" in body["error"]
    async with http.get(f"/sessions/{sid}/files") as r:
        assert r.status == 200
        assert [f["path"] for f in (await r.json())["files"]] == ["ok.txt"]
    async with http.get(f"/sessions/{sid}/files/ok.txt") as r:
        assert r.status == 200 and await r.read() == b"ok\n"


async def test_a_symlink_that_cannot_be_examined_does_not_break_the_listing(
    runtime: AgentRuntime, http: aiohttp.ClientSession
) -> None:
    sid, workspace = await _workspace(runtime, http)
    (workspace / "sub").mkdir()
    (workspace / "sub" / "inner.txt").write_text("in")
    os.symlink("/proc/1/root", workspace / "root")
    os.symlink("/proc/1/root/etc", workspace / "sub" / "etc")
    # Targets that cannot be stat-ed by anyone, root included (the server may run as root).
    os.symlink("missing-target", workspace / "dangling")
    os.symlink("loop", workspace / "loop")
    os.symlink("ok.txt/below", workspace / "not-a-dir")
    # A link to a file of the workspace is not listed either: the listing holds regular files only.
    os.symlink("ok.txt", workspace / "ok-link")
    os.symlink("sub", workspace / "sub-link")
    unreadable = workspace / "locked"
    unreadable.mkdir()
    unreadable.chmod(0)
    try:
        async with http.get(f"/sessions/{sid}/files") as r:
            assert r.status == 200, await r.text()
            assert [f["path"] for f in (await r.json())["files"]] == ["ok.txt", "sub/inner.txt"]
        for link in ("root", "dangling", "loop", "not-a-dir", "sub/etc/passwd"):
            async with http.get(f"/sessions/{sid}/files/{link}") as r:
                assert r.status in (400, 404), (link, r.status)
                assert (await r.json())["code"] in ("INVALID_PATH", "FILE_NOT_FOUND"), link
    finally:
        unreadable.chmod(0o700)
