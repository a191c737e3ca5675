"""SessionRow: one session in the list: state icon, name, where it runs, time, unread, cost and,
for a session on a project, a third line with its branch and the size of its change set."""

from __future__ import annotations

from collections.abc import Callable

from textual import events
from textual.content import Content
from textual.message import Message
from textual.widget import Widget

from runtime.reducer import change_totals
from runtime.workspaces.project import BRANCH_PREFIX

from ..session_model import STATUS_ICONS, SessionModel, format_cost, format_duration

#: U+2212, the minus sign: as wide as the plus sign, so "+12" and its removed count line up.
MINUS = "\u2212"

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


def workspace_totals(model: SessionModel) -> tuple[int, int, int] | None:
    """``(files, additions, deletions)`` of the session's change set: from the reducer's state
    (what ``workspace:changes`` and ``file:*`` folded), or the summary's copy while the log is not
    replayed yet; ``None`` before any change is known."""
    if model.loaded:
        changes = model.state.changes
        return change_totals(changes) if changes is not None else None
    info = model.summary.workspace
    if info is None or info.changed_files is None:
        return None
    return info.changed_files, info.additions or 0, info.deletions or 0


class SessionRow(Widget):
    """A session in the list. Its CSS class follows the session's state (``-busy``, ``-error``…)."""

    DEFAULT_CSS = """
    SessionRow {
        height: 2;
        padding: 0 1;
        &.-selected { background: $primary 30%; }
        &:hover { background: $boost; }
        &.-error { color: $text-error; }
        &.-workspace { height: 3; }
    }
    """

    class Clicked(Message):
        def __init__(self, session_id: str) -> None:
            super().__init__()
            self.session_id = session_id

    def __init__(self, model: SessionModel, clock: Callable[[], float]) -> None:
        # The classes from the start: added after mounting, each one restyles the row (0.6 ms a
        # row, most of what showing a list of 1,000 sessions cost).
        status = model.status()
        workspace = " -workspace" if model.summary.workspace is not None else ""
        super().__init__(classes=f"-{status}{workspace}")
        self.model = model
        self.clock = clock
        self._status = status
        self._last: tuple[object, ...] = ()
        #: The change set the totals below were summed from (held, so its id cannot be reused).
        self._counted: tuple[object, int] | None = None
        self._totals: tuple[int, int, int] | None = None

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
        self.set_class(self.model.summary.workspace is not None, "-workspace")
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
                model.summary.architecture, model.summary.primitive, self._workspace_line())

    def totals(self) -> tuple[int, int, int] | None:
        model = self.model
        changes = model.state.changes if model.loaded else None
        if changes is None:
            return workspace_totals(model)
        # Summed once per change set: workspace:changes replaces the dict, a file event grows or
        # shrinks its list (a live event brings no line counts, so the sums stay right).
        key = (changes, len(changes.get("files") or ()))
        if self._counted is None or self._counted[0] is not key[0] or self._counted[1] != key[1]:
            self._counted, self._totals = key, change_totals(changes)
        return self._totals

    def _workspace_line(self) -> tuple[str, str] | None:
        """What the third line says: the branch (or "in place") and ``+12 -3`` (a real minus sign)."""
        info = self.model.summary.workspace
        if info is None:
            return None
        where = info.branch or ("in place" if info.mode == "in-place" else "") or info.project
        totals = self.totals()
        counts = f"+{totals[1]} {MINUS}{totals[2]}" if totals is not None and totals[0] else ""
        return where, counts

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
        text = first.truncate(width, ellipsis=True) + "\n" + second.truncate(width, ellipsis=True)
        workspace = self._workspace_line()
        if workspace is not None:
            where, counts = workspace
            # The counts always show; the branch gives way (its end is the part that differs).
            room = max(4, width - 4 - (len(counts) + 1 if counts else 0))
            if len(where) > room:  # agent-tui's own prefix goes first, then the start of the name
                where = where.removeprefix(BRANCH_PREFIX)
            if len(where) > room:
                where = "…" + where[len(where) - room + 1:]
            third = Content.from_markup("  [$text-accent]⎇ $where[/]", where=where)
            if counts:
                added, removed = counts.split(" ")
                third += Content.from_markup(" [$text-success]$added[/] [$text-error]$removed[/]",
                                             added=added, removed=removed)
            text += "\n" + third
        return text

    async def _on_click(self, event: events.Click) -> None:
        self.post_message(self.Clicked(self.model.session_id))
