"""The built-in backends, listed in this one place: ``local`` and ``modal`` (SPEC §6).

``modal``'s module is imported only when a Modal sandbox is made or swept (its own SDK import
is later still): registering it costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from .kind import Capabilities, PrimitiveContext, PrimitiveKind
from .local import LocalPrimitive
from .local import sweep_orphans as sweep_local

if TYPE_CHECKING:
    from ..config import RuntimeConfig
    from .base import EnvironmentPrimitive


class LocalKind(PrimitiveKind):
    """A folder per session under the data dir; bubblewrap when the host has it."""

    name: ClassVar[str] = "local"
    capabilities: ClassVar[Capabilities] = Capabilities(
        on_host=True,
        in_place=True,
        session_sweep=True,
        # A stat: cheap enough to check every second while a query runs.
        liveness_check_s=1.0,
        isolation=True,
    )
    primitive_class: ClassVar[type | None] = LocalPrimitive

    def create(self, session_id: str, context: PrimitiveContext) -> EnvironmentPrimitive:
        return LocalPrimitive(context.config.resolved_data_dir(), session_id, context.isolation_policy())

    async def delete_session(self, context: PrimitiveContext, session_id: str) -> None:
        await LocalPrimitive(context.config.resolved_data_dir(), session_id).destroy()

    async def sweep_session(self, context: PrimitiveContext, session_id: str) -> int:
        return await sweep_local(context.config.resolved_data_dir(), session_id)


class ModalKind(PrimitiveKind):
    """A Modal sandbox per session (docs/modal.md)."""

    name: ClassVar[str] = "modal"
    capabilities: ClassVar[Capabilities] = Capabilities(file_sync=True, reattach=True, orphan_sweep=True)

    def create(self, session_id: str, context: PrimitiveContext) -> EnvironmentPrimitive:
        from .modal import ModalPrimitive

        return ModalPrimitive(session_id, context.config, context.agent_packages())

    def available(self, config: RuntimeConfig) -> tuple[bool, str | None]:
        from .modal import modal_available  # does not import the modal SDK

        return modal_available(config)

    async def sweep_orphans(self, context: PrimitiveContext, owned_environment_ids: set[str]) -> int:
        from .modal import sweep_orphans

        return await sweep_orphans(context.config, owned_environment_ids)


#: Registered first, in this order (the order the TUI offers them), by registry.py.
BUILTINS: tuple[PrimitiveKind, ...] = (LocalKind(), ModalKind())
