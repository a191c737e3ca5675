"""Regressions from issue 20 (a new user's tour of the TUI), each driven with Pilot over the real runtime."""

from __future__ import annotations

from typing import Any

import pytest

from agent_tui.demo import block, ev
from agent_tui.widgets.assistant_text import AssistantText
from agent_tui.widgets.tool_card import ToolCard
from tests.tui.conftest import SIZE, idle, ready, wait_until


def cards(app: Any) -> list[ToolCard]:
    return list(app.conversation.query(ToolCard))


async def send(pilot: Any, text: str) -> None:
    app = pilot.app
    app.composer.focus()
    app.composer.load_text(text)
    await pilot.press("enter")


async def scripted_session(pilot: Any, drafts: list[dict[str, Any]], name: str = "scripted") -> Any:
    """A session whose events are published into the runtime as an agent would send them."""
    app = pilot.app
    await ready(pilot)
    await app.create_session({"architecture": "shell", "name": name})
    model = await wait_until(pilot, lambda: app.current)
    await app.client.bus.publish(model.session_id, drafts)
    await wait_until(pilot, lambda: model.state.last_seq >= app.client.sessions.sessions[model.session_id]
                     .state.last_seq and not app.conversation.is_dirty and not app._frame_pending,
                     what="the scripted events to be drawn")
    return model


# ---------------------------------------------------------------- 7: outcomes get their own marks


async def test_an_interrupted_command_is_marked_interrupted_not_exit_minus_15(app_factory: Any) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await app.create_session({"architecture": "shell", "name": "long"})
        model = await wait_until(pilot, lambda: app.current)
        await send(pilot, "echo started; sleep 60")
        await wait_until(pilot, lambda: cards(app) and "started" in (cards(app)[0].result or {}).get("output", ""),
                         what="the command to run")
        await pilot.press("escape")
        await wait_until(pilot, lambda: model.state.active_query is None and idle(app), timeout=10)
        card = cards(app)[0]
        header = await wait_until(pilot, lambda: "interrupted" in card.header_content().plain
                                  and card.header_content().plain, what="the card to say interrupted")
        assert card.outcome() == "interrupted"
        assert "exit -15" not in header and "✓" not in header and "✗" not in header
        assert "■" in header.splitlines()[0]


async def test_denied_interrupted_and_failed_tools_each_have_their_own_mark(app_factory: Any) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        model = await scripted_session(pilot, [
            block(0, id="u1", type="user_message", content="go", status="complete"),
            ev("query:started", 0.1, messageId="u1"),
            block(1, id="t1", type="tool_use", toolName="Bash", toolUseId="tu1", status="pending",
                  input={"command": "rm -rf build"}),
            ev("permission:requested", 1.1, requestId="p1", toolName="Bash", toolUseId="tu1",
               input={"command": "rm -rf build"}, title="Run rm?"),
            ev("permission:resolved", 2, requestId="p1", decision="deny", by="alice"),
            block(2.1, id="r1", type="tool_result", toolUseId="tu1", status="error", isError=True,
                  output="The user denied this"),
            block(3, id="t2", type="tool_use", toolName="Bash", toolUseId="tu2", status="complete",
                  input={"command": "false"}),
            block(3.5, id="r2", type="tool_result", toolUseId="tu2", status="error", isError=True, exitCode=1,
                  output=""),
            block(4, id="t3", type="tool_use", toolName="Read", toolUseId="tu3", status="pending",
                  input={"file_path": "big.txt"}),
            block(5, id="a1", type="assistant_text", status="pending", content="I will now expla"),
            ev("query:interrupted", 6, messageId="u1", reason="user"),
        ])
        by_tool = {c.tool_use_id: c for c in cards(app)}
        marks = {tool: card.header_content().plain.split()[1] for tool, card in by_tool.items()}
        assert [by_tool[t].outcome() for t in ("tu1", "tu2", "tu3")] == ["denied", "failed", "interrupted"]
        assert len(set(marks.values())) == 3 and "✓" not in marks.values()
        assert "denied by alice" in by_tool["tu1"].header_content().plain
        reply = app.conversation.query_one(AssistantText)
        cut = await wait_until(pilot, lambda: reply.query(".cut-short"), what="the reply marked as cut short")
        assert "cut short" in str(cut.first().render())
        assert model.state.active_query is None


# ---------------------------------------------------------------- 9: focus is visible in the conversation


def _card_lines(card: ToolCard) -> list[str]:
    """What the screen shows where the card is (text and styles), as composited."""
    strips = card.screen._compositor.render_strips()
    region = card.region
    return ["".join(f"{seg.text}|{seg.style}" for seg in strip.crop(region.x, region.right))
            for strip in strips[region.y:region.bottom]]


async def test_a_focused_block_looks_different_from_an_unfocused_one(app_factory: Any) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await scripted_session(pilot, [
            block(0, id="u1", type="user_message", content="go", status="complete"),
            block(1, id="t1", type="tool_use", toolName="Bash", toolUseId="tu1", status="complete",
                  input={"command": "ls"}),
            block(2, id="r1", type="tool_result", toolUseId="tu1", status="complete", output="a\nb\n"),
            block(3, id="a1", type="assistant_text", status="complete", content="Done."),
        ])
        card = cards(app)[0]
        app.composer.focus()
        await pilot.pause()
        unfocused = _card_lines(card)
        card.focus()
        await wait_until(pilot, lambda: app.focused is card)
        await pilot.pause()
        focused = _card_lines(card)
        # A visible glyph at the left edge, not only a tint a terminal may not show.
        assert [line.split("|")[0] for line in focused] != [line.split("|")[0] for line in unfocused]


# ---------------------------------------------------------------- 11: ctrl+l keeps folds and focus


async def test_toggling_logs_keeps_folds_focus_and_widgets(app_factory: Any) -> None:
    from agent_tui.widgets.log_line import LogLine

    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await scripted_session(pilot, [
            block(0, id="u1", type="user_message", content="go", status="complete"),
            ev("log", 0.5, level="info", message="sandbox warmed up"),
            block(1, id="t1", type="tool_use", toolName="Bash", toolUseId="tu1", status="complete",
                  input={"command": "ls"}),
            block(2, id="r1", type="tool_result", toolUseId="tu1", status="complete", output="a\nb\n"),
            ev("log", 2.5, level="warn", message="slow disk"),
            block(3, id="t2", type="tool_use", toolName="Bash", toolUseId="tu2", status="complete",
                  input={"command": "pwd"}),
            block(4, id="r2", type="tool_result", toolUseId="tu2", status="complete", output="/x\n"),
        ])
        first, second = cards(app)
        first.user_toggle()  # unfolded by the reader
        second.focus()
        await wait_until(pilot, lambda: first.expanded and app.focused is second)
        await pilot.press("ctrl+l")
        lines = await wait_until(pilot, lambda: list(app.conversation.query(LogLine)), what="log lines shown")
        assert [str(line.event.payload["message"]) for line in lines] == ["sandbox warmed up", "slow disk"]
        order = [w for w in app.conversation.thread.children if isinstance(w, LogLine | ToolCard)]
        assert order == [lines[0], first, lines[1], second]
        assert cards(app) == [first, second] and first.expanded and not second.expanded
        assert app.focused is second
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: not app.conversation.query(LogLine), what="log lines hidden")
        assert cards(app) == [first, second] and first.expanded and app.focused is second


# ---------------------------------------------------------------- 10, 12: the new-session dialog


def screen_text(app: Any) -> list[str]:
    return ["".join(seg.text for seg in strip) for strip in app.screen._compositor.render_strips()]


def drawn(app: Any, widget: Any) -> str:
    """The text on screen where ``widget`` is (what was painted, not what it would render now)."""
    region = widget.region
    lines = screen_text(app)[region.y:region.bottom]
    return "\n".join(line[region.x:region.right] for line in lines)


async def open_dialog(pilot: Any) -> Any:
    from agent_tui.screens.new_session import NewSessionScreen

    app = pilot.app
    await ready(pilot)
    await pilot.press("ctrl+n")
    screen = await wait_until(pilot, lambda: isinstance(app.screen, NewSessionScreen) and app.screen)
    await wait_until(pilot, lambda: screen.loaded, what="the dialog to list architectures")
    await pilot.pause()
    return screen


@pytest.mark.parametrize("size", [(80, 24), (60, 20)])
async def test_the_new_session_dialog_fits_a_small_terminal(app_factory: Any, size: tuple[int, int]) -> None:
    from textual.widgets import Button, Input

    app = app_factory()
    async with app.run_test(size=size) as pilot:
        screen = await open_dialog(pilot)
        create = screen.query_one("#create", Button)
        assert screen.region.contains_region(create.region), "Create is on screen"
        footer = screen_text(app)[-1]
        assert "Create" in footer and "Cancel" in footer  # ctrl+s is shown, in the dialog's own footer
        assert "New" not in footer and "Search" not in footer  # not the main screen's keys
        fields = screen.query_one("#fields")
        name = screen.query_one("#name", Input)
        await pilot.press("tab", "tab")  # architecture → profile → name
        assert screen.focused is name
        await pilot.pause()
        await wait_until(pilot, lambda: fields.region.contains_region(name.region),
                         what="the focused field to be scrolled into view")
        label = fields.children[fields.children.index(name) - 1]
        await wait_until(pilot, lambda: fields.region.contains_region(label.region), what="its label too")
        assert str(label.render()) == "Name (optional)"
        await pilot.press("x", "y")
        assert name.value == "xy"
        assert screen.region.contains_region(create.region)


async def test_enter_on_an_architecture_creates_the_session_with_defaults(app_factory: Any) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_dialog(pilot)
        options = screen.query_one("#architecture")
        while options.get_option_at_index(options.highlighted).id != "shell":
            await pilot.press("down")
        await pilot.press("enter")
        model = await wait_until(pilot, lambda: app.current, what="the session to be created")
        assert model.summary.architecture == "shell"
        assert model.summary.primitive == "local"


async def test_keys_typed_right_after_ctrl_n_reach_the_dialog(app_factory: Any) -> None:
    import asyncio

    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        # The runtime answers "which architectures?" only when the test says so: the keys below
        # are typed while the dialog is still waiting for it (as with a slow remote server).
        answer = asyncio.Event()
        list_architectures = app.client.list_architectures

        async def slow_list_architectures() -> Any:
            await answer.wait()
            return await list_architectures()

        app.client.list_architectures = slow_list_architectures
        app.composer.focus()
        await pilot.press("ctrl+n", "tab", "tab", *"fast", "enter")  # past the profile, a name, enter
        assert app.composer.text == ""  # nothing went to the screen underneath
        answer.set()
        model = await wait_until(pilot, lambda: app.current, what="the session to be created")
        assert model.name == "fast"


# ---------------------------------------------------------------- Low: what is remembered and where keys go


async def test_the_theme_chosen_with_f2_is_there_after_a_restart(app_factory: Any, tmp_path: Any) -> None:
    config = tmp_path / "config-dir"
    app = app_factory(config_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        first = app.theme
        await pilot.pause(0.1)
        assert not (config / "tui.json").exists()  # starting writes nothing
        await pilot.press("f2")
        chosen = await wait_until(pilot, lambda: app.theme != first and app.theme)
        await wait_until(pilot, lambda: (config / "tui.json").exists(), what="the settings file")
    assert (config / "tui.json").stat().st_mode & 0o077 == 0
    again = app_factory(config_dir=config)
    async with again.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert again.theme == chosen


async def test_page_up_and_down_scroll_the_conversation_from_the_composer(app_factory: Any) -> None:
    app = app_factory()
    async with app.run_test(size=(100, 24)) as pilot:
        await scripted_session(pilot, [
            block(i, id=f"a{i}", type="assistant_text", status="complete", content=f"line {i}\n\nmore {i}")
            for i in range(30)
        ])
        conversation = app.conversation
        await wait_until(pilot, lambda: conversation.max_scroll_y > 20 and not conversation.backfilling)
        app.composer.focus()
        conversation.scroll_end(animate=False)
        await pilot.pause()
        bottom = conversation.scroll_y
        await pilot.press("pageup")
        await wait_until(pilot, lambda: conversation.scroll_y < bottom, what="a page up")
        assert isinstance(app.focused, type(app.composer))
        await pilot.press("pagedown")
        await wait_until(pilot, lambda: conversation.scroll_y == bottom, what="a page down")


async def test_escape_closes_the_search_after_enter_and_n(app_factory: Any) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await scripted_session(pilot, [
            block(1, id="a1", type="assistant_text", status="complete", content="a needle here"),
            block(2, id="a2", type="assistant_text", status="complete", content="another needle there"),
        ])
        for keys in (("enter",), ("enter", "n"), ("enter", "N")):
            await pilot.press("ctrl+f", *"needle", *keys)
            await wait_until(pilot, lambda: app.focused is not app.search_bar.input, what="focus on the match")
            assert app.search_bar.is_open
            await pilot.press("escape")
            await wait_until(pilot, lambda: not app.search_bar.is_open, what=f"esc to close the search {keys}")
            assert app.focused is app.composer


async def test_a_remapped_new_session_key_is_named_and_bad_keymap_lines_are_reported(
        app_factory: Any, tmp_path: Any, caplog: Any) -> None:
    config = tmp_path / "keys"
    config.mkdir()
    (config / "keymap.toml").write_text('new_session = "ctrl+o"\nnot_an_action = "x"\nhelp = 3\n')
    app = app_factory(config_dir=config)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(pilot)
        welcome = str(app.conversation.query_one(".welcome").render())
        assert "ctrl+o" in welcome and "ctrl+n" not in welcome
        warning = await wait_until(pilot, lambda: [n for n in app._notifications if "keymap" in n.title])
        assert "not_an_action" in warning[0].message and "help" in warning[0].message
        assert "not_an_action" in caplog.text and "help must be a key string" in caplog.text
        await pilot.press("ctrl+o")  # the good line still applies
        from agent_tui.screens.new_session import NewSessionScreen
        await wait_until(pilot, lambda: isinstance(app.screen, NewSessionScreen))


# ---------------------------------------------------------------- Low: the header and the server


def test_a_wildcard_bind_is_shared_as_this_machines_address() -> None:
    from agent_tui.formatting import connect_command, share_url

    assert share_url("http://0.0.0.0:8787", "192.168.1.20") == "http://192.168.1.20:8787"
    assert share_url("http://[::]:8787", "fd00::5") == "http://[fd00::5]:8787"
    assert share_url("http://127.0.0.1:8787", "192.168.1.20") == "http://127.0.0.1:8787"
    assert "0.0.0.0" not in share_url("http://0.0.0.0:1")
    assert connect_command("http://h:1", "a b") == "AGENT_TUI_TOKEN='a b' agent-tui --connect http://h:1"


async def test_the_header_shows_a_dialable_url_and_the_palette_copies_the_connect_command(
        app_factory: Any) -> None:
    from tests.server.conftest import TOKEN

    app = app_factory(config={"websocket_host": "0.0.0.0", "websocket_port": 0, "token": TOKEN})
    async with app.run_test(size=(160, 30), notifications=True) as pilot:
        await ready(pilot)
        header = app.query_one("#header")
        port = app.client.server.port
        await wait_until(pilot, lambda: f":{port}" in header.right, what="the served URL in the header")
        assert "0.0.0.0" not in header.right
        assert app.check_action("copy_connect_command", ()) is True
        await app.run_action("copy_connect_command")
        import shlex
        assert app.clipboard.startswith(f"AGENT_TUI_TOKEN={shlex.quote(TOKEN)} agent-tui --connect http://")
        assert app.clipboard.endswith(f":{port}") and "0.0.0.0" not in app.clipboard


async def _remote_app(url: str, token: str | None) -> Any:
    from agent_tui.app import AgentTuiApp
    from agent_tui.client import RemoteRuntime

    return AgentTuiApp(RemoteRuntime(url, token=token), mode="remote", location=url, bell=False,
                       cursor_blink=False)


def _header_look(app: Any) -> tuple[frozenset[str], str]:
    header = app.query_one("#header")
    return frozenset(c for c in header.classes if c.startswith("-")), header.left


async def test_connecting_wrong_token_and_server_down_look_different_and_errors_do_not_pile_up(
        tmp_path: Any) -> None:
    import asyncio
    import socket

    from runtime import AgentRuntime, MemoryStore
    from runtime.server.app import start_server
    from tests.helpers import make_config
    from tests.server.conftest import TOKEN

    looks = {}
    # Connecting: a port that accepts and never answers.
    held: list[Any] = []

    async def hold(reader: Any, writer: Any) -> None:
        held.append(writer)

    silent = await asyncio.start_server(hold, "127.0.0.1", 0)
    silent_port = silent.sockets[0].getsockname()[1]
    app = await _remote_app(f"http://127.0.0.1:{silent_port}", TOKEN)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: held, what="the connection attempt")
        await pilot.pause()
        looks["connecting"] = _header_look(app)
        assert "-connecting" in looks["connecting"][0]
    silent.close()
    for writer in held:
        writer.close()

    # Wrong token: a real server that refuses it.
    config = make_config(tmp_path)
    config.persistence = MemoryStore()
    runtime = AgentRuntime(config)
    await runtime.start()
    server = await start_server(runtime, host="127.0.0.1", port=0, token=TOKEN)
    try:
        app = await _remote_app(server.url, "wrong")
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.link == "unauthorized", what="the refusal")
            await pilot.pause()
            looks["unauthorized"] = _header_look(app)
            assert "WRONG TOKEN" in looks["unauthorized"][1]
    finally:
        await server.stop()
        await runtime.shutdown()

    # Server down: nothing listens on the port; the app keeps retrying, and says so once.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    app = await _remote_app(f"http://127.0.0.1:{closed_port}", TOKEN)
    attempts = 0
    original_start = app.client.start

    async def counted_start() -> None:
        nonlocal attempts
        attempts += 1
        await original_start()

    app.client.start = counted_start
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_until(pilot, lambda: attempts >= 3, timeout=20, what="three attempts")
        looks["down"] = _header_look(app)
        assert "SERVER DOWN" in looks["down"][1]
        assert len([n for n in app._notifications if n.title == "Cannot start"]) == 1
    assert len(set(looks.values())) == 3
    assert len({classes for classes, _ in looks.values()}) == 3


async def test_a_shell_call_titled_with_its_command_shows_the_command_once(app_factory: Any) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await scripted_session(pilot, [
            block(0, id="u1", type="user_message", content="go", status="complete"),
            # As OpenCode's converter sends it: the part's title (the command) as displayName.
            block(1, id="t1", type="tool_use", toolName="bash", toolUseId="tu1", status="complete",
                  displayName="echo hi > hello.txt && cat hello.txt",
                  input={"command": "echo hi > hello.txt && cat hello.txt", "description": "Write and show"}),
            block(2, id="r1", type="tool_result", toolUseId="tu1", status="complete", output="hi\n"),
            block(3, id="t2", type="tool_use", toolName="read", toolUseId="tu2", status="complete",
                  displayName="Read notes", input={"filePath": "notes.txt"}),
        ])
        first, second = (c.header_content().plain.splitlines()[0] for c in cards(app))
        assert first.count("echo hi > hello.txt") == 1 and "bash" in first
        assert "Read notes" in second and "notes.txt" in second  # a title that says more is kept


async def test_search_is_in_the_footer_once_wherever_the_focus_is(app_factory: Any) -> None:
    app = app_factory()
    async with app.run_test(size=(160, 30)) as pilot:
        await scripted_session(pilot, [
            block(0, id="u1", type="user_message", content="go", status="complete"),
            block(1, id="t1", type="tool_use", toolName="Bash", toolUseId="tu1", status="complete",
                  input={"command": "ls"}),
            block(2, id="r1", type="tool_result", toolUseId="tu1", status="complete", output="a\n"),
        ])
        for target in (cards(app)[0], app.conversation, app.composer):
            target.focus()
            await pilot.pause(0.1)
            footer = await wait_until(pilot, lambda: "Search" in screen_text(app)[-1] and screen_text(app)[-1],
                                      what="the footer to be drawn")
            assert footer.count("Search") == 1, (target, footer)


async def test_the_session_list_timer_shows_what_the_status_line_shows(app_factory: Any) -> None:
    from agent_tui.demo import T0

    now = [T0.timestamp() + 3.25]
    app = app_factory(clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        model = await scripted_session(pilot, [
            block(0, id="u1", type="user_message", content="go", status="complete"),
            ev("query:started", 0, messageId="u1"),
            block(1, id="a1", type="assistant_text", status="pending", content="thinking"),
        ])
        row = app.session_list.rows[model.session_id]
        await wait_until(pilot, lambda: "3.2s" in drawn(app, row) and "3.2s" in drawn(app, app.status_line))
        now[0] = T0.timestamp() + 3.75  # within the same whole second
        await app.client.bus.publish(model.session_id, [ev("block:delta", 2, blockId="a1", delta=" more")])
        await wait_until(pilot, lambda: "3.8s" in drawn(app, app.status_line), what="the status line")
        await pilot.pause()
        assert "3.8s" in drawn(app, row)


async def test_typing_after_clicking_a_session_goes_to_the_composer(app_factory: Any) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await app.create_session({"architecture": "shell", "name": "one"})
        await app.create_session({"architecture": "shell", "name": "two"})
        first = next(iter(app.models))
        await wait_until(pilot, lambda: len(app.session_list.rows) == 2 and app.current
                         and app.current.name == "two" and not app._frame_pending, what="both sessions, two selected")
        await pilot.click(app.session_list.rows[first])
        await wait_until(pilot, lambda: app.selected == first, what="the click to select the session")
        app.session_list.focus()  # where a click on the list leaves the focus
        await wait_until(pilot, lambda: app.focused is app.session_list)
        await pilot.press(*"echo", "space", "x")
        assert app.composer.text == "echo x"
        assert app.focused is app.composer
        assert app.selected == first


async def test_ctrl_q_asks_first_while_a_query_runs(app_factory: Any) -> None:
    from agent_tui.screens.confirm import ConfirmScreen

    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await app.create_session({"architecture": "shell", "name": "long"})
        model = await wait_until(pilot, lambda: app.current)
        await send(pilot, "echo started; sleep 60")
        await wait_until(pilot, lambda: model.state.active_query is not None, what="the query to run")
        await pilot.press("ctrl+q")
        screen = await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen)
        assert "1 query is running" in screen.question
        await pilot.press("escape")  # no: it goes on
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert app.is_running and model.state.active_query is not None
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: not app.is_running, what="the app to quit")
    assert app.return_code == 0


async def test_ctrl_q_quits_at_once_when_nothing_runs(app_factory: Any) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not app.is_running, what="the app to quit")


async def test_search_unfolds_the_card_holding_the_match_and_marks_it(app_factory: Any) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await scripted_session(pilot, [
            block(0, id="u1", type="user_message", content="go", status="complete"),
            block(1, id="t1", type="tool_use", toolName="Bash", toolUseId="tu1", status="complete",
                  input={"command": "cat log"}),
            block(2, id="r1", type="tool_result", toolUseId="tu1", status="complete",
                  output="line one\nthe haystack has a needle in it\nline three\n"),
            block(3, id="a1", type="assistant_text", status="complete", content="Done."),
        ])
        card = cards(app)[0]
        assert not card.expanded
        await pilot.press("ctrl+f", *"needle")
        await wait_until(pilot, lambda: card.expanded, what="the card holding the match to unfold")
        assert card.has_class("-search-current")

        def marked() -> list[str]:
            strips = app.screen._compositor.render_strips()
            return [seg.text for strip in strips for seg in strip
                    if "needle" in seg.text.lower() and seg.style and seg.style.reverse]

        assert await wait_until(pilot, marked, what="the match marked in the output") == ["needle"]
        await pilot.press("escape")
        await wait_until(pilot, lambda: not marked(), what="the marks to go with the search")


def test_connect_accepts_host_and_port_without_a_scheme_and_refuses_other_schemes(capsys: Any) -> None:
    from agent_tui.cli import connect_url, main

    assert connect_url("127.0.0.1:8787") == "http://127.0.0.1:8787"
    assert connect_url("8787") == "http://127.0.0.1:8787"
    assert connect_url("[::1]:9") == "http://[::1]:9"
    assert connect_url("https://box:1/") == "https://box:1"
    with pytest.raises(SystemExit) as exited:
        main(["--connect", "ftp://box:1"])
    assert exited.value.code == 2
    assert "not an http(s) URL" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--connect", "box:notaport"])
    assert "not a port" in capsys.readouterr().err


async def test_an_unavailable_cli_names_the_variable_a_user_can_set(app_factory: Any, tmp_path: Any) -> None:
    app = app_factory(config={"host_env": {"PATH": str(tmp_path / "empty-bin")}, "agent_bin_dirs": []})
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_dialog(pilot)
        claude = next(a for a in screen.architectures if a.id == "claude-code")
        assert not claude.available
        assert "AGENT_TUI_CLAUDE_PATH" in (claude.reason or "") and "agent_bin_dirs" not in (claude.reason or "")
        options = screen.query_one("#architecture")
        shown = " ".join(str(options.get_option_at_index(i).prompt) for i in range(options.option_count))
        assert "AGENT_TUI_CLAUDE_PATH" in shown
