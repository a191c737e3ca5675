"""``claude-code`` (alias ``claude-sdk``): Anthropic's Claude Code CLI in print mode.

One query is one ``claude -p`` run: its stream-json output goes through
``converters/claude_code.py``; the conversation continues across queries with ``--resume`` (the
CLI's own session files are saved and restored by ``runner/claude_transcript.py``).

Permissions (profile ``permissionMode``):
- ``bypass`` (default): ``--dangerously-skip-permissions``; the sandbox is the boundary. As root
  the CLI refuses that flag unless ``IS_SANDBOX=1`` is set, so it always is.
- ``acceptEdits``: file edits are allowed, anything else outside ``allowedTools`` is denied
  (``--permission-prompts none``: nobody is there to answer in print mode).
- ``ask``: SPEC §5's relay. The CLI reads the prompt as a stream-json ``user`` line on its stdin
  (``--input-format stream-json``) and asks before each tool use outside ``allowedTools`` (and
  the tools allowed always in this session) with a ``control_request`` ``can_use_tool`` on its
  stdout (``--permission-prompt-tool stdio``); the converter relays it as
  ``permission:requested`` and answers with the user's decision (docs/permissions.md).
"""

from __future__ import annotations

import json
import os

from ..config import RuntimeConfig
from ..models import ArchitectureInfo
from ..primitives.registry import DEFAULT_PRIMITIVE
from ..runner.claude_transcript import CONFIG_DIR_NAME, claude_session_id
from .base import Launch, LaunchContext, cli_info, locate_cli
from .spec import AgentSpec

BINARY = "claude"
#: Host variable naming a specific ``claude`` executable (checked before PATH).
BINARY_ENV = "AGENT_TUI_CLAUDE_PATH"
INSTALL_HINT = "npm install -g @anthropic-ai/claude-code"
#: Subagent tool names: ``Task`` in older CLIs, ``Agent`` on the wire in newer ones.
SUBAGENT_TOOLS = ("Task", "Agent")

#: Always set for the CLI: no telemetry, no update checks, no side traffic from a sandbox.
FIXED_ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "IS_SANDBOX": "1",
}


class ClaudeCodeArchitecture:
    id = "claude-code"
    display_name = "Claude Code"
    has_transcript = True

    def binary(self, config: RuntimeConfig, primitive: str = DEFAULT_PRIMITIVE) -> str | None:
        """The ``claude`` to run: a configured path (``AGENT_TUI_CLAUDE_PATH``), else the first in
        ``agent_bin_dirs`` or on ``PATH``. In a remote sandbox it is the one on the sandbox's PATH."""
        return locate_cli(BINARY, BINARY_ENV, config, primitive)

    def info(self, config: RuntimeConfig, primitive: str) -> ArchitectureInfo:
        return cli_info(self, self.binary(config, primitive), config, binary_env=BINARY_ENV,
                        missing="the Claude Code CLI (`claude`)", install_hint=INSTALL_HINT)

    def launch(self, ctx: LaunchContext) -> Launch:
        binary = self.binary(ctx.config, ctx.primitive) or BINARY
        claude_id = claude_session_id(ctx.session_id)
        argv = [
            binary,
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--include-partial-messages",
            # Subagents' own text and thinking, tagged with parent_tool_use_id, so they show up
            # under the subagent's conversation instead of only as a final summary.
            "--forward-subagent-text",
        ]
        # The runner swaps these if the sandbox says otherwise (no session file yet after an early
        # interrupt, or one already there): see ClaudeCodeConverter.prepare.
        if ctx.fork_of:
            # The fork's copy of the source conversation becomes its own (docs/workspaces.md "Fork").
            argv += ["--session-id", claude_id, "--fork-session", "--resume", claude_session_id(ctx.fork_of)]
        else:
            argv += ["--resume", claude_id] if ctx.resume else ["--session-id", claude_id]
        model = ctx.session_options.get("model") or ctx.profile.model
        if model:
            argv += ["--model", str(model)]
        if ctx.profile.system_prompt:
            argv += ["--append-system-prompt", ctx.profile.system_prompt]
        allowed = [
            *ctx.profile.allowed_tools,
            *(t for t in ctx.extra_allowed_tools if t not in ctx.profile.allowed_tools),
        ]
        if allowed:
            argv += ["--allowedTools", ",".join(allowed)]
        if ctx.profile.mcp_servers:
            argv += ["--mcp-config", json.dumps({"mcpServers": ctx.profile.mcp_servers})]
        argv += self._permission_args(ctx.profile.permission_mode)
        if ctx.profile.permission_mode != "ask":
            # ``--`` so a prompt that starts with "-" is a prompt, not an option. With ``ask`` the
            # prompt goes to the CLI's stdin instead (ClaudeCodeConverter.initial_input).
            argv += ["--", ctx.prompt]
        env = {
            **ctx.passthrough_env(),
            **FIXED_ENV,
            "HOME": ctx.home,
            "CLAUDE_CONFIG_DIR": os.path.join(ctx.home, CONFIG_DIR_NAME),
        }
        return Launch(argv=argv, env=env)

    @staticmethod
    def _permission_args(mode: str) -> list[str]:
        if mode == "acceptEdits":
            return ["--permission-mode", "acceptEdits", "--permission-prompts", "none"]
        if mode == "ask":
            # Questions go through the CLI's control protocol on stdin/stdout, which needs
            # stream-json input too. ``default`` explicitly, so nothing in the sandbox's settings
            # can turn the questions off.
            return [
                "--input-format",
                "stream-json",
                "--permission-prompt-tool",
                "stdio",
                "--permission-mode",
                "default",
            ]
        return ["--dangerously-skip-permissions"]


SPEC = AgentSpec(
    id="claude-code",
    architecture=ClaudeCodeArchitecture,
    aliases=("claude-sdk",),
    npm={"@anthropic-ai/claude-code": "2.1.332"},
    env=(BINARY_ENV, "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"),
    converter="claude_code",
    transcript="claude_transcript",
)
