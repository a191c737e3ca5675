"""RowList: a list of one-line rows with a cursor, drawn only where it is visible.

``OptionList`` measures every option to lay the list out (it may wrap): 1,000 changed files took
0.7 s to show and 0.2 s to rebuild. Here a row is one line, so the height is the row count, and a
row is turned into ``Content`` (and drawn) only when it scrolls into view. Rows wider than the
view scroll horizontally.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

from textual import events
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.visual import Visual

Row = TypeVar("Row")


class RowList(ScrollView, Generic[Row], can_focus=True):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"row-list--cursor"}

    DEFAULT_CSS = """
    RowList {
        background: $surface;
        text-wrap: nowrap;
        text-overflow: clip;
        & > .row-list--cursor { background: $block-cursor-blurred-background; }
        &:focus > .row-list--cursor { background: $block-cursor-background; color: $block-cursor-foreground;
                                      text-style: $block-cursor-text-style; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "move_to(0)", "First", show=False),
        Binding("end", "move_to(-1)", "Last", show=False),
        Binding("enter", "select", "Select", show=False),
    ]

    class Highlighted(Message):
        def __init__(self, row_list: RowList[Any], index: int) -> None:
            super().__init__()
            self.row_list = row_list
            self.index = index

        @property
        def control(self) -> RowList[Any]:
            return self.row_list

    class Selected(Highlighted):
        """Enter (or a click on the row under the cursor)."""

    def __init__(self, render_row: Callable[[Row], Content], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._render_row = render_row
        self.rows: list[Row] = []
        self._contents: dict[int, Content] = {}
        self._cursor: int | None = None

    # ------------------------------------------------------------------ content

    def set_rows(self, rows: list[Row], cursor: int | None = 0, width: int | None = None) -> None:
        """Replace every row; ``width`` (cells of the widest row) enables horizontal scrolling."""
        self.rows = rows
        self._contents = {}
        self.virtual_size = Size(width or 0, len(rows))
        self._cursor = None
        self.cursor = cursor if rows else None
        self.refresh()

    @property
    def count(self) -> int:
        return len(self.rows)

    def content(self, index: int) -> Content:
        content = self._contents.get(index)
        if content is None:
            content = self._contents[index] = self._render_row(self.rows[index])
        return content

    # ------------------------------------------------------------------ cursor

    @property
    def cursor(self) -> int | None:
        return self._cursor

    @cursor.setter
    def cursor(self, index: int | None) -> None:
        if index is not None:
            index = max(0, min(index, len(self.rows) - 1)) if self.rows else None
        if index == self._cursor:
            return
        previous, self._cursor = self._cursor, index
        for row in (previous, index):
            if row is not None:
                self.refresh(Region(0, row - self.scroll_offset.y, self.size.width, 1))
        if index is not None:
            self.scroll_to_region(Region(self.scroll_offset.x, index, 1, 1), animate=False, force=True)
            self.post_message(self.Highlighted(self, index))

    def action_move(self, step: int) -> None:
        if self.rows:
            self.cursor = (self._cursor if self._cursor is not None else -step) + step

    def action_page(self, pages: int) -> None:
        if self.rows:
            self.cursor = (self._cursor or 0) + pages * max(1, self.scrollable_content_region.height - 1)

    def action_move_to(self, index: int) -> None:
        if self.rows:
            self.cursor = index if index >= 0 else len(self.rows) - 1

    def action_select(self) -> None:
        if self._cursor is not None:
            self.post_message(self.Selected(self, self._cursor))

    def _on_click(self, event: events.Click) -> None:
        index = event.y + self.scroll_offset.y
        if 0 <= index < len(self.rows):
            again = index == self._cursor
            self.cursor = index
            if again or event.chain > 1:
                self.post_message(self.Selected(self, index))

    # ------------------------------------------------------------------ drawing

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        base = self.get_visual_style()
        if index >= len(self.rows):
            return Strip.blank(width, base.rich_style)
        style = self.get_visual_style("row-list--cursor") if index == self._cursor else base
        scroll_x = self.scroll_offset.x
        strips = Visual.to_strips(self, self.content(index), scroll_x + width, 1, style)
        strip = strips[0] if strips else Strip.blank(0)
        return strip.crop(scroll_x, scroll_x + width).extend_cell_length(width, style.rich_style)
