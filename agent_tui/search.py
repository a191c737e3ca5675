"""Find text in a session's blocks (the model holds all of them, also those pruned from the screen)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runtime.reducer import SessionState

from .formatting import as_text


@dataclass(frozen=True)
class Match:
    block_id: str
    #: The subagent thread (tool use id) the block belongs to, ``None`` for the main conversation.
    thread_id: str | None = None


def block_text(block: dict[str, Any]) -> str:
    kind = block.get("type")
    if kind in ("user_message", "assistant_text", "thinking"):
        return str(block.get("content") or "")
    if kind == "tool_use":
        return f"{block.get('toolName', '')} {as_text(block.get('input'))}"
    if kind == "tool_result":
        return as_text(block.get("output"))
    if kind == "subagent":
        return f"{block.get('name', '')} {as_text(block.get('input'))} {as_text(block.get('output'))}"
    if kind in ("error", "system"):
        return str(block.get("message") or "")
    return str(block.get("content") or block.get("message") or "")


def find(state: SessionState, query: str) -> list[Match]:
    """Blocks containing ``query`` (case-insensitive), in conversation order; a subagent's blocks
    follow the block that started it."""
    needle = query.casefold()
    if not needle:
        return []
    matches: list[Match] = []
    threads = state.subagents
    for block in state.blocks:
        if needle in block_text(block).casefold():
            matches.append(Match(block["id"]))
        tool_use_id = block.get("toolUseId")
        if block.get("type") in ("tool_use", "subagent") and tool_use_id in threads:
            for inner in threads[tool_use_id].blocks:
                if needle in block_text(inner).casefold():
                    matches.append(Match(inner["id"], tool_use_id))
    return matches
