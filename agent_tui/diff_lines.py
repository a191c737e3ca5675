"""A unified diff (git's format) as lines to draw: each with its kind, its line numbers and the
file it belongs to, so a comment on a line can quote where it is. No Textual widgets here; the
code part of each line is highlighted with the file's language."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from pygments.lexers import get_lexer_for_filename
from pygments.util import ClassNotFound
from textual.content import Content

from .highlight import highlight_lines

Kind = Literal["header", "hunk", "added", "removed", "context", "note"]

_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")
#: Lines drawn at most per file: a generated file with 200,000 changed lines would otherwise take
#: seconds to lay out; the rest is named, and the file can be opened in $EDITOR.
MAX_LINES = 5000

_STYLES: dict[str, str] = {
    "header": "$text-muted",
    "hunk": "$text-accent",
    "added": "on $success 18%",
    "removed": "on $error 18%",
    "note": "$text-warning italic",
}


@dataclass(frozen=True)
class DiffLine:
    kind: Kind
    text: str  # the line as git printed it (marker included)
    path: str | None = None
    #: Line number in the new file (added and context lines) or the old one (removed lines).
    line: int | None = None

    @property
    def quotable(self) -> bool:
        return self.kind in ("added", "removed", "context") and self.path is not None


def parse(diff: str, limit: int = MAX_LINES) -> list[DiffLine]:
    lines: list[DiffLine] = []
    path: str | None = None
    old = new = 0
    raw = diff.splitlines()
    for text in raw[:limit]:
        if text.startswith("diff --git "):
            path = _path_from_header(text)
            lines.append(DiffLine("header", text, path))
        elif text.startswith("+++ "):
            if text != "+++ /dev/null":
                path = _strip_prefix(text[4:])
            lines.append(DiffLine("header", text, path))
        elif text.startswith(("--- ", "index ", "new file", "deleted file", "similarity", "rename ", "old mode",
                              "new mode", "Binary files")):
            lines.append(DiffLine("header", text, path))
        elif match := _HUNK.match(text):
            old, new = int(match.group(1)), int(match.group(2))
            lines.append(DiffLine("hunk", text, path, new))
        elif text.startswith("+"):
            lines.append(DiffLine("added", text, path, new))
            new += 1
        elif text.startswith("-"):
            lines.append(DiffLine("removed", text, path, old))
            old += 1
        elif text.startswith("\\"):
            lines.append(DiffLine("note", text, path))
        else:
            lines.append(DiffLine("context", text, path, new))
            old += 1
            new += 1
    if len(raw) > limit:
        lines.append(DiffLine("note", f"… {len(raw) - limit:,} more lines not shown (open the file with e)"))
    return lines


def render(lines: list[DiffLine]) -> list[Content]:
    """One ``Content`` per line: code lines highlighted in the file's language (lexed together per
    file, so multi-line strings come out mostly right) over a green/red background."""
    out: list[Content] = [Content("")] * len(lines)
    code_rows: dict[str | None, list[int]] = {}
    for row, line in enumerate(lines):
        if line.kind in ("added", "removed", "context"):
            code_rows.setdefault(line.path, []).append(row)
        else:
            out[row] = Content(line.text.expandtabs(4)).stylize(_STYLES[line.kind])
    for path, rows in code_rows.items():
        highlighted = highlight_lines([lines[r].text[1:] for r in rows], language_for(path or ""))
        for row, code in zip(rows, highlighted, strict=True):
            line = lines[row]
            content = Content(line.text[:1] or " ") + code
            style = _STYLES.get(line.kind)
            out[row] = content.stylize(style) if style else content
    return out


def language_for(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    # Looked up by extension (pygments matches every lexer's patterns: slow the first time).
    return _language_for_name("x" + name[name.rfind("."):] if "." in name.lstrip(".") else name)


@lru_cache(maxsize=256)
def _language_for_name(name: str) -> str:
    try:
        lexer = get_lexer_for_filename(name)
    except ClassNotFound:
        return ""
    return lexer.aliases[0] if lexer.aliases else ""


def _path_from_header(text: str) -> str | None:
    # "diff --git a/x b/x": the b/ side (quoted when the name has unusual characters).
    rest = text[len("diff --git "):]
    if " b/" in rest:
        return rest.rsplit(" b/", 1)[1].strip('"')
    return None


def _strip_prefix(name: str) -> str:
    name = name.strip('"')
    return name[2:] if name.startswith(("a/", "b/")) else name
