"""SessionList: every session, with its state at a glance; the selected one is on screen."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from ..session_model import SessionModel
from .session_row import SessionRow


class SessionList(VerticalScroll, can_focus=True):
    """The sessions, in the order they were created."""

    DEFAULT_CSS = """
    SessionList {
        width: 34;
        height: 1fr;
        border-right: tall $panel;
        background: $surface;
        scrollbar-size-vertical: 1;
        & > .list-title { color: $text-muted; padding: 0 1; height: 1; text-style: bold; }
        & > .empty { color: $text-muted; padding: 1 1; }
        &:focus > SessionRow.-selected { background: $primary 60%; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "app.previous_session", "Previous", show=False),
        Binding("down,j", "app.next_session", "Next", show=False),
        Binding("enter", "app.focus_composer", "Open", show=False),
    ]

    HELP = "Sessions. **up**/**down** select, **enter** goes to the composer, **ctrl+n** starts a new one."

    def __init__(self, clock: Callable[[], float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clock = clock
        self.rows: dict[str, SessionRow] = {}
        self.selected: str | None = None
        self._empty = Static("No sessions yet.\nctrl+n starts one.", classes="empty")

    def compose(self):  # noqa: ANN201
        yield Static("SESSIONS", classes="list-title")
        yield self._empty

    def add(self, model: SessionModel) -> None:
        if model.session_id in self.rows:
            return
        row = SessionRow(model, self.clock)
        self.rows[model.session_id] = row
        self._empty.display = False
        self.mount(row)

    def remove(self, session_id: str) -> None:
        row = self.rows.pop(session_id, None)
        if row is not None:
            row.remove()
        self._empty.display = not self.rows

    def select(self, session_id: str | None) -> None:
        self.selected = session_id
        for sid, row in self.rows.items():
            row.set_class(sid == session_id, "-selected")
        row = self.rows.get(session_id or "")
        if row is not None:
            self.call_after_refresh(self.scroll_to_widget, row, animate=False)

    def refresh_rows(self, session_ids: set[str] | None = None) -> None:
        for sid, row in self.rows.items():
            if session_ids is None or sid in session_ids:
                row.sync()
