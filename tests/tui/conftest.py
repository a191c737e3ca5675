"""Fixtures for the TUI tests: the real app over a real runtime (memory store or a temp SQLite)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent_tui.app import AgentTuiApp
from runtime import AgentRuntime, MemoryStore
from tests.helpers import make_config

SIZE = (120, 40)


def make_app(tmp_path: Path, *, sqlite: bool = False, **kwargs: Any) -> AgentTuiApp:
    config_overrides: dict[str, Any] = kwargs.pop("config", {})
    config = make_config(tmp_path, **config_overrides)
    if not sqlite:
        config.persistence = MemoryStore()
    kwargs.setdefault("bell", False)
    kwargs.setdefault("cursor_blink", False)
    return AgentTuiApp(AgentRuntime(config), **kwargs)


async def wait_until(pilot: Any, predicate: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    """Let the app run until ``predicate()`` is truthy (returns it); fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        await pilot.pause(0.02)


async def ready(pilot: Any) -> AgentTuiApp:
    app = pilot.app
    await wait_until(pilot, lambda: app.ready, what="the app to load its sessions")
    return app


def idle(app: AgentTuiApp) -> bool:
    """The selected session ran everything it was sent and the screen shows it."""
    model = app.current
    return bool(model and model.loaded and model.state.active_query is None and not model.state.queued
                and not app.conversation.is_dirty and not app._frame_pending)


@pytest.fixture
def app_factory(tmp_path: Path) -> Callable[..., AgentTuiApp]:
    return lambda **kwargs: make_app(tmp_path, **kwargs)
