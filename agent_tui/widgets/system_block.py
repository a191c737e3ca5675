"""SystemBlock: a notice from the agent or the runtime (session started, compacted…)."""

from __future__ import annotations

from typing import Any

from textual.content import Content

from .block import BlockWidget


class SystemBlock(BlockWidget):
    DEFAULT_CSS = """
    SystemBlock { color: $text-muted; padding: 0 1; }
    """

    async def update_block(self, block: dict[str, Any]) -> None:
        await super().update_block(block)
        self.refresh(layout=True)

    def render(self) -> Content:
        subtype = str(self.block.get("subtype") or "system")
        return Content.from_markup("[i]· $subtype:[/] $message", subtype=subtype,
                                   message=str(self.block.get("message") or ""))
