"""The TUI over a real OpenCode session (opencode-ai 1.18.33 against the fake model server): the
reply is on screen while the model is still writing it, and the bash call shows as a tool card
with its command before its result arrives."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from agent_tui.widgets.assistant_text import AssistantText
from agent_tui.widgets.tool_card import ToolCard
from tests.agent_support import require_cli
from tests.fakes.openai_server import FakeOpenAI, Text, ToolCall, Turn
from tests.helpers import NODE_BIN
from tests.opencode.conftest import MODEL, OPENCODE_BIN, needs_opencode, opencode_host_env
from tests.tui.conftest import SIZE, make_app, ready, wait_until

pytestmark = [needs_opencode]


def replies(app: object) -> list[str]:
    return [w.text for w in app.conversation.query(AssistantText)]  # type: ignore[attr-defined]


async def test_the_reply_streams_onto_the_screen_and_tool_cards_show_while_running(
        tmp_path: Path, fake: FakeOpenAI) -> None:
    require_cli(OPENCODE_BIN, "OpenCode CLI")
    config = {"agent_bin_dirs": [str(NODE_BIN)], "host_env": opencode_host_env(fake)}
    app = make_app(tmp_path, sqlite=True, config=config)
    reply = "".join(f"piece{i:02d} " for i in range(30)).strip()
    # 30 chunks 0.1 s apart: the model is still writing for about 3 s. The command waits for the
    # test to open a FIFO, so the card is seen while the command really is running.
    command = "cat gate.fifo > /dev/null; echo done > marker.txt"
    fake.script(Turn(Text(reply, chunk=9), delay_s=0.1),
                Turn(ToolCall("bash", {"command": command, "description": "Wait, then mark"})),
                Turn(Text("Marked.")))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await app.create_session({"architecture": "opencode", "name": "oc",
                                  "sessionOptions": {"model": MODEL}})
        model = await wait_until(pilot, lambda: app.current, what="the session")
        await app.client.send_message(model.session_id, "Say something long")
        # Part of the reply is on screen while the query still runs: it streams.
        partial = await wait_until(
            pilot, lambda: next((t for t in replies(app) if t and t != reply), None), timeout=60,
            what="part of the reply on screen")
        assert reply.startswith(partial) and model.state.active_query is not None
        await wait_until(pilot, lambda: reply in replies(app) and model.state.active_query is None, timeout=30,
                         what="the whole reply")

        workspace = Path(app.client.config.resolved_data_dir()) / model.session_id / "workspace"
        os.mkfifo(workspace / "gate.fifo")
        await app.client.send_message(model.session_id, "Now run something")
        card = await wait_until(pilot, lambda: next(iter(app.conversation.query(ToolCard)), None), timeout=60,
                                what="the tool card")
        # The card is there, with its command, while the command runs (blocked on the FIFO).
        await wait_until(pilot, lambda: card.pending and command in card.copy_text(), timeout=30,
                         what="the running card with its command")
        assert not (workspace / "marker.txt").exists()
        # Opening the FIFO for writing returns once the command has it open for reading.
        gate = await asyncio.wait_for(asyncio.to_thread(os.open, workspace / "gate.fifo", os.O_WRONLY), 30)
        os.close(gate)
        await wait_until(pilot, lambda: not card.pending and "Marked." in replies(app), timeout=30,
                         what="the result and the last reply")
        assert (workspace / "marker.txt").read_text() == "done\n"


async def test_an_opencode_permission_is_answered_from_the_tui(tmp_path: Path, fake: FakeOpenAI) -> None:
    """Profile ``ask``: OpenCode's request shows on the bash card and in the permission bar;
    ctrl+r then ``y`` allows it, the command runs, the card records the answer."""
    from agent_tui.widgets.permission_bar import GRACE_S

    require_cli(OPENCODE_BIN, "OpenCode CLI")
    config = {"agent_bin_dirs": [str(NODE_BIN)], "host_env": opencode_host_env(fake)}
    profiles = tmp_path / "config" / "profiles"
    profiles.mkdir(parents=True)
    (profiles / "ask.toml").write_text('name = "Ask"\npermissionMode = "ask"\n'
                                       'env = ["OPENAI_API_KEY", "OPENAI_BASE_URL"]\n', encoding="utf-8")
    app = make_app(tmp_path, sqlite=True, config=config)
    fake.script(Turn(ToolCall("bash", {"command": "echo hi > hello.txt", "description": "Write hello.txt"})),
                Turn(Text("Wrote it.")))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await app.create_session({"architecture": "opencode", "name": "oc", "agentProfileRef": "ask",
                                  "sessionOptions": {"model": MODEL}})
        model = await wait_until(pilot, lambda: app.current, what="the session")
        workspace = Path(app.client.config.resolved_data_dir()) / model.session_id / "workspace"
        await app.client.send_message(model.session_id, "Make hello.txt")
        bar = app.permission_bar
        await wait_until(pilot, lambda: bar.has_class("-visible"), timeout=60, what="the request")
        assert "$ echo hi > hello.txt" in str(bar._text.render())
        card = await wait_until(pilot, lambda: next(iter(app.conversation.query(ToolCard)), None), what="the card")
        await wait_until(pilot, lambda: "waiting for your approval" in str(card.header.render()),
                         what="the card to wait")
        assert not (workspace / "hello.txt").exists()
        await pilot.press("ctrl+r")
        await pilot.pause(GRACE_S + 0.1)
        await pilot.press("y")
        await wait_until(pilot, lambda: "Wrote it." in replies(app) and model.state.active_query is None,
                         timeout=60, what="the query to finish")
        assert (workspace / "hello.txt").read_text() == "hi\n"
        assert "allowed by agent-tui user" in str(card.header.render())
