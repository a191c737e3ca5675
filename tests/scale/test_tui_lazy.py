"""The TUI on a large-ish database shows its list from summaries and reads only the shown log."""

from __future__ import annotations

from pathlib import Path

from agent_tui.app import AgentTuiApp
from runtime import AgentRuntime
from tests.helpers import make_config
from tests.scale.test_lazy_logs import CountingStore, _fill
from tests.tui.conftest import SIZE, ready, wait_until


async def test_the_app_reads_no_log_until_a_session_is_shown(tmp_path: Path) -> None:
    before = await _fill(tmp_path)
    ids = list(before)
    store = CountingStore(tmp_path / "agent-tui.db")
    runtime = AgentRuntime(make_config(tmp_path, persistence=store, evict_after_s=0))
    app = AgentTuiApp(runtime, bell=False, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        first = app.selected
        assert first == ids[0]
        await wait_until(pilot, lambda: all(app.models[s].loaded for s in (ids[0], ids[1], ids[-1])))
        # At start: the one on screen (also the one a restart had to close) and its two neighbours
        # in the list, read ahead for ctrl+up/down. No other log, however many sessions.
        assert set(store.reads) == {ids[0], ids[1], ids[-1]}
        rows = app.session_list.rows
        await wait_until(pilot, lambda: len(rows) == len(ids), what="every row")
        for sid in ids[2:6]:
            model = app.models[sid]
            assert (model.unread, model.cost_usd) == (before[sid]["unread"], before[sid]["metadata"]["cost_usd"])
            assert f"({model.unread})" in rows[sid].render().plain
        assert app.models[ids[2]].status() == "error"  # its last query failed (from the summary)

        await app.select_session(ids[7])
        await wait_until(pilot, lambda: app.models[ids[7]].loaded and app.conversation.children)
        assert set(store.reads) == {ids[0], ids[1], ids[-1], ids[6], ids[7], ids[8]}
        assert app.models[ids[7]].unread == 0
        await wait_until(pilot, lambda: store.reads and runtime.sessions is not None
                         and runtime.sessions.get(ids[7]).unread == 0, what="the server to mark it read")
