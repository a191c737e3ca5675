"""The app driven with Pilot over a real runtime: local primitive, shell architecture, real processes."""

from __future__ import annotations

from typing import Any

from textual import events
from textual.widgets import Input, Label, Log, OptionList

from agent_tui.screens.confirm import ConfirmScreen
from agent_tui.screens.new_session import NewSessionScreen
from agent_tui.screens.rename import RenameScreen
from agent_tui.widgets.composer import Composer
from agent_tui.widgets.error_block import ErrorBlock
from agent_tui.widgets.log_line import LogLine
from agent_tui.widgets.tool_card import ToolCard
from agent_tui.widgets.user_message import UserMessage
from tests.tui.conftest import SIZE, idle, ready, wait_until


def notifications(app: Any) -> list[Any]:
    return list(app._notifications)


async def type_text(pilot: Any, text: str) -> None:
    await pilot.press(*["space" if ch == " " else ch for ch in text])


async def send(pilot: Any, text: str) -> None:
    app = pilot.app
    app.composer.focus()
    app.composer.load_text(text)
    await pilot.press("enter")


def cards(app: Any) -> list[ToolCard]:
    return list(app.conversation.query(ToolCard))


async def test_create_session_from_dialog_send_echo_and_see_the_tool_card(app_factory: Any) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+n")
        screen = await wait_until(pilot, lambda: isinstance(app.screen, NewSessionScreen) and app.screen)
        await wait_until(pilot, lambda: screen.loaded, what="the dialog to list architectures")
        options = screen.query_one("#architecture", OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert "shell" in ids
        while options.get_option_at_index(options.highlighted).id != "shell":
            await pilot.press("down")
        await pilot.press("tab", "tab")  # past the profile, on to the name field
        assert screen.focused is screen.query_one("#name", Input)
        await type_text(pilot, "demo")
        await pilot.press("enter")  # creates
        model = await wait_until(pilot, lambda: app.current, what="the new session to be selected")
        assert (model.name, model.summary.architecture) == ("demo", "shell")
        assert app.session_list.rows[model.session_id].has_class("-selected")
        assert isinstance(app.focused, Composer)

        await type_text(pilot, "echo hi")
        await pilot.press("enter")
        await wait_until(pilot, lambda: cards(app) and not cards(app)[0].pending and idle(app), what="echo hi")
        card = cards(app)[0]
        assert not card.failed
        assert not card.expanded  # folded by default, its last output line still shown
        assert "hi" in card.header_content().plain.splitlines()[-1]
        assert app.composer.text == ""

        await pilot.press("up")  # from the empty composer to the last block: the card
        assert app.focused is card
        await pilot.press("enter")
        log = await wait_until(pilot, lambda: card.expanded and card.query(Log) and card.query_one(Log))
        assert log.lines[0] == "hi"
        await pilot.press("space")
        assert not card.expanded


async def test_messages_sent_while_a_query_runs_are_queued_and_run_in_order(app_factory: Any) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await app.create_session({"architecture": "shell", "name": "q"})
        model = await wait_until(pilot, lambda: app.current)
        await send(pilot, "sleep 1.5; echo first")
        await wait_until(pilot, lambda: model.state.active_query is not None, what="the first query to start")
        await send(pilot, "echo second")
        await send(pilot, "echo third")
        await wait_until(pilot, lambda: len(model.state.queued) == 2, what="two queued messages")
        queued = await wait_until(pilot, lambda: [w for w in app.conversation.query(UserMessage)
                                                  if w.has_class("-queued")])
        assert [w.block["content"] for w in queued] == ["echo second", "echo third"]
        assert "2 queued" in app.status_line.render().plain
        await wait_until(pilot, lambda: idle(app) and len(cards(app)) == 3, timeout=30, what="all three to run")
        outputs = [c.result["output"].strip() for c in cards(app) if c.result]
        assert outputs == ["first", "second", "third"]
        assert not app.conversation.query(".-queued")


async def test_escape_interrupts_the_running_query(app_factory: Any) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await app.create_session({"architecture": "shell", "name": "long"})
        model = await wait_until(pilot, lambda: app.current)
        await send(pilot, "echo started; sleep 60")
        await wait_until(pilot, lambda: cards(app) and "started" in (cards(app)[0].result or {}).get("output", ""),
                         what="the command to run")
        assert app.check_action("interrupt", ()) is True
        await pilot.press("escape")
        await wait_until(pilot, lambda: model.state.active_query is None, timeout=10, what="the interrupt")
        events_, _ = await app.client.get_events(model.session_id)
        ends = [e for e in events_ if e.type.startswith("query:") and e.type != "query:started"]
        assert [(e.type, e.payload.get("reason")) for e in ends] == [("query:interrupted", "user")]
        assert app.check_action("interrupt", ()) is False
        assert model.status() != "busy"


async def test_delete_asks_first_then_removes_the_session(app_factory: Any) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await app.create_session({"architecture": "shell", "name": "keep"})
        await app.create_session({"architecture": "shell", "name": "drop"})
        dropped = await wait_until(pilot, lambda: app.current and app.current.name == "drop" and app.current)
        await pilot.press("f8")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("escape")  # cancel keeps it
        await pilot.pause()
        assert dropped.session_id in app.models
        await pilot.press("f8")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: dropped.session_id not in app.models, what="the delete")
        assert [m.name for m in await app.client.list_sessions()] == ["keep"]
        assert list(app.session_list.rows) == [m.session_id for m in app.models.values()]
        await wait_until(pilot, lambda: app.current and app.current.name == "keep", what="selection to move")


async def test_rename_from_the_dialog_renames_everywhere_and_refuses_an_empty_name(app_factory: Any) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await app.create_session({"architecture": "shell", "name": "old name"})
        model = await wait_until(pilot, lambda: app.current and app.current.name == "old name" and app.current)
        await pilot.press("f4")
        screen = await wait_until(pilot, lambda: isinstance(app.screen, RenameScreen) and app.screen)
        field = screen.query_one("#name", Input)
        assert field.value == "old name"
        field.value = "   "
        await pilot.press("enter")  # refused: the dialog stays and says why
        await pilot.pause()
        assert app.screen is screen and "empty" in str(screen.query_one("#problem", Label).render())
        await pilot.press("escape")  # cancel changes nothing
        await wait_until(pilot, lambda: not isinstance(app.screen, RenameScreen))
        assert model.name == "old name"

        await pilot.press("f4")
        screen = await wait_until(pilot, lambda: isinstance(app.screen, RenameScreen) and app.screen)
        screen.query_one("#name", Input).value = ""
        await type_text(pilot, "build fixes")
        await pilot.press("enter")
        await wait_until(pilot, lambda: model.name == "build fixes", what="the rename to reach the model")
        assert [s.name for s in await app.client.list_sessions()] == ["build fixes"]
        row = app.session_list.rows[model.session_id]
        await wait_until(pilot, lambda: "build fixes" in str(row.render()), what="the session row")


async def test_switching_sessions_and_hidden_sessions_report_unread_and_notify(app_factory: Any) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(pilot)
        await app.create_session({"architecture": "shell", "name": "a"})
        await app.create_session({"architecture": "shell", "name": "b"})
        a, b = list(app.models.values())
        await app.select_session(a.session_id)
        await app.client.send_message(b.session_id, "echo from-b")
        await wait_until(pilot, lambda: b.unread > 0, what="b to finish while hidden")
        assert b.unread == 1  # one reply (the server's count: docs/protocol.md)
        await wait_until(pilot, lambda: any(n.title == "b finished" for n in notifications(app)))
        assert "(1)" in app.session_list.rows[b.session_id].render().plain
        assert not cards(app)  # a is on screen: b's blocks are not mounted

        await pilot.press("ctrl+down")
        await wait_until(pilot, lambda: app.selected == b.session_id and cards(app))
        assert b.unread == 0
        assert (await app.client.get_summary(b.session_id)).unread == 0  # read for every client
        assert "from-b" in cards(app)[0].header_content().plain
        await pilot.press("ctrl+up")
        await wait_until(pilot, lambda: app.selected == a.session_id and not cards(app))


async def test_search_finds_text_in_a_block_pruned_from_the_screen(app_factory: Any) -> None:
    app = app_factory(window=3, max_mounted=4)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await app.create_session({"architecture": "shell", "name": "s"})
        model = await wait_until(pilot, lambda: app.current)
        for word in ("alpha", "bravo", "charlie", "delta"):
            await send(pilot, f"echo marker-{word}")
            await wait_until(pilot, lambda: idle(app) and model.state.blocks[-1].get("status") != "pending")
        await wait_until(pilot, lambda: app.conversation.window_start > 0, what="pruning")
        first_block = model.state.blocks[0]["id"]
        assert first_block not in app.conversation.thread.widgets

        await pilot.press("ctrl+f")
        assert app.search_bar.is_open
        await type_text(pilot, "marker-alpha")
        await wait_until(pilot, lambda: app.conversation.query(".-search-current"), what="a match on screen")
        assert str(app.search_bar.count.render()) == "3/3"  # the message, the command, its output
        await pilot.press("enter")  # to the conversation, where n / N step between matches
        current = app.conversation.query_one(".-search-current")
        assert app.focused is current
        await pilot.press("N")
        await wait_until(pilot, lambda: str(app.search_bar.count.render()) == "2/3")
        await pilot.press("N")
        await wait_until(pilot, lambda: str(app.search_bar.count.render()) == "1/3")
        user = app.conversation.query_one(".-search-current")
        assert isinstance(user, UserMessage) and user.block_id == first_block
        await pilot.press("n")
        await wait_until(pilot, lambda: str(app.search_bar.count.render()) == "2/3")
        assert len(app.conversation.query(".-search-match")) == 2  # the message and the card (command + output)


async def test_empty_and_oversized_messages_are_refused_with_a_notification(app_factory: Any) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(pilot)
        await send(pilot, "hello")
        assert any("No session" in n.message for n in notifications(app))
        await app.create_session({"architecture": "shell", "name": "x"})
        model = await wait_until(pilot, lambda: app.current)
        await send(pilot, "   \n ")
        assert any("empty" in n.message for n in notifications(app))
        app.composer.clear_message()
        app.composer.post_message(events.Paste("y" * (1024 * 1024 + 10)))
        await wait_until(pilot, lambda: "[paste #1: 1,048,586 chars]" in app.composer.text)
        await pilot.press("enter")
        await wait_until(pilot, lambda: any(n.title == "Message too large" for n in notifications(app)))
        assert app.composer.text  # kept, nothing lost
        assert model.state.blocks == []


async def test_a_one_megabyte_paste_is_sent_and_shown_cut(app_factory: Any) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(pilot)
        await app.create_session({"architecture": "shell", "name": "big"})
        model = await wait_until(pilot, lambda: app.current)
        paste = "echo " + "z" * (1_000_000 - 5)
        app.composer.focus()
        app.composer.post_message(events.Paste(paste))
        await wait_until(pilot, lambda: "[paste #1: 1,000,000 chars]" in app.composer.text)
        await pilot.press("enter")
        message = await wait_until(pilot, lambda: app.conversation.query(UserMessage)
                                   and app.conversation.query_one(UserMessage))
        assert message.block["content"] == paste
        shown = message.render().plain
        assert len(shown) < 5000 and "more characters" in shown
        # A 1 MB argument is more than bash can be given: the query fails, visibly, and nothing crashes.
        await wait_until(pilot, lambda: idle(app) and model.status() in ("idle", "error"), timeout=30)
        assert app.is_running


async def test_a_sandbox_that_fails_to_start_shows_an_error(app_factory: Any, tmp_path: Any) -> None:
    app = app_factory(config={"runner_python": str(tmp_path / "no-such-python")})
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await app.create_session({"architecture": "shell", "name": "broken"})
        model = await wait_until(pilot, lambda: app.current)
        await send(pilot, "echo hi")
        error = await wait_until(pilot, lambda: app.conversation.query(ErrorBlock)
                                 and app.conversation.query_one(ErrorBlock), what="the error block")
        assert "sandbox failed to start" in error.render().plain
        await wait_until(pilot, lambda: model.status() == "error")
        assert "✗" in app.status_line.render().plain
        assert app.session_list.rows[model.session_id].has_class("-error")
        # The app still works: the next message tries again (and fails the same way, visibly).
        await send(pilot, "echo again")
        await wait_until(pilot, lambda: len(app.conversation.query(ErrorBlock)) == 2)


async def test_copy_theme_logs_and_help(app_factory: Any) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(pilot)
        await app.create_session({"architecture": "shell", "name": "misc"})
        await wait_until(pilot, lambda: app.current)
        await send(pilot, "echo copied")
        await wait_until(pilot, lambda: idle(app) and cards(app))
        await pilot.press("up", "c")
        assert app.clipboard == "$ echo copied\ncopied\n"
        before = app.theme
        await pilot.press("f2")
        assert app.theme != before
        await app.client.bus.publish(app.current.session_id, [
            {"type": "log", "payload": {"level": "warn", "message": "disk almost full"}}])
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: any("disk almost full" in str(w.render())
                                            for w in app.conversation.query(LogLine)))
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: not app.conversation.query(LogLine))
        await pilot.press("f1")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
        await pilot.press("escape")
        await wait_until(pilot, lambda: type(app.screen).__name__ != "HelpScreen")


async def test_subagent_threads_nest_in_their_card_and_permissions_are_answered(app_factory: Any) -> None:
    from textual.widgets import Button

    from agent_tui.demo import block, ev
    from agent_tui.widgets.thread_view import ThreadView

    app = app_factory()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(pilot)
        await app.create_session({"architecture": "shell", "name": "agent"})
        model = await wait_until(pilot, lambda: app.current)
        runtime = app.client
        await runtime.bus.publish(model.session_id, [
            block(0, id="u", type="user_message", content="review the diff", status="complete"),
            ev("query:started", 0, messageId="u", content="review the diff"),
            block(1, id="task", type="tool_use", toolName="Task", toolUseId="toolu_1", status="pending",
                  input={"description": "Check the tests", "prompt": "Run the tests"}),
            ev("subagent:spawned", 1, toolUseId="toolu_1", prompt="Run the tests"),
            block(2, "toolu_1", id="sub-a", type="assistant_text", status="complete", content="Running them now."),
            block(3, "toolu_1", id="sub-t", type="tool_use", toolName="Bash", toolUseId="toolu_2",
                  status="complete", input={"command": "pytest -q"}),
            ev("permission:requested", 4, requestId="perm-1", toolName="Bash", input={"command": "rm -rf build"},
               title="Run rm -rf build?"),
        ])
        card = await wait_until(pilot, lambda: next((c for c in cards(app) if c.tool_use_id == "toolu_1"), None))
        assert card.subagent is not None and "2 blocks" in card.header_content().plain
        card.focus()
        await pilot.press("enter")
        thread = await wait_until(pilot, lambda: card.query(ThreadView) and card.query_one(ThreadView))
        await wait_until(pilot, lambda: len(thread.widgets) == 2)
        # A subagent block arriving later appears in the open thread.
        await runtime.bus.publish(model.session_id, [
            block(5, "toolu_1", id="sub-b", type="assistant_text", status="complete", content="All green."),
        ])
        await wait_until(pilot, lambda: "sub-b" in thread.widgets)

        assert model.status() == "needs-input"
        bar = app.permission_bar
        await wait_until(pilot, lambda: bar.has_class("-visible"))
        await pilot.click(bar.query_one("#perm-allow", Button))
        await wait_until(pilot, lambda: not model.state.pending_permissions, what="the answer to be recorded")
        events_, _ = await runtime.get_events(model.session_id)
        resolved = [e.payload for e in events_ if e.type == "permission:resolved"]
        assert resolved == [{"requestId": "perm-1", "decision": "allow", "by": "agent-tui user"}]
        await wait_until(pilot, lambda: not bar.has_class("-visible"))


async def test_command_palette_lists_the_actions_and_sessions(app_factory: Any) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await app.create_session({"architecture": "shell", "name": "alpha-session"})
        await app.create_session({"architecture": "shell", "name": "beta-session"})
        await wait_until(pilot, lambda: app.current and app.current.name == "beta-session")
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "CommandPalette")
        await type_text(pilot, "alpha-session")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.current and app.current.name == "alpha-session")
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "CommandPalette")
        await type_text(pilot, "New session")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, NewSessionScreen))
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, NewSessionScreen))


async def test_keymap_toml_overrides_a_key(app_factory: Any, tmp_path: Any) -> None:
    config = tmp_path / "keys"
    config.mkdir()
    (config / "keymap.toml").write_text('new_session = "ctrl+o"\nnot_an_action = "x"\n')
    app = app_factory(config_dir=config)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, NewSessionScreen))


async def test_the_view_follows_new_output_only_while_the_reader_is_at_the_bottom(app_factory: Any) -> None:
    app = app_factory()
    async with app.run_test(size=(100, 24)) as pilot:
        await ready(pilot)
        await app.create_session({"architecture": "shell", "name": "scroll"})
        await wait_until(pilot, lambda: app.current)
        conversation = app.conversation
        for word in ("one", "two", "three", "four", "five", "six"):
            await send(pilot, f"echo {word}")
            await wait_until(pilot, lambda: idle(app) and len(cards(app)) >= 1
                             and cards(app)[-1].result and not cards(app)[-1].pending)
        await pilot.pause(0.1)
        assert conversation.max_scroll_y > 0
        assert conversation.scroll_y == conversation.max_scroll_y  # following

        conversation.scroll_home(animate=False)  # the reader goes up to read
        await pilot.pause(0.1)
        await send(pilot, "echo seven")
        await wait_until(pilot, lambda: idle(app) and len(cards(app)) == 7 and not cards(app)[-1].pending)
        await pilot.pause(0.1)
        assert conversation.scroll_y == 0  # left where they are

        conversation.scroll_end(animate=False)  # back at the bottom: following again
        await pilot.pause(0.1)
        await send(pilot, "echo eight")
        await wait_until(pilot, lambda: idle(app) and len(cards(app)) == 8 and not cards(app)[-1].pending)
        await pilot.pause(0.1)
        assert conversation.scroll_y == conversation.max_scroll_y


# ---------------------------------------------------------------- permission requests (issue 9)


def ask(at: float, request_id: str, tool: str = "Bash", **tool_input: Any) -> list[dict[str, Any]]:
    from agent_tui.demo import block, ev

    return [
        block(at, id=f"u-{request_id}", type="user_message", content="go", status="complete"),
        ev("query:started", at, messageId=f"u-{request_id}", content="go"),
        ev("permission:requested", at + 0.1, requestId=request_id, toolName=tool, input=tool_input),
    ]


async def resolved_events(runtime: Any, session_id: str) -> list[dict[str, Any]]:
    events_, _ = await runtime.get_events(session_id)
    return [e.payload for e in events_ if e.type == "permission:resolved"]


async def test_permission_request_shows_the_command_and_y_on_the_bar_allows(app_factory: Any) -> None:
    from agent_tui.demo import ev
    from agent_tui.widgets.permission_bar import GRACE_S

    app = app_factory()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(pilot)
        await app.create_session({"architecture": "shell", "name": "agent"})
        model = await wait_until(pilot, lambda: app.current)
        runtime = app.client
        await runtime.bus.publish(model.session_id, ask(0, "perm-y", command="touch /tmp/x"))
        bar = app.permission_bar
        await wait_until(pilot, lambda: bar.has_class("-visible"), what="the request to appear")
        assert model.status() == "needs-input"
        text = str(bar._text.render())
        assert "Bash" in text and "$ touch /tmp/x" in text
        await wait_until(pilot, lambda: "1 to approve" in app.query_one("#header").middle)
        await pilot.press("ctrl+r")
        assert bar.has_focus
        await pilot.pause(GRACE_S + 0.1)
        await pilot.press("y")
        await wait_until(pilot, lambda: not model.state.pending_permissions, what="the answer to be recorded")
        assert model.status() == "busy"
        assert await resolved_events(runtime, model.session_id) == [
            {"requestId": "perm-y", "decision": "allow", "by": "agent-tui user"}]
        await wait_until(pilot, lambda: not bar.has_class("-visible"))
        await runtime.bus.publish(model.session_id, [ev("query:completed", 2, messageId="u-perm-y", durationMs=2000)])
        await wait_until(pilot, lambda: model.status() == "idle", what="the session to be idle")


async def test_the_tool_card_a_request_is_about_says_it_waits_until_answered(app_factory: Any) -> None:
    from agent_tui.demo import block

    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await app.create_session({"architecture": "shell", "name": "agent"})
        model = await wait_until(pilot, lambda: app.current)
        runtime = app.client
        use = block(0.05, id="call-1", type="tool_use", toolName="bash", toolUseId="call-1",
                    input={"command": "rm -rf build"}, status="pending")
        asked = ask(0, "perm-card", tool="bash", command="rm -rf build")
        asked[-1]["payload"]["toolUseId"] = "call-1"
        await runtime.bus.publish(model.session_id, [*asked[:2], use])
        card = await wait_until(pilot, lambda: next(iter(cards(app)), None), what="the tool card")
        await wait_until(pilot, lambda: "rm -rf build" in str(card.header.render()), what="the card drawn")
        assert "waiting for your approval" not in str(card.header.render())
        await runtime.bus.publish(model.session_id, [asked[2]])  # the request comes later: redrawn
        await wait_until(pilot, lambda: "waiting for your approval" in str(card.header.render()),
                         what="the card to say it waits")
        assert card.awaiting_approval
        await runtime.resolve_permission(model.session_id, "perm-card", "deny", "not today", by="alice")
        await wait_until(pilot, lambda: "waiting for your approval" not in str(card.header.render()),
                         what="the card to stop waiting")
        assert not card.awaiting_approval
        # The answer stays on the card: who decided what, and why.
        assert "denied by alice: not today" in str(card.header.render())


async def test_a_request_arriving_while_typing_does_not_take_the_keys_and_n_denies(app_factory: Any) -> None:
    from agent_tui.widgets.permission_bar import GRACE_S

    app = app_factory()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(pilot)
        await app.create_session({"architecture": "shell", "name": "agent"})
        model = await wait_until(pilot, lambda: app.current)
        runtime = app.client
        composer = app.composer
        composer.focus()
        await type_text(pilot, "say")
        await runtime.bus.publish(model.session_id, ask(0, "perm-n", command="rm -rf build"))
        await type_text(pilot, " yan")  # right after it appeared
        bar = app.permission_bar
        await wait_until(pilot, lambda: bar.has_class("-visible"), what="the request to appear")
        await pilot.pause(GRACE_S + 0.1)
        await type_text(pilot, "ny")  # and well after: still the composer's
        assert composer.text == "say yanny"
        assert composer.has_focus
        assert list(model.state.pending_permissions) == ["perm-n"]
        assert await resolved_events(runtime, model.session_id) == []

        await pilot.press("ctrl+r")
        await pilot.press("n")
        await wait_until(pilot, lambda: not model.state.pending_permissions, what="the denial to be recorded")
        assert await resolved_events(runtime, model.session_id) == [
            {"requestId": "perm-n", "decision": "deny", "by": "agent-tui user"}]
        await wait_until(pilot, lambda: composer.has_focus, what="the focus to return to the composer")
        assert composer.text == "say yanny"


async def test_jump_key_goes_to_the_session_that_needs_input(app_factory: Any) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(pilot)
        await app.create_session({"architecture": "shell", "name": "asker"})
        asker = await wait_until(pilot, lambda: app.current)
        await app.create_session({"architecture": "shell", "name": "other"})
        await wait_until(pilot, lambda: app.current and app.current.name == "other")
        await app.client.bus.publish(asker.session_id, ask(0, "perm-j", "Edit", file_path="a.py",
                                                           old_string="x = 1\n", new_string="x = 2\n"))
        await wait_until(pilot, lambda: asker.status() == "needs-input")
        await wait_until(pilot, lambda: "1 to approve" in app.query_one("#header").middle)
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: app.selected == asker.session_id, what="the jump")
        bar = app.permission_bar
        await wait_until(pilot, lambda: bar.has_focus, what="the request to get the focus")
        text = str(bar._text.render())
        assert "-x = 1" in text and "+x = 2" in text


async def test_an_answer_that_loses_says_it_was_answered_elsewhere(app_factory: Any) -> None:
    from agent_tui.widgets.permission_bar import PermissionBar

    app = app_factory()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(pilot)
        await app.create_session({"architecture": "shell", "name": "agent"})
        model = await wait_until(pilot, lambda: app.current)
        runtime = app.client
        await runtime.bus.publish(model.session_id, ask(0, "perm-r", command="ls"))
        await wait_until(pilot, lambda: model.state.pending_permissions)
        await runtime.resolve_permission(model.session_id, "perm-r", "deny", by="someone else")
        app.permission_bar.post_message(PermissionBar.Answered(model.session_id, "perm-r", "allow"))
        await wait_until(pilot, lambda: any(n.title == "Already answered" for n in notifications(app)),
                         what="the notification")
        assert await resolved_events(runtime, model.session_id) == [
            {"requestId": "perm-r", "decision": "deny", "by": "someone else"}]


def test_describe_input_renders_a_diff_and_a_file_head() -> None:
    from agent_tui.widgets.permission_bar import describe_input
    from runtime.runner.converters.claude_code import TOOL_KINDS as CLAUDE
    from runtime.runner.converters.opencode import TOOL_KINDS as OPENCODE
    from runtime.runner.converters.tool_kinds import tool_fields

    def asked(kinds: dict[str, str], tool: str, tool_input: dict) -> str:
        """The bar for a request as the converter tags it (its kind, command, path, diff)."""
        return describe_input({"tool_name": tool, "input": tool_input,
                               **tool_fields(kinds.get(tool, "other"), tool_input)}).plain

    edit = {"file_path": "a.py", "old_string": "x = 1\ny\n", "new_string": "x = 2\ny\n"}
    assert asked(CLAUDE, "Edit", edit).splitlines() == ["edit a.py", "@@ -1,2 +1,2 @@", "-x = 1", "+x = 2", " y"]
    head = asked(CLAUDE, "Write", {"file_path": "b.txt", "content": "\n".join(map(str, range(50)))})
    assert head.splitlines()[0] == "write b.txt (50 lines)" and "… 40 more lines" in head
    assert asked(CLAUDE, "Grep", {"pattern": "x"}) == '{"pattern": "x"}'
    # OpenCode's permissions (docs/agents/opencode.md): bash with its command, edit with a diff.
    assert asked(OPENCODE, "bash", {"command": "rm -rf build"}) == "$ rm -rf build"
    opencode_diff = ("Index: /w/notes.txt\n===\n--- /w/notes.txt\n+++ /w/notes.txt\n"
                     "@@ -0,0 +1,2 @@\n+line one\n+line two\n")
    assert asked(OPENCODE, "edit", {"filepath": "/w/notes.txt", "diff": opencode_diff}).splitlines() == [
        "edit /w/notes.txt", "@@ -0,0 +1,2 @@", "+line one", "+line two"]
    # The kind decides, not the name: an unknown tool of kind execute shows its command.
    assert describe_input({"tool_name": "run_it", "kind": "execute", "command": "make", "input": {}}).plain == "$ make"
    assert describe_input({"tool_name": "Bash", "kind": "other", "input": {"command": "ls"}}).plain == '{"command": "ls"}'
    # A request without a kind (an older server) is read by its input's shape.
    assert describe_input({"tool_name": "x", "input": {"command": "ls"}}).plain == "$ ls"


async def test_keys_on_the_bar_are_ignored_just_after_a_request_appears(app_factory: Any) -> None:
    from agent_tui.demo import ev
    from agent_tui.widgets.permission_bar import GRACE_S

    app = app_factory()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(pilot)
        await app.create_session({"architecture": "shell", "name": "agent"})
        model = await wait_until(pilot, lambda: app.current)
        runtime = app.client
        await runtime.bus.publish(model.session_id, ask(0, "perm-1", command="ls"))
        bar = app.permission_bar
        await wait_until(pilot, lambda: bar.request_id == "perm-1")
        await pilot.pause(GRACE_S + 0.1)
        await pilot.press("ctrl+r")
        await pilot.press("a")
        await wait_until(pilot, lambda: not model.state.pending_permissions)
        # The next request takes the bar's place while the user is on it: a key right away is ignored.
        await runtime.bus.publish(model.session_id, [
            ev("permission:requested", 1, requestId="perm-2", toolName="Write",
                input={"file_path": "n.txt", "content": "hi"})])
        await wait_until(pilot, lambda: bar.request_id == "perm-2")
        bar.focus()
        await pilot.press("n")
        await pilot.pause(0.05)
        assert list(model.state.pending_permissions) == ["perm-2"]
        await pilot.pause(GRACE_S)
        await pilot.press("n")
        await wait_until(pilot, lambda: not model.state.pending_permissions)
        decisions = [(p["requestId"], p["decision"]) for p in await resolved_events(runtime, model.session_id)]
        assert decisions == [("perm-1", "allow_always"), ("perm-2", "deny")]


async def test_leaving_a_session_from_its_request_gives_the_focus_to_the_composer(app_factory: Any) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(pilot)
        await app.create_session({"architecture": "shell", "name": "other"})
        await app.create_session({"architecture": "shell", "name": "asker"})
        asker = await wait_until(pilot, lambda: app.current and app.current.name == "asker" and app.current)
        await app.client.bus.publish(asker.session_id, ask(0, "perm-f", command="ls"))
        bar = app.permission_bar
        await wait_until(pilot, lambda: bar.visible_request)
        await pilot.press("ctrl+r")
        assert bar.has_focus
        await pilot.press("ctrl+down")
        await wait_until(pilot, lambda: app.selected != asker.session_id)
        await wait_until(pilot, lambda: app.composer.has_focus, what="the composer to get the focus")
        assert list(asker.state.pending_permissions) == ["perm-f"]


def test_tool_summaries_name_what_the_call_does() -> None:
    from agent_tui.formatting import tool_summary

    assert tool_summary({"kind": "execute", "command": "ls -la\nwc -l", "input": {}}) == "$ ls -la …"
    assert tool_summary({"kind": "edit", "path": "notes.txt", "input": {"filePath": "notes.txt", "content": "x"}}) == "notes.txt"
    assert tool_summary({"kind": "search", "path": "src", "input": {"path": "src", "pattern": "TODO"}}) == "TODO"
    # Without a kind (a log from before kinds), by the input's fields.
    assert tool_summary({"toolName": "bash", "input": {"command": "ls"}}) == "$ ls"
    asked = {"questions": [{"question": "Which database?", "header": "DB", "options": []}, {"question": "Why?"}]}
    assert tool_summary({"toolName": "question", "input": asked}) == "Which database? (+1 more)"
    assert tool_summary({"toolName": "question", "input": {"questions": ["garbage"]}}).startswith('{"questions"')
