"""What a sandbox backend is: its declared ``Capabilities`` and its ``PrimitiveKind`` (the factory
plus the hooks some capabilities name). The registry (registry.py) holds kinds by name."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from ..config import RuntimeConfig
    from .base import EnvironmentPrimitive
    from .isolation import SandboxPolicy


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do beyond the SPEC §6 protocol. Each flag is checked by exactly one
    place in the session layer (named below); a backend without it gets the fallback named."""

    #: The sandbox runs on this machine and its session folder is a host folder that outlives the
    #: sandbox: the runner's python and the agent CLIs are the host's, a session's files are
    #: readable while no sandbox runs (an unstarted primitive serves ``read_file``/``list_files``),
    #: a workspace's worktree is linked into the session folder and watched for ``file:*`` events,
    #: and a workspace's setup runs once per worktree. Without: ``python3`` and the CLIs on the
    #: sandbox's PATH, no files while stopped, setup in every new sandbox.
    on_host: bool = False
    #: Workspaces in mode ``in-place`` (the agent works in the project folder itself). Without:
    #: such a create is refused with ``INVALID_REQUEST``.
    in_place: bool = False
    #: A workspace's worktree is uploaded when the sandbox starts and the agent's changes are
    #: downloaded after every query and before the sandbox ends (``runtime/workspaces/sync.py``,
    #: over the primitive's ``run_capture``). A backend with neither this nor ``on_host`` cannot
    #: hold a workspace: such a create is refused.
    file_sync: bool = False
    #: The sandbox outlives agent-tui: after a restart, a session whose sandbox was ready calls
    #: ``primitive.attach(environment_id)``. Without: the session is closed cleanly
    #: (``ee:terminated {reason: shutdown}``) and the next message starts a new sandbox.
    reattach: bool = False
    #: At start-up, ``kind.sweep_orphans(context, owned_environment_ids)`` ends this backend's
    #: sandboxes that no session owns (they cost money until their timeout).
    orphan_sweep: bool = False
    #: When a session is loaded, ``kind.sweep_session(context, session_id)`` kills what a dead
    #: agent-tui left running in its sandbox.
    session_sweep: bool = False
    #: Seconds between ``is_running()`` checks while a query runs (for backends where the check is
    #: cheap): a sandbox gone under the agent stops it. None: no checks during a query.
    liveness_check_s: float | None = None
    #: The sandbox confines what it may read of the host: ``primitive.expose_readonly(paths)``
    #: opens host folders it needs (a worktree's repository git dir), and the kind takes the
    #: host isolation policy (``PrimitiveContext.isolation_policy``).
    isolation: bool = False

    def names(self) -> list[str]:
        """The capabilities this backend has, for messages and docs."""
        return [f.name for f in fields(self) if getattr(self, f.name)]


@dataclass(frozen=True)
class PrimitiveContext:
    """What a kind needs from the runtime to make a sandbox."""

    config: RuntimeConfig
    #: The host isolation policy (bubblewrap), detected on first call; None: not isolated.
    isolation_policy: Callable[[], SandboxPolicy | None] = lambda: None
    #: The registered agents' npm pins (package -> version), for images built off this host.
    agent_packages: Callable[[], Mapping[str, str]] = dict


#: The hook each capability requires on the kind (``kind``) or on its primitive class (``primitive``).
HOOKS: Mapping[str, tuple[str, str]] = {
    "reattach": ("primitive", "attach"),
    "orphan_sweep": ("kind", "sweep_orphans"),
    "session_sweep": ("kind", "sweep_session"),
    "isolation": ("primitive", "expose_readonly"),
    "file_sync": ("primitive", "run_capture"),
}


class PrimitiveKind:
    """One sandbox backend. Subclass it, set ``name`` and ``capabilities``, implement ``create``
    and the hooks your capabilities name; register an instance (or the class)."""

    name: ClassVar[str] = ""
    capabilities: ClassVar[Capabilities] = Capabilities()
    #: The primitive class ``create`` returns, checked at registration for the hooks the
    #: capabilities require (None: not checked, e.g. to keep an expensive module unimported).
    primitive_class: ClassVar[type | None] = None

    def create(self, session_id: str, context: PrimitiveContext) -> EnvironmentPrimitive:
        raise NotImplementedError

    def available(self, config: RuntimeConfig) -> tuple[bool, str | None]:
        """Whether sandboxes can start here (credentials, binaries), and why not. Must be cheap."""
        return True, None

    async def delete_session(self, context: PrimitiveContext, session_id: str) -> None:
        """The session was deleted: remove what it left on this host (nothing by default)."""

    async def sweep_orphans(self, context: PrimitiveContext, owned_environment_ids: set[str]) -> int:
        raise NotImplementedError

    async def sweep_session(self, context: PrimitiveContext, session_id: str) -> int:
        raise NotImplementedError
