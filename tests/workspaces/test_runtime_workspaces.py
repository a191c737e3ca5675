"""SPEC §10 through the Python API: real git, real worktrees, shell sessions."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from runtime import AgentRuntime, AgentTuiError, CreateSessionArgs
from tests.helpers import collect_until, make_config, query_end
from tests.workspaces.conftest import git, head, make_repo, status


async def run(rt: AgentRuntime, session_id: str, command: str) -> list:
    message_id, _ = await rt.send_message(session_id, command)
    return await collect_until(rt, session_id, query_end(message_id), timeout=60)


async def create(rt: AgentRuntime, repo: Path, **workspace: object) -> str:
    args = CreateSessionArgs.model_validate(
        {"architecture": "shell", "name": workspace.pop("name", "agent"), "workspace": {"project": str(repo), **workspace}}
    )
    return (await rt.create_session(args)).session_id


async def test_two_sessions_change_one_repository_at_once_and_the_checkout_stays_clean(
    runtime: AgentRuntime, repo: Path
) -> None:
    before = head(repo)
    a = await create(runtime, repo, name="Session A")
    b = await create(runtime, repo, name="Session A")  # same name: the branch is made unique
    summaries = {s.session_id: s for s in await runtime.list_sessions()}
    assert summaries[a].workspace.branch == "agent-tui/session-a"
    assert summaries[b].workspace.branch == "agent-tui/session-a-2"
    assert summaries[a].workspace.base_commit == before
    ends = await asyncio.gather(
        run(runtime, a, "echo from-a >> README.md && echo a > a.txt"),
        run(runtime, b, "echo from-b >> README.md && echo b > b.txt"),
    )
    assert all(events[-1].type == "query:completed" for events in ends)
    assert status(repo) == ""
    assert head(repo) == before
    assert git(repo, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert (repo / "README.md").read_text() == "hello\n"
    changes_a = await runtime.get_changes(a)
    changes_b = await runtime.get_changes(b)
    assert {f.path: f.status for f in changes_a.files} == {"README.md": "modified", "a.txt": "added"}
    assert {f.path: f.status for f in changes_b.files} == {"README.md": "modified", "b.txt": "added"}
    # The worktrees are outside the user's checkout.
    for sid in (a, b):
        path = Path(summaries[sid].workspace.path)
        assert repo not in path.parents


async def test_file_events_changes_event_and_diff_for_a_shell_edit(runtime: AgentRuntime, repo: Path) -> None:
    sid = await create(runtime, repo)
    events = await run(runtime, sid, "sed -i 's/v1/v2/' src/app.py && printf 'x\\ny\\n' > notes.txt && rm README.md")
    kinds = {(e.type, e.payload.get("path")) for e in events if e.type.startswith("file:")}
    assert ("file:modified", "src/app.py") in kinds
    assert ("file:created", "notes.txt") in kinds
    assert ("file:deleted", "README.md") in kinds
    changes = [e for e in events if e.type == "workspace:changes"]
    assert len(changes) == 1
    # Published before the end of the query, so a client reacting to the end sees it.
    assert events.index(changes[0]) < len(events) - 1
    files = {f["path"]: f for f in changes[0].payload["files"]}
    assert files["src/app.py"] == {"path": "src/app.py", "status": "modified", "additions": 1, "deletions": 1}
    assert files["notes.txt"]["status"] == "added" and files["notes.txt"]["additions"] == 2
    assert files["README.md"]["status"] == "deleted"
    diff = await runtime.get_diff(sid, "src/app.py")
    assert "-print('v1')" in diff and "+print('v2')" in diff and "notes.txt" not in diff
    whole = await runtime.get_diff(sid)
    assert "+++ b/notes.txt" in whole
    assert "@@ -1 +1 @@" in await runtime.get_diff(sid, "src/app.py", context=0)
    # The reducer folded the same change set into the session state.
    detail = await runtime.get_session(sid)
    assert detail.changes is not None
    assert {f.path for f in detail.changes.files} == set(files)


async def test_squash_merge_makes_one_commit_with_exactly_the_changes(runtime: AgentRuntime, repo: Path) -> None:
    before = head(repo)
    sid = await create(runtime, repo)
    await run(runtime, sid, "echo one > one.txt")
    await runtime.commit(sid, "first")
    await run(runtime, sid, "echo two >> README.md")
    result = await runtime.merge(sid, strategy="squash")
    assert result["into"] == "main"
    assert head(repo) == result["commit"]
    assert git(repo, "rev-list", "--count", f"{before}..main").strip() == "1"
    assert git(repo, "rev-parse", "main^").strip() == before
    assert sorted(git(repo, "diff", "--name-only", before, "main").split()) == ["README.md", "one.txt"]
    # The user's checkout moved like `git merge` would move it, and is clean.
    assert status(repo) == ""
    assert (repo / "one.txt").read_text() == "one\n"
    # Nothing is left to review afterwards.
    assert (await runtime.get_changes(sid)).files == []


async def test_merge_into_a_branch_not_checked_out_leaves_the_checkout_alone(
    runtime: AgentRuntime, repo: Path
) -> None:
    git(repo, "branch", "release")
    sid = await create(runtime, repo, baseRef="release")
    await run(runtime, sid, "echo r > r.txt")
    result = await runtime.merge(sid)  # default target: the branch baseRef named
    assert result["into"] == "release"
    assert head(repo, "release") == result["commit"]
    assert not (repo / "r.txt").exists() and status(repo) == ""


async def test_conflicting_merge_is_refused_and_nothing_changes(runtime: AgentRuntime, repo: Path) -> None:
    sid = await create(runtime, repo)
    await run(runtime, sid, "echo agent > README.md")
    (repo / "README.md").write_text("user\n")
    git(repo, "commit", "-q", "-am", "user edit")
    before = head(repo)
    with pytest.raises(AgentTuiError) as caught:
        await runtime.merge(sid)
    assert caught.value.code == "MERGE_CONFLICT" and caught.value.status == 409
    assert caught.value.details == {"files": ["README.md"]}
    assert head(repo) == before and status(repo) == ""
    assert (repo / "README.md").read_text() == "user\n"
    events, _ = await runtime.get_events(sid)
    assert any(e.type == "workspace:conflict" and e.payload["files"] == ["README.md"] for e in events)


async def test_dirty_target_is_refused(runtime: AgentRuntime, repo: Path) -> None:
    sid = await create(runtime, repo)
    await run(runtime, sid, "echo x > x.txt")
    (repo / "README.md").write_text("uncommitted\n")
    before = head(repo)
    with pytest.raises(AgentTuiError) as caught:
        await runtime.merge(sid)
    assert caught.value.code == "TARGET_DIRTY"
    assert head(repo) == before and (repo / "README.md").read_text() == "uncommitted\n"


async def test_discard_one_path_and_all(runtime: AgentRuntime, repo: Path) -> None:
    sid = await create(runtime, repo)
    await run(runtime, sid, "echo y >> README.md && echo n > new.txt && rm src/app.py")
    assert await runtime.discard(sid, ["new.txt", "src/app.py"]) == ["new.txt", "src/app.py"]
    changes = await runtime.get_changes(sid)
    assert [f.path for f in changes.files] == ["README.md"]
    await runtime.discard(sid)
    assert (await runtime.get_changes(sid)).files == []
    events, _ = await runtime.get_events(sid)
    assert [e.payload["paths"] for e in events if e.type == "workspace:discarded"] == [
        ["new.txt", "src/app.py"],
        ["README.md"],
    ]


async def test_delete_removes_the_worktree_and_keeps_an_unmerged_branch(runtime: AgentRuntime, repo: Path) -> None:
    kept_id = await create(runtime, repo, name="keep me")
    gone_id = await create(runtime, repo, name="nothing done")
    await run(runtime, kept_id, "echo work > work.txt")
    await run(runtime, gone_id, "true")
    path = Path((await runtime.get_summary(kept_id)).workspace.path)
    assert path.is_dir()
    assert await runtime.delete_session(kept_id) == {"branch": "agent-tui/keep-me", "branchKept": True}
    assert await runtime.delete_session(gone_id) == {"branch": "agent-tui/nothing-done", "branchKept": False}
    assert not path.exists()
    branches = git(repo, "branch", "--format=%(refname:short)").split()
    assert "agent-tui/keep-me" in branches and "agent-tui/nothing-done" not in branches
    # The uncommitted work was committed onto the kept branch, not lost.
    assert git(repo, "show", "agent-tui/keep-me:work.txt") == "work\n"
    assert "agent-tui" not in git(repo, "worktree", "list")


async def test_restart_after_the_worktree_folder_was_removed_by_hand(tmp_path: Path, repo: Path) -> None:
    config = make_config(tmp_path)
    async with AgentRuntime(config) as rt:
        sid = await create(rt, repo)
        await run(rt, sid, "echo saved > saved.txt")
        await rt.commit(sid, "saved")
        await run(rt, sid, "echo lost > lost.txt")
        path = Path((await rt.get_summary(sid)).workspace.path)
    shutil.rmtree(path)
    async with AgentRuntime(config) as rt:
        events, _ = await rt.get_events(sid)
        errors = [e for e in events if e.type == "ee:error" and e.payload["code"] == "WORKSPACE_MISSING"]
        assert len(errors) == 1
        assert "agent-tui" not in git(repo, "worktree", "list")  # pruned
        # Never re-created empty: it comes back from the session branch, committed work included.
        changes = await rt.get_changes(sid)
        assert [f.path for f in changes.files] == ["saved.txt"]
        assert (path / "saved.txt").exists() and not (path / "lost.txt").exists()
    # A later restart with the worktree present re-attaches it silently.
    async with AgentRuntime(config) as rt:
        events, _ = await rt.get_events(sid)
        assert len([e for e in events if e.type == "ee:error"]) == 1
        await run(rt, sid, "echo again > again.txt")
        assert {f.path for f in (await rt.get_changes(sid)).files} == {"saved.txt", "again.txt"}


async def test_not_a_repository(runtime: AgentRuntime, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(AgentTuiError) as caught:
        await create(runtime, plain)
    assert caught.value.code == "NOT_A_GIT_REPOSITORY" and caught.value.status == 400
    assert str(plain) in caught.value.message
    assert await runtime.list_sessions() == []


async def test_in_place_mode_runs_in_the_folder(runtime: AgentRuntime, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    sid = await create(runtime, plain, mode="in-place")
    summary = await runtime.get_summary(sid)
    assert summary.workspace.mode == "in-place" and summary.workspace.branch is None
    assert summary.workspace.path == os.path.realpath(plain)
    events = await run(runtime, sid, "echo here > here.txt")
    assert (plain / "here.txt").read_text() == "here\n"
    assert ("file:created", "here.txt") in {(e.type, e.payload.get("path")) for e in events}
    with pytest.raises(AgentTuiError) as caught:
        await runtime.get_changes(sid)
    assert caught.value.code == "NO_WORKSPACE"


async def test_bad_paths_and_branch_names(runtime: AgentRuntime, repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret\n")
    sid = await create(runtime, repo)
    await run(runtime, sid, f"ln -s {outside} link.txt && ln -s {tmp_path} linkdir && echo z > z.txt")
    for bad in ("../x", "/etc/passwd", "link.txt", "linkdir/secret.txt", ".git/config", "a/../../x"):
        for call in (runtime.get_diff(sid, bad), runtime.discard(sid, [bad])):
            with pytest.raises(AgentTuiError) as caught:
                await call
            assert caught.value.code == "INVALID_PATH", bad
    assert outside.read_text() == "secret\n"
    assert (Path((await runtime.get_summary(sid)).workspace.path) / "z.txt").exists()
    for branch in ("has space", "a..b", "-x", "end.lock"):
        with pytest.raises(AgentTuiError) as caught:
            await create(runtime, repo, branch=branch)
        assert caught.value.code == "INVALID_REQUEST", branch
    with pytest.raises(AgentTuiError):
        await create(runtime, repo, baseRef="no-such-ref")


async def test_project_path_with_spaces_and_non_ascii(runtime: AgentRuntime, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "mes projets" / "café ünïcode")
    sid = await create(runtime, repo, name="Résumé écrit")
    summary = await runtime.get_summary(sid)
    assert summary.workspace.branch == "agent-tui/resume-ecrit"
    await run(runtime, sid, "echo é > 'fichier é.txt'")
    changes = await runtime.get_changes(sid)
    assert [f.path for f in changes.files] == ["fichier é.txt"]
    assert "+é" in await runtime.get_diff(sid, "fichier é.txt")
    await runtime.merge(sid, strategy="squash")
    assert (repo / "fichier é.txt").exists() and status(repo) == ""


async def test_large_binary_file(runtime: AgentRuntime, repo: Path) -> None:
    sid = await create(runtime, repo)
    await run(runtime, sid, "head -c 20000000 /dev/urandom > blob.bin")
    changes = await runtime.get_changes(sid)
    assert changes.files[0].path == "blob.bin" and changes.files[0].binary is True
    diff = await runtime.get_diff(sid, "blob.bin")
    assert "Binary files /dev/null and b/blob.bin differ" in diff
    assert len(diff) < 1000


async def test_writes_are_refused_while_a_query_runs(runtime: AgentRuntime, repo: Path) -> None:
    sid = await create(runtime, repo)
    message_id, _ = await runtime.send_message(sid, "echo started > started.txt; sleep 30")
    await collect_until(runtime, sid, lambda e: e.type == "file:created", timeout=30)
    for call in (runtime.commit(sid, "m"), runtime.merge(sid), runtime.discard(sid)):
        with pytest.raises(AgentTuiError) as caught:
            await call
        assert caught.value.code == "WORKSPACE_BUSY" and caught.value.status == 409
    # Reads still work while the agent works.
    assert [f.path for f in (await runtime.get_changes(sid)).files] == ["started.txt"]
    await runtime.interrupt(sid)
    await collect_until(runtime, sid, query_end(message_id), timeout=30)
    assert await runtime.commit(sid, "after")


async def test_five_thousand_changed_files(runtime: AgentRuntime, repo: Path) -> None:
    sid = await create(runtime, repo)
    await run(runtime, sid, "mkdir many && for i in $(seq 1 5000); do echo $i > many/f$i.txt; done")
    changes = await runtime.get_changes(sid)
    assert len(changes.files) == 5000
    detail = await runtime.get_session(sid)
    assert len(detail.changes.files) == 5000


async def test_a_checkpoint_per_query_on_a_private_ref(runtime: AgentRuntime, repo: Path) -> None:
    sid = await create(runtime, repo)
    await run(runtime, sid, "echo one > one.txt")
    await run(runtime, sid, "true")  # nothing changed: no checkpoint
    log = await run(runtime, sid, "echo two >> one.txt && rm README.md")  # the whole log
    checkpoints = [e for e in log if e.type == "workspace:checkpoint"]
    started = [e.seq for e in log if e.type == "query:started"]
    assert [c.payload["ref"] for c in checkpoints] == [f"refs/agent-tui/{sid}/{started[0]}",
                                                        f"refs/agent-tui/{sid}/{started[2]}"]
    refs = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", f"refs/agent-tui/{sid}/").split("\n")
    assert [r for r in refs if r] == [f"{c.payload['ref']} {c.payload['commit']}" for c in checkpoints]
    # Each holds the worktree as it was after that query, untracked files included.
    assert git(repo, "show", f"{checkpoints[0].payload['commit']}:one.txt") == "one\n"
    assert git(repo, "show", f"{checkpoints[1].payload['commit']}:one.txt") == "one\ntwo\n"
    assert "README.md" not in git(repo, "ls-tree", "--name-only", checkpoints[1].payload["commit"])
    # The worktree's index and the session branch did not move.
    worktree = Path((await runtime.get_summary(sid)).workspace.path)
    assert git(worktree, "status", "--porcelain") == " D README.md\n?? one.txt\n"
    assert head(worktree) == head(repo)
    await runtime.delete_session(sid)
    assert git(repo, "for-each-ref", f"refs/agent-tui/{sid}/") == ""


async def test_project_setup_command_runs_once_per_worktree(runtime: AgentRuntime, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "with-setup", {
        ".agent-tui.toml": '[workspace]\nsetup = "echo installing && echo done > .installed && pwd"\n',
        ".gitignore": ".installed\n",
    })
    sid = await create(runtime, repo)
    events = await run(runtime, sid, "cat .installed")
    worktree = Path((await runtime.get_summary(sid)).workspace.path)
    logs = [e.payload["message"] for e in events if e.type == "log"]
    assert "setup: installing" in logs and f"setup: {worktree}" in logs
    assert any(s["statusMessage"].startswith("Running the project's setup") for s in
               (e.payload for e in events if e.type == "ee:creating"))
    assert (worktree / ".installed").read_text() == "done\n"
    assert (await runtime.get_changes(sid)).files == []  # ignored output is not a change
    # A new sandbox on the same worktree does not run it again.
    (worktree / ".installed").unlink()
    await runtime.terminate_environment(sid)
    events = await run(runtime, sid, "true")
    ended = max(e.seq for e in events if e.type == "ee:terminated")
    later = [e for e in events if e.seq > ended]
    assert any(e.type == "ee:ready" for e in later)  # a new sandbox was made...
    assert not any("setup" in e.payload.get("message", "") for e in later if e.type == "log")  # ...without setup
    assert not (worktree / ".installed").exists()


async def test_a_failing_setup_command_is_a_warning(runtime: AgentRuntime, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "bad-setup", {".agent-tui.toml": '[workspace]\nsetup = "exit 3"\n'})
    sid = await create(runtime, repo)
    events = await run(runtime, sid, "echo still works")
    assert events[-1].type == "query:completed"
    warnings = [e.payload["message"] for e in events if e.type == "log" and e.payload["level"] == "warn"]
    assert "project setup failed (exit code 3): exit 3" in warnings


async def test_a_moved_file_is_a_rename(runtime: AgentRuntime, repo: Path) -> None:
    sid = await create(runtime, repo)
    await run(runtime, sid, "mv src/app.py src/main.py && printf '\\x00\\x01' > data.bin")
    files = {f.path: f for f in (await runtime.get_changes(sid)).files}
    assert files["src/main.py"].status == "renamed" and files["src/main.py"].old_path == "src/app.py"
    assert files["data.bin"].status == "added" and files["data.bin"].binary is True
    assert set(files) == {"src/main.py", "data.bin"}


async def test_the_agent_can_read_the_repository_history_but_not_write_the_git_dir(
    runtime: AgentRuntime, repo: Path
) -> None:
    sid = await create(runtime, repo)
    events = await run(
        runtime, sid,
        "echo x >> README.md; git log --format=%s -1; git diff --stat | tail -1; "
        f"touch '{repo}/.git/hooks/evil' && echo WROTE || echo REFUSED",
    )
    output = "".join(e.payload.get("delta", "") for e in events if e.type == "block:delta")
    assert "initial" in output and "1 file changed" in output
    isolated = runtime._make_primitive("local", sid).policy is not None  # type: ignore[attr-defined]
    if isolated:  # under bubblewrap the repository's git dir is read-only for the agent
        assert "REFUSED" in output and not (repo / ".git" / "hooks" / "evil").exists()
