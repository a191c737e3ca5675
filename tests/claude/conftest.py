"""Fixtures for the Claude Code tests (here and in ``tests/permissions``, ``tests/workspaces``):
the pinned real CLI, the fake Anthropic server, isolation; the agent itself is described once, in
``tests/conformance/agents.py`` (``CLAUDE``).

The CLI comes from ``tests/node`` (``scripts/test`` installs it with ``npm ci``); tests that need
it are skipped with a clear reason when it is missing. Every test in this folder runs its event
loop thread inside a loopback-only network namespace where the machine allows it (see
``netns.py``), so the CLI can reach the fake server and nothing else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from runtime import AgentRuntime
from tests import agent_support
from tests.agent_support import cli_available, needs_cli
from tests.conformance.agents import CLAUDE, PROFILE, agent_runtime, write_profiles
from tests.fakes.anthropic_server import FakeAnthropic

CLAUDE_BIN = CLAUDE.bin
#: A profile like the default one, plus the CLI's retry budget (so a failing API fails fast).
PROFILE_ID = PROFILE
needs_claude = needs_cli(CLAUDE_BIN, "Claude Code CLI")

#: The loopback-only network namespace (module-wide), and the fake inside it.
loopback_only = agent_support.loopback_only
fake = agent_support.fake_fixture(FakeAnthropic)


def claude_available() -> bool:
    return cli_available(CLAUDE_BIN)


def claude_host_env(fake: Any, **extra: str) -> dict[str, str]:
    return CLAUDE.host_env(fake, **extra)


def write_test_profile(config_dir: Path) -> None:
    write_profiles(config_dir)


@pytest.fixture
async def claude_runtime(tmp_path: Path, fake: FakeAnthropic) -> AsyncIterator[AgentRuntime]:
    """A started runtime (real SQLite, local primitive) whose sessions reach the fake server."""
    async with agent_runtime(CLAUDE, tmp_path, fake) as runtime:
        yield runtime
