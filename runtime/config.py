"""RuntimeConfig: everything an embedder sets (SPEC §9). Paths default to the platform's user dirs."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

APP_NAME = "agent-tui"


@dataclass
class ModalConfig:
    token_id: str | None = None
    token_secret: str | None = None
    app_name: str = "agent-tui"
    #: Hard cap on a sandbox's life, seconds (Modal allows at most 24 h).
    timeout_s: int = 6 * 60 * 60


@dataclass
class RuntimeConfig:
    #: SQLite file; default ``agent-tui.db`` in the platform user data dir (or ``AGENT_TUI_DB``).
    db_path: Path | str | None = None
    #: Any persistence adapter instance (overrides ``db_path``), e.g. ``MemoryStore()``.
    persistence: Any = None
    #: ``postgresql://...``: use the Postgres store instead of SQLite (a multi-node team server).
    database_url: str | None = None
    primitive: str = "local"
    modal: ModalConfig | None = None
    idle_timeout_ms: int = 15 * 60 * 1000
    #: A quiet session's reduced log is dropped from memory after this long with no subscriber and
    #: nobody opening it (its stored summary stays for the list); ``0``: never.
    evict_after_s: float = 600.0
    #: Set to serve HTTP + Socket.IO from the same process (used by ``agent-tui --serve``).
    websocket_port: int | None = None
    websocket_host: str = "127.0.0.1"
    #: Bearer token of that server; None: one is generated (read it from ``runtime.server.token``).
    token: str | None = None
    #: Serve without a token: only allowed when ``websocket_host`` is loopback (docs/security.md).
    no_auth: bool = False
    #: Extra ``Host`` names the server answers to (a reverse proxy's or a team box's DNS name).
    allowed_hosts: list[str] = field(default_factory=list)
    #: Write the token file a local ``agent-tui --connect`` reads (the CLI sets it; embedders opt in).
    write_token_file: bool = False
    #: Where local sandboxes live (one folder per session); default: ``<user data dir>/sandboxes``.
    data_dir: Path | str | None = None
    #: Where ``profiles/*.toml`` are read from; default: the platform user config dir.
    config_dir: Path | str | None = None
    #: How much output one shell tool result keeps before the truncation marker.
    tool_output_limit: int = 1024 * 1024
    #: Python used to run the runner in local sandboxes.
    runner_python: str = field(default_factory=lambda: sys.executable or "python3")
    #: Extra directories searched for agent CLIs (e.g. ``tests/node/node_modules/.bin``).
    agent_bin_dirs: list[str] = field(default_factory=list)
    #: Host environment the profiles' ``env`` names are taken from (default: ``os.environ``).
    host_env: dict[str, str] | None = None
    #: Seconds an interrupted agent gets to stop after SIGTERM before its group is SIGKILLed.
    interrupt_grace_s: float = 1.0
    #: Run local sandboxes under bubblewrap when it works here (False: ``--no-isolation``).
    isolation: bool = True
    #: Seconds a tool permission request may wait for an answer before it is denied (None: forever).
    permission_timeout_s: float | None = None

    def resolved_db_path(self) -> Path:
        if self.db_path is not None:
            return Path(self.db_path).expanduser()
        env = os.environ.get("AGENT_TUI_DB")
        if env:
            return Path(env).expanduser()
        return Path(platformdirs.user_data_dir(APP_NAME)) / "agent-tui.db"

    def resolved_data_dir(self) -> Path:
        if self.data_dir is not None:
            return Path(self.data_dir).expanduser()
        if self.db_path is not None or os.environ.get("AGENT_TUI_DB"):
            # Keep sandboxes beside an explicit database, so a test's temp dir holds everything.
            return self.resolved_db_path().parent / "sandboxes"
        return Path(platformdirs.user_data_dir(APP_NAME)) / "sandboxes"

    def resolved_config_dir(self) -> Path:
        if self.config_dir is not None:
            return Path(self.config_dir).expanduser()
        return Path(platformdirs.user_config_dir(APP_NAME))
