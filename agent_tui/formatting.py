"""Small text helpers shared by widgets: one-line summaries of tool input, truncation, sizes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

#: The input fields that best say what a call of a kind does (after its ``command`` and ``path``).
_KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "search": ("pattern", "query"),
    "fetch": ("url", "query"),
    "think": ("description", "prompt"),
}
_GENERIC_FIELDS = ("command", "file_path", "filePath", "absolute_path", "notebook_path", "path", "pattern", "url",
                   "query", "description", "prompt")


def one_line(text: str, limit: int = 120) -> str:
    """The first line of ``text``, cut to ``limit`` characters, with a marker when anything was cut."""
    text = text.strip()
    first, _, rest = text.partition("\n")
    cut = len(first) > limit
    first = first[:limit]
    if cut or rest:
        first = first.rstrip() + " …"
    return first


def tool_summary(use: Mapping[str, Any], limit: int = 120) -> str:
    """A one-line summary of a tool call (a ``tool_use`` block) by its kind: the command, the
    path, the pattern…; a block without a kind (an older log) by its input's fields."""
    tool_input = use.get("input")
    if not isinstance(tool_input, dict):
        tool_input = {}
    command, path = use.get("command"), use.get("path")
    if isinstance(command, str) and command.strip():
        return one_line("$ " + command, limit)
    kind = use.get("kind") if isinstance(use.get("kind"), str) else ""
    if isinstance(path, str) and path and kind in ("edit", "read"):
        return one_line(path, limit)
    if not tool_input:
        return one_line(path, limit) if isinstance(path, str) else ""
    for key in _KIND_FIELDS.get(kind, ()) + _GENERIC_FIELDS:
        value = tool_input.get(key)
        if isinstance(value, str) and value.strip():
            prefix = "$ " if key == "command" else ""
            return one_line(prefix + value, limit)
    if isinstance(tool_input.get("todos"), list):
        return f"{len(tool_input['todos'])} todos"
    questions = tool_input.get("questions")
    if isinstance(questions, list) and questions:
        # OpenCode's question tool (and Claude Code's AskUserQuestion): the question itself.
        first = questions[0].get("question") if isinstance(questions[0], dict) else None
        if isinstance(first, str) and first.strip():
            more = f" (+{len(questions) - 1} more)" if len(questions) > 1 else ""
            return one_line(first, limit - len(more)) + more
    try:
        compact = json.dumps(tool_input, ensure_ascii=False, separators=(", ", ": "))
    except (TypeError, ValueError):
        compact = str(tool_input)
    return one_line(compact, limit)


def as_text(value: Any) -> str:
    """Tool output as text: strings as they are, lists of content parts joined, the rest as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = []
        for item in value:
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                parts.append(item["text"])
            else:
                parts.append(as_text(item))
        return "\n".join(parts)
    try:
        return json.dumps(value, ensure_ascii=False, indent=2)
    except (TypeError, ValueError):
        return str(value)


def clip(text: str, max_chars: int = 4000, max_lines: int = 40) -> tuple[str, int]:
    """``text`` cut for display; returns the shown part and how many characters were left out."""
    lines = text.split("\n", max_lines)
    shown = "\n".join(lines[:max_lines])
    if len(shown) > max_chars:
        shown = shown[:max_chars]
    return shown, len(text) - len(shown)


def human_size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{count} B"


#: Hosts a server listens on that no client can dial.
_WILDCARD_HOSTS = ("0.0.0.0", "::", "[::]", "")


def share_url(url: str, local_address: str | None = None) -> str:
    """``url`` as another machine would dial it: a wildcard bind (0.0.0.0, ::) becomes this
    machine's address (``local_address``, else the one its default route uses)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if host not in _WILDCARD_HOSTS and f"[{host}]" not in _WILDCARD_HOSTS:
        return url
    address = local_address or _primary_address()
    if ":" in address:
        address = f"[{address}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{address}{port}{parts.path}"


def _primary_address() -> str:
    """The address of the interface the default route uses (a UDP connect sends nothing)."""
    import socket

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere real
            address = probe.getsockname()[0]
            if address and not address.startswith("0."):
                return str(address)
    except OSError:
        pass
    return socket.gethostname()


def connect_command(url: str, token: str | None) -> str:
    """The shell command that attaches another terminal to this runtime."""
    import shlex

    command = f"agent-tui --connect {shlex.quote(url)}"
    return f"AGENT_TUI_TOKEN={shlex.quote(token)} {command}" if token else command


def error_message(exc: BaseException) -> str:
    """What to tell the user about a refusal: the runtime's message, else the exception's text or name."""
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__
