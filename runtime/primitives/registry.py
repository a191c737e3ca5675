"""The primitive registry: every sandbox backend by name, with what it can do declared up front.

A backend is a ``PrimitiveKind``: its wire name (``CreateSessionArgs.primitive``), a frozen
``Capabilities`` and a factory for one sandbox (``create``). The session layer asks the kind's
capabilities, never the primitive object (no ``getattr`` probes), so a new backend is one module
and one registration, and what it lacks is handled the same way for every backend.

Built-ins (``local``, ``modal``) are listed in ``builtin.py`` and registered first; third
parties come through the entry-point group ``agent_tui.primitives`` (docs/primitives.md). A plugin that fails to load,
clashes with a registered name, or declares a capability without its hook is an error
(``PrimitivePluginError``), never silently skipped.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import AgentTuiError, InvalidRequest
from .kind import HOOKS, Capabilities, PrimitiveContext, PrimitiveKind

ENTRY_POINT_GROUP = "agent_tui.primitives"
#: A stored session without a ``primitive`` field predates the field: it ran locally.
DEFAULT_PRIMITIVE = "local"


class UnknownPrimitive(InvalidRequest):
    code = "INVALID_REQUEST"


class PrimitivePluginError(AgentTuiError):
    """A registration is broken: a plugin that does not load, a name clash, a missing hook."""

    code = "PRIMITIVE_PLUGIN_ERROR"


_kinds: dict[str, PrimitiveKind] = {}
_lock = threading.RLock()  # re-entered: loading registers
_loaded = False
#: A broken plugin found at loading: raised again on every lookup, so it is never half-ignored.
_broken: PrimitivePluginError | None = None


def register(kind: PrimitiveKind | type[PrimitiveKind], *, origin: str = "") -> PrimitiveKind:
    """Add a backend. Raises ``PrimitivePluginError`` for a bad name, a name already taken or a
    capability whose hook is missing."""
    instance = kind() if isinstance(kind, type) else kind
    where = f" ({origin})" if origin else ""
    if not isinstance(instance, PrimitiveKind):
        raise PrimitivePluginError(f"primitive{where} is not a PrimitiveKind: {instance!r}")
    name = instance.name
    if not isinstance(name, str) or not name or not name.replace("-", "").replace("_", "").isalnum():
        raise PrimitivePluginError(f"primitive{where} has an invalid name {name!r} (letters, digits, - and _)")
    if type(instance).create is PrimitiveKind.create:
        raise PrimitivePluginError(f"primitive {name!r}{where} has no create()")
    if not isinstance(instance.capabilities, Capabilities):
        raise PrimitivePluginError(f"primitive {name!r}{where}: capabilities must be a Capabilities")
    for capability in instance.capabilities.names():
        owner, hook = HOOKS.get(capability, ("", ""))
        target = instance if owner == "kind" else instance.primitive_class if owner == "primitive" else None
        if target is None:
            continue
        declared = getattr(type(target) if owner == "kind" else target, hook, None)
        if declared is None or declared is getattr(PrimitiveKind, hook, None):
            raise PrimitivePluginError(
                f"primitive {name!r}{where} declares {capability!r} but its {owner} has no {hook}()"
            )
    with _lock:
        if name in _kinds and _kinds[name] is not instance:
            raise PrimitivePluginError(f"primitive {name!r}{where} is already registered")
        _kinds[name] = instance
    return instance


def unregister(name: str) -> None:
    with _lock:
        _kinds.pop(name, None)


@contextmanager
def registered(kind: PrimitiveKind | type[PrimitiveKind]) -> Iterator[PrimitiveKind]:
    """Register ``kind`` for the duration of a block (tests, embedders trying a backend)."""
    instance = register(kind)
    try:
        yield instance
    finally:
        unregister(instance.name)


def _ensure_loaded() -> None:
    global _loaded, _broken
    if not _loaded:
        with _lock:
            if not _loaded:
                _loaded = True
                from .builtin import BUILTINS

                for builtin in BUILTINS:
                    register(builtin, origin="built-in")
                try:
                    _load_entry_points()
                except PrimitivePluginError as exc:
                    _broken = exc
    if _broken is not None:
        raise _broken


def _load_entry_points() -> None:
    from importlib.metadata import entry_points

    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        origin = f"entry point {entry.name!r} = {entry.value!r} in group {ENTRY_POINT_GROUP!r}"
        try:
            loaded = entry.load()
        except Exception as exc:
            raise PrimitivePluginError(f"cannot load {origin}: {type(exc).__name__}: {exc}") from exc
        kind = register(loaded, origin=origin)
        if kind.name != entry.name:
            unregister(kind.name)
            raise PrimitivePluginError(f"{origin} registers {kind.name!r}: the entry point's name must be the primitive's")


def reload() -> None:
    """Forget plugins and read the entry points again (after installing one; tests)."""
    global _loaded, _broken
    with _lock:
        _kinds.clear()
        _loaded, _broken = False, None
    _ensure_loaded()


def names() -> list[str]:
    """Registered backend names: built-ins first, in registration order."""
    _ensure_loaded()
    return list(_kinds)


def kinds() -> list[PrimitiveKind]:
    _ensure_loaded()
    return list(_kinds.values())


def get(name: str) -> PrimitiveKind:
    """The backend called ``name``; ``UnknownPrimitive`` (``INVALID_REQUEST``) naming the known ones."""
    _ensure_loaded()
    kind = _kinds.get(name) if isinstance(name, str) else None
    if kind is None:
        raise UnknownPrimitive(f"unknown primitive {name!r} (known: {', '.join(_kinds)})")
    return kind


def capabilities(name: str) -> Capabilities:
    return get(name).capabilities


__all__ = [
    "DEFAULT_PRIMITIVE",
    "ENTRY_POINT_GROUP",
    "Capabilities",
    "PrimitiveContext",
    "PrimitiveKind",
    "PrimitivePluginError",
    "UnknownPrimitive",
    "capabilities",
    "get",
    "kinds",
    "names",
    "register",
    "registered",
    "reload",
    "unregister",
]
