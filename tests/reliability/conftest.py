"""Fixtures of the reliability suite (crash, fault, load and bad-input tests).

Every test here runs in a short CI mode by default and in a long mode with ``--long`` (same tests,
bigger numbers: more kill cycles, more sessions, longer soaks). The figures each test measured are
recorded with ``record_property`` and collected by ``scripts/reliability_report.py`` into
``docs/reliability.md``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import agent_support

#: Per-test timeout in long mode (pyproject's default of 120 s is for the CI mode).
LONG_TIMEOUT_S = 3 * 60 * 60
_HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    # Hypothesis settings are fixed at import time: pass --long on to them through the environment
    # (as tests/server/conftest.py does).
    if config.getoption("--long", default=False):
        os.environ["AGENT_TUI_LONG"] = "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--long", default=False):
        return
    for item in items:
        if Path(str(item.fspath)).resolve().parent == _HERE:
            item.add_marker(pytest.mark.timeout(LONG_TIMEOUT_S))


@pytest.fixture
def long_mode(request: pytest.FixtureRequest) -> bool:
    """True under ``--long``: run the long soak / many-cycle variant of the test."""
    return bool(request.config.getoption("--long", default=False))


#: The event loop thread (and every process it starts: ``agent-tui serve``, the runner, the Claude
#: CLI) in a loopback-only network namespace where the machine allows it (module-wide, shared with
#: the agent tests), so nothing a test starts can reach beyond 127.0.0.1.
loopback_only = agent_support.loopback_only
