"""Snapshots of each screenshot state, fed from scripted events (fixed ids, timestamps and clock).

Regenerate after an intended change with ``pytest tests/tui/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent_tui.demo import make_app, scene

SIZE = (120, 36)


@pytest.mark.parametrize("name", ["empty", "sessions", "streaming", "dialog", "search", "permission"])
def test_screen(name: str, snap_compare: Any, tmp_path: Path) -> None:
    async def run_before(pilot: Any) -> None:
        await scene(pilot, name)

    assert snap_compare(make_app(tmp_path), terminal_size=SIZE, run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24), (60, 20)])
def test_new_session_dialog_on_a_small_terminal(size: tuple[int, int], snap_compare: Any, tmp_path: Path) -> None:
    """The fields scroll; title, Create and the dialog's own footer keys stay on screen."""

    async def run_before(pilot: Any) -> None:
        await scene(pilot, "dialog")

    assert snap_compare(make_app(tmp_path), terminal_size=size, run_before=run_before)


def test_changes_pane(snap_compare: Any, tmp_path: Path) -> None:
    """A real repository and shell session (fixed content and dates): files, counts, the diff."""

    async def run_before(pilot: Any) -> None:
        await scene(pilot, "changes")

    assert snap_compare(make_app(tmp_path), terminal_size=SIZE, run_before=run_before)
