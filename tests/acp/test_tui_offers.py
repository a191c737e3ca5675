"""The agent's slash commands, modes and models in the TUI: Pilot over the real runtime, the real
runner and ACP client, and the fake ACP agent (``fake_acp_agent.py``), which advertises commands,
modes and models and records every ``session/set_mode`` / ``session/set_model`` it gets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent_tui.app import AgentTuiApp
from runtime import AgentRuntime
from tests.acp.conftest import FAKE_AGENT, write_profiles
from tests.helpers import make_config
from tests.tui.conftest import SIZE, idle, ready, wait_until


def acp_app(tmp_path: Path) -> AgentTuiApp:
    config = make_config(tmp_path, host_env={"PATH": "/usr/bin:/bin"}, agent_bin_dirs=[str(FAKE_AGENT.parent)])
    write_profiles(config.config_dir)  # type: ignore[arg-type]
    return AgentTuiApp(AgentRuntime(config), bell=False, cursor_blink=False)


async def send(pilot: Any, app: AgentTuiApp, text: str) -> None:
    app.composer.load_text(text)
    app.composer.focus()
    await pilot.press("enter")
    await wait_until(pilot, lambda: idle(app) and app.current.state.blocks[-1]["type"] == "assistant_text",
                     timeout=60, what=f"the answer to {text!r}")


def last_text(app: AgentTuiApp) -> str:
    return str(app.current.state.blocks[-1].get("content"))


async def started(pilot: Any) -> AgentTuiApp:
    """An ACP session on the fake agent that answered one message (so it advertised its offers)."""
    app = await ready(pilot)
    await app.create_session({"architecture": "acp", "agentProfileRef": "fake", "name": "fake"})
    await wait_until(pilot, lambda: app.current is not None, what="the session")
    await send(pilot, app, "hello")
    return app


def slash_names(app: AgentTuiApp) -> list[str] | None:
    """The commands the composer offers now, or None when the list is closed."""
    return list(app.composer._slash.names) if app.composer.offering_commands else None  # type: ignore[union-attr]


async def test_slash_lists_the_agents_commands_and_tab_completes(tmp_path: Path) -> None:
    app = acp_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.composer.focus()
        await pilot.press("/")
        assert await wait_until(pilot, lambda: slash_names(app), what="the command list") == ["init", "review"]
        await pilot.press("r")
        await wait_until(pilot, lambda: slash_names(app) == ["review"], what="the list narrowed to /review")
        await pilot.press("tab")
        assert app.composer.text == "/review " and slash_names(app) is None
        assert app.focused is app.composer
        await pilot.press(*"the diff")
        await pilot.press("enter")  # the list is closed: enter sends, as typed
        await wait_until(pilot, lambda: idle(app) and last_text(app) == "You said: /review the diff",
                         timeout=60, what="the agent to get the command as typed")
        # Past the name (a space) or not at the start, nothing is offered.
        app.composer.load_text("x /in")
        await pilot.pause()
        assert slash_names(app) is None


async def test_switching_mode_and_model_reaches_the_agent_and_shows(tmp_path: Path) -> None:
    app = acp_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        sid = app.current.session_id
        assert "mode default" in app.status_line.render().plain
        await app.run_action("switch_mode")
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "CommandPalette", what="the mode picker")
        await pilot.press(*"Plan")
        await pilot.pause(0.3)  # the palette searches in a worker
        await pilot.press("enter")
        await wait_until(pilot, lambda: (app.current.summary.session_options or {}).get("acpMode") == "plan",
                         what="the acpMode session option")
        await app.run_action("switch_model")
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "CommandPalette", what="the model picker")
        await pilot.press(*"Small")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: (app.current.summary.session_options or {}).get("acpModel") == "fake-small",
                         what="the acpModel session option")
        await send(pilot, app, "whoami")
        assert last_text(app) == "mode=plan model=fake-small"
        await wait_until(pilot, lambda: "mode plan  ·  model fake-small" in app.status_line.render().plain,
                         what="the status line")
        assert app.current.state.model == "fake-small"
        home = Path(app.client.config.resolved_data_dir()) / sid / "home"
        asked = [json.loads(line) for line in (home / ".fakeacp" / "switches.jsonl").read_text().splitlines()]
        assert [(a["method"], a["params"].get("modeId") or a["params"].get("modelId")) for a in asked] == [
            ("session/set_mode", "plan"), ("session/set_model", "fake-small")]
        # Switched once: the next query finds the agent already there and asks nothing more.
        await send(pilot, app, "whoami")
        assert len((home / ".fakeacp" / "switches.jsonl").read_text().splitlines()) == 2


async def test_no_pickers_without_offers(tmp_path: Path) -> None:
    app = acp_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await app.create_session({"architecture": "shell", "name": "sh"})
        await wait_until(pilot, lambda: app.current is not None, what="the session")
        assert app.check_action("switch_mode", ()) is False and app.check_action("switch_model", ()) is False
        app.composer.focus()
        await pilot.press("/")
        await pilot.pause()
        assert slash_names(app) is None
