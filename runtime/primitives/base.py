"""The environment primitive protocol (SPEC §6): one sandbox backend per class.

A primitive is one sandbox. ``ExecutionEnvironment`` owns one and is the only user of it.
Paths given to file methods are relative to the sandbox's session folder (``SESSION_DIR``),
which holds ``app/``, ``workspace/`` and ``home/``; absolute paths and escapes are refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class RemoteFile:
    path: str  # relative to the folder that was listed
    size: int
    modified_at: int  # ms since the epoch


class SandboxProcess(Protocol):
    """A process running in a sandbox. stdout and stderr are drained continuously by the primitive."""

    pid: int | None

    def stdout_lines(self) -> AsyncIterator[bytes]:
        """Lines of stdout (with their newline stripped); a line longer than the primitive's limit
        is delivered in pieces. Ends at EOF."""
        ...

    def stderr_lines(self) -> AsyncIterator[bytes]: ...
    async def write_stdin(self, data: bytes) -> None: ...
    async def close_stdin(self) -> None: ...
    async def wait(self) -> int:
        """Exit code; negative for a signal (local) or -1 for a timeout (modal)."""
        ...

    async def kill(self) -> None:
        """Kill the process and everything it started (its process group). Idempotent."""
        ...

    async def signal_group(self, signum: int) -> None:
        """Send ``signum`` to the process group (SIGTERM first for a graceful stop)."""
        ...


class EnvironmentPrimitive(Protocol):
    """Every backend implements these. What only some can do (re-attach, sweeps, liveness checks,
    file sync, isolation) is declared by its ``PrimitiveKind.capabilities`` (registry.py), and the
    hook a capability names (``attach``, ``expose_readonly``, ``run_capture``) exists only then."""

    name: str
    #: Absolute path of the session folder inside the sandbox.
    session_dir: str

    def configure(self, *, status: Callable[[str], Awaitable[None]] | None = None, profile: Any = None) -> None:
        """Called once before ``start``: where to report each slow step of a start (as
        ``ee:creating`` statuses), and the agent profile (``env``, ``network``). May ignore both."""
        ...

    @property
    def environment_id(self) -> str | None: ...

    async def start(self) -> None: ...
    async def exec(
        self, argv: list[str], *, cwd: str | None = None, env: Mapping[str, str] | None = None
    ) -> SandboxProcess: ...
    async def read_file(self, path: str) -> bytes: ...
    async def write_file(self, path: str, data: bytes) -> None: ...
    async def write_files(self, files: Mapping[str, bytes]) -> None: ...
    async def list_files(self, path: str = "workspace", *, recursive: bool = True) -> list[RemoteFile]: ...
    async def is_running(self) -> bool: ...
    async def terminate(self) -> None: ...
