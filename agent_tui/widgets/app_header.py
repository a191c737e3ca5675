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

    def render(self) -> Content:
        left = Content.from_markup("[b]agent-tui[/] $left", left=self.left)
        middle = Content(self.middle)
        right = Content(self.right)
        width = self.size.width - 2
        gap = width - left.cell_length - middle.cell_length - right.cell_length
        if gap < 2:
            return (left + "  " + middle + "  " + right).truncate(max(1, width), ellipsis=True)
        pad_left = gap // 2
        return left + " " * pad_left + middle + " " * (gap - pad_left) + right
