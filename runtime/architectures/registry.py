"""The agent registry: every agent by name, from its ``AgentSpec``.

Built-ins are named in ``BUILTINS`` (and declared under ``[project.entry-points."agent_tui.agents"]``
in pyproject.toml, so they are listed the way a third party's are); third parties come through the
entry-point group ``agent_tui.agents`` (docs/agents/adding-an-agent.md). Each entry is loaded
alone: an agent whose import fails is logged as an error and stays listed as unavailable with the
reason, and choosing it raises ``AgentLoadError`` ("agent X failed to load: ..."), so it is never
silently missing while the others still work.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from ..config import RuntimeConfig
from ..errors import AgentLoadError, UnknownArchitecture
from ..models import ArchitectureInfo
from .base import Architecture, Launch, LaunchContext
from .spec import AgentSpec

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "agent_tui.agents"

#: Built-in agents: name -> ``module:attribute`` of their ``AgentSpec`` (the same values as the
#: entry points in pyproject.toml; a test keeps the two in step). Read here too so a checkout
#: installed before an agent was added still has it.
BUILTINS: dict[str, str] = {
    "shell": "runtime.architectures.shell:SPEC",
    "claude-code": "runtime.architectures.claude_code:SPEC",
    "opencode": "runtime.architectures.opencode:SPEC",
    "gemini-cli": "runtime.architectures.gemini_cli:SPEC",
    "acp": "runtime.architectures.acp:SPEC",
    "acp-claude": "runtime.architectures.acp:CLAUDE_SPEC",
    "acp-gemini": "runtime.architectures.acp:GEMINI_SPEC",
    "acp-codex": "runtime.architectures.acp:CODEX_SPEC",
    "acp-opencode": "runtime.architectures.acp:OPENCODE_SPEC",
}


class SpecArchitecture:
    """An agent's ``Architecture`` as the runtime uses it: the agent's own, plus what its spec
    adds to every launch (the sandbox-side converter the runner picks)."""

    def __init__(self, spec: AgentSpec, architecture: Architecture) -> None:
        self.spec = spec
        self.inner = architecture
        self.id = spec.id
        self.display_name = architecture.display_name
        self.has_transcript = architecture.has_transcript

    def info(self, config: RuntimeConfig, primitive: str) -> ArchitectureInfo:
        return self.inner.info(config, primitive)

    def launch(self, ctx: LaunchContext) -> Launch | None:
        launch = self.inner.launch(ctx)
        if launch is not None and launch.converter is None:
            launch.converter = self.spec.converter
        return launch

    def __getattr__(self, name: str) -> Any:
        # Agent-specific helpers (``binary``, ``files``, ...) stay reachable.
        return getattr(self.inner, name)


class BrokenAgent:
    """Stands in for an agent that failed to load: listed as unavailable, with the reason."""

    has_transcript = False

    def __init__(self, name: str, error: str) -> None:
        self.id = name
        self.display_name = name
        self.error = f"agent {name!r} failed to load: {error}"

    def info(self, config: RuntimeConfig, primitive: str) -> ArchitectureInfo:
        return ArchitectureInfo(id=self.id, display_name=self.display_name, available=False, reason=self.error)

    def launch(self, ctx: LaunchContext) -> Launch | None:
        raise AgentLoadError(self.error)


_agents: dict[str, SpecArchitecture | BrokenAgent] = {}
_aliases: dict[str, str] = {}
_lock = threading.RLock()
_loaded = False


def _load_one(name: str, value: str, origin: str) -> None:
    try:
        module_name, _, attribute = value.partition(":")
        loaded: Any = importlib.import_module(module_name)
        for part in attribute.split(".") if attribute else []:
            loaded = getattr(loaded, part)
        register(loaded, origin=origin, name=name)
    except Exception as exc:  # noqa: BLE001 - any failure of a plugin is reported, never fatal to the others
        error = f"{type(exc).__name__}: {exc}"
        log.error("agent %r (%s) failed to load: %s", name, origin, error)
        with _lock:
            _agents.setdefault(name, BrokenAgent(name, error))


def register(spec: AgentSpec, *, origin: str = "", name: str | None = None) -> SpecArchitecture:
    """Add an agent. Raises ``AgentLoadError`` for a spec that is not one, a name that differs
    from its entry point's or from its architecture's id, or a name already taken."""
    where = f" ({origin})" if origin else ""
    if not isinstance(spec, AgentSpec):
        raise AgentLoadError(f"agent{where} is not an AgentSpec: {spec!r}")
    if name is not None and spec.id != name:
        raise AgentLoadError(f"agent{where} registers {spec.id!r}: the entry point's name must be the agent's id")
    with _lock:
        existing = _agents.get(spec.id)
        if isinstance(existing, SpecArchitecture):
            if existing.spec is spec:
                return existing  # a built-in also found through its entry point
            raise AgentLoadError(f"agent {spec.id!r}{where} is already registered")
        architecture = spec.architecture()
        if architecture.id != spec.id:
            raise AgentLoadError(f"agent {spec.id!r}{where}: its architecture's id is {architecture.id!r}")
        for alias in spec.aliases:
            if _aliases.get(alias, spec.id) != spec.id or alias in _agents:
                raise AgentLoadError(f"agent {spec.id!r}{where}: alias {alias!r} is already taken")
        wrapped = SpecArchitecture(spec, architecture)
        _agents[spec.id] = wrapped
        _aliases.update(dict.fromkeys(spec.aliases, spec.id))
    return wrapped


def unregister(name: str) -> None:
    with _lock:
        found = _agents.pop(name, None)
        if isinstance(found, SpecArchitecture):
            for alias in found.spec.aliases:
                _aliases.pop(alias, None)


def _ensure_loaded() -> None:
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        _loaded = True
        for name, value in BUILTINS.items():
            _load_one(name, value, "built-in")
        from importlib.metadata import entry_points

        for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if BUILTINS.get(entry.name) == entry.value:
                continue
            _load_one(entry.name, entry.value, f"entry point {entry.name!r} = {entry.value!r}")


def reload() -> None:
    """Forget every agent and read the built-ins and entry points again (after installing one; tests)."""
    global _loaded
    with _lock:
        _agents.clear()
        _aliases.clear()
        _loaded = False
    _ensure_loaded()


def canonical_id(architecture: str) -> str:
    _ensure_loaded()
    return _aliases.get(architecture, architecture)


def get_architecture(architecture: str) -> SpecArchitecture:
    """The agent called ``architecture`` (or one of its aliases). ``UnknownArchitecture`` names
    the known ones; ``AgentLoadError`` says why a registered agent cannot be used."""
    _ensure_loaded()
    found = _agents.get(canonical_id(architecture))
    if found is None:
        known = ", ".join(sorted([*_agents, *_aliases]))
        raise UnknownArchitecture(f"unknown architecture {architecture!r} (known: {known})")
    if isinstance(found, BrokenAgent):
        raise AgentLoadError(found.error)
    return found


def specs() -> list[AgentSpec]:
    """The specs of the agents that loaded, in registration order (built-ins first)."""
    _ensure_loaded()
    return [a.spec for a in _agents.values() if isinstance(a, SpecArchitecture)]


def npm_pins() -> dict[str, str]:
    """Every loaded agent's npm packages and versions (the remote sandbox image installs them)."""
    return {package: version for spec in specs() for package, version in spec.npm.items()}


class _View(Mapping[str, Any]):
    """A live read-only view of one of the registry's tables (loaded on first use)."""

    def __init__(self, table: dict[str, Any]) -> None:
        self._table = table

    def __getitem__(self, name: str) -> Any:
        _ensure_loaded()
        return self._table[name]

    def __iter__(self) -> Iterator[str]:
        _ensure_loaded()
        return iter(list(self._table))

    def __len__(self) -> int:
        _ensure_loaded()
        return len(self._table)


#: Every registered agent by id, broken ones included (they list as unavailable).
ARCHITECTURES: Mapping[str, SpecArchitecture | BrokenAgent] = _View(_agents)
#: Alias -> agent id.
ALIASES: Mapping[str, str] = _View(_aliases)
