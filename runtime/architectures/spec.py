"""One agent's host-side description: everything the runtime needs to know about it in one place.

An ``AgentSpec`` is what an agent package registers (entry-point group ``agent_tui.agents``,
docs/agents/adding-an-agent.md): how to start it (its ``Architecture``, which also answers
whether it can run here), the npm packages baked into remote sandbox images, the host variables
it reads, and the names of its sandbox-side modules (the converter in ``runtime/runner/converters``,
the transcript handler in ``runtime/runner``), which the runner looks up by these names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .base import Architecture


@dataclass(frozen=True)
class AgentSpec:
    #: The wire name (``CreateSessionArgs.architecture``); must equal ``architecture().id``.
    id: str
    #: Builds the agent's ``Architecture`` (launch + availability); called once, when first used.
    architecture: Callable[[], Architecture]
    #: Other names accepted for this agent (the original clients say ``claude-sdk``).
    aliases: tuple[str, ...] = ()
    #: npm package -> pinned version, installed in images of sandboxes not on this host (Modal).
    npm: dict[str, str] = field(default_factory=dict)
    #: Host variables the agent reads: the one naming its CLI's path, and keys/URLs a profile may pass.
    env: tuple[str, ...] = ()
    #: Module in the sandbox's converters package with ``make_converter(request)``; None: the base
    #: converter (one JSON event per stdout line).
    converter: str | None = None
    #: Module in the sandbox's runner package with ``read_transcript`` / ``load_transcript``.
    transcript: str | None = None


__all__ = ["AgentSpec"]
