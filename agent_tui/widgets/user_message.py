"""UserMessage: what the user sent, marked while it waits in the queue."""

from __future__ import annotations

from typing import Any

from textual.content import Content

from ..formatting import clip, human_size
from .block import BlockWidget


class UserMessage(BlockWidget):
    """A message the user sent. Long pastes are shown cut (the full text went to the agent)."""

    DEFAULT_CSS = """
    UserMessage {
        border-left: wide $primary;
        padding: 0 1;
        background: $primary 8%;
        &.-queued { border-left: wide $warning; color: $text-muted; }
    }
    """

    async def update_block(self, block: dict[str, Any]) -> None:
        await super().update_block(block)
        self.set_class(self.block_id in self.model.state.queued, "-queued")
        self.refresh(layout=True)

    def render(self) -> Content:
        content = str(self.block.get("content") or "")
        shown, cut = clip(content)
        text = Content(shown)
        if cut:
            text = text + Content.from_markup(
                "\n[dim]… $n more characters ($size in all)[/]", n=f"{cut:,}",
                size=human_size(len(content.encode("utf-8", "replace"))))
        if self.block_id in self.model.state.queued:
            text = Content.from_markup("[b $warning]queued[/] ") + text
        return text
