"""CodeBlock: a code fence that streams line by line and never re-highlights what it has drawn.

The lines live in fixed-size chunks (``CodeChunk``); an append highlights only the new lines
and redraws only the last chunk, so the cost per frame does not grow with the fence. When the
fence closes it is highlighted once more as a whole (off the event loop), so constructs that span
lines (docstrings, block comments) come out right.
"""

from __future__ import annotations

import asyncio

from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static

from ..highlight import highlight_lines
from .code_chunk import CodeChunk

#: Lines per chunk: a frame redraws at most this many lines of an open fence.
CHUNK_LINES = 16
#: Fences longer than this are re-highlighted in a thread when they close.
_THREAD_THRESHOLD = 40


class CodeBlock(Vertical):
    """A fenced code block inside an assistant reply."""

    DEFAULT_CSS = """
    CodeBlock {
        height: auto;
        margin: 0 0 1 0;
        padding: 0 1;
        background: black 15%;
        &:light { background: white 30%; }
        & > .code-language { color: $text-muted; text-style: italic; height: 1; }
    }
    """

    def __init__(self, language: str) -> None:
        super().__init__()
        self.language = language
        self.lines: list[str] = []
        self._highlighted: list[Content] = []
        self._partial = ""
        self._chunks: list[CodeChunk] = []
        self._dirty_from: int | None = None  # first chunk index to redraw
        self.closed = False

    def compose(self):  # noqa: ANN201 - textual's ComposeResult
        if self.language:
            yield Static(self.language, classes="code-language")

    @property
    def code(self) -> str:
        text = "\n".join(self.lines)
        return text + ("\n" + self._partial if self._partial else "")

    def append_lines(self, lines: tuple[str, ...] | list[str]) -> None:
        if not lines:
            return
        self._partial = ""
        self._mark(len(self.lines))
        self.lines.extend(lines)
        self._highlighted.extend(highlight_lines(list(lines), self.language))

    def set_partial(self, text: str) -> None:
        if text != self._partial:
            self._partial = text
            self._mark(len(self.lines))

    def _mark(self, line: int) -> None:
        chunk = line // CHUNK_LINES
        self._dirty_from = chunk if self._dirty_from is None else min(self._dirty_from, chunk)

    async def flush(self) -> None:
        """Draw what changed since the last flush."""
        if self._dirty_from is None:
            return
        start, self._dirty_from = self._dirty_from, None
        rows: list[Content] = list(self._highlighted)
        if self._partial:
            rows.append(Content(self._partial.expandtabs(4)))
        needed = max(1, (len(rows) + CHUNK_LINES - 1) // CHUNK_LINES)
        new: list[CodeChunk] = []
        for index in range(start, needed):
            part = rows[index * CHUNK_LINES:(index + 1) * CHUNK_LINES]
            if index < len(self._chunks):
                chunk = self._chunks[index]
            else:
                chunk = CodeChunk()
                self._chunks.append(chunk)
                new.append(chunk)
            chunk.show(Content("\n").join(part), len(part), self.closed)
        if new and self.is_attached:
            await self.mount_all(new)

    async def close(self) -> None:
        """The fence ended: highlight it as a whole, once, and let its lines wrap."""
        if self.closed:
            return
        self.closed = True
        if self._partial:
            self.append_lines([self._partial])
        lines = list(self.lines)
        if self.language and lines:
            if len(lines) > _THREAD_THRESHOLD:
                highlighted = await asyncio.to_thread(highlight_lines, lines, self.language)
            else:
                highlighted = highlight_lines(lines, self.language)
            if len(highlighted) == len(self.lines):
                self._highlighted = highlighted
        self._mark(0)
        await self.flush()
