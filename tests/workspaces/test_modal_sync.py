"""A worktree on the modal primitive (the fake SDK at the adapter's boundary, real processes):
uploaded when the sandbox starts, the agent's changes brought back after each query and on
interrupt and terminate (SPEC §10)."""

from __future__ import annotations

import types
from pathlib import Path

from runtime import AgentRuntime
from tests.helpers import collect_until, query_end
from tests.modal.support import fake_modal, modal_config  # noqa: F401 - fixture
from tests.workspaces.conftest import git, head, status


async def test_changes_come_back_after_a_query_and_on_interrupt(
    fake_modal: types.ModuleType, tmp_path: Path, repo: Path  # noqa: F811
) -> None:
    (repo / "notes.txt").write_text("the user's own untracked file\n")
    before = head(repo)
    async with AgentRuntime(modal_config(tmp_path)) as runtime:
        summary = await runtime.create_session(
            {"architecture": "shell", "name": "remote", "workspace": {"project": str(repo)}}
        )
        sid = summary.session_id
        worktree = Path(summary.workspace.path)
        message_id, _ = await runtime.send_message(
            sid, "cat src/app.py && echo remote > made.txt && echo more >> README.md && rm src/app.py"
        )
        events = await collect_until(runtime, sid, query_end(message_id), timeout=60)
        assert events[-1].type == "query:completed", events[-1].payload
        statuses = [e.payload["statusMessage"] for e in events if e.type == "ee:creating"]
        assert any(s.startswith("Uploading the worktree") for s in statuses)
        # What went up was the worktree (a checkout of the base commit, not the user's folder).
        output = "".join(e.payload.get("delta", "") for e in events if e.type == "block:delta")
        assert "print('v1')" in output
        kinds = {(e.type, e.payload.get("path")) for e in events if e.type.startswith("file:")}
        assert kinds == {("file:created", "made.txt"), ("file:modified", "README.md"), ("file:deleted", "src/app.py")}
        assert (worktree / "made.txt").read_text() == "remote\n"
        changes = await runtime.get_changes(sid)
        assert {f.path: f.status for f in changes.files} == {
            "made.txt": "added", "README.md": "modified", "src/app.py": "deleted",
        }
        assert "+more" in await runtime.get_diff(sid, "README.md")

        # An interrupt brings back what was written so far.
        message_id, _ = await runtime.send_message(sid, "echo partial > partial.txt && sleep 60")
        await collect_until(runtime, sid, lambda e: e.type == "block:upsert"
                            and e.payload["block"].get("type") == "tool_use", timeout=60)
        sandbox_file = Path(fake_modal_root(tmp_path)) / sid / "workspace" / "partial.txt"
        await _wait_for(sandbox_file)
        await runtime.interrupt(sid)
        events = await collect_until(runtime, sid, query_end(message_id), timeout=60)
        assert events[-1].type == "query:interrupted"
        assert (worktree / "partial.txt").read_text() == "partial\n"

        # Terminate brings back what changed after the last query (a background writer, say).
        sandbox_file.with_name("late.txt").write_text("late\n")
        await runtime.terminate_environment(sid)
        assert (worktree / "late.txt").read_text() == "late\n"
        merged = await runtime.merge(sid, strategy="squash")
    assert head(repo) == merged["commit"] and git(repo, "rev-parse", "main^").strip() == before
    assert status(repo) == "?? notes.txt\n"  # the user's own untracked file, untouched


def fake_modal_root(tmp_path: Path) -> Path:
    return tmp_path / "modal-root"


async def _wait_for(path: Path) -> None:
    import asyncio

    for _ in range(600):
        if path.exists():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


async def test_restore_on_a_remote_sandbox_sticks(
    fake_modal: types.ModuleType, tmp_path: Path, repo: Path  # noqa: F811
) -> None:
    """The sandbox has its own copy of the files: after a restore the next query must see the
    restored worktree, and its sync back must not bring the undone files back."""
    async with AgentRuntime(modal_config(tmp_path)) as runtime:
        summary = await runtime.create_session(
            {"architecture": "shell", "name": "remote", "workspace": {"project": str(repo)}}
        )
        sid, worktree = summary.session_id, Path(summary.workspace.path)
        for command in ("echo one > one.txt", "echo two > two.txt"):
            message_id, _ = await runtime.send_message(sid, command)
            await collect_until(runtime, sid, query_end(message_id), timeout=60)
        events, _ = await runtime.get_events(sid)
        first = next(e for e in events if e.type == "workspace:checkpoint").payload["ref"]
        last = (await runtime.get_summary(sid)).last_seq
        await runtime.restore_checkpoint(sid, first)
        assert not (worktree / "two.txt").exists()
        # The sandbox that held the old files was ended first (its changes brought back before
        # the restore, not over it)...
        events, _ = await runtime.get_events(sid, after_seq=last)
        kinds = [e.type for e in events]
        assert kinds.index("ee:terminated") < kinds.index("workspace:restored")
        # ...so the next query starts a new sandbox, with the restored worktree uploaded. (A real
        # Modal sandbox starts empty; the fake keeps its folder, so only the upload is checked.)
        message_id, _ = await runtime.send_message(sid, "cat one.txt")
        events = await collect_until(runtime, sid, query_end(message_id), timeout=60)
        statuses = [e.payload["statusMessage"] for e in events if e.type == "ee:creating"]
        assert any(s.startswith("Uploading the worktree") for s in statuses)
        assert not (worktree / "two.txt").exists()
        assert {f.path for f in (await runtime.get_changes(sid)).files} == {"one.txt"}
