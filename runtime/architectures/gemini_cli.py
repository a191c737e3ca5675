"""``gemini-cli``: Google's Gemini CLI (``@google/gemini-cli``) in headless mode.

One query is one ``gemini -o stream-json --prompt=<prompt>`` run: its JSON lines go through
``converters/gemini_cli.py``. The conversation has a fixed uuid derived from our session id:
``--session-id <uuid>`` starts it, ``--resume <uuid>`` continues it (the runner-side converter
swaps the two to match what the sandbox has). Gemini CLI's chat files are saved and restored by
``runner/gemini_transcript.py``, so a new sandbox resumes the conversation too.

Settings: the host sends them in ``AGENT_TUI_GEMINI_SETUP`` and the converter's ``prepare``
merges them into the session home's ``~/.gemini/settings.json`` (never the host user's): no
auto-update or update notices, no usage statistics or telemetry, no IDE connection, and the
API-key auth method when the profile passes ``GEMINI_API_KEY`` (the CLI refuses to start
headless without a selected method). ``GOOGLE_GEMINI_BASE_URL`` passes through when the profile
names it (the CLI then talks to that endpoint). The profile's system prompt becomes
``~/.gemini/GEMINI.md``, the global context file the CLI adds to every conversation.

Permissions (profile ``permissionMode``): ``bypass`` -> ``--approval-mode yolo`` (the sandbox is
the boundary); ``acceptEdits`` -> ``auto_edit``; ``ask`` -> ``default``, where headless Gemini CLI
does not run what would need an answer, plus the profile's ``allowedTools``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..config import RuntimeConfig
from ..models import ArchitectureInfo
from ..primitives.registry import DEFAULT_PRIMITIVE
from ..runner.converters.gemini_cli import SETUP_ENV
from ..runner.gemini_transcript import gemini_session_id
from .base import Launch, LaunchContext, cli_info, locate_cli
from .spec import AgentSpec

BINARY = "gemini"
#: Host variable naming a specific ``gemini`` executable (checked before PATH).
BINARY_ENV = "AGENT_TUI_GEMINI_PATH"
INSTALL_HINT = "npm install -g @google/gemini-cli"
#: Prompts longer than this go to the CLI's stdin instead of ``-p`` (one argv string is capped at
#: 128 KiB on Linux).
MAX_ARGV_PROMPT = 64 * 1024

APPROVAL_MODES = {"bypass": "yolo", "acceptEdits": "auto_edit", "ask": "default"}

#: Always set: trust the sandbox's workspace (headless runs refuse an untrusted folder), and no
#: relaunch of the CLI in a second Node process (it only tunes the heap, and doubles start-up).
FIXED_ENV = {
    "GEMINI_CLI_TRUST_WORKSPACE": "true",
    "GEMINI_CLI_NO_RELAUNCH": "true",
}


def settings_for(ctx: LaunchContext, passthrough: dict[str, str]) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
        "privacy": {"usageStatisticsEnabled": False},
        "telemetry": {"enabled": False},
        "ide": {"enabled": False},
    }
    if passthrough.get("GEMINI_API_KEY"):
        settings["security"] = {"auth": {"selectedType": "gemini-api-key"}}
    if ctx.profile.mcp_servers:
        settings["mcpServers"] = ctx.profile.mcp_servers
    return settings


class GeminiCliArchitecture:
    id = "gemini-cli"
    display_name = "Gemini CLI"
    has_transcript = True

    def binary(self, config: RuntimeConfig, primitive: str = DEFAULT_PRIMITIVE) -> str | None:
        """The ``gemini`` to run: a configured path (``AGENT_TUI_GEMINI_PATH``), else the first in
        ``agent_bin_dirs`` or on ``PATH``. In a remote sandbox, the one on the sandbox's PATH."""
        return locate_cli(BINARY, BINARY_ENV, config, primitive)

    def info(self, config: RuntimeConfig, primitive: str) -> ArchitectureInfo:
        return cli_info(self, self.binary(config, primitive), config, binary_env=BINARY_ENV,
                        missing="the Gemini CLI (`gemini`)", install_hint=INSTALL_HINT)

    def launch(self, ctx: LaunchContext) -> Launch:
        binary = self.binary(ctx.config, ctx.primitive) or BINARY
        passthrough = ctx.passthrough_env()
        mode = APPROVAL_MODES.get(ctx.profile.permission_mode, "yolo")
        argv = [binary, "-o", "stream-json", "--approval-mode", mode]
        model = ctx.session_options.get("model") or ctx.profile.model
        if model:
            argv += ["-m", str(model)]
        # The runner swaps these if the sandbox says otherwise (see GeminiCliConverter.prepare).
        argv += ["--resume" if ctx.resume else "--session-id", gemini_session_id(ctx.session_id)]
        allowed = [*ctx.profile.allowed_tools, *(t for t in ctx.extra_allowed_tools
                                                 if t not in ctx.profile.allowed_tools)]
        if allowed and mode != "yolo":
            argv += ["--allowed-tools", ",".join(allowed)]
        if len(ctx.prompt.encode("utf-8")) <= MAX_ARGV_PROMPT:
            # ``-p`` in its ``--prompt=`` form: a prompt starting with "-" stays a prompt.
            argv.append(f"--prompt={ctx.prompt}")
        # else: no ``-p``; the converter writes the prompt to the CLI's stdin (headless all the same).
        setup = {"settings": settings_for(ctx, passthrough), "instructions": ctx.profile.system_prompt}
        env = {
            **passthrough,
            **FIXED_ENV,
            "HOME": ctx.home,
            # Gemini CLI writes error reports and shell scratch files to the temp dir: keep them
            # in the sandbox's home, not the machine's /tmp.
            "TMPDIR": os.path.join(ctx.home, ".cache", "tmp"),
            SETUP_ENV: json.dumps(setup),
        }
        return Launch(argv=argv, env=env)


SPEC = AgentSpec(
    id="gemini-cli",
    architecture=GeminiCliArchitecture,
    npm={"@google/gemini-cli": "0.61.0"},
    env=(BINARY_ENV, "GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL"),
    converter="gemini_cli",
    transcript="gemini_transcript",
)
