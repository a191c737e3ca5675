"""Thinking: the model's reasoning, folded away by default."""

from __future__ import annotations

from typing import Any

from textual.content import Content
from textual.widgets import Static

from ..formatting import one_line
from .foldable import FoldableBlock


class Thinking(FoldableBlock):
    DEFAULT_CSS = """
    Thinking { color: $text-muted; }
    Thinking > .fold-body > Static { height: auto; color: $text-muted; text-style: italic; }
    """

    def __init__(self, block: dict[str, Any], model: Any, **kwargs: Any) -> None:
        super().__init__(block, model, **kwargs)
        self._text = Static("")
        self._shown = -1

    def compose(self):  # noqa: ANN201
        yield from super().compose()

    def on_mount(self) -> None:
        self.body.mount(self._text)

    def header_content(self) -> Content:
        content = str(self.block.get("content") or "")
        pending = self.block.get("status") == "pending"
        label = "Thinking…" if pending else "Thought"
        preview = one_line(content, 80) if not self.expanded else ""
        return Content.from_markup("$fold [i]$label[/] [dim]$preview[/]", fold=self.fold_symbol(), label=label,
                                   preview=preview)

    async def fill_body(self) -> None:
        content = str(self.block.get("content") or "")
        if len(content) != self._shown:
            self._shown = len(content)
            self._text.update(content)
