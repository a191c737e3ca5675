"""A third sandbox backend, ``fake``, registered only by the tests that use it (never a list edit).

Its sandboxes are folders under ``<data dir>/fake/`` run like local ones (no isolation), but it
declares none of the optional capabilities, while its primitive HAS every optional hook
(``attach`` that would succeed, ``expose_readonly``, a ``liveness_check_s`` attribute). So a session
layer that probed the object instead of reading the declared ``Capabilities`` would call them,
and ``calls`` shows it.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, ClassVar

from runtime.primitives.kind import Capabilities, PrimitiveContext, PrimitiveKind
from runtime.primitives.local import LocalPrimitive


class FakePrimitive(LocalPrimitive):
    name = "fake"
    #: What the old ``getattr(primitive, "liveness_check_s")`` probe read; the kind does not declare it.
    liveness_check_s = 0.01

    def __init__(self, root: Path, session_id: str, kind: FakeKind) -> None:
        super().__init__(root, session_id)
        self.name = kind.name
        self.kind = kind

    async def start(self) -> None:
        await super().start()
        self._id = f"{self.kind.name}-{uuid.uuid4().hex[:12]}"

    async def is_running(self) -> bool:
        self.kind.calls.append(("is_running",))
        return await super().is_running()

    async def attach(self, environment_id: str) -> bool:
        """Take over a sandbox of a previous run: its folder is still there."""
        self.kind.calls.append(("attach", environment_id))
        if not environment_id.startswith(f"{self.kind.name}-") or not (self.root / "app").is_dir():
            return False
        self._id = environment_id
        return True

    def expose_readonly(self, paths: list[str]) -> None:
        self.kind.calls.append(("expose_readonly", paths))


class FakeKind(PrimitiveKind):
    name: ClassVar[str] = "fake"
    capabilities: ClassVar[Capabilities] = Capabilities()
    primitive_class: ClassVar[type | None] = FakePrimitive

    def __init__(self) -> None:
        #: Every optional hook called on its primitives, in order.
        self.calls: list[tuple[Any, ...]] = []

    def create(self, session_id: str, context: PrimitiveContext) -> FakePrimitive:
        return FakePrimitive(context.config.resolved_data_dir() / self.name, session_id, self)

    def hook_calls(self, hook: str) -> list[tuple[Any, ...]]:
        return [call for call in self.calls if call[0] == hook]


class ReattachingFakeKind(FakeKind):
    """The same backend, declaring that its sandboxes outlive agent-tui."""

    name: ClassVar[str] = "fake-reattach"
    capabilities: ClassVar[Capabilities] = Capabilities(reattach=True)
