"""FoldableBlock: a block with a one-line header and a body that folds away."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static

from .block import BlockWidget


class FoldHeader(Static):
    """The clickable header line of a fold."""

    DEFAULT_CSS = """
    FoldHeader { height: auto; width: 1fr; }
    """

    async def _on_click(self, event: events.Click) -> None:
        event.stop()
        parent = self.parent
        if isinstance(parent, FoldableBlock):
            parent.user_toggle()


class FoldableBlock(BlockWidget):
    """Collapsed by default; **enter** or **space** (or a click on the header) folds and unfolds."""

    DEFAULT_CSS = """
    FoldableBlock {
        padding: 0 1;
        & > .fold-body { height: auto; display: none; padding: 0 0 0 2; }
        &.-expanded > .fold-body { display: block; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,space", "toggle", "Fold/unfold", tooltip="Expand or collapse this card"),
    ]

    expanded: reactive[bool] = reactive(False, init=False)

    def __init__(self, block: dict[str, Any], model: Any, **kwargs: Any) -> None:
        super().__init__(block, model, **kwargs)
        self.header = FoldHeader("")
        self.body = Vertical(classes="fold-body")
        self.user_toggled = False

    def compose(self):  # noqa: ANN201
        yield self.header
        yield self.body

    def watch_expanded(self, expanded: bool) -> None:
        self.set_class(expanded, "-expanded")
        self.header.update(self.header_content())
        if expanded:
            self.call_later(self.fill_body)

    def action_toggle(self) -> None:
        self.user_toggle()

    def user_toggle(self) -> None:
        self.user_toggled = True
        self.expanded = not self.expanded

    def header_content(self) -> Content:
        return Content("")

    def fold_symbol(self) -> str:
        return "▼" if self.expanded else "▶"

    async def fill_body(self) -> None:
        """Bring the body up to date; called when it is visible (unfolded)."""

    async def update_block(self, block: dict[str, Any]) -> None:
        await super().update_block(block)
        self.header.update(self.header_content())
        if self.expanded:
            await self.fill_body()
