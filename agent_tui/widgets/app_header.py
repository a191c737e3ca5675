"""AppHeader: what is running where: mode, store or server, sessions at work, serving info."""

from __future__ import annotations

from typing import Any

from textual.content import Content
from textual.widget import Widget


class AppHeader(Widget):
    DEFAULT_CSS = """
    AppHeader {
        height: 1;
        dock: top;
        background: $panel;
        color: $text;
        padding: 0 1;
        &.-disconnected { background: $error 40%; }
    }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.left = ""
        self.middle = ""
        self.right = ""

    def set_parts(self, left: str, middle: str, right: str) -> None:
        if (left, middle, right) != (self.left, self.middle, self.right):
            self.left, self.middle, self.right = left, middle, right
            self.refresh()

    def _not_isolated(self) -> str | None:
        """Why local sandboxes are not isolated (no bubblewrap, --no-isolation), or None."""
        state = getattr(getattr(self.app, "client", None), "isolation", None)
        if state is None or getattr(state, "enabled", True):
            return None
        return str(getattr(state, "reason", ""))

    def render(self) -> Content:
        # Priority when narrow: what is served (URL, token, clients) stays whole, then the
        # mode and store, then the session counts.
        left = Content.from_markup("[b]agent-tui[/] $left", left=self.left)
        reason = self._not_isolated()
        if reason is not None:
            # Said plainly, beside where sandboxes run: local agents can reach the whole machine.
            left += Content.from_markup(" [b $error]· sandbox NOT isolated[/]")
            self.tooltip = f"Local sandboxes are not isolated: {reason}"
        middle = Content(self.middle)
        right = Content.from_markup("[b]$right[/]", right=self.right) if self.right else Content("")
        width = max(1, self.size.width - 2)
        if right.cell_length >= width:
            return right.truncate(width, ellipsis=True)
        room = width - right.cell_length - (2 if self.right else 0)
        if left.cell_length + 2 + middle.cell_length > room:
            middle = Content("")
        if left.cell_length > room:
            left = left.truncate(room, ellipsis=True)
        gap = width - left.cell_length - middle.cell_length - right.cell_length
        pad_left = max(1, gap // 2) if middle.cell_length else 0
        pad_right = max(0, gap - pad_left)
        return left + " " * pad_left + middle + " " * pad_right + right
