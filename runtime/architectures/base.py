"""What an agent architecture tells the runtime: how to start its CLI and whether it can."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..config import RuntimeConfig
from ..models import AgentProfile, ArchitectureInfo
from ..primitives.registry import DEFAULT_PRIMITIVE, capabilities


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
    primitive: str = DEFAULT_PRIMITIVE
    #: A fork's first query: the session whose copied conversation the agent resumes as its own.
    fork_of: str | None = None

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
    #: The sandbox-side converter module (the agent's ``AgentSpec.converter``), set by the registry.
    converter: str | None = None

    def wire(self) -> dict[str, Any]:
        wired: dict[str, Any] = {"argv": self.argv, "env": self.env}
        if self.converter:
            wired["converter"] = self.converter
        return wired


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


def host_env_of(config: RuntimeConfig) -> Mapping[str, str]:
    """The host's environment as the runtime sees it: ``config.host_env``, else ``os.environ``."""
    return config.host_env if config.host_env is not None else os.environ


def locate_cli(binary: str, binary_env: str, config: RuntimeConfig, primitive: str = DEFAULT_PRIMITIVE) -> str | None:
    """The CLI to run: a configured path (the host variable ``binary_env``), else the first
    ``binary`` in ``agent_bin_dirs`` or on ``PATH``. In a sandbox not on this host it is the one
    on the sandbox's PATH (plain ``binary``)."""
    if not capabilities(primitive).on_host:
        return binary
    return find_binary(binary, host_env_of(config).get(binary_env) or None, config.agent_bin_dirs)


def cli_info(
    arch: Architecture,
    path: str | None,
    config: RuntimeConfig,
    *,
    binary_env: str,
    missing: str,
    install_hint: str,
) -> ArchitectureInfo:
    """``ArchitectureInfo`` for a CLI-based architecture whose CLI was looked up as ``path``:
    unavailable with the reason (the configured path is not executable, or ``missing`` is not on
    PATH) and how to install it (``install_hint``) when ``path`` is None."""
    if path is None:
        configured = host_env_of(config).get(binary_env)
        where = (
            f"{binary_env}={configured} is not executable"
            if configured
            # Named by what a user of the command line can set (agent_bin_dirs is for embedders).
            else f"{missing} is not on PATH (or set {binary_env} to its path)"
        )
        return ArchitectureInfo(
            id=arch.id,
            display_name=arch.display_name,
            available=False,
            reason=f"{where}; install it with `{install_hint}`",
        )
    return ArchitectureInfo(id=arch.id, display_name=arch.display_name, available=True)
