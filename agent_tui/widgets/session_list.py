"""SessionList: every session, with its state at a glance; the selected one is on screen."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from ..session_model import SessionModel
from .session_row import SessionRow

#: Rows mounted in the first pass when many sessions arrive at once (more than a screenful); the
#: rest follow after the first frame, together, in order. Mounting is what a long list costs: 1,000 rows
#: mounted one call each took ~1.2 s, in one ``mount_all`` ~0.65 s (this machine, loaded).
FIRST_ROWS = 64


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
        #: Rows added but not mounted yet (mounted together: see ``FIRST_ROWS``).
        self._pending: list[SessionRow] = []
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
        self._pending.append(row)
        if len(self._pending) == 1:
            self.call_later(self._mount_pending)

    def _mount_pending(self, everything: bool = False, at_least: int = 0) -> None:
        rows = self._pending
        if not rows:
            return
        count = len(rows) if everything else max(FIRST_ROWS, at_least)
        self._pending = rows[count:]
        self.mount_all(rows[:count])
        if self._pending:
            self.call_after_refresh(self._mount_pending, True)

    def remove(self, session_id: str) -> None:
        row = self.rows.pop(session_id, None)
        if row is not None:
            if row in self._pending:
                self._pending.remove(row)
            else:
                row.remove()
        self._empty.display = not self.rows

    def select(self, session_id: str | None) -> None:
        self.selected = session_id
        for sid, row in self.rows.items():
            row.set_class(sid == session_id, "-selected")
        row = self.rows.get(session_id or "")
        if row is not None:
            if row in self._pending:  # not mounted yet: it has no place to scroll to
                self._mount_pending(at_least=self._pending.index(row) + 1)
            self.call_after_refresh(self.scroll_to_widget, row, animate=False)

    def refresh_rows(self, session_ids: set[str] | None = None) -> None:
        for sid, row in self.rows.items():
            if session_ids is None or sid in session_ids:
                row.sync()
