"""A list longer than the first pass of rows (``FIRST_ROWS``): every row ends up mounted in the
list's order, a session beyond the first pass can be selected at once (mounted and scrolled to),
and a row carries its state's class from the start (no restyle after mounting)."""

from __future__ import annotations

from pathlib import Path

from agent_tui.app import AgentTuiApp
from agent_tui.widgets.session_list import FIRST_ROWS
from agent_tui.widgets.session_row import SessionRow
from runtime import AgentRuntime
from tests.helpers import make_config
from tests.tui.conftest import SIZE, ready, wait_until

COUNT = FIRST_ROWS * 2 + 5


async def _sessions(tmp_path: Path) -> list[str]:
    async with AgentRuntime(make_config(tmp_path, evict_after_s=0)) as runtime:
        return [(await runtime.create_session({"architecture": "shell", "name": f"many {i:03d}"})).session_id
                for i in range(COUNT)]


async def test_a_long_list_mounts_in_order_and_any_row_can_be_selected_at_once(tmp_path: Path) -> None:
    ids = await _sessions(tmp_path)
    app = AgentTuiApp(AgentRuntime(make_config(tmp_path, evict_after_s=0)), bell=False, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        last = ids[-1]
        await app.select_session(last)
        rows = app.session_list.rows
        await wait_until(pilot, lambda: rows[last].is_mounted, what="the selected row mounted")
        await wait_until(pilot, lambda: app.session_list.scroll_offset.y > 0, what="the list scrolled to it")
        assert rows[last].region.height and rows[last].has_class("-selected")
        await wait_until(pilot, lambda: len(app.session_list.query(SessionRow)) == COUNT, what="every row mounted")
        assert [row.model.session_id for row in app.session_list.query(SessionRow)] == ids
        # A row still waiting to be mounted, or mounted, goes when its session does.
        await app.client.delete_session(ids[FIRST_ROWS + 1])
        await wait_until(pilot, lambda: len(app.session_list.query(SessionRow)) == COUNT - 1, what="the row gone")
        assert [row.model.session_id for row in app.session_list.query(SessionRow)] == [
            s for s in ids if s != ids[FIRST_ROWS + 1]
        ]


async def test_a_row_removed_before_it_was_mounted_never_shows(tmp_path: Path) -> None:
    ids = await _sessions(tmp_path)
    app = AgentTuiApp(AgentRuntime(make_config(tmp_path, evict_after_s=0)), bell=False, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        listing = app.session_list
        await wait_until(pilot, lambda: len(listing.query(SessionRow)) == COUNT, what="every row mounted")
        for sid in ids:
            listing.remove(sid)
        await wait_until(pilot, lambda: not listing.query(SessionRow), what="the list emptied")
        # In one go, as a burst of notices would: added, then one removed before any is mounted.
        for sid in ids:
            listing.add(app.models[sid])
        gone = ids[FIRST_ROWS + 3]
        listing.remove(gone)
        kept = [s for s in ids if s != gone]
        await wait_until(pilot, lambda: len(listing.query(SessionRow)) == len(kept), what="the rows mounted")
        await pilot.pause()
        assert [row.model.session_id for row in listing.query(SessionRow)] == kept


async def test_a_row_has_its_state_class_before_it_is_mounted(tmp_path: Path) -> None:
    ids = await _sessions(tmp_path)
    app = AgentTuiApp(AgentRuntime(make_config(tmp_path, evict_after_s=0)), bell=False, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        model = app.models[ids[3]]
        row = SessionRow(model, app.clock)
        assert not row.is_mounted and row.has_class(f"-{model.status()}")
