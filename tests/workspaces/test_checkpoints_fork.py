"""Restoring a checkpoint and forking a session from one (SPEC §10, docs/workspaces.md): real git,
real worktrees, the real runtime, shell sessions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from runtime import AgentRuntime, AgentTuiError
from tests.helpers import collect_until, query_end
from tests.server.conftest import http, server, sio_client  # noqa: F401 - fixtures
from tests.workspaces.conftest import git, head, status
from tests.workspaces.test_runtime_workspaces import create, run


def worktree_files(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): p.read_text()
        for p in sorted(path.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(path).parts
    }


async def two_queries(rt: AgentRuntime, repo: Path) -> tuple[str, list[str], Path]:
    """A session whose first query adds one.txt and edits README.md, whose second adds two.txt,
    changes one.txt and deletes src/app.py; returns its id, the checkpoint seqs and the worktree."""
    sid = await create(rt, repo)
    await run(rt, sid, "echo one > one.txt && echo more >> README.md")
    await run(rt, sid, "echo two > two.txt && echo again >> one.txt && rm src/app.py")
    return sid, await _checkpoint_seqs(rt, sid), Path((await rt.get_summary(sid)).workspace.path)


async def _checkpoint_seqs(rt: AgentRuntime, sid: str) -> list[str]:
    events, _ = await rt.get_events(sid)
    return [e.payload["ref"].rsplit("/", 1)[1] for e in events if e.type == "workspace:checkpoint"]


AFTER_FIRST = {"README.md": "hello\nmore\n", "one.txt": "one\n", "src/app.py": "print('v1')\n"}


async def test_restore_the_first_checkpoint_undoes_the_second_query(runtime: AgentRuntime, repo: Path) -> None:
    sid, seqs, worktree = await two_queries(runtime, repo)
    assert len(seqs) == 2
    user_head, branch_tip = head(repo), head(worktree)
    last_seq = (await runtime.get_summary(sid)).last_seq

    result = await runtime.restore_checkpoint(sid, seqs[0])
    assert result.checkpoint == seqs[0]
    assert sorted(result.paths) == ["one.txt", "src/app.py", "two.txt"]
    assert worktree_files(worktree) == AFTER_FIRST
    changes = await runtime.get_changes(sid)
    assert {(f.path, f.status) for f in changes.files} == {("README.md", "modified"), ("one.txt", "added")}
    # Announced: a file event per path, then workspace:restored and workspace:changes, so the
    # reducer's change set (what every client reads) is the same as /changes.
    events, _ = await runtime.get_events(sid, after_seq=last_seq)
    kinds = {(e.type, e.payload.get("path")) for e in events if e.type.startswith("file:")}
    assert kinds == {("file:deleted", "two.txt"), ("file:created", "src/app.py"), ("file:modified", "one.txt")}
    assert [e.type for e in events][-2:] == ["workspace:restored", "workspace:changes"]
    detail = await runtime.get_session(sid)
    assert {(f.path, f.status) for f in detail.changes.files} == {(f.path, f.status) for f in changes.files}
    # Neither the user's checkout nor the session branch moved; the checkpoints are all still there.
    assert head(repo) == user_head and status(repo) == "" and head(worktree) == branch_tip
    assert len(git(repo, "for-each-ref", f"refs/agent-tui/{sid}/").splitlines()) == 3  # + pre-restore

    # Redo: the later checkpoint is still restorable; and the state before a restore is kept.
    await runtime.restore_checkpoint(sid, f"refs/agent-tui/{sid}/{seqs[1]}")
    assert "two.txt" in worktree_files(worktree) and "src/app.py" not in worktree_files(worktree)
    await runtime.restore_checkpoint(sid, "base")
    assert worktree_files(worktree) == {"README.md": "hello\n", "src/app.py": "print('v1')\n"}
    assert (await runtime.get_changes(sid)).files == []
    await runtime.restore_checkpoint(sid, "pre-restore")
    assert worktree_files(worktree)["two.txt"] == "two\n"
    # The session goes on working after a restore.
    await runtime.restore_checkpoint(sid, seqs[0])
    await run(runtime, sid, "echo three > three.txt")
    assert {f.path for f in (await runtime.get_changes(sid)).files} == {"README.md", "one.txt", "three.txt"}


async def test_restore_leaves_ignored_files_alone(runtime: AgentRuntime, tmp_path: Path) -> None:
    from tests.workspaces.conftest import make_repo

    repo = make_repo(tmp_path / "ignoring", {".gitignore": "build/\n", "a.txt": "a\n"})
    sid = await create(runtime, repo)
    await run(runtime, sid, "mkdir -p build && echo x > build/out && echo b > b.txt")
    await runtime.restore_checkpoint(sid, "base")
    worktree = Path((await runtime.get_summary(sid)).workspace.path)
    assert (worktree / "build/out").read_text() == "x\n"
    assert not (worktree / "b.txt").exists()


async def test_bad_checkpoints_are_clear_errors(runtime: AgentRuntime, repo: Path) -> None:
    sid, _seqs, worktree = await two_queries(runtime, repo)
    before = worktree_files(worktree)
    for bad, code, status_code in (
        ("999999", "CHECKPOINT_NOT_FOUND", 404),
        ("refs/agent-tui/ses-other/3", "INVALID_REQUEST", 400),
        ("HEAD", "INVALID_REQUEST", 400),
        ("../1", "INVALID_REQUEST", 400),
        ("", "INVALID_REQUEST", 400),
    ):
        for call in (runtime.restore_checkpoint(sid, bad), runtime.fork_session(sid, bad)):
            with pytest.raises(AgentTuiError) as caught:
                await call
            assert (caught.value.code, caught.value.status) == (code, status_code), bad
    assert "999999" in str((await _raises(runtime.restore_checkpoint(sid, 999999))).message)
    assert worktree_files(worktree) == before
    assert len(await runtime.list_sessions()) == 1  # no half-made fork left behind


async def _raises(call: object) -> AgentTuiError:
    with pytest.raises(AgentTuiError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_restore_is_refused_while_a_query_runs(runtime: AgentRuntime, repo: Path) -> None:
    sid, seqs, worktree = await two_queries(runtime, repo)
    message_id, _ = await runtime.send_message(sid, "echo started > started.txt; sleep 30")
    await collect_until(runtime, sid, lambda e: e.type == "file:created" and e.payload["path"] == "started.txt",
                        timeout=30)
    error = await _raises(runtime.restore_checkpoint(sid, seqs[0]))
    assert (error.code, error.status) == ("WORKSPACE_BUSY", 409)
    assert (worktree / "two.txt").exists()
    await runtime.interrupt(sid)
    await collect_until(runtime, sid, query_end(message_id), timeout=30)
    await runtime.restore_checkpoint(sid, seqs[0])
    assert not (worktree / "started.txt").exists()


async def test_fork_from_the_first_checkpoint(runtime: AgentRuntime, repo: Path) -> None:
    sid, seqs, worktree = await two_queries(runtime, repo)
    source_files, source_tip = worktree_files(worktree), head(worktree)
    source_last = (await runtime.get_summary(sid)).last_seq
    source_branch = (await runtime.get_summary(sid)).workspace.branch

    fork = await runtime.fork_session(sid, seqs[0], name="second try")
    assert fork.name == "second try" and fork.session_id != sid and fork.architecture == "shell"
    ws = fork.workspace
    assert ws.branch != source_branch and ws.branch.startswith("agent-tui/second-try")
    assert Path(ws.path) != worktree
    # Its own worktree holds the first query's files only, on its own branch...
    assert worktree_files(Path(ws.path)) == AFTER_FIRST
    assert git(Path(ws.path), "rev-parse", "--abbrev-ref", "HEAD").strip() == ws.branch
    changes = await runtime.get_changes(fork.session_id)
    assert {(f.path, f.status) for f in changes.files} == {("README.md", "modified"), ("one.txt", "added")}
    assert changes.base_commit == (await runtime.get_summary(sid)).workspace.base_commit
    # ...and the source is untouched: files, branch, log.
    assert worktree_files(worktree) == source_files and head(worktree) == source_tip
    assert (await runtime.get_summary(sid)).last_seq == source_last
    assert status(repo) == ""
    # The fork's log: workspace:forked, the conversation up to the checkpoint, its change set.
    events, _ = await runtime.get_events(fork.session_id)
    assert events[0].type == "workspace:forked"
    assert events[0].payload == {"sessionId": sid, "checkpoint": seqs[0],
                                 "commit": git(repo, "rev-parse", f"refs/agent-tui/{sid}/{seqs[0]}").strip(),
                                 "branch": ws.branch}
    assert events[-1].type == "workspace:changes"
    detail = await runtime.get_session(fork.session_id)
    users = [b.content for b in detail.blocks if b.type == "user_message"]
    assert users == ["echo one > one.txt && echo more >> README.md"]
    assert all(b.status != "pending" for b in detail.blocks)
    assert detail.runtime.active_query is None and detail.runtime.execution_environment is None
    # The fork works on its own: a query there changes nothing in the source.
    await run(runtime, fork.session_id, "echo fork > fork.txt && cat one.txt")
    assert not (worktree / "fork.txt").exists()
    assert {f.path for f in (await runtime.get_changes(fork.session_id)).files} == {"README.md", "one.txt", "fork.txt"}
    # Merging the fork brings exactly its change set.
    merged = await runtime.merge(fork.session_id, strategy="squash")
    assert git(repo, "show", f"{merged['commit']}:fork.txt") == "fork\n"
    assert "two.txt" not in git(repo, "ls-tree", "--name-only", merged["commit"])


async def test_fork_of_a_session_whose_log_was_evicted_carries_its_conversation(
    runtime: AgentRuntime, repo: Path
) -> None:
    # An idle session's log leaves memory (issue #17); the fork reads it back, it does not copy
    # an empty one.
    sid, seqs, _worktree = await two_queries(runtime, repo)
    assert runtime.sessions is not None
    assert sid in runtime.sessions.evict_idle(0)
    fork = await runtime.fork_session(sid, seqs[0])
    detail = await runtime.get_session(fork.session_id)
    assert [b.content for b in detail.blocks if b.type == "user_message"] == [
        "echo one > one.txt && echo more >> README.md"
    ]


async def test_fork_from_base_and_with_a_chosen_branch(runtime: AgentRuntime, repo: Path) -> None:
    sid, _seqs, _worktree = await two_queries(runtime, repo)
    fork = await runtime.fork_session(sid, "base", branch="feature/from-base")
    assert fork.workspace.branch == "feature/from-base"
    assert worktree_files(Path(fork.workspace.path)) == {"README.md": "hello\n", "src/app.py": "print('v1')\n"}
    assert (await runtime.get_session(fork.session_id)).blocks == []
    # A taken branch name is refused and no session is left behind.
    error = await _raises(runtime.fork_session(sid, "base", branch="feature/from-base"))
    assert error.code == "INVALID_REQUEST"
    assert len(await runtime.list_sessions()) == 2


async def test_fork_survives_a_restart_and_deletes_cleanly(tmp_path: Path, repo: Path) -> None:
    from tests.helpers import make_config

    config = make_config(tmp_path)
    async with AgentRuntime(config) as rt:
        sid, seqs, _ = await two_queries(rt, repo)
        fork = await rt.fork_session(sid, seqs[0])
    async with AgentRuntime(config) as rt:
        assert worktree_files(Path(fork.workspace.path)) == AFTER_FIRST
        assert {f.path for f in (await rt.get_changes(fork.session_id)).files} == {"README.md", "one.txt"}
        kept = await rt.delete_session(fork.session_id)
        assert kept["branchKept"] is True  # the fork's uncommitted work went onto its branch
        assert not Path(fork.workspace.path).exists()
        assert (await rt.get_summary(sid)).workspace.path


async def test_a_worktree_removed_while_loaded_is_reported_and_comes_back_from_the_branch(
    runtime: AgentRuntime, repo: Path
) -> None:
    import shutil

    sid = await create(runtime, repo)
    await run(runtime, sid, "echo kept > kept.txt")
    await runtime.commit(sid, "kept")
    await run(runtime, sid, "echo lost > lost.txt")
    worktree = Path((await runtime.get_summary(sid)).workspace.path)
    await runtime.terminate_environment(sid)
    shutil.rmtree(worktree)
    events = await run(runtime, sid, "ls")
    missing = [e for e in events if e.type == "ee:error" and e.payload.get("code") == "WORKSPACE_MISSING"]
    assert len(missing) == 1
    assert (worktree / "kept.txt").exists() and not (worktree / "lost.txt").exists()
    assert [f.path for f in (await runtime.get_changes(sid)).files] == ["kept.txt"]


async def test_two_restores_at_once_keep_the_worktree_consistent(runtime: AgentRuntime, repo: Path) -> None:
    sid, seqs, worktree = await two_queries(runtime, repo)
    await asyncio.gather(runtime.restore_checkpoint(sid, seqs[0]), runtime.restore_checkpoint(sid, "base"))
    files = worktree_files(worktree)
    assert files in (AFTER_FIRST, {"README.md": "hello\n", "src/app.py": "print('v1')\n"})
    assert {f.path for f in (await runtime.get_changes(sid)).files} == (
        {"README.md", "one.txt"} if files == AFTER_FIRST else set())


# --------------------------------------------------------------------------- over the wire


async def test_restore_and_fork_over_http(runtime: AgentRuntime, http, repo: Path) -> None:  # noqa: ANN001, F811
    sid, seqs, worktree = await two_queries(runtime, repo)
    # Fork, with the server's token (the http fixture sends it), under / and /api.
    async with http.post(f"/api/sessions/{sid}/fork", json={"checkpoint": int(seqs[0]), "name": "wire fork"}) as r:
        body = await r.json()
        assert r.status == 201, body
    assert body["name"] == "wire fork" and body["workspace"]["branch"].startswith("agent-tui/wire-fork")
    assert worktree_files(Path(body["workspace"]["path"])) == AFTER_FIRST
    assert "two.txt" in worktree_files(worktree)
    async with http.get(f"/sessions/{body['sessionId']}") as r:
        detail = await r.json()
    assert detail["changes"]["files"] and {f["path"] for f in detail["changes"]["files"]} == {"README.md", "one.txt"}
    # Restore the source to its first checkpoint.
    async with http.post(f"/sessions/{sid}/checkpoints/{seqs[0]}/restore") as r:
        restored = await r.json()
        assert r.status == 200, restored
    assert restored["checkpoint"] == seqs[0] and sorted(restored["paths"]) == ["one.txt", "src/app.py", "two.txt"]
    assert worktree_files(worktree) == AFTER_FIRST
    async with http.get(f"/sessions/{sid}/changes") as r:
        assert {f["path"] for f in (await r.json())["files"]} == {"README.md", "one.txt"}
    # The full ref works too, URL-encoded as one path segment (as RemoteRuntime sends it).
    async with http.post(f"/sessions/{sid}/checkpoints/refs%2Fagent-tui%2F{sid}%2F{seqs[1]}/restore") as r:
        assert r.status == 200 and (await r.json())["checkpoint"] == seqs[1]
    assert "two.txt" in worktree_files(worktree)
    # Clear errors: unknown checkpoint 404, bad names and bodies 400, unknown session 404.
    for method, url, payload, status_code, code in (
        ("post", f"/sessions/{sid}/checkpoints/424242/restore", None, 404, "CHECKPOINT_NOT_FOUND"),
        ("post", f"/sessions/{sid}/checkpoints/HEAD~1/restore", None, 400, "INVALID_REQUEST"),
        ("post", f"/sessions/{sid}/fork", {"checkpoint": "424242"}, 404, "CHECKPOINT_NOT_FOUND"),
        ("post", f"/sessions/{sid}/fork", {"checkpoint": "main"}, 400, "INVALID_REQUEST"),
        ("post", f"/sessions/{sid}/fork", {}, 400, "INVALID_REQUEST"),
        ("post", f"/sessions/{sid}/fork", {"checkpoint": 1.5}, 400, "INVALID_REQUEST"),
        ("post", f"/sessions/{sid}/fork", {"checkpoint": "base", "branch": "a b"}, 400, "INVALID_REQUEST"),
        ("post", "/sessions/nope/fork", {"checkpoint": "base"}, 404, "SESSION_NOT_FOUND"),
    ):
        async with getattr(http, method)(url, json=payload) as r:
            error = await r.json()
        assert (r.status, error["code"]) == (status_code, code), (url, payload, error)
        assert error["error"]
    assert len(await runtime.list_sessions()) == 2
    async with http.get("/openapi.json") as r:
        doc = await r.json()
    assert doc["paths"]["/sessions/{id}/fork"]["post"]["responses"]["201"]
    assert "/api/sessions/{id}/checkpoints/{checkpoint}/restore" in doc["paths"]


async def test_restore_over_http_is_refused_while_busy(runtime: AgentRuntime, http, repo: Path) -> None:  # noqa: ANN001, F811
    sid, _seqs, worktree = await two_queries(runtime, repo)
    message_id, _ = await runtime.send_message(sid, "sleep 30")
    await collect_until(runtime, sid, lambda e: e.type == "query:started" and e.payload["messageId"] == message_id)
    async with http.post(f"/sessions/{sid}/checkpoints/base/restore") as r:
        assert r.status == 409 and (await r.json())["code"] == "WORKSPACE_BUSY"
    assert (worktree / "two.txt").exists()
    await runtime.interrupt(sid)
    await collect_until(runtime, sid, query_end(message_id), timeout=30)


async def test_socketio_and_remote_runtime(runtime: AgentRuntime, server, sio_client, repo: Path) -> None:  # noqa: ANN001, F811
    from agent_tui.client import RemoteRuntime
    from tests.server.conftest import TOKEN

    sid, seqs, worktree = await two_queries(runtime, repo)
    client = await sio_client()
    ack = await client.call("session:fork", {"sessionId": sid, "checkpoint": seqs[0]}, timeout=30)
    assert ack["success"], ack
    assert worktree_files(Path(ack["session"]["workspace"]["path"])) == AFTER_FIRST
    ack = await client.call("session:restore", {"sessionId": sid, "checkpoint": "nope"}, timeout=30)
    assert ack["success"] is False and ack["code"] == "INVALID_REQUEST"
    ack = await client.call("session:restore", {"sessionId": sid, "checkpoint": seqs[0]}, timeout=30)
    assert ack["success"] and ack["checkpoint"] == seqs[0]
    async with RemoteRuntime(server.url, TOKEN) as remote:
        result = await remote.restore_checkpoint(sid, "base")
        assert result.checkpoint == "base" and "one.txt" in result.paths
        assert (await remote.get_changes(sid)).files == []
        fork = await remote.fork_session(sid, int(seqs[1]), name="remote fork", branch="remote/fork")
        assert fork.workspace.branch == "remote/fork"
        assert worktree_files(Path(fork.workspace.path))["two.txt"] == "two\n"
        with pytest.raises(AgentTuiError) as caught:
            await remote.restore_checkpoint(sid, 424242)
        assert (caught.value.code, caught.value.status) == ("CHECKPOINT_NOT_FOUND", 404)
    assert worktree_files(worktree) == {"README.md": "hello\n", "src/app.py": "print('v1')\n"}


# --------------------------------------------------------------------------- setup from the profile


async def test_setup_command_from_the_profile_and_the_project_file_wins(tmp_path: Path) -> None:
    from tests.helpers import make_config
    from tests.workspaces.conftest import make_repo

    config = make_config(tmp_path)
    (config.config_dir / "profiles").mkdir(parents=True)
    (config.config_dir / "profiles" / "setup.toml").write_text(
        'name = "With setup"\n[workspace]\nsetup = "echo from-profile > .prepared"\n'
    )
    plain = make_repo(tmp_path / "plain", {".gitignore": ".prepared\n"})
    own = make_repo(tmp_path / "own", {".gitignore": ".prepared\n",
                                        ".agent-tui.toml": '[workspace]\nsetup = "echo from-project > .prepared"\n'})
    async with AgentRuntime(config) as rt:
        results = {}
        for repo in (plain, own):
            summary = await rt.create_session({"architecture": "shell", "agentProfileRef": "setup",
                                               "workspace": {"project": str(repo)}})
            events = await run(rt, summary.session_id, "cat .prepared")
            steps = [e.payload["statusMessage"] for e in events if e.type == "ee:creating"]
            worktree = Path(summary.workspace.path)
            results[repo.name] = ((worktree / ".prepared").read_text(), [s.rsplit(" (", 1)[0] for s in steps if s.startswith("Running")])
    assert results["plain"] == ("from-profile\n", [_step("profile", "from-profile")])
    assert results["own"] == ("from-project\n", [_step("project", "from-project")])


def _step(source: str, word: str) -> str:
    return f"Running the {source}'s setup: echo {word} > .prepared"


def test_a_profile_workspace_table_is_checked() -> None:
    from pydantic import ValidationError

    from runtime.profiles import parse_profile

    assert parse_profile({"workspace": {"setup": "make"}}, "p").workspace.setup == "make"
    with pytest.raises(ValidationError):
        parse_profile({"workspace": {"setpu": "make"}}, "p")
    with pytest.raises(ValidationError):
        parse_profile({"workspace": {"setup": ["make"]}}, "p")


# --------------------------------------------------------------------------- Claude Code's fork flags


def test_a_forks_first_claude_run_settles_on_what_the_sandbox_holds(tmp_path: Path) -> None:
    import json

    from runtime.runner.converters.claude_code import ClaudeCodeConverter

    config_dir = tmp_path / "home" / ".claude"
    env = {"CLAUDE_CONFIG_DIR": str(config_dir), "HOME": str(tmp_path / "home")}
    fork = ["claude", "-p", "--session-id", "F", "--fork-session", "--resume", "S", "--", "--resume"]
    # The source's copy is missing (nothing was stored): a fresh conversation under the fork's id.
    assert ClaudeCodeConverter({}).prepare(fork, env) == ["claude", "-p", "--session-id", "F", "--", "--resume"]
    folder = config_dir / "projects" / "p"
    folder.mkdir(parents=True)
    said = json.dumps({"type": "user", "message": {"role": "user", "content": "hi"}}) + "\n"
    (folder / "S.jsonl").write_text(said)
    # The copy is there: fork it, as asked.
    assert ClaudeCodeConverter({}).prepare(fork, env) == fork
    # An earlier try already made the fork's own conversation: resume that one.
    (folder / "F.jsonl").write_text(said)
    assert ClaudeCodeConverter({}).prepare(fork, env) == ["claude", "-p", "--resume", "F", "--", "--resume"]


def test_cutting_a_claude_transcript_matches_prompts_in_order() -> None:
    import json

    from runtime.sessions.fork import cut_claude_transcript

    def user(text: object) -> str:
        return json.dumps({"type": "user", "message": {"role": "user", "content": text}}) + "\n"

    lines = [user("one"), '{"type":"assistant"}\n', user([{"type": "tool_result", "content": "two"}]),
             user("two"), '{"type":"assistant"}\n', user("one"), '{"type":"assistant"}\n']
    transcript = {"claudeSessionId": "c", "files": {"c.jsonl": "".join(lines), "c/sub.jsonl": "x"}}
    prompts = [(5, "one"), (9, "stopped early"), (12, "two"), (20, "one")]
    assert cut_claude_transcript(transcript, prompts, 5)["files"]["c.jsonl"] == "".join(lines[:3])
    assert cut_claude_transcript(transcript, prompts, 9)["files"]["c.jsonl"] == "".join(lines[:3])
    assert cut_claude_transcript(transcript, prompts, 12)["files"]["c.jsonl"] == "".join(lines[:5])
    assert cut_claude_transcript(transcript, prompts, 20)["files"] == transcript["files"]
    assert cut_claude_transcript({"claudeSessionId": "c", "files": {}}, prompts, 5) is None


async def test_fork_while_the_source_works_and_sessions_without_checkpoints(
    runtime: AgentRuntime, repo: Path, tmp_path: Path
) -> None:
    sid, seqs, _worktree = await two_queries(runtime, repo)
    message_id, _ = await runtime.send_message(sid, "echo busy > busy.txt; sleep 30")
    await collect_until(runtime, sid, lambda e: e.type == "file:created" and e.payload["path"] == "busy.txt",
                        timeout=30)
    fork = await runtime.fork_session(sid, seqs[1])  # a checkpoint never changes: no need to wait
    files = worktree_files(Path(fork.workspace.path))
    assert files["two.txt"] == "two\n" and "busy.txt" not in files
    detail = await runtime.get_session(fork.session_id)
    assert [b.content for b in detail.blocks if b.type == "user_message"] == [
        "echo one > one.txt && echo more >> README.md",
        "echo two > two.txt && echo again >> one.txt && rm src/app.py",
    ]  # the running query's message is not part of the fork
    await runtime.interrupt(sid)
    await collect_until(runtime, sid, query_end(message_id), timeout=30)
    # Sessions with no worktree have no checkpoints.
    folder = tmp_path / "plain folder"
    folder.mkdir()
    in_place = await runtime.create_session({"architecture": "shell",
                                             "workspace": {"project": str(folder), "mode": "in-place"}})
    bare = await runtime.create_session({"architecture": "shell"})
    for session in (in_place, bare):
        for call in (runtime.fork_session(session.session_id, "base"),
                     runtime.restore_checkpoint(session.session_id, "base")):
            error = await _raises(call)
            assert (error.code, error.status) == ("NO_WORKSPACE", 400)


# --------------------------------------------------------------------------- a message during a restore


async def test_a_message_sent_while_a_restore_starts_makes_it_refused(runtime: AgentRuntime, repo: Path) -> None:
    """The restore passed the first busy check, then a message arrived before it held the
    worktree: it is refused once it does, and the query sees the files untouched."""
    sid, seqs, worktree = await two_queries(runtime, repo)
    restore = asyncio.ensure_future(runtime.restore_checkpoint(sid, seqs[0]))
    await asyncio.sleep(0)  # one loop turn: the restore is past its first check, now running git
    message_id, _ = await runtime.send_message(sid, "ls")
    error = await _raises(restore)
    assert (error.code, error.status) == ("WORKSPACE_BUSY", 409)
    events = await collect_until(runtime, sid, query_end(message_id), timeout=60)
    output = "".join(e.payload.get("delta", "") for e in events if e.type == "block:delta")
    assert "two.txt" in output and (worktree / "two.txt").exists()


async def test_a_query_waits_for_a_workspace_write_under_way(runtime: AgentRuntime, repo: Path) -> None:
    """A write holding the worktree (restore, discard, commit, merge) finishes before the agent
    starts: here the test holds it, as a write would, and changes a file meanwhile."""
    sid, _seqs, worktree = await two_queries(runtime, repo)
    workspace = runtime.sessions.get(sid).workspace
    last = (await runtime.get_summary(sid)).last_seq
    async with workspace._lock:
        message_id, _ = await runtime.send_message(sid, "cat late.txt")
        ran = asyncio.ensure_future(collect_until(runtime, sid, lambda e: e.type == "block:upsert"
                                                  and e.payload["block"]["type"] == "tool_use", after_seq=last))
        while not workspace.queries_waiting and not ran.done():
            await asyncio.sleep(0.01)  # until the query waits, or (the failure) its agent runs
        assert workspace.queries_waiting == 1 and not ran.done()
        (worktree / "late.txt").write_text("written by the write under way\n")
    await ran
    events = await collect_until(runtime, sid, query_end(message_id), after_seq=last, timeout=60)
    output = "".join(e.payload.get("delta", "") for e in events if e.type == "block:delta")
    assert "written by the write under way" in output


async def test_a_restore_under_way_is_announced_before_the_query_runs(runtime: AgentRuntime, repo: Path) -> None:
    sid, seqs, _worktree = await two_queries(runtime, repo)
    workspace = runtime.sessions.get(sid).workspace
    restore = asyncio.ensure_future(runtime.restore_checkpoint(sid, seqs[0]))
    while not workspace._lock.locked():  # the restore holds the worktree (checked each loop turn)
        await asyncio.sleep(0)
    message_id, _ = await runtime.send_message(sid, "ls")
    assert (await restore).checkpoint == seqs[0]
    events = await collect_until(runtime, sid, query_end(message_id), timeout=60)
    output = "".join(e.payload.get("delta", "") for e in events if e.type == "block:delta")
    assert "one.txt" in output and "two.txt" not in output
    started = next(e.seq for e in events if e.type == "query:started" and e.payload["messageId"] == message_id)
    restored = next(e.seq for e in events if e.type == "workspace:restored")
    first_output = next(e.seq for e in events if e.type == "block:delta" and e.seq > started)
    assert restored < first_output
