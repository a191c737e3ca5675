"""``shell``: no model; each message is a bash command run in the workspace. Offline demos and tests."""

from __future__ import annotations

import shutil

from ..config import RuntimeConfig
from ..models import ArchitectureInfo
from ..primitives.registry import capabilities
from .base import Launch, LaunchContext
from .spec import AgentSpec


class ShellArchitecture:
    id = "shell"
    display_name = "Shell (no model)"
    has_transcript = False

    def info(self, config: RuntimeConfig, primitive: str) -> ArchitectureInfo:
        if capabilities(primitive).on_host and shutil.which("bash") is None:
            return ArchitectureInfo(
                id=self.id, display_name=self.display_name, available=False, reason="bash is not installed"
            )
        return ArchitectureInfo(id=self.id, display_name=self.display_name, available=True)

    def launch(self, ctx: LaunchContext) -> Launch | None:
        return None  # the runner runs `bash -lc <prompt>` itself and coalesces its output


SPEC = AgentSpec(id="shell", architecture=ShellArchitecture)
