"""Restoring a session's worktree to a checkpoint, and the trees a fork starts from.

A checkpoint is named the way clients see it: the ``seq`` of its query's ``query:started`` (the
last part of ``workspace:checkpoint``'s ``ref``), the full ref, or ``base`` (the session's base
commit: undoing every query). Restoring changes the worktree's files only: the session branch,
the user's checkout and every checkpoint ref stay where they are, so restoring a later checkpoint
again is a redo. The state just before a restore is kept at ``refs/agent-tui/<session>/pre-restore``
(itself restorable as ``pre-restore``), so a restore never loses uncommitted work.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..errors import CheckpointNotFound, InvalidRequest
from .git import run_git


class Workspace(Protocol):
    """What this module needs of ``workspace.Workspace`` (which imports this module)."""

    record: dict[str, Any]

    @property
    def path(self) -> Path: ...

    @property
    def base_commit(self) -> str: ...

    def checkpoint_prefix(self) -> str: ...

    async def _identity_env(self) -> dict[str, str]: ...

BASE = "base"
PRE_RESTORE = "pre-restore"
_SEQ = re.compile(r"[1-9][0-9]{0,17}")


@dataclass(frozen=True)
class Checkpoint:
    #: How clients name it: a seq (``"12"``), ``base`` or ``pre-restore``.
    name: str
    #: The commit holding the worktree's files (for ``base``: the base commit itself).
    commit: str
    #: The ``query:started`` seq of its query (``None`` for ``base`` / ``pre-restore``).
    seq: int | None
    #: The session branch's tip when it was taken (the checkpoint's first parent).
    head: str


def checkpoint_name(workspace: Workspace, checkpoint: Any) -> str:
    """``12``, ``"12"``, ``"refs/agent-tui/<this session>/12"``, ``"base"`` → ``"12"`` / ``"base"``."""
    if isinstance(checkpoint, int) and not isinstance(checkpoint, bool):
        checkpoint = str(checkpoint)
    if not isinstance(checkpoint, str) or not checkpoint:
        raise InvalidRequest('checkpoint must be a query seq, a checkpoint ref, or "base"')
    name = checkpoint.removeprefix(workspace.checkpoint_prefix())
    if name in (BASE, PRE_RESTORE) or _SEQ.fullmatch(name):
        return name
    raise InvalidRequest(
        f"{checkpoint[:200]!r} is not a checkpoint of this session: give the seq of a query "
        f'(the last part of a workspace:checkpoint ref, e.g. {workspace.checkpoint_prefix()}12), or "base"'
    )


async def find_checkpoint(workspace: Workspace, checkpoint: Any) -> Checkpoint:
    name = checkpoint_name(workspace, checkpoint)
    repo = workspace.record["repoRoot"]
    if name == BASE:
        base = workspace.base_commit
        return Checkpoint(BASE, base, None, base)
    found = await run_git(
        ["rev-parse", "--verify", "--quiet", f"{workspace.checkpoint_prefix()}{name}^{{commit}}"], repo, check=False
    )
    if found.code != 0:
        raise CheckpointNotFound(
            f"session has no checkpoint {name!r} (checkpoints are made after queries that changed files)",
            details={"checkpoint": name},
        )
    commit = found.line()
    head = (await run_git(["rev-parse", f"{commit}^1"], repo)).line()
    return Checkpoint(name, commit, int(name) if name.isdigit() else None, head)


async def snapshot(workspace: Workspace, env: dict[str, str]) -> str:
    """The worktree's tree now (uncommitted and untracked, not ignored, files included), written
    through the scratch index in ``env`` so the worktree's own index does not move."""
    await run_git(["add", "--all", "--", "."], workspace.path, env=env)
    return (await run_git(["write-tree"], workspace.path, env=env)).line()


async def restore_tree(workspace: Workspace, commit: str, *, keep_previous: bool = True) -> list[dict[str, Any]]:
    """Make the worktree's files those of ``commit`` (ignored files are left alone) and return
    the ``file:*`` drafts that say what changed. Caller holds the workspace lock; nothing runs in
    the worktree (refused while a query runs). ``keep_previous``: save the state before at the
    ``pre-restore`` ref."""
    path = workspace.path
    index = str(path.parent / "restore.index")
    env = {"GIT_INDEX_FILE": index}
    real = await run_git(["rev-parse", "--path-format=absolute", "--git-path", "index"], path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(index)
    try:
        # Start from a copy of the real index (its stat cache saves re-hashing every file).
        with contextlib.suppress(FileNotFoundError), open(real.line(), "rb") as source, open(index, "wb") as copy:
            copy.write(source.read())
        before = await snapshot(workspace, env)
        target = (await run_git(["rev-parse", f"{commit}^{{tree}}"], path)).line()
        if before == target:
            return []
        if keep_previous:
            # Kept so the restore itself can be undone (uncommitted work is never lost by a restore).
            ident = await workspace._identity_env()
            head = (await run_git(["rev-parse", "HEAD"], path)).line()
            saved = (await run_git(["commit-tree", before, "-p", head, "-m", "agent-tui: before a restore"],
                                   path, env=ident)).line()
            await run_git(["update-ref", f"{workspace.checkpoint_prefix()}{PRE_RESTORE}", saved], path)
        listing = await run_git(["diff-tree", "-r", "-z", "--no-renames", "--name-status", before, target], path)
        # read-tree -u against the scratch index that holds every current file: files not in the
        # target are removed, the rest written; ignored files are not in it, so they stay.
        await run_git(["read-tree", "-u", "--reset", target], path, env=env)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(index)
    # The worktree's own index goes back to the branch tip: what the checkpoint held beyond it
    # shows as uncommitted changes again, exactly as it did when it was taken.
    await run_git(["reset", "--quiet", "--mixed"], path)
    return _file_drafts(workspace, listing.text)


def _file_drafts(workspace: Workspace, listing: str) -> list[dict[str, Any]]:
    fields = listing.split("\0")
    drafts: list[dict[str, Any]] = []
    for status, relative in zip(fields[0::2], fields[1::2], strict=False):
        if not status or not relative:
            continue
        if status == "D":
            drafts.append({"type": "file:deleted", "payload": {"path": relative}})
            continue
        try:
            size = (workspace.path / relative).lstat().st_size
        except OSError:
            size = 0
        kind = "file:created" if status == "A" else "file:modified"
        drafts.append({"type": kind, "payload": {"path": relative, "size": size}})
    return drafts
