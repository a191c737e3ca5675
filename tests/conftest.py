"""Shared fixtures. Every test gets its own HOME and data dirs under tmp_path (never the real home).

Shared helpers live in ``tests/helpers.py`` (``from tests.helpers import ...``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runtime import AgentRuntime
from tests.helpers import make_config
from tests.pg_cluster import postgres_cluster, postgres_url  # noqa: F401 - shared fixtures
from tests.stores import any_store, make_store  # noqa: F401 - shared fixtures


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--long", action="store_true", default=False, help="run long soak/fuzz modes")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--long"):
        return
    skip = pytest.mark.skip(reason="long mode: run with --long")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(home / name.lower()))
    monkeypatch.delenv("AGENT_TUI_DB", raising=False)
    monkeypatch.delenv("AGENT_TUI_TOKEN", raising=False)
    return home


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[AgentRuntime]:
    """A started runtime on a real SQLite file in tmp_path, local primitive."""
    rt = AgentRuntime(make_config(tmp_path))
    await rt.start()
    try:
        yield rt
    finally:
        await rt.shutdown()
