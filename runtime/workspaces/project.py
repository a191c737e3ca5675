"""Validating ``CreateSessionArgs.workspace`` and choosing the session's branch (SPEC §10).

Runs when the session is created: the project must exist (and, for a worktree, be inside a git
repository), ``baseRef`` must name a commit, and the branch name must be one git accepts. The
session branch is created right away, at the base commit (cheap, and it makes "made unique" real
when two sessions are created at once); the worktree itself is added lazily, with the sandbox.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path
from typing import Any

from ..errors import InvalidRequest, NotAGitRepository
from ..models import WorkspaceSpec
from .git import repo_lock, run_git

BRANCH_PREFIX = "agent-tui/"
_MAX_UNIQUE = 1000


def slugify(name: str) -> str:
    """``"Fix the Parser (v2)"`` → ``"fix-the-parser-v2"``: ASCII, lowercase, safe in a ref."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:40].strip("-") or "session"


async def check_branch_name(name: str, cwd: str) -> None:
    if name.startswith("-") or not name.strip() or name != name.strip():
        raise InvalidRequest(f"invalid branch name {name!r}")
    result = await run_git(["check-ref-format", "--branch", name], cwd, check=False)
    if result.code != 0:
        raise InvalidRequest(
            f"invalid branch name {name!r}: git does not accept it (no spaces, '..', '~', '^', ':', ...)"
        )


async def resolve_workspace(spec: WorkspaceSpec, session_name: str, session_dir: Path) -> dict[str, Any]:
    """The session record's ``workspace`` entry for ``spec`` (raises 400s for bad input)."""
    try:
        project = Path(os.path.realpath(os.path.abspath(os.path.expanduser(spec.project))))
        is_dir = project.is_dir()
    except (OSError, ValueError) as exc:  # too long, NUL, a loop: not a folder we can use
        raise InvalidRequest(f"project path {spec.project[:200]!r} cannot be used: {exc}") from exc
    if spec.mode == "in-place":
        if not is_dir:
            raise InvalidRequest(f"project folder {str(project)!r} does not exist")
        return {"project": str(project), "mode": "in-place", "path": str(project)}
    if not is_dir:
        raise NotAGitRepository(
            f"project folder {str(project)!r} does not exist", details={"project": str(project)}
        )
    found = await run_git(
        ["rev-parse", "--path-format=absolute", "--show-toplevel", "--git-common-dir"], project, check=False
    )
    lines = found.text.splitlines()
    if found.code != 0 or len(lines) < 2:
        raise NotAGitRepository(
            f"{str(project)!r} is not inside a git repository (a worktree needs one; "
            'use mode "in-place" to work in a plain folder)',
            details={"project": str(project)},
        )
    toplevel, common_dir = lines[0], lines[1]
    base_ref = spec.base_ref.strip()
    if base_ref.startswith("-"):
        raise InvalidRequest(f"baseRef {base_ref!r} is not a commit")
    base = await run_git(["rev-parse", "--verify", "--quiet", f"{base_ref}^{{commit}}"], toplevel, check=False)
    if base.code != 0:
        raise InvalidRequest(f"baseRef {base_ref!r} is not a commit in {toplevel!r}")
    base_commit = base.line()
    # The default merge target: the branch baseRef names (HEAD: the branch checked out there).
    named = await run_git(["rev-parse", "--symbolic-full-name", base_ref], project, check=False)
    full = named.line() if named.code == 0 else ""
    target = full.removeprefix("refs/heads/") if full.startswith("refs/heads/") else None

    async with repo_lock(common_dir):
        if spec.branch is not None:
            await check_branch_name(spec.branch, toplevel)
            if await _branch_exists(spec.branch, toplevel):
                raise InvalidRequest(f"branch {spec.branch!r} already exists in {toplevel!r}")
            branch = spec.branch
        else:
            stem = BRANCH_PREFIX + slugify(session_name)
            branch = stem
            for n in range(2, _MAX_UNIQUE):
                if not await _branch_exists(branch, toplevel):
                    break
                branch = f"{stem}-{n}"
            await check_branch_name(branch, toplevel)
        await run_git(["branch", "--no-track", branch, base_commit], toplevel)
    return {
        "project": str(project),
        "mode": "worktree",
        "branch": branch,
        "baseRef": base_ref,
        "baseCommit": base_commit,
        "path": str(session_dir / "workspace"),
        "target": target,
        "repoRoot": toplevel,
        "commonDir": common_dir,
        "created": False,
    }


async def _branch_exists(branch: str, cwd: str) -> bool:
    result = await run_git(["show-ref", "--verify", "--quiet", f"refs/heads/{branch}"], cwd, check=False)
    return result.code == 0
