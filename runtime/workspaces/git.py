"""Running the git CLI from asyncio, and the per-repository lock.

Every git call goes through ``run_git``: an asyncio subprocess with a scrubbed environment (no
``GIT_DIR``/``GIT_INDEX_FILE`` leaking in from a hook or a parent git), no pager, no prompt, and
``C`` locale so output can be parsed. Operations that take a repository-wide lock (worktree add /
remove / prune, ref updates, merges into the user's branch) hold ``repo_lock(common_dir)``, so
sessions on one repository never race each other into ``index.lock``/``packed-refs.lock`` errors.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import AgentTuiError

_SCRUBBED = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
    "GIT_CEILING_DIRECTORIES",
)

_locks: dict[tuple[int, str], asyncio.Lock] = {}


class GitError(AgentTuiError):
    """git itself failed where it should not have (corrupt repository, disk full, ...)."""

    code = "GIT_ERROR"
    status = 500


@dataclass(frozen=True)
class GitResult:
    code: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "surrogateescape")

    def line(self) -> str:
        return self.text.strip()


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env.update(
        {
            "LC_ALL": "C",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_PAGER": "cat",
            "GIT_LITERAL_PATHSPECS": "1",  # a file called '*.py' is that file, not a glob
            "GIT_CONFIG_NOSYSTEM": env.get("GIT_CONFIG_NOSYSTEM", "0"),
        }
    )
    if extra:
        env.update(extra)
    return env


async def run_git(
    args: Sequence[str],
    cwd: str | os.PathLike[str],
    *,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    stdin: bytes | None = None,
) -> GitResult:
    """``git <args>`` in ``cwd``; raises ``GitError`` on a non-zero exit when ``check``."""
    proc = await asyncio.create_subprocess_exec(
        "git",
        *args,
        cwd=str(cwd),
        env=git_env(env),
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(stdin)
    result = GitResult(proc.returncode or 0, out, err)
    if check and result.code != 0:
        message = err.decode("utf-8", "replace").strip() or f"exit code {result.code}"
        raise GitError(f"git {args[0]} failed: {message[:2000]}")
    return result


def repo_lock(common_dir: str) -> asyncio.Lock:
    """The lock of one repository, keyed by its common git dir (shared by all its worktrees)."""
    # Per event loop too: an asyncio.Lock belongs to the loop it first waited on.
    key = (id(asyncio.get_running_loop()), os.path.realpath(common_dir))
    lock = _locks.get(key)
    if lock is None:
        lock = _locks[key] = asyncio.Lock()
    return lock
