"""``opencode``: the OpenCode CLI (``opencode-ai``), one ``opencode serve`` per query.

One query is one ``opencode serve`` driven by ``converters/opencode_serve.py`` (in the sandbox):
it posts the prompt and prints the server's event stream, which ``converters/opencode.py`` turns
into events (token deltas, tool calls as they start, permission requests answered over HTTP).
The conversation continues across queries in the same OpenCode session (the runner-side
converter finds its id in OpenCode's database, see ``OpenCodeConverter.prepare``); that database
is saved and restored by ``runner/opencode_transcript.py`` so a new sandbox resumes it too.

Configuration: ``opencode.json`` (and the profile's system prompt as ``AGENTS.md``, OpenCode's
global rules file) written into the session's ``home/.config/opencode/`` just before the CLI
starts, never the host user's: this module puts them in ``AGENT_TUI_OPENCODE_SETUP`` and the
runner-side converter's ``prepare`` writes them (the host cannot see into the sandbox). Model and
provider:

- ``OPENAI_BASE_URL`` among the profile's variables: a custom provider ``agent-tui`` built on
  ``@ai-sdk/openai-compatible`` (Chat Completions) with that ``baseURL`` and the key read by
  OpenCode from ``OPENAI_API_KEY`` (``{env:...}``, so no secret lands in a file); the model is
  the session's or profile's ``model`` (default ``DEFAULT_MODEL``).
- otherwise OpenCode's own providers: ``model`` as ``provider/name`` (a bare name means
  ``openai/<name>``), keys from the usual variables (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``, ...).

Permissions (profile ``permissionMode``): ``bypass`` allows every tool (``"*": "allow"``, and
the driver approves anything still asked: the sandbox is the boundary); ``acceptEdits`` allows
reading and editing and asks for the rest; ``ask`` asks for everything but read-only tools and
``allowedTools``. Questions reach clients as ``permission:requested`` (docs/permissions.md).
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..config import RuntimeConfig
from ..models import ArchitectureInfo
from ..primitives.registry import DEFAULT_PRIMITIVE
from ..runner.converters.opencode import SETUP_ENV
from ..runner.opencode_transcript import DB_NAME, data_dir_for_home
from .base import Launch, LaunchContext, cli_info, locate_cli
from .spec import AgentSpec

BINARY = "opencode"
#: Host variable naming a specific ``opencode`` executable (checked before PATH).
BINARY_ENV = "AGENT_TUI_OPENCODE_PATH"
INSTALL_HINT = "npm install -g opencode-ai"
#: The custom OpenAI-compatible provider defined when the profile passes ``OPENAI_BASE_URL``.
PROVIDER_ID = "agent-tui"
DEFAULT_MODEL = "gpt-4o"

#: Always set: no self-update, no models.dev download (OpenCode ships a snapshot), no sharing,
#: no language-server downloads from a sandbox.
FIXED_ENV = {
    "OPENCODE_DISABLE_AUTOUPDATE": "1",
    "OPENCODE_DISABLE_MODELS_FETCH": "1",
    "OPENCODE_DISABLE_SHARE": "1",
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
}

#: Read-only tools every permission mode allows (nothing to ask about).
_READ_TOOLS = ("read", "glob", "grep", "list", "todowrite", "todoread")


def permissions(mode: str, allowed_tools: list[str]) -> dict[str, Any]:
    """OpenCode's ``permission`` config for a profile ``permissionMode``."""
    if mode == "bypass":
        return {"*": "allow"}
    rules: dict[str, Any] = {"*": "ask", **dict.fromkeys(_READ_TOOLS, "allow")}
    if mode == "acceptEdits":
        rules["edit"] = "allow"
    for tool in allowed_tools:
        rules[tool.lower()] = "allow"
    return rules


def model_and_provider(model: str | None, env: dict[str, str]) -> tuple[str | None, dict[str, Any]]:
    """``--model`` for OpenCode (``provider/name``) and the ``provider`` config it needs."""
    base_url = env.get("OPENAI_BASE_URL")
    if base_url:
        name = model or DEFAULT_MODEL
        if "/" in name and not name.startswith(f"{PROVIDER_ID}/"):
            return name, {}  # another OpenCode provider, chosen explicitly
        name = name.removeprefix(f"{PROVIDER_ID}/")
        provider = {
            PROVIDER_ID: {
                "npm": "@ai-sdk/openai-compatible",
                "name": "OpenAI-compatible (agent-tui)",
                "options": {"baseURL": base_url, "apiKey": "{env:OPENAI_API_KEY}"},
                "models": {name: {"name": name}},
            }
        }
        return f"{PROVIDER_ID}/{name}", provider
    if not model:
        return None, {}
    return (model if "/" in model else f"openai/{model}"), {}


def build_config(ctx: LaunchContext, model: str | None, provider: dict[str, Any]) -> dict[str, Any]:
    allowed = [*ctx.profile.allowed_tools, *ctx.extra_allowed_tools]
    config: dict[str, Any] = {
        "$schema": "https://opencode.ai/config.json",
        "autoupdate": False,
        "share": "disabled",
        # Snapshots are OpenCode's undo history (a git repo per project): not needed headless.
        "snapshot": False,
        "permission": permissions(ctx.profile.permission_mode, allowed),
    }
    if model:
        config["model"] = model
    if provider:
        config["provider"] = provider
    if ctx.profile.mcp_servers:
        config["mcp"] = ctx.profile.mcp_servers
    return config


class OpenCodeArchitecture:
    id = "opencode"
    display_name = "OpenCode"
    has_transcript = True

    def binary(self, config: RuntimeConfig, primitive: str = DEFAULT_PRIMITIVE) -> str | None:
        """The ``opencode`` to run: a configured path (``AGENT_TUI_OPENCODE_PATH``), else the first
        in ``agent_bin_dirs`` or on ``PATH``. In a remote sandbox, the one on the sandbox's PATH."""
        return locate_cli(BINARY, BINARY_ENV, config, primitive)

    def info(self, config: RuntimeConfig, primitive: str) -> ArchitectureInfo:
        return cli_info(self, self.binary(config, primitive), config, binary_env=BINARY_ENV,
                        missing="the OpenCode CLI (`opencode`)", install_hint=INSTALL_HINT)

    def launch(self, ctx: LaunchContext) -> Launch:
        binary = self.binary(ctx.config, ctx.primitive) or BINARY
        passthrough = ctx.passthrough_env()
        model, provider = model_and_provider(ctx.session_options.get("model") or ctx.profile.model, passthrough)
        # One ``opencode serve`` per query, driven over HTTP by the runner-side driver
        # (``converters/opencode_serve.py``): its event stream has the token deltas and the
        # permission requests that ``opencode run`` keeps to itself. Loopback only; the driver
        # sets a random password for it.
        argv = [binary, "serve", "--hostname", "127.0.0.1", "--port", "0"]
        run = {
            "model": model,
            # The runner swaps this for the id of the conversation in the sandbox's database
            # (OpenCodeConverter.prepare), or starts a new one when there is none yet.
            "resume": ctx.resume,
            # ``bypass``: approve whatever a plugin or agent still asks (nobody is asked).
            "autoApprove": ctx.profile.permission_mode == "bypass",
        }
        setup = {"config": build_config(ctx, model, provider), "instructions": ctx.profile.system_prompt,
                 "run": run}
        env = {
            **passthrough,
            **FIXED_ENV,
            "HOME": ctx.home,
            "OPENCODE_DB": os.path.join(data_dir_for_home(ctx.home), DB_NAME),
            SETUP_ENV: json.dumps(setup),
        }
        return Launch(argv=argv, env=env)


SPEC = AgentSpec(
    id="opencode",
    architecture=OpenCodeArchitecture,
    npm={"opencode-ai": "1.18.33"},
    env=(BINARY_ENV, "OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY"),
    converter="opencode",
    transcript="opencode_transcript",
)
