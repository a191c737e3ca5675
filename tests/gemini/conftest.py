"""What the Gemini CLI tests (and benches) need of the agent, described once in
``tests/conformance/agents.py`` (``GEMINI``): the pinned CLI, the model, the host variables that
point it at the fake Gemini API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from runtime import AgentRuntime
from tests import agent_support
from tests.agent_support import needs_cli
from tests.conformance.agents import GEMINI, GEMINI_KEY, GEMINI_MODEL, agent_runtime
from tests.fakes.gemini_server import FakeGemini

GEMINI_BIN = GEMINI.bin
#: A fixed model: with the default ("auto") the CLI first asks a router model which to use.
MODEL = GEMINI_MODEL
API_KEY = GEMINI_KEY
needs_gemini = needs_cli(GEMINI_BIN, "Gemini CLI")

#: The loopback-only network namespace (module-wide), and the fake inside it.
loopback_only = agent_support.loopback_only
fake = agent_support.fake_fixture(FakeGemini)


@pytest.fixture
async def gemini_runtime(tmp_path: Path, fake: FakeGemini) -> AsyncIterator[AgentRuntime]:
    """A started runtime (real SQLite, local primitive) whose sessions reach the fake Gemini API."""
    async with agent_runtime(GEMINI, tmp_path, fake) as runtime:
        yield runtime


def gemini_host_env(fake: Any, **extra: str) -> dict[str, str]:
    """The host environment the default profile's ``env`` names are read from."""
    return GEMINI.host_env(fake, **extra)
