"""What the agent test folders (``claude``, ``gemini``, ``opencode``) share: whether the pinned
real CLI is installed under ``tests/node``, the loopback-only network namespace their event loop
thread runs in, a started runtime for a test, stand-in CLIs, and asking a session something.

The fixtures here (``loopback_only``, ``fake_fixture``) are used by each folder's ``conftest.py``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from runtime import AgentRuntime
from runtime.config import RuntimeConfig
from runtime.models import SessionEvent
from tests.claude.netns import LoopbackOnly
from tests.helpers import collect_until, query_end


def cli_available(binary: Path) -> bool:
    return os.access(binary, os.X_OK)


def missing_cli_reason(binary: Path, name: str) -> str:
    return f"{name} not installed at {binary} (run scripts/test)"


def needs_cli(binary: Path, name: str) -> pytest.MarkDecorator:
    """Skips a test, with a clear reason, when the CLI ``name`` is not installed at ``binary``."""
    return pytest.mark.skipif(not cli_available(binary), reason=missing_cli_reason(binary, name))


def fake_fixture(make: Callable[[], Any]) -> Any:
    """A fixture ``fake``: the fake model server ``make()`` builds, started inside the
    loopback-only namespace (for a folder whose tests all talk to one kind of fake)."""

    @pytest.fixture
    async def fake(loopback_only: bool) -> AsyncIterator[Any]:
        async with make() as server:
            yield server

    return fake


@pytest.fixture(scope="module")
def loopback_only() -> Iterator[bool]:
    """Module-wide: the main (event loop) thread in a loopback-only network namespace."""
    namespace = LoopbackOnly()
    entered = namespace.enter()
    try:
        yield entered
    finally:
        namespace.leave()


def require_cli(binary: Path, name: str) -> None:
    """Skips the running test when the CLI ``name`` is not installed at ``binary``."""
    if not cli_available(binary):
        pytest.skip(missing_cli_reason(binary, name))


@asynccontextmanager
async def started_runtime(config: RuntimeConfig) -> AsyncIterator[AgentRuntime]:
    """A started runtime (real SQLite, local primitive) on ``config``, shut down afterwards."""
    runtime = AgentRuntime(config)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.shutdown()


def write_executable(path: Path, text: str) -> Path:
    """Write a script (a stand-in CLI) and make it executable."""
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


async def ask(runtime: AgentRuntime, session_id: str, content: str,
              *, timeout: float = 120.0) -> tuple[str, list[SessionEvent]]:
    """Send ``content`` to the session and collect its events until that query ends."""
    after = (await runtime.get_summary(session_id)).last_seq
    message_id, _queued = await runtime.send_message(session_id, content)
    events = await collect_until(runtime, session_id, query_end(message_id), after_seq=after, timeout=timeout)
    return message_id, events


def launch_context(tmp_path: Path, binary: str, env: list[str], host: dict[str, str],
                   **overrides: object) -> Any:
    """A ``LaunchContext`` for launch tests: an executable stand-in ``binary`` in tmp_path/bin (the
    only agent folder), a profile passing ``env`` (and ``NOT_SET``), host variables ``host``, and
    an odd prompt; ``overrides`` replace any field."""
    from runtime.architectures.base import LaunchContext
    from runtime.models import AgentProfile

    cli = write_executable_in(tmp_path / "bin", binary)
    values: dict[str, object] = {
        "session_id": "ses-0123456789abcdef0123", "message_id": "msg-1", "prompt": "-v looks like an option",
        "session_dir": str(tmp_path / "sandbox"), "profile": AgentProfile(id="p", name="p", env=[*env, "NOT_SET"]),
        "session_options": {}, "resume": False, "host_env": host,
        "config": RuntimeConfig(agent_bin_dirs=[str(cli.parent)], host_env={}),
    }
    values.update(overrides)
    return LaunchContext(**values)  # type: ignore[arg-type]


def write_executable_in(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_executable(folder / name, "#!/bin/sh\n")


def option_value(argv: list[str], name: str) -> str | None:
    """The value after option ``name`` in ``argv`` (None: no such option)."""
    return argv[argv.index(name) + 1] if name in argv else None
