"""Which project a new session works on by default: the git repository agent-tui was started in.

Asked of the local ``git`` through asyncio subprocesses, so the UI never waits on it. With
``--connect`` the project is a path on the server's machine: the local guess is only offered when
that machine is this one (a loopback URL).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass

#: A repository on a slow disk must not hold the dialog: past this the guess is "none".
GIT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ProjectGuess:
    """What the new-session dialog starts with: a project path (or none) and its current branch."""

    path: str = ""
    #: The branch checked out there (``None``: detached, unknown, or on another machine).
    branch: str | None = None


async def _git(cwd: str, *args: str) -> str | None:
    """git's first output line, or ``None`` when git fails, is missing or takes too long."""
    try:
        process = await asyncio.create_subprocess_exec(
            "git", "-C", cwd, *args, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},  # a read must not take the repo's index lock
        )
    except OSError:
        return None
    try:
        out, _ = await asyncio.wait_for(process.communicate(), GIT_TIMEOUT_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        return None
    if process.returncode != 0:
        return None
    lines = out.decode("utf-8", "surrogateescape").splitlines()
    return lines[0] if lines else None


async def guess_project(start_dir: str | None, explicit: str | None = None, *, local: bool = True) -> ProjectGuess:
    """``explicit`` (``agent-tui PATH``) as given, else the repository around ``start_dir``.

    ``local=False`` (a server on another machine): ``explicit`` is used as it is and nothing is
    looked up here.
    """
    if explicit:
        if not local:
            return ProjectGuess(explicit)
        branch = await _git(explicit, "symbolic-ref", "--quiet", "--short", "HEAD") if os.path.isdir(explicit) else None
        return ProjectGuess(explicit, branch)
    if not start_dir or not local:
        return ProjectGuess()
    toplevel = await _git(start_dir, "rev-parse", "--show-toplevel")
    if not toplevel:
        return ProjectGuess()
    return ProjectGuess(toplevel, await _git(toplevel, "symbolic-ref", "--quiet", "--short", "HEAD"))


@dataclass(frozen=True)
class ProjectSource:
    """Where the default project comes from, as the command line said (``agent-tui [PATH]``)."""

    #: ``agent-tui PATH`` (absolute for a local runtime; as typed for a server's machine).
    explicit: str | None = None
    #: The folder agent-tui was started in: the repository around it is the default.
    start_dir: str | None = None
    #: Whether paths name this machine (an embedded runtime, or a server on a loopback URL).
    local: bool = True

    async def guess(self) -> ProjectGuess:
        return await guess_project(self.start_dir, self.explicit, local=self.local)
