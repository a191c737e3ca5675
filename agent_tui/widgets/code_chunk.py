"""CodeChunk: up to ``CHUNK_LINES`` highlighted lines of a code fence, redrawn without a re-layout.

Any ``refresh(layout=True)`` (what ``Static.update`` does) makes Textual re-arrange the whole
screen, even when nothing moved. While its fence is open a chunk does not wrap and its height
grows in steps of ``GROW_STEP`` rows, so a new line or a growing last line is usually a plain
repaint of this widget, and a layout happens once per ``GROW_STEP`` lines. A closed fence's chunks
wrap long lines and are exactly as tall as their text.
"""

from __future__ import annotations

from textual.content import Content
from textual.widget import Widget

GROW_STEP = 8


class CodeChunk(Widget):
    DEFAULT_CSS = """
    CodeChunk {
        width: 1fr;
        height: auto;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        &.-closed { text-wrap: wrap; }
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self.content = Content("")
        self.rows = 0
        self._height: int | None = None

    def show(self, content: Content, rows: int, closed: bool) -> None:
        self.content = content
        self.rows = rows
        if closed:
            self.add_class("-closed")
            self._height = None
            self.styles.height = "auto"
            self.refresh(layout=True)
            return
        height = max(1, -(-rows // GROW_STEP) * GROW_STEP)
        if height != self._height:
            self._height = height
            self.styles.height = height  # re-lays out, once per GROW_STEP lines
        else:
            self.refresh()  # same size: repaint this widget only

    def render(self) -> Content:
        return self.content
