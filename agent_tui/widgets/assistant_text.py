"""AssistantText: the agent's reply, streamed as Markdown prose plus code fences of our own.

The block's ``content`` grows by ``block:delta``; each redraw feeds only the new suffix to a
``FenceSegmenter``: prose goes to the current ``Markdown`` segment (one ``append`` per frame), a
fence gets a ``CodeBlock`` that highlights line by line. Stock Markdown never sees an open fence,
so nothing re-highlights a growing fence per append.
"""

from __future__ import annotations

from typing import Any

from textual.widget import MountError
from textual.widgets import Markdown, Static

from ..segmenter import FenceClose, FenceLines, FenceOpen, FencePartial, FenceSegmenter, Op, Prose
from .block import BlockWidget
from .code_block import CodeBlock


class AssistantText(BlockWidget):
    """An assistant message (also used for thinking, inside its fold)."""

    DEFAULT_CSS = """
    AssistantText {
        padding: 0 1 0 1;
        & > Markdown { margin: 0; padding: 0; background: transparent; }
        & > Markdown > MarkdownParagraph:last-child { margin-bottom: 0; }
        & > .cut-short { color: $text-warning; text-style: italic; }
    }
    """

    def __init__(self, block: dict[str, Any], model: Any, **kwargs: Any) -> None:
        super().__init__(block, model, **kwargs)
        self._reset_stream()

    def _reset_stream(self) -> None:
        self._segmenter = FenceSegmenter()
        self._consumed = 0
        self._tail = ""
        self._markdown: Markdown | None = None
        self._code: CodeBlock | None = None
        self._whitespace = ""
        self._finished = False
        self.text = ""

    async def update_block(self, block: dict[str, Any]) -> None:
        await super().update_block(block)
        content = block.get("content")
        content = content if isinstance(content, str) else ""
        # Deltas only ever append; an upsert that rewrote the text means starting over.
        if len(content) < self._consumed or content[max(0, self._consumed - 16):self._consumed] != self._tail:
            await self.remove_children()
            self._reset_stream()
        new = content[self._consumed:]
        ops: list[Op] = self._segmenter.feed(new) if new else []
        self._consumed = len(content)
        self._tail = content[max(0, self._consumed - 16):]
        self.text = content
        if block.get("status", "complete") != "pending" and not self._finished:
            self._finished = True
            ops.extend(self._segmenter.finish())
        await self._apply(ops)
        await self._mark_cut_short()

    async def _mark_cut_short(self) -> None:
        """An interrupt stopped this reply mid-way: say so under it, once."""
        cut = self.block_id in (getattr(self.model, "interrupted", None) or ())
        if cut and not self.query_children(".cut-short"):
            try:
                await self.mount(Static("■ cut short: the query was interrupted", classes="cut-short"))
            except MountError:
                pass

    async def _apply(self, ops: list[Op]) -> None:
        try:
            await self._apply_ops(ops)
        except MountError:
            pass  # torn down mid-update (a switch, a prune, the app quitting): nothing left to draw into

    async def _apply_ops(self, ops: list[Op]) -> None:
        touched: list[CodeBlock] = []
        for op in ops:
            if isinstance(op, Prose):
                text = op.text
                if self._markdown is None:
                    if not text.strip():
                        self._whitespace += text  # no empty Markdown widget between two fences
                        continue
                    self._markdown = Markdown("")
                    await self.mount(self._markdown)
                    text, self._whitespace = self._whitespace + text, ""
                await self._markdown.append(text)
            elif isinstance(op, FenceOpen):
                self._markdown = None
                self._whitespace = ""
                self._code = CodeBlock(op.info)
                await self.mount(self._code)
            elif isinstance(op, FenceLines) and self._code is not None:
                self._code.append_lines(op.lines)
                touched.append(self._code)
            elif isinstance(op, FencePartial) and self._code is not None:
                self._code.set_partial(op.text)
                touched.append(self._code)
            elif isinstance(op, FenceClose) and self._code is not None:
                await self._code.close()
                self._code = None
        for code in dict.fromkeys(touched):
            await code.flush()

    def copy_text(self) -> str:
        return self.text
