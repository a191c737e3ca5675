"""Fixtures for the Gemini CLI tests: the pinned real CLI, the fake Gemini API server, isolation.

The CLI comes from ``tests/node`` (``scripts/test`` installs it with ``npm ci``); tests that need
it are skipped with a clear reason when it is missing. The event loop thread of every test here
runs inside a loopback-only network namespace where the machine allows it (``tests/claude/netns.py``),
so the CLI reaches the fake server and nothing else (update checks, telemetry: refused at once).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runtime import AgentRuntime
from tests import agent_support
from tests.agent_support import cli_available, needs_cli, require_cli, started_runtime
from tests.fakes.gemini_server import FakeGemini
from tests.helpers import NODE_BIN, make_config

GEMINI_BIN = NODE_BIN / "gemini"
#: A fixed model: with the default ("auto") the CLI first asks a router model which to use.
MODEL = "gemini-2.5-flash"
API_KEY = "fake-gemini-key-not-a-real-one"


def gemini_available() -> bool:
    return cli_available(GEMINI_BIN)


needs_gemini = needs_cli(GEMINI_BIN, "Gemini CLI")

#: The loopback-only network namespace (module-wide), for this folder.
loopback_only = agent_support.loopback_only


@pytest.fixture
async def fake(loopback_only: bool) -> AsyncIterator[FakeGemini]:
    async with FakeGemini() as server:
        yield server


def gemini_host_env(fake: FakeGemini, **extra: str) -> dict[str, str]:
    """The host environment the default profile's ``env`` names are read from."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GOOGLE_GEMINI_BASE_URL": fake.url,
        "GEMINI_API_KEY": API_KEY,
        **extra,
    }


@pytest.fixture
async def gemini_runtime(tmp_path: Path, fake: FakeGemini) -> AsyncIterator[AgentRuntime]:
    """A started runtime (real SQLite, local primitive) whose Gemini CLI sessions reach the fake."""
    require_cli(GEMINI_BIN, "Gemini CLI")
    config = make_config(tmp_path, agent_bin_dirs=[str(NODE_BIN)], host_env=gemini_host_env(fake))
    async with started_runtime(config) as runtime:
        yield runtime
