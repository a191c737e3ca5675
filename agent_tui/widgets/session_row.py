"""SessionRow: one line pair in the session list: state icon, name, where it runs, time, unread, cost."""

from __future__ import annotations

from collections.abc import Callable

from textual import events
from textual.content import Content
from textual.message import Message
from textual.widget import Widget

from ..session_model import STATUS_ICONS, SessionModel, format_cost, format_duration

_STATUS_STYLES = {
    "busy": "$text-success",
    "queued": "$text-warning",
    "starting": "$text-warning",
    "needs-input": "$text-warning",
    "error": "$text-error",
    "terminated": "$text-muted",
    "idle": "$text-muted",
    "loading": "$text-muted",
}


class SessionRow(Widget):
    """A session in the list. Its CSS class follows the session's state (``-busy``, ``-error``…)."""

    DEFAULT_CSS = """
    SessionRow {
        height: 2;
        padding: 0 1;
        &.-selected { background: $primary 30%; }
        &:hover { background: $boost; }
        &.-error { color: $text-error; }
    }
    """

    class Clicked(Message):
        def __init__(self, session_id: str) -> None:
            super().__init__()
            self.session_id = session_id

    def __init__(self, model: SessionModel, clock: Callable[[], float]) -> None:
        super().__init__()
        self.model = model
        self.clock = clock
        self._status = ""
        self._last: tuple[object, ...] = ()

    def on_mount(self) -> None:
        self.sync()

    def sync(self) -> None:
        """Follow the model: the state class (for CSS) and the text (repainted only if it changed)."""
        status = self.model.status()
        if status != self._status:
            if self._status:
                self.remove_class(f"-{self._status}")
            self.add_class(f"-{status}")
            self._status = status
        signature = self._signature()
        if signature != self._last:
            self._last = signature
            self.refresh()

    def _signature(self) -> tuple[object, ...]:
        model = self.model
        # The running time as drawn (tenths under 10 s), so the row changes whenever the status
        # line's copy of it does, not a second later.
        elapsed = self._elapsed()
        return (self._status, model.name, model.unread, len(model.state.queued), model.cost_usd, elapsed,
                model.summary.architecture, model.summary.primitive)

    def _elapsed(self) -> str | None:
        since = self.model.running_since_ms()
        return format_duration(max(0, self.clock() * 1000 - since)) if since is not None else None

    def render(self) -> Content:
        model = self.model
        status = self._status or model.status()
        icon = STATUS_ICONS.get(status, "?")
        style = _STATUS_STYLES.get(status, "")
        right: list[str] = []
        elapsed = self._elapsed()
        if elapsed is not None:
            right.append(elapsed)
        queued = len(model.state.queued)
        if queued:
            right.append(f"+{queued} queued")
        cost = format_cost(model.cost_usd)
        if cost:
            right.append(cost)
        unread = f" [b $text-accent]({model.unread})[/]" if model.unread else ""
        summary = model.summary
        first = Content.from_markup(f"[{style}]$icon[/] [b]$name[/]{unread}", icon=icon, name=model.name)
        second = Content.from_markup("  [dim]$arch · $primitive[/] $right", arch=summary.architecture,
                                     primitive=summary.primitive, right=" · ".join(right))
        width = max(10, self.size.width - 2) if self.size.width else 40
        return first.truncate(width, ellipsis=True) + "\n" + second.truncate(width, ellipsis=True)

    async def _on_click(self, event: events.Click) -> None:
        self.post_message(self.Clicked(self.model.session_id))
