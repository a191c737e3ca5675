"""BlockWidget: the base of everything drawn for one conversation block."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.widget import Widget

from ..session_model import SessionModel


class BlockWidget(Widget, can_focus=True):
    """One block of a conversation, drawn from the reducer's block dict and redrawn when it changes.

    Focusable, so a block can be copied and, for cards, expanded from the keyboard.
    """

    DEFAULT_CSS = """
    BlockWidget {
        height: auto;
        margin: 0 0 1 0;
        /* An outline draws over the left padding column: the focus mark moves nothing. A tint
           alone is invisible in many terminals and themes. */
        &:focus { background-tint: $foreground 5%; outline-left: thick $accent; }
        &.-search-match { border-left: thick $warning 60%; }
        &.-search-current { border-left: thick $warning; background-tint: $warning 10%; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "app.copy_block", "Copy", tooltip="Copy this block (OSC 52)"),
    ]

    HELP = "A conversation block. **c** copies it, **up**/**down** move between blocks."

    def __init__(self, block: dict[str, Any], model: SessionModel, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.block_id: str = block["id"]
        self.block = block
        self.model = model

    async def update_block(self, block: dict[str, Any]) -> None:
        """Redraw from the block's current fields (called once per frame at most)."""
        self.block = block

    def copy_text(self) -> str:
        """What the copy action puts on the clipboard."""
        return str(self.block.get("content") or self.block.get("message") or "")
