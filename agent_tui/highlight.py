"""Syntax highlighting for code fences, a line at a time or a whole block at once.

``textual.highlight.highlight`` looks the lexer up on every call; streaming highlights one line
per call, so lexers are cached here. Styles are Textual's ``HighlightTheme`` (theme variables such
as ``$text-accent``), so fences match the stock Markdown look and follow the app theme.
"""

from __future__ import annotations

from functools import lru_cache

from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound
from textual.content import Content, Span
from textual.highlight import HighlightTheme

_STYLES = HighlightTheme.STYLES


@lru_cache(maxsize=64)
def lexer_for(language: str) -> Lexer:
    try:
        return get_lexer_by_name(language or "text", stripnl=False, ensurenl=False, tabsize=4)
    except ClassNotFound:
        return get_lexer_by_name("text", stripnl=False, ensurenl=False, tabsize=4)


@lru_cache(maxsize=4096)
def _style_for(token_type: tuple[str, ...]) -> str | None:
    while token_type is not None:
        style = _STYLES.get(token_type)  # type: ignore[arg-type]
        if style:
            return style
        token_type = token_type.parent  # type: ignore[attr-defined]
    return None


def highlight_lines(lines: list[str], language: str) -> list[Content]:
    """Highlight a run of complete lines, lexed together (so a multi-line string inside the run is
    right), returning one ``Content`` per line."""
    if not lines:
        return []
    if not language:
        return [Content(line.expandtabs(4)) for line in lines]
    out: list[Content] = []
    text: list[str] = []
    spans: list[Span] = []
    offset = 0
    code = "\n".join(line.expandtabs(4) for line in lines)
    for token_type, token in lexer_for(language).get_tokens(code):
        style = _style_for(token_type)
        pieces = token.split("\n")
        for index, piece in enumerate(pieces):
            if index:
                out.append(Content("".join(text), spans=spans))
                text, spans, offset = [], [], 0
            if piece:
                if style:
                    spans.append(Span(offset, offset + len(piece), style))
                text.append(piece)
                offset += len(piece)
    out.append(Content("".join(text), spans=spans))
    # Lexers may add or drop a trailing newline; the caller's line count is the truth.
    if len(out) > len(lines):
        out = out[: len(lines)]
    while len(out) < len(lines):
        out.append(Content(""))
    return out
