"""Fixtures for the tool-approval tests: the real Claude Code CLI with profile ``permissionMode:
"ask"``, the fake model server, a real runtime on SQLite, and a real server with real clients.

The CLI, the fake and the loopback-only network namespace come from ``tests/claude`` (the same
pinned CLI and isolation as its own tests).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from runtime import AgentRuntime
from tests.claude.conftest import (  # noqa: F401 - fixtures re-exported for this folder
    CLAUDE_BIN,
    claude_available,
    claude_host_env,
    fake,
    loopback_only,
)
from tests.fakes.anthropic_server import FakeAnthropic
from tests.helpers import NODE_BIN, make_config
from tests.server.conftest import ClientFactory, http, server, sio_client  # noqa: F401 - fixtures for this folder

#: Asks before every tool use (the CLI's read-only tools inside the workspace excepted).
ASK_PROFILE = "ask"
#: Asks too, but Bash is pre-approved by the profile.
ASK_BASH_ALLOWED_PROFILE = "ask-bash-allowed"
_ENV = 'env = ["ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "CLAUDE_CODE_MAX_RETRIES"]\n'
PROFILES = {
    ASK_PROFILE: f'name = "Ask"\npermissionMode = "ask"\n{_ENV}',
    ASK_BASH_ALLOWED_PROFILE: f'name = "Ask, Bash allowed"\npermissionMode = "ask"\nallowedTools = ["Bash"]\n{_ENV}',
}


def write_profiles(config_dir: Path) -> None:
    folder = config_dir / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    for profile_id, text in PROFILES.items():
        (folder / f"{profile_id}.toml").write_text(text, encoding="utf-8")


RuntimeFactory = Callable[..., Awaitable[AgentRuntime]]


@pytest.fixture
async def make_runtime(tmp_path: Path, fake: FakeAnthropic) -> AsyncIterator[RuntimeFactory]:  # noqa: F811
    """``await make_runtime(**config)`` -> a started runtime whose sessions reach the fake; all of
    them share ``tmp_path`` (database, sandboxes, profiles), so a second one is a restart."""
    if not claude_available():
        pytest.skip(f"Claude Code CLI not installed at {CLAUDE_BIN} (run scripts/test)")
    started: list[AgentRuntime] = []

    async def make(**overrides: Any) -> AgentRuntime:
        config = make_config(
            tmp_path, agent_bin_dirs=[str(NODE_BIN)], host_env=claude_host_env(fake), **overrides
        )
        write_profiles(Path(config.config_dir))  # type: ignore[arg-type]
        runtime = AgentRuntime(config)
        await runtime.start()
        started.append(runtime)
        return runtime

    yield make
    for runtime in reversed(started):
        await runtime.shutdown()


@pytest.fixture
async def ask_runtime(make_runtime: RuntimeFactory) -> AgentRuntime:
    return await make_runtime()


@pytest.fixture
def runtime(ask_runtime: AgentRuntime) -> AgentRuntime:
    """What tests/server's ``server`` (and so ``http`` and ``sio_client``) serves here."""
    return ask_runtime
