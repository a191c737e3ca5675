"""ErrorBlock: a failed query or an error event, drawn so it cannot be missed."""

from __future__ import annotations

from typing import Any

from textual.content import Content

from .block import BlockWidget


class ErrorBlock(BlockWidget):
    """An error in the conversation (``query:failed``, ``error`` events, agent error blocks)."""

    DEFAULT_CSS = """
    ErrorBlock {
        border: round $error;
        background: $error 15%;
        padding: 0 1;
        color: $text;
    }
    """

    async def update_block(self, block: dict[str, Any]) -> None:
        await super().update_block(block)
        self.refresh(layout=True)

    def render(self) -> Content:
        code = self.block.get("code")
        title = Content.from_markup("[b $text-error]✗ Error[/]")
        if code:
            title = title + Content.from_markup(" [dim]$code[/]", code=str(code))
        return title + "\n" + Content(str(self.block.get("message") or "error"))

    def copy_text(self) -> str:
        return str(self.block.get("message") or "")
