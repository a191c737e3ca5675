"""Gemini CLI over ACP: tool output its ``tool_call_update`` leaves out. Stdlib only.

Gemini CLI 0.61.0 runs its own tools (not through the client's ``terminal/*``) and completes a
tool call with empty ``content`` and no ``rawOutput``; what the tool returned is only in its chat
file (``~/.gemini/tmp/<project>/chats/session-*-<uuid8>.jsonl``, the ACP session id being the
chat's uuid), as the function response it sent the model. ``tool_outputs`` reads it from there.
"""

from __future__ import annotations

import glob
import os

from .gemini_cli import _UNTRUSTED, function_responses, parse_records, shell_exit_code

# ``typing`` only for the type checker: importing it costs the runner ~2.5 ms of start-up per query.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_SHELL_TAIL_PREFIXES = ("Error: ", "Exit Code: ", "Signal: ", "Background PIDs: ", "Process Group PGID: ")


def readable(text: str) -> str:
    """A shell response (``<untrusted_context>Output: ...\\nProcess Group PGID: N``) as the
    command's output; anything else as it is."""
    body = text.strip()
    if body.startswith(_UNTRUSTED[0]) and body.endswith(_UNTRUSTED[1]):
        body = body[len(_UNTRUSTED[0]):-len(_UNTRUSTED[1])].strip("\n")
    if not body.startswith("Output: "):
        return text
    lines = body[len("Output: "):].split("\n")
    while len(lines) > 1 and lines[-1].startswith(_SHELL_TAIL_PREFIXES):
        lines.pop()
    output = "\n".join(lines)
    return "" if output == "(empty)" else output + "\n"


def tool_outputs(home: str, session_id: str, call_ids: list[str]) -> dict[str, tuple[str, int | None]]:
    """``call id -> (output, exit code or None)`` for the calls the chat files have answers for."""
    records: list[dict[str, Any]] = []
    pattern = os.path.join(home, ".gemini", "tmp", "*", "chats", f"session-*-{session_id[:8]}.json*")
    for path in sorted(glob.glob(pattern)):
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
        except OSError:
            continue
        records.extend(r for line in text.splitlines() for r in parse_records(line))
    responses = function_responses(records)
    found: dict[str, tuple[str, int | None]] = {}
    for call_id in call_ids:
        body = responses.get(call_id, {}).get("response")
        output = body.get("output") if isinstance(body, dict) else None
        if output is None and isinstance(body, dict) and body.get("error") is not None:
            output = str(body["error"])
        if isinstance(output, str):
            found[call_id] = (readable(output), shell_exit_code(output))
    return found
