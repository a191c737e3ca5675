"""What kind of thing a tool call does, so clients switch on the kind, not on each CLI's tool names.

The kinds are ACP's ``ToolKind`` (the ones agent-tui shows differently): ``execute`` (a shell
command), ``edit`` (a file changed or written), ``read``, ``search``, ``fetch`` (the web),
``think`` (a plan, a todo list, a subtask) and ``other``. Each converter maps its CLI's tool
names to a kind; ``tool_fields`` then adds what the kind makes worth showing: ``command``,
``path`` and, for an edit, a unified ``diff``. Stdlib only; ships in the sandbox.
"""

from __future__ import annotations

import difflib

# ``typing`` only for the type checker: importing it costs the runner ~2.5 ms of start-up per query.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

KINDS = ("execute", "edit", "read", "search", "fetch", "think", "other")
#: Input keys naming the file a tool reads or changes, across the CLIs.
_PATH_KEYS = ("file_path", "filePath", "filepath", "absolute_path", "notebook_path", "path")
#: An edit's diff is for showing, so a huge one is cut.
MAX_DIFF = 64 * 1024


def tool_fields(kind: str, tool_input: dict[str, Any]) -> dict[str, Any]:
    """``kind`` plus the ``command`` / ``path`` / ``diff`` found in ``tool_input`` (wire names)."""
    fields: dict[str, Any] = {"kind": kind if kind in KINDS else "other"}
    command = tool_input.get("command")
    if kind == "execute" and isinstance(command, str) and command:
        fields["command"] = command
    if kind in ("edit", "read", "search"):
        for key in _PATH_KEYS:
            value = tool_input.get(key)
            if isinstance(value, str) and value:
                fields["path"] = value
                break
    if kind == "edit":
        diff = edit_diff(tool_input, fields.get("path") or "file")
        if diff:
            fields["diff"] = diff[:MAX_DIFF]
    return fields


def edit_diff(tool_input: dict[str, Any], path: str) -> str | None:
    """A unified diff of an edit: the one given (``diff``), or from ``old_string``/``new_string``."""
    given = tool_input.get("diff")
    if isinstance(given, str) and given:
        return given
    old, new = tool_input.get("old_string"), tool_input.get("new_string")
    if isinstance(old, str) and isinstance(new, str):
        return unified(old, new, path)
    return None


def unified(old: str, new: str, path: str) -> str:
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), f"a/{path}", f"b/{path}", n=2, lineterm="")
    return "\n".join(lines)


__all__ = ["KINDS", "edit_diff", "tool_fields", "unified"]
