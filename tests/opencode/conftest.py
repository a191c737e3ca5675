"""Fixtures for the OpenCode tests: the pinned real CLI, the fake OpenAI-compatible server,
isolation; the agent itself is described once, in ``tests/conformance/agents.py`` (``OPENCODE``).

The CLI comes from ``tests/node`` (``scripts/test`` installs it with ``npm ci``); tests that need
it are skipped with a clear reason when it is missing. The event loop thread of every test here
runs inside a loopback-only network namespace where the machine allows it (``tests/claude/netns.py``),
so the CLI reaches the fake server and nothing else: a download OpenCode might still attempt
(models.dev, plugins, language servers) fails at once instead of hanging or leaking.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from runtime import AgentRuntime
from tests import agent_support
from tests.agent_support import needs_cli
from tests.conformance.agents import OPENAI_MODEL, OPENCODE, agent_runtime
from tests.fakes.openai_server import FakeOpenAI

OPENCODE_BIN = OPENCODE.bin
MODEL = OPENAI_MODEL
needs_opencode = needs_cli(OPENCODE_BIN, "OpenCode CLI")

#: The loopback-only network namespace (module-wide), and the fake inside it.
loopback_only = agent_support.loopback_only
fake = agent_support.fake_fixture(FakeOpenAI)


def opencode_host_env(fake: Any, **extra: str) -> dict[str, str]:
    """The host environment the default profile's ``env`` names are read from."""
    return OPENCODE.host_env(fake, **extra)


@pytest.fixture
async def opencode_runtime(tmp_path: Path, fake: FakeOpenAI) -> AsyncIterator[AgentRuntime]:
    """A started runtime (real SQLite, local primitive) whose OpenCode sessions reach the fake."""
    async with agent_runtime(OPENCODE, tmp_path, fake) as runtime:
        yield runtime
