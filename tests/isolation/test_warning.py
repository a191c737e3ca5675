"""Without isolation the app says so: the TUI header, the new-session dialog, ``runtime.isolation``."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Label

from agent_tui.screens.new_session import NewSessionScreen
from agent_tui.widgets.app_header import AppHeader
from runtime import AgentRuntime
from runtime.primitives.isolation import detect
from tests.helpers import make_config
from tests.tui.conftest import SIZE, make_app, ready, wait_until

WARNING = "sandbox NOT isolated"


def header_text(app: object) -> str:
    return str(app.query_one("#header", AppHeader).render())  # type: ignore[attr-defined]


async def test_no_isolation_is_shown_in_the_header_and_the_new_session_dialog(tmp_path: Path) -> None:
    app = make_app(tmp_path, config={"isolation": False})
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert WARNING in header_text(app)
        await pilot.press("ctrl+n")
        screen = await wait_until(pilot, lambda: isinstance(app.screen, NewSessionScreen) and app.screen)
        warning = screen.query_one("#not-isolated", Label)
        assert "local is NOT isolated" in str(warning.render()) and "--no-isolation" in str(warning.render())


async def test_with_bubblewrap_there_is_no_warning(tmp_path: Path) -> None:
    if detect()[1] is None:
        pytest.skip("no working bubblewrap here")
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert WARNING not in header_text(app) and "agent-tui" in header_text(app)
        await pilot.press("ctrl+n")
        screen = await wait_until(pilot, lambda: isinstance(app.screen, NewSessionScreen) and app.screen)
        assert not screen.query("#not-isolated")


async def test_runtime_isolation_says_why_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No bubblewrap on PATH at all.
    monkeypatch.setenv("PATH", str(tmp_path))
    async with AgentRuntime(make_config(tmp_path)) as runtime:
        assert runtime.isolation.enabled is False
        assert "bubblewrap" in runtime.isolation.reason and "not installed" in runtime.isolation.reason
    async with AgentRuntime(make_config(tmp_path, isolation=False)) as runtime:
        assert runtime.isolation.model_dump() == {
            "enabled": False,
            "reason": "isolation turned off (--no-isolation)",
        }
