"""Agent Client Protocol agents: ``acp`` (any agent, from the profile) and four built-in ones.

One query is one run of the agent under the runner's ACP client (``converters/acp_client.py``,
which speaks JSON-RPC 2.0 on the agent's stdio) whose output ``converters/acp.py`` maps to
events. The host only builds the agent's command line and environment, and the client's options
in ``AGENT_TUI_ACP_SETUP`` (MCP servers in ACP's shape, ``autoApprove`` for permission mode
``bypass``, config files to write under the session home, the folders holding the agent's
conversation). See ``docs/agents/acp.md``.

- ``acp``: the profile's ``acp = { command = [...], env = {...}, state = [...] }`` (no code needed
  to add an agent); a profile without it fails the query with a message saying what to add.
- ``acp-claude``: Claude Code through ``claude-agent-acp`` (the Claude Agent SDK).
- ``acp-gemini``: ``gemini --acp``.
- ``acp-codex``: ``codex-acp``.
- ``acp-opencode``: ``opencode acp``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from ..config import RuntimeConfig
from ..models import AgentProfile, ArchitectureInfo
from ..primitives.registry import DEFAULT_PRIMITIVE
from ..runner.converters.acp import SETUP_ENV
from .base import Launch, LaunchContext, cli_info, locate_cli
from .spec import AgentSpec


def mcp_servers(profile: AgentProfile) -> list[dict[str, Any]]:
    """The profile's ``mcpServers`` (Claude Code's shape: name -> {command, args, env} or
    {type: http|sse, url, headers}) as ACP's list."""
    servers: list[dict[str, Any]] = []
    for name, spec in profile.mcp_servers.items():
        if not isinstance(spec, dict):
            continue
        if isinstance(spec.get("url"), str):
            headers = spec.get("headers") if isinstance(spec.get("headers"), dict) else {}
            servers.append({"type": "sse" if spec.get("type") == "sse" else "http", "name": name, "url": spec["url"],
                            "headers": [{"name": str(k), "value": str(v)} for k, v in headers.items()]})
        elif isinstance(spec.get("command"), str):
            env = spec.get("env") if isinstance(spec.get("env"), dict) else {}
            servers.append({"name": name, "command": spec["command"], "args": [str(a) for a in spec.get("args") or []],
                            "env": [{"name": str(k), "value": str(v)} for k, v in env.items()]})
    return servers


#: Session options naming the ACP mode / model the user picked among those the agent advertised
#: (``metadata:update {modes, models}``); the client switches to them when it opens the session.
MODE_OPTION, MODEL_OPTION = "acpMode", "acpModel"


def setup_for(ctx: LaunchContext, state_dirs: list[str], files: dict[str, str] | None = None,
              mode: str | None = None) -> str:
    picked_mode, picked_model = ctx.session_options.get(MODE_OPTION), ctx.session_options.get(MODEL_OPTION)
    return json.dumps({
        "mode": picked_mode if isinstance(picked_mode, str) and picked_mode else mode,
        "model": picked_model if isinstance(picked_model, str) and picked_model else None,
        "mcpServers": mcp_servers(ctx.profile),
        "autoApprove": ctx.profile.permission_mode == "bypass",
        "stateDirs": state_dirs,
        "files": files or {},
    })


def base_env(ctx: LaunchContext) -> dict[str, str]:
    return {**ctx.passthrough_env(), "HOME": ctx.home, "TMPDIR": os.path.join(ctx.home, ".cache", "tmp")}


class AcpArchitecture:
    """``acp``: whatever agent the profile's ``acp`` table names."""

    id = "acp"
    display_name = "ACP agent (from the profile)"
    has_transcript = True

    def info(self, config: RuntimeConfig, primitive: str) -> ArchitectureInfo:
        # Which command runs depends on the profile chosen with the session, not known here.
        return ArchitectureInfo(id=self.id, display_name=self.display_name, available=True)

    def launch(self, ctx: LaunchContext) -> Launch:
        agent = ctx.profile.acp
        if agent is None:
            error = (f"profile {ctx.profile.id!r} names no ACP agent: add "
                     "`acp = { command = [\"my-agent\", \"--acp\"] }` to its TOML, or pick an acp-* architecture")
            return Launch(argv=["acp-agent-not-configured"], env={SETUP_ENV: json.dumps({"error": error})})
        env = {**base_env(ctx), **agent.env, SETUP_ENV: setup_for(ctx, list(agent.state))}
        return Launch(argv=list(agent.command), env=env)


@dataclass
class BuiltinAcp:
    """A known ACP agent: its CLI, how to run it in ACP mode, and where it keeps its conversation."""

    id: str
    display_name: str
    binaries: tuple[str, ...]
    binary_env: str
    args: tuple[str, ...]
    install_hint: str
    state_dirs: list[str]
    fixed_env: dict[str, str] = field(default_factory=dict)
    has_transcript: bool = True

    def binary(self, config: RuntimeConfig, primitive: str = DEFAULT_PRIMITIVE) -> str | None:
        for name in self.binaries:
            found = locate_cli(name, self.binary_env, config, primitive)
            if found:
                return found
        return None

    def info(self, config: RuntimeConfig, primitive: str) -> ArchitectureInfo:
        return cli_info(self, self.binary(config, primitive), config, binary_env=self.binary_env,  # type: ignore[arg-type]
                        missing=f"`{self.binaries[0]}`", install_hint=self.install_hint)

    def files(self, ctx: LaunchContext) -> dict[str, str]:
        return {}

    def extra_env(self, ctx: LaunchContext) -> dict[str, str]:
        return {}

    def mode(self, ctx: LaunchContext) -> str | None:
        """The ACP session mode to switch to, if any."""
        return None

    def launch(self, ctx: LaunchContext) -> Launch:
        binary = self.binary(ctx.config, ctx.primitive) or self.binaries[0]
        env = {**base_env(ctx), **self.fixed_env, **self.extra_env(ctx),
               SETUP_ENV: setup_for(ctx, self.state_dirs, self.files(ctx), self.mode(ctx))}
        return Launch(argv=[binary, *self.args], env=env)


class GeminiAcp(BuiltinAcp):
    def files(self, ctx: LaunchContext) -> dict[str, str]:
        from .gemini_cli import settings_for

        passthrough = ctx.passthrough_env()
        settings = settings_for(ctx, passthrough)
        settings.pop("mcpServers", None)  # sent with session/new instead
        files = {".gemini/settings.json": json.dumps(settings, indent=2)}
        if ctx.profile.system_prompt:
            files[".gemini/GEMINI.md"] = ctx.profile.system_prompt
        return files

    def extra_env(self, ctx: LaunchContext) -> dict[str, str]:
        model = ctx.session_options.get("model") or ctx.profile.model
        return {"GEMINI_MODEL": str(model)} if model else {}


class ClaudeAcp(BuiltinAcp):
    def files(self, ctx: LaunchContext) -> dict[str, str]:
        # Without a ``defaultMode`` the adapter starts in Claude Code's ``auto`` mode, which talks
        # to a classifier and, behind a gateway (a base URL), adds a billing notice to the reply.
        # ``bypass`` is ``default`` too: the ACP client approves what is asked.
        mode = "acceptEdits" if ctx.profile.permission_mode == "acceptEdits" else "default"
        # Only the profile's tool names: an ``allow_always`` answer names an ACP tool kind
        # (``execute``), which the adapter remembers itself for its session.
        settings = {"permissions": {"defaultMode": mode, "allow": list(ctx.profile.allowed_tools)}}
        files = {".claude/settings.json": json.dumps(settings, indent=2)}
        if ctx.profile.system_prompt:
            files[".claude/CLAUDE.md"] = ctx.profile.system_prompt
        return files

    def extra_env(self, ctx: LaunchContext) -> dict[str, str]:
        model = ctx.session_options.get("model") or ctx.profile.model
        # The SDK's CLI would otherwise look for updates and send telemetry from the sandbox.
        env = {"DISABLE_AUTOUPDATER": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
        if model:
            env["ANTHROPIC_MODEL"] = str(model)
        return env


class OpencodeAcp(BuiltinAcp):
    def files(self, ctx: LaunchContext) -> dict[str, str]:
        from ..runner.converters.opencode import PLUGIN_PACKAGE
        from .opencode import build_config, model_and_provider

        model, provider = model_and_provider(ctx.session_options.get("model") or ctx.profile.model,
                                             ctx.passthrough_env())
        config = build_config(ctx, model, provider)
        config.pop("mcp", None)  # sent with session/new instead
        # As for ``opencode``: an empty node_modules and a lock naming the plugin package keep
        # OpenCode from installing it from the npm registry in every new sandbox.
        manifest = {"dependencies": {PLUGIN_PACKAGE: "*"}}
        files = {".config/opencode/opencode.json": json.dumps(config, indent=2),
                 ".config/opencode/package.json": json.dumps(manifest),
                 ".config/opencode/package-lock.json": json.dumps({"lockfileVersion": 3, "packages": {"": manifest}}),
                 ".config/opencode/node_modules/.agent-tui": ""}
        if ctx.profile.system_prompt:
            files[".config/opencode/AGENTS.md"] = ctx.profile.system_prompt
        return files


#: Codex's ``approval_policy`` per profile ``permissionMode``. Codex 0.166 dropped ``untrusted``;
#: with ``on-request`` the model asks (a command with ``sandbox_permissions: require_escalated``).
CODEX_APPROVALS = {"bypass": "never", "acceptEdits": "on-request", "ask": "on-request"}
CODEX_SANDBOX = {"bypass": "danger-full-access", "acceptEdits": "workspace-write", "ask": "read-only"}
CODEX_MODES = {"bypass": "agent-full-access", "acceptEdits": "workspace-write", "ask": "read-only"}
CODEX_DEFAULT_MODEL = "gpt-5.5"


def toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


class CodexAcp(BuiltinAcp):
    def files(self, ctx: LaunchContext) -> dict[str, str]:
        passthrough = ctx.passthrough_env()
        model = str(ctx.session_options.get("model") or ctx.profile.model or CODEX_DEFAULT_MODEL)
        lines = [f"model = {toml_string(model)}",
                 f"approval_policy = {toml_string(CODEX_APPROVALS.get(ctx.profile.permission_mode, 'never'))}",
                 # The agent-tui sandbox is the boundary. In ``ask`` Codex's own read-only sandbox
                 # is what makes it ask: a command needing more is asked about (escalation).
                 f"sandbox_mode = {toml_string(CODEX_SANDBOX.get(ctx.profile.permission_mode, 'danger-full-access'))}",
                 # Approvals go to the user (our clients), not Codex's own reviewer model.
                 'approvals_reviewer = "user"',
                 "check_for_update_on_startup = false"]
        base_url = passthrough.get("OPENAI_BASE_URL")
        if base_url:
            lines += ['model_provider = "agent-tui"', "", "[model_providers.agent-tui]",
                      'name = "OpenAI-compatible (agent-tui)"', f"base_url = {toml_string(base_url)}",
                      'env_key = "OPENAI_API_KEY"', 'wire_api = "responses"']
        files = {".codex/config.toml": "\n".join(lines) + "\n"}
        if ctx.profile.system_prompt:
            files[".codex/AGENTS.md"] = ctx.profile.system_prompt
        return files

    def extra_env(self, ctx: LaunchContext) -> dict[str, str]:
        return {"CODEX_HOME": os.path.join(ctx.home, ".codex")}

    def mode(self, ctx: LaunchContext) -> str | None:
        # codex-acp starts in "agent" (auto review: Codex's reviewer model answers approvals);
        # these presets send approvals to the client instead.
        return CODEX_MODES.get(ctx.profile.permission_mode, "agent-full-access")


def _claude() -> BuiltinAcp:
    return ClaudeAcp("acp-claude", "Claude Code (ACP)", ("claude-agent-acp", "claude-code-acp"),
                     "AGENT_TUI_CLAUDE_ACP_PATH", (), "npm install -g @agentclientprotocol/claude-agent-acp",
                     [".claude", ".claude.json"])


def _gemini() -> BuiltinAcp:
    return GeminiAcp("acp-gemini", "Gemini CLI (ACP)", ("gemini",), "AGENT_TUI_GEMINI_PATH", ("--acp",),
                     "npm install -g @google/gemini-cli", [".gemini"],
                     {"GEMINI_CLI_TRUST_WORKSPACE": "true", "GEMINI_CLI_NO_RELAUNCH": "true"})


def _codex() -> BuiltinAcp:
    return CodexAcp("acp-codex", "Codex (ACP)", ("codex-acp",), "AGENT_TUI_CODEX_ACP_PATH", (),
                    "npm install -g @agentclientprotocol/codex-acp", [".codex"])


def _opencode() -> BuiltinAcp:
    from .opencode import FIXED_ENV as OPENCODE_ENV

    return OpencodeAcp("acp-opencode", "OpenCode (ACP)", ("opencode",), "AGENT_TUI_OPENCODE_PATH", ("acp",),
                       "npm install -g opencode-ai", [".local/share/opencode"], dict(OPENCODE_ENV))


def builtins() -> list[BuiltinAcp]:
    return [_claude(), _gemini(), _codex(), _opencode()]


# The ACP agents share one sandbox side: the runner's ACP client and converter, and one transcript.
_SANDBOX = {"converter": "acp", "transcript": "acp_transcript"}
SPEC = AgentSpec(id="acp", architecture=AcpArchitecture, **_SANDBOX)
CLAUDE_SPEC = AgentSpec(id="acp-claude", architecture=_claude, env=("AGENT_TUI_CLAUDE_ACP_PATH", "ANTHROPIC_API_KEY",
                        "ANTHROPIC_BASE_URL"), **_SANDBOX)
GEMINI_SPEC = AgentSpec(id="acp-gemini", architecture=_gemini, env=("AGENT_TUI_GEMINI_PATH", "GEMINI_API_KEY",
                        "GOOGLE_GEMINI_BASE_URL"), **_SANDBOX)
CODEX_SPEC = AgentSpec(id="acp-codex", architecture=_codex, env=("AGENT_TUI_CODEX_ACP_PATH", "OPENAI_API_KEY",
                       "OPENAI_BASE_URL"), **_SANDBOX)
OPENCODE_SPEC = AgentSpec(id="acp-opencode", architecture=_opencode, env=("AGENT_TUI_OPENCODE_PATH", "OPENAI_API_KEY",
                          "OPENAI_BASE_URL"), **_SANDBOX)


__all__ = ["SPEC", "AcpArchitecture", "BuiltinAcp", "builtins", "mcp_servers"]
