"""Converters: an agent CLI's output lines -> our events. Stdlib only; copied into the sandbox.

Used by the runner (as ``agent_runner.converters``) and by the host's tests and transcript
parsers (as ``runtime.runner.converters``), so modules here import only the stdlib, each other and the runner,
relatively.
"""

from __future__ import annotations

import importlib

from .base import Converter

# ``typing`` only for the type checker: importing it costs the runner ~2.5 ms of start-up per query.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: architecture id -> module (in this package) defining ``make_converter(request) -> Converter``,
#: for a request that does not name one (``launch.converter``, from the agent's ``AgentSpec``).
CONVERTER_MODULES: dict[str, str] = {
    "claude-code": "claude_code",
    "claude-sdk": "claude_code",
    "opencode": "opencode",
    "gemini-cli": "gemini_cli",
    "acp": "acp",
    "acp-claude": "acp",
    "acp-gemini": "acp",
    "acp-codex": "acp",
    "acp-opencode": "acp",
}


def get_converter(architecture: str, request: dict[str, Any]) -> Converter:
    named = (request.get("launch") or {}).get("converter")
    module_name = named if isinstance(named, str) and named.isidentifier() else CONVERTER_MODULES.get(architecture)
    if module_name is None:
        return Converter(request)
    module = importlib.import_module(f".{module_name}", __name__)
    return module.make_converter(request)


__all__ = ["CONVERTER_MODULES", "Converter", "get_converter"]
