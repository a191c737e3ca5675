"""Fixtures for the OpenCode tests: the pinned real CLI, the fake OpenAI-compatible server,
isolation.

The CLI comes from ``tests/node`` (``scripts/test`` installs it with ``npm ci``); tests that need
it are skipped with a clear reason when it is missing. The event loop thread of every test here
runs inside a loopback-only network namespace where the machine allows it (``tests/claude/netns.py``),
so the CLI reaches the fake server and nothing else: a download OpenCode might still attempt
(models.dev, plugins, language servers) fails at once instead of hanging or leaking.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runtime import AgentRuntime
from tests import agent_support
from tests.agent_support import cli_available, needs_cli, require_cli, started_runtime
from tests.fakes.openai_server import FakeOpenAI
from tests.helpers import NODE_BIN, make_config

OPENCODE_BIN = NODE_BIN / "opencode"
MODEL = "fake-model"
API_KEY = "sk-openai-test-not-a-real-key"


def opencode_available() -> bool:
    return cli_available(OPENCODE_BIN)


needs_opencode = needs_cli(OPENCODE_BIN, "OpenCode CLI")

#: The loopback-only network namespace (module-wide), for this folder.
loopback_only = agent_support.loopback_only


@pytest.fixture
async def fake(loopback_only: bool) -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


def opencode_host_env(fake: FakeOpenAI, **extra: str) -> dict[str, str]:
    """The host environment the default profile's ``env`` names are read from."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "OPENAI_BASE_URL": fake.url,
        "OPENAI_API_KEY": API_KEY,
        **extra,
    }


@pytest.fixture
async def opencode_runtime(tmp_path: Path, fake: FakeOpenAI) -> AsyncIterator[AgentRuntime]:
    """A started runtime (real SQLite, local primitive) whose OpenCode sessions reach the fake."""
    require_cli(OPENCODE_BIN, "OpenCode CLI")
    config = make_config(tmp_path, agent_bin_dirs=[str(NODE_BIN)], host_env=opencode_host_env(fake))
    async with started_runtime(config) as runtime:
        yield runtime
