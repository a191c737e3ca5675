"""ThreadView: a vertical run of block widgets kept in step with a list of reducer blocks.

Used for the main conversation (inside ``ConversationView``) and for a subagent's nested thread
(inside its ``ToolCard``). Blocks only ever append in the reducer, so new ones are mounted at the
end; changed ones are redrawn in place. A ``tool_result`` is drawn inside the card of its
``tool_use`` rather than as a block of its own.
"""

from __future__ import annotations

from typing import Any

from textual.containers import Vertical
from textual.widget import Widget

from ..session_model import SessionModel
from .block import BlockWidget


def make_block_widget(block: dict[str, Any], model: SessionModel) -> BlockWidget:
    from .assistant_text import AssistantText
    from .error_block import ErrorBlock
    from .system_block import SystemBlock
    from .thinking import Thinking
    from .tool_card import ToolCard
    from .user_message import UserMessage

    kind = block.get("type")
    if kind == "user_message":
        return UserMessage(block, model)
    if kind == "assistant_text":
        return AssistantText(block, model)
    if kind == "thinking":
        return Thinking(block, model)
    if kind in ("tool_use", "tool_result", "subagent"):
        return ToolCard(block, model, nested_thread=ThreadView)
    if kind == "error":
        return ErrorBlock(block, model)
    if kind == "system":
        return SystemBlock(block, model)
    # Unknown block types from newer agents: show what they say rather than nothing.
    return SystemBlock({**block, "subtype": str(kind), "message": str(block.get("message") or block.get("content") or "")},
                       model)


class ThreadView(Vertical):
    """Block widgets for one list of blocks (``sync`` with that list after it changes)."""

    DEFAULT_CSS = """
    ThreadView { height: auto; }
    """

    def __init__(self, model: SessionModel, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.widgets: dict[str, BlockWidget] = {}
        self.cards: dict[str, BlockWidget] = {}  # tool cards by toolUseId
        self.rendered_upto = 0  # blocks[:rendered_upto] have been handled

    def reset(self, start: int = 0) -> None:
        self.widgets.clear()
        self.cards.clear()
        self.rendered_upto = start

    def new_widgets(self, blocks: list[dict[str, Any]], stop: int | None = None) -> list[Widget]:
        """Widgets for blocks[rendered_upto:stop] (not mounted yet); results attach to their cards."""
        from .tool_card import ToolCard

        stop = len(blocks) if stop is None else stop
        out: list[Widget] = []
        for index in range(self.rendered_upto, stop):
            block = blocks[index]
            kind = block.get("type")
            tool_use_id = block.get("toolUseId")
            if kind == "tool_result" and isinstance(tool_use_id, str) and tool_use_id in self.cards:
                card = self.cards[tool_use_id]
                assert isinstance(card, ToolCard)
                card.attach_result(block)
                self.widgets[block["id"]] = card
                continue
            widget = make_block_widget(block, self.model)
            self.widgets[block["id"]] = widget
            if isinstance(widget, ToolCard) and isinstance(tool_use_id, str):
                self.cards.setdefault(tool_use_id, widget)
                if kind == "tool_result":
                    widget.attach_result(block)
            out.append(widget)
        self.rendered_upto = max(self.rendered_upto, stop)
        return out

    def earlier_widgets(self, blocks: list[dict[str, Any]], lo: int,
                        hi: int) -> tuple[list[Widget], list[tuple[BlockWidget, dict[str, Any]]]]:
        """Widgets for blocks[lo:hi], to go *above* what is mounted (a backfill). A call whose
        result is already on screen (as a card of its own) is handed to that card instead:
        returns the new widgets and the ``(card, tool_use block)`` pairs to update."""
        from .tool_card import ToolCard

        out: list[Widget] = []
        adopted: list[tuple[BlockWidget, dict[str, Any]]] = []
        for index in range(lo, hi):
            block = blocks[index]
            kind = block.get("type")
            tool_use_id = block.get("toolUseId")
            existing = self.cards.get(tool_use_id) if isinstance(tool_use_id, str) else None
            if existing is not None and isinstance(existing, ToolCard):
                if kind == "tool_result":
                    existing.attach_result(block)
                else:
                    adopted.append((existing, block))
                self.widgets[block["id"]] = existing
                continue
            widget = make_block_widget(block, self.model)
            self.widgets[block["id"]] = widget
            if isinstance(widget, ToolCard) and isinstance(tool_use_id, str):
                self.cards[tool_use_id] = widget
                if kind == "tool_result":
                    widget.attach_result(block)
            out.append(widget)
        return out, adopted

    async def update_blocks(self, blocks: list[dict[str, Any]], index: dict[str, int], dirty: set[str]) -> None:
        """Redraw changed blocks that already have widgets (new ones are drawn when mounted)."""
        for block_id in dirty:
            widget = self.widgets.get(block_id)
            position = index.get(block_id)
            if widget is not None and position is not None and widget.is_mounted:
                await widget.update_block(blocks[position])

    async def sync_all(self, blocks: list[dict[str, Any]], index: dict[str, int], dirty: set[str] | None) -> None:
        """Mount new blocks and redraw changed ones (``dirty=None``: redraw all mounted)."""
        fresh = self.new_widgets(blocks)
        if dirty is None:
            dirty = set(self.widgets)
        await self.update_blocks(blocks, index, dirty)
        if fresh:
            await self.mount_all(fresh)
            for widget in fresh:
                if isinstance(widget, BlockWidget):
                    await widget.update_block(blocks[index[widget.block_id]])
