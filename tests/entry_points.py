"""Installing a plugin for a test the way pip would: a distribution's metadata declaring entry
points, put on ``sys.path`` (``importlib.metadata`` then finds them like any installed package's)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def install_distribution(site: Path, monkeypatch: pytest.MonkeyPatch, group: str, lines: str) -> None:
    """A distribution ``agent-tui-fakeplugin`` in ``site`` whose entry points in ``group`` are ``lines``."""
    dist = site / "agent_tui_fakeplugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: agent-tui-fakeplugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{group}]\n{lines}\n")
    monkeypatch.syspath_prepend(str(site))


def installer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, group: str, reload: Callable[[], None]
) -> Iterator[Callable[[str], None]]:
    """For a fixture (``yield from``): ``install(entry_points)`` puts a distribution declaring them
    on ``sys.path`` and calls ``reload`` (the registry reads them again); afterwards the
    distribution is gone and the registry reloaded without it."""

    def _install(lines: str) -> None:
        install_distribution(tmp_path / "site", monkeypatch, group, lines)
        reload()

    yield _install
    monkeypatch.undo()
    reload()
