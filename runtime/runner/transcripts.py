"""Saving and restoring an agent's own conversation files, per architecture.

Each architecture with a transcript registers ``read(request) -> transcript`` and
``load(request, transcript) -> None`` in ``HANDLERS`` (``transcript`` is any JSON value). The
shell agent has none.
"""

from __future__ import annotations

import importlib

from . import wire

# ``typing`` only for the type checker: importing it costs the runner ~2.5 ms of start-up per query.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: architecture id -> module in this package with ``read_transcript`` and ``load_transcript``.
HANDLERS: dict[str, str] = {
    "claude-code": "claude_transcript",
    "claude-sdk": "claude_transcript",
    "opencode": "opencode_transcript",
    "gemini-cli": "gemini_transcript",
    "acp": "acp_transcript",
    "acp-claude": "acp_transcript",
    "acp-gemini": "acp_transcript",
    "acp-codex": "acp_transcript",
    "acp-opencode": "acp_transcript",
}


def _handler(architecture: str) -> Any | None:
    name = HANDLERS.get(architecture)
    if name is None:
        return None
    try:
        return importlib.import_module(f".{name}", __package__)
    except ImportError:
        return None


def read_session_transcript(request: dict[str, Any]) -> int:
    handler = _handler(str(request.get("architecture")))
    transcript = handler.read_transcript(request) if handler else None
    wire.emit(wire.script_output(True, data={"transcript": transcript}))
    return 0


def load_session_transcript(request: dict[str, Any]) -> int:
    handler = _handler(str(request.get("architecture")))
    transcript = request.get("transcript")
    if handler is not None and transcript is not None:
        handler.load_transcript(request, transcript)
    wire.emit(wire.script_output(True))
    return 0
