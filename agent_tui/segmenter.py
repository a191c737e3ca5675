"""Split a streamed Markdown reply into prose runs and code fences, incrementally.

Stock ``Markdown.append`` re-parses the whole last top-level block per append; inside an open
code fence that block is the whole fence, re-highlighted every time (60-90 ms per append for a
300-line fence, see PERF-NOTES). So the assistant view gives Markdown only the prose, and feeds
fences to a widget that highlights line by line. This module is the pure part: text in,
operations out, no Textual.

Only top-level fences (indent 0-3, CommonMark rules) are split out; anything deeper (inside a
list item indented 4+, a block quote) stays in the prose and renders the stock way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPEN = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")
_CLOSE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$")


@dataclass(frozen=True)
class Prose:
    text: str


@dataclass(frozen=True)
class FenceOpen:
    info: str  # the language (first word of the info string), "" when none
    marker: str


@dataclass(frozen=True)
class FenceLines:
    """Complete lines of the open fence (without their newlines)."""

    lines: tuple[str, ...]


@dataclass(frozen=True)
class FencePartial:
    """The open fence's unfinished last line (replaces the previous partial)."""

    text: str


@dataclass(frozen=True)
class FenceClose:
    pass


Op = Prose | FenceOpen | FenceLines | FencePartial | FenceClose


def _may_open_fence(partial: str) -> bool:
    """Whether an unfinished line could still become a fence opener (so it is held back)."""
    stripped = partial.lstrip(" ")
    if len(partial) - len(stripped) > 3:
        return False
    return stripped[:1] in ("`", "~", "")


class FenceSegmenter:
    """Feed text as it streams; get back what to append where."""

    def __init__(self) -> None:
        self._pending = ""  # text after the last newline, not yet classified
        self._fence: tuple[str, int] | None = None  # (marker char, marker length) of the open fence
        self._indent = 0
        self._partial_shown = ""
        self._continuing = False  # part of the current line already went out as prose

    @property
    def in_fence(self) -> bool:
        return self._fence is not None

    def feed(self, text: str) -> list[Op]:
        ops: list[Op] = []
        data = self._pending + text
        lines = data.split("\n")
        self._pending = lines.pop()  # the unfinished tail ("" when data ends with a newline)
        prose: list[str] = []
        code: list[str] = []

        def flush() -> None:
            if prose:
                ops.append(Prose("".join(prose)))
                prose.clear()
            if code:
                ops.append(FenceLines(tuple(code)))
                code.clear()

        for line in lines:
            if self._continuing:
                # The rest of a line whose start was already prose: never a fence marker.
                self._continuing = False
                prose.append(line + "\n")
                continue
            if self._fence is None:
                match = _OPEN.match(line)
                if match and not (match.group(2)[0] == "`" and "`" in match.group(3)):
                    flush()
                    marker = match.group(2)
                    self._fence = (marker[0], len(marker))
                    self._indent = len(match.group(1))
                    info = match.group(3).strip().split(" ", 1)[0] if match.group(3).strip() else ""
                    ops.append(FenceOpen(info, marker))
                    self._partial_shown = ""
                else:
                    prose.append(line + "\n")
            else:
                close = _CLOSE.match(line)
                if close and close.group(1)[0] == self._fence[0] and len(close.group(1)) >= self._fence[1]:
                    flush()
                    ops.append(FenceClose())
                    self._fence = None
                    self._partial_shown = ""
                else:
                    code.append(self._dedent(line))
                    self._partial_shown = ""
        flush()
        tail = self._pending
        if self._fence is None or self._continuing:
            if tail and (self._continuing or not _may_open_fence(tail)):
                # Prose tails stream as they come: nothing they can turn into changes the split.
                ops.append(Prose(tail))
                self._pending = ""
                self._continuing = True
        elif tail != self._partial_shown:
            # A closing marker must not flash as code: hold a tail that may still become one.
            if not _may_open_fence(tail):
                ops.append(FencePartial(self._dedent(tail)))
                self._partial_shown = tail
            elif self._partial_shown:
                ops.append(FencePartial(""))
                self._partial_shown = ""
        return _merge(ops)

    def finish(self) -> list[Op]:
        """The reply is complete: release what was held back and close an open fence."""
        ops: list[Op] = []
        tail, self._pending = self._pending, ""
        self._continuing = False
        if self._fence is None:
            if tail:
                ops.append(Prose(tail))
        else:
            close = _CLOSE.match(tail)
            if tail and not (close and close.group(1)[0] == self._fence[0]):
                ops.append(FenceLines((self._dedent(tail),)))
            ops.append(FenceClose())
            self._fence = None
        self._partial_shown = ""
        return ops

    def _dedent(self, line: str) -> str:
        if self._indent:
            stripped = line.lstrip(" ")
            return line[min(self._indent, len(line) - len(stripped)):]
        return line


def _merge(ops: list[Op]) -> list[Op]:
    """Join neighbouring prose ops (one Markdown append per frame, not several)."""
    out: list[Op] = []
    for op in ops:
        if isinstance(op, Prose) and out and isinstance(out[-1], Prose):
            out[-1] = Prose(out[-1].text + op.text)
        else:
            out.append(op)
    return out
