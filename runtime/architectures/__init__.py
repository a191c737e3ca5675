"""Agent architectures: how each agent CLI is started in a sandbox. One module per agent."""

from __future__ import annotations

from ..errors import UnknownArchitecture
from .base import Architecture, Launch, LaunchContext, find_binary
from .shell import ShellArchitecture

#: Accepted alternative names (the original clients say ``claude-sdk``).
ALIASES = {"claude-sdk": "claude-code"}


def _load() -> dict[str, Architecture]:
    registry: dict[str, Architecture] = {"shell": ShellArchitecture()}
    try:
        from .claude_code import ClaudeCodeArchitecture

        registry["claude-code"] = ClaudeCodeArchitecture()
    except ImportError:
        pass
    try:
        from .opencode import OpenCodeArchitecture

        registry["opencode"] = OpenCodeArchitecture()
    except ImportError:
        pass
    try:
        from .gemini_cli import GeminiCliArchitecture

        registry["gemini-cli"] = GeminiCliArchitecture()
    except ImportError:
        pass
    try:
        from .acp import AcpArchitecture, builtins

        registry["acp"] = AcpArchitecture()
        for arch in builtins():
            registry[arch.id] = arch
    except ImportError:
        pass
    return registry


ARCHITECTURES: dict[str, Architecture] = _load()


def canonical_id(architecture: str) -> str:
    return ALIASES.get(architecture, architecture)


def get_architecture(architecture: str) -> Architecture:
    found = ARCHITECTURES.get(canonical_id(architecture))
    if found is None:
        known = ", ".join(sorted([*ARCHITECTURES, *ALIASES]))
        raise UnknownArchitecture(f"unknown architecture {architecture!r} (known: {known})")
    return found


__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "Launch",
    "LaunchContext",
    "canonical_id",
    "find_binary",
    "get_architecture",
]
