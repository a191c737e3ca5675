"""The app's redraws: model changes mark rows and the status dirty, and one frame (at most one per
``FRAME_S``) draws what is dirty; once a second the elapsed times of running queries move on."""

from __future__ import annotations

from typing import Any

#: Redraws are coalesced to one per this many seconds. Text that grows changes the layout, and with
#: the view anchored to the bottom a layout change repaints the whole conversation: 30 Hz looks
#: smooth and leaves the loop free between frames.
FRAME_S = 1 / 30


class FrameScheduler:
    """Many events, one draw: what changed is collected here until the next frame."""

    def __init__(self, app: Any) -> None:
        #: The AgentTuiApp (``Any``: importing its class here would be an import cycle).
        self.app = app
        #: Sessions whose row in the list is redrawn on the next frame.
        self.dirty_rows: set[str] = set()
        #: The status line and permission bar of the selected session are redrawn on the next frame.
        self.status_dirty = False
        #: A frame is scheduled and has not started yet.
        self.pending = False
        self._running = False
        self._bindings_signature: tuple[Any, ...] = ()

    def schedule(self) -> None:
        if not self.pending:
            self.pending = True
            self.app.set_timer(FRAME_S, self._frame)

    async def _frame(self) -> None:
        app = self.app
        self.pending = False
        if app._client_closed or not app.session_list.is_attached:
            return  # quitting
        if self._running:
            self.schedule()  # the running draw takes what is new on its next turn
            return
        self._running = True
        try:
            rows, self.dirty_rows = self.dirty_rows, set()
            app.session_list.refresh_rows(rows)
            if app.selected in rows or self.status_dirty:
                self.status_dirty = False
                app.status_line.sync()
                app.permission_bar.sync()
            self._refresh_bindings_if_changed()
            if app.conversation.is_dirty:
                await app.conversation.sync()
            app.search.frame()
            app._update_header()
        finally:
            self._running = False

    def _refresh_bindings_if_changed(self) -> None:
        # The footer recomposes on every refresh_bindings(): only when what check_action says changed.
        app = self.app
        signature = (app.selected, app.check_action("interrupt", ()), app.check_action("focus_permission", ()),
                     app.check_action("next_needs_input", ()))
        if signature != self._bindings_signature:
            self._bindings_signature = signature
            app.refresh_bindings()

    def tick(self) -> None:
        """Once a second: elapsed times of running queries, attached client count."""
        app = self.app
        if app._client_closed or not app.session_list.is_attached:
            return
        busy = {m.session_id for m in app.models.values() if m.running_since_ms() is not None}
        if busy:
            app.session_list.refresh_rows(busy)
        if app.selected in busy:
            app.status_line.sync()
        app._update_header()
