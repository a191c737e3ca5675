"""Fixtures of the conformance suite: ``agent`` (one of ``agents.AGENTS``, all by default; a test
narrows them with ``@pytest.mark.parametrize("agent", [...], indirect=True)``), the fake model
API it talks to, and a started runtime (real SQLite, local primitive, bubblewrap as configured)
whose sessions run the pinned real CLI from tests/node against that fake.

The event loop thread runs inside a loopback-only network namespace where the machine allows it
(``tests/claude/netns.py``), so a CLI reaches the fake and nothing else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from runtime import AgentRuntime
from tests import agent_support
from tests.acp.support import recording
from tests.agent_support import require_cli
from tests.conformance import agents
from tests.conformance.agents import AGENTS, Agent

loopback_only = agent_support.loopback_only


@pytest.fixture(params=AGENTS, ids=lambda a: a.id)
def agent(request: pytest.FixtureRequest) -> Agent:
    chosen: Agent = request.param
    require_cli(chosen.bin, chosen.binary)
    return chosen


@pytest.fixture
async def fake(agent: Agent, loopback_only: bool) -> AsyncIterator[Any]:
    async with agent.fake() as server:
        yield server


@pytest.fixture
async def agent_runtime(tmp_path: Path, agent: Agent, fake: Any) -> AsyncIterator[AgentRuntime]:
    async with agents.agent_runtime(agent, tmp_path, fake, **recording()) as runtime:
        yield runtime
