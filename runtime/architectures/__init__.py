"""Agent architectures: how each agent CLI is started in a sandbox. One module (and one
``AgentSpec``) per agent, registered through the entry-point group ``agent_tui.agents``
(``registry.py``)."""

from __future__ import annotations

from .base import Architecture, Launch, LaunchContext, find_binary
from .registry import (
    ALIASES,
    ARCHITECTURES,
    ENTRY_POINT_GROUP,
    AgentLoadError,
    canonical_id,
    get_architecture,
    npm_pins,
    specs,
)
from .spec import AgentSpec

__all__ = [
    "ALIASES",
    "ARCHITECTURES",
    "ENTRY_POINT_GROUP",
    "AgentLoadError",
    "AgentSpec",
    "Architecture",
    "Launch",
    "LaunchContext",
    "canonical_id",
    "find_binary",
    "get_architecture",
    "npm_pins",
    "specs",
]
