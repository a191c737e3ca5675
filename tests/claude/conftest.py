"""Fixtures for the Claude Code tests: the pinned real CLI, the fake model server, isolation.

The CLI comes from ``tests/node`` (``scripts/test`` installs it with ``npm ci``); tests that need
it are skipped with a clear reason when it is missing. Every test in this folder runs its event
loop thread inside a loopback-only network namespace where the machine allows it (see
``netns.py``), so the CLI can reach the fake server and nothing else.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runtime import AgentRuntime
from tests import agent_support
from tests.agent_support import cli_available, needs_cli, require_cli, started_runtime
from tests.fakes.anthropic_server import FakeAnthropic
from tests.helpers import NODE_BIN, make_config

CLAUDE_BIN = NODE_BIN / "claude"
#: A profile like the default one, plus the CLI's retry budget (so a failing API fails fast).
TEST_PROFILE = """
name = "Claude test"
description = "default profile plus CLAUDE_CODE_MAX_RETRIES, for tests against the fake API"
env = ["ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "CLAUDE_CODE_MAX_RETRIES"]
"""
PROFILE_ID = "claude-test"


def claude_available() -> bool:
    return cli_available(CLAUDE_BIN)


needs_claude = needs_cli(CLAUDE_BIN, "Claude Code CLI")

#: The loopback-only network namespace (module-wide), for this folder.
loopback_only = agent_support.loopback_only


@pytest.fixture
async def fake(loopback_only: bool) -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as server:
        yield server


def claude_host_env(fake: FakeAnthropic, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "ANTHROPIC_BASE_URL": fake.url,
        "ANTHROPIC_API_KEY": "sk-ant-test-not-a-real-key",
        "CLAUDE_CODE_MAX_RETRIES": "1",
        **extra,
    }


def write_test_profile(config_dir: Path) -> None:
    profiles = config_dir / "profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    (profiles / f"{PROFILE_ID}.toml").write_text(TEST_PROFILE, encoding="utf-8")


@pytest.fixture
async def claude_runtime(tmp_path: Path, fake: FakeAnthropic) -> AsyncIterator[AgentRuntime]:
    """A started runtime (real SQLite, local primitive) whose sessions reach the fake server."""
    require_cli(CLAUDE_BIN, "Claude Code CLI")
    config = make_config(tmp_path, agent_bin_dirs=[str(NODE_BIN)], host_env=claude_host_env(fake))
    write_test_profile(Path(config.config_dir))  # type: ignore[arg-type]
    async with started_runtime(config) as runtime:
        yield runtime
