"""What an agent architecture tells the runtime: how to start its CLI and whether it can."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..config import RuntimeConfig
from ..models import AgentProfile, ArchitectureInfo


@dataclass
class LaunchContext:
    """Everything an architecture needs to build the agent's command line for one query."""

    session_id: str
    message_id: str
    prompt: str
    session_dir: str  # the session folder inside the sandbox: app/, workspace/, home/
    profile: AgentProfile
    session_options: dict[str, Any]
    #: True when an earlier query of this session ran (the agent should resume its conversation).
    resume: bool
    host_env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    #: Tools allowed for this session on top of the profile's (``allow_always`` answers).
    extra_allowed_tools: list[str] = field(default_factory=list)
    #: The runtime's configuration (``agent_bin_dirs``, ``primitive``, ...).
    config: RuntimeConfig = field(default_factory=RuntimeConfig)
    #: Which primitive the sandbox runs on (``local`` paths differ from ``modal`` ones).
    primitive: str = "local"

    @property
    def workspace(self) -> str:
        return os.path.join(self.session_dir, "workspace")

    @property
    def home(self) -> str:
        return os.path.join(self.session_dir, "home")

    def passthrough_env(self) -> dict[str, str]:
        """Host variables the profile names (SPEC §8 ``env``), and only those."""
        return {name: self.host_env[name] for name in self.profile.env if name in self.host_env}


@dataclass
class Launch:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)

    def wire(self) -> dict[str, Any]:
        return {"argv": self.argv, "env": self.env}


class Architecture(Protocol):
    id: str
    display_name: str
    #: Whether the runner saves/restores the agent's own transcript for this architecture.
    has_transcript: bool

    def info(self, config: RuntimeConfig, primitive: str) -> ArchitectureInfo:
        """Whether this agent can run on ``primitive`` here, and why not (e.g. its CLI is missing)."""
        ...

    def launch(self, ctx: LaunchContext) -> Launch | None: ...


def find_binary(name: str, configured: str | None = None, extra_dirs: list[str] | None = None) -> str | None:
    """A CLI's path: the configured one, else the first on PATH or in ``extra_dirs``."""
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    path = os.pathsep.join([*(extra_dirs or []), os.environ.get("PATH", "")])
    return shutil.which(name, path=path)
