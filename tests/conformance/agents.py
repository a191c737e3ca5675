"""The agents the conformance suite runs: one ``Agent`` per architecture (the native JSON-lines
CLIs and the ACP adapters), saying which pinned CLI it is, which fake model API it talks to and
through which variables, how its shell tool is called, how its provider fails, and the few
things only it does (``Quirks``: checks added to the shared scenarios).

Every agent runs the same scenarios (``test_e2e.py``); a behaviour only one agent has is a small
test in that agent's folder.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime import AgentRuntime
from runtime.models import SessionEvent
from tests.fakes import anthropic_server, gemini_server, openai_server, responses_server
from tests.fakes.scripted_server import ErrorReply, ScriptedServer, ToolCall
from tests.helpers import NODE_BIN

PROFILE = "conformance"
ASK_PROFILE = "conformance-ask"
#: Added to the default profile's list (the providers' keys and base URLs): Claude Code's retry
#: budget, so a failing API fails fast, and the ACP recorder's switch.
_ENV = 'env = ["CLAUDE_CODE_MAX_RETRIES", "AGENT_TUI_ACP_RECORD"]\n'
PROFILES = {PROFILE: f'name = "Conformance"\n{_ENV}',
            ASK_PROFILE: f'name = "Conformance, asks"\npermissionMode = "ask"\n{_ENV}'}


def write_profiles(config_dir: Path) -> None:
    folder = config_dir / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    for profile_id, text in PROFILES.items():
        (folder / f"{profile_id}.toml").write_text(text, encoding="utf-8")


class Quirks:
    """Checks one agent adds to the shared scenarios (the default adds none)."""

    def after_text(self, runtime: AgentRuntime, sid: str, fake: Any, detail: Any) -> None:
        """After the first reply (``detail``: the session then)."""

    def after_tools(self, detail: Any, fake: Any, first_cost: float | None, events: list[SessionEvent],
                    calls: list[ToolCall]) -> None:
        """After the tool loop (``events``: of that query; ``calls``: what the model called)."""

    def after_error(self, events: list[SessionEvent]) -> None:
        """After the provider error failed the query."""

    def stored(self, transcript: Any, session_id: str) -> None:
        """The conversation the runtime saved (native agents)."""


@dataclass(frozen=True)
class Agent:
    architecture: str
    #: The pinned CLI (or ACP adapter) under tests/node.
    binary: str
    fake: type[ScriptedServer]
    #: The host variables that point the CLI at the fake.
    provider_env: Callable[[Any], dict[str, str]]
    #: A call of the CLI's shell tool running ``command``.
    shell: Callable[[str], ToolCall]
    #: A provider error the CLI gives up on (after its retries), what the failure then says,
    #: and how many requests the CLI made (None: not fixed).
    error: ErrorReply
    error_says: str
    error_requests: int | None = None
    #: The failed query's code: an ACP agent reports a provider error as its own failure.
    error_code: str = "API_ERROR"
    model: str | None = None
    #: A JSON-lines CLI with its own saved conversation (restored, and parsed again: parity);
    #: False: an ACP agent (resumed with ``session/load``).
    native: bool = True
    tool_name: str | None = None
    #: The block ids of tool calls are the model's call ids.
    keeps_call_ids: bool = False
    #: Whether a failing command is a failed tool (checked by the tool loop).
    failing_tool: bool = True
    min_deltas: int = 3
    thinking: bool = False
    usage: bool = True
    #: ACP agents whose ``session/load`` may fail (the client then starts afresh, with a warning).
    load_may_fail: bool = False
    #: A call that makes the agent ask for approval (None: asking is tested in its own folder).
    asks: Callable[[str], ToolCall] | None = None
    #: Text in the command line of the agent's own process, to find it after an interrupt.
    process_marker: Callable[[str], str] | None = None
    #: The option kinds its approval question must offer.
    ask_kinds: frozenset[str] = frozenset({"allow_once", "reject_once"})
    #: Only the main scenario: a CLI whose every start costs many seconds, and whose error and
    #: interrupt paths are those of another agent here (acp-opencode: OpenCode's, and the ACP
    #: client's), so the suite stays as fast as it was.
    main_only: bool = False
    quirks: Quirks = field(default_factory=Quirks)

    @property
    def id(self) -> str:
        return self.architecture

    @property
    def bin(self) -> Path:
        return NODE_BIN / self.binary

    def host_env(self, fake: Any, **extra: str) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **self.provider_env(fake), **extra}

    def session_request(self, profile: str = PROFILE) -> dict[str, Any]:
        options = {"model": self.model} if self.model else {}
        return {"architecture": self.architecture, "agentProfileRef": profile, "sessionOptions": options}


@asynccontextmanager
async def agent_runtime(agent: Agent, tmp_path: Path, fake: Any, **extra_env: str) -> AsyncIterator[AgentRuntime]:
    """A started runtime (real SQLite, local primitive) whose sessions run ``agent``'s pinned CLI
    against ``fake``, with the suite's profiles."""
    from tests.agent_support import require_cli, started_runtime
    from tests.helpers import make_config

    require_cli(agent.bin, agent.binary)
    config = make_config(tmp_path, agent_bin_dirs=[str(NODE_BIN)], host_env=agent.host_env(fake, **extra_env))
    write_profiles(Path(config.config_dir))  # type: ignore[arg-type]
    async with started_runtime(config) as runtime:
        yield runtime


# --------------------------------------------------------------------------- providers


def anthropic_env(fake: Any) -> dict[str, str]:
    return {"ANTHROPIC_BASE_URL": fake.url, "ANTHROPIC_API_KEY": "sk-ant-test-not-a-real-key",
            "CLAUDE_CODE_MAX_RETRIES": "1"}


def openai_env(fake: Any) -> dict[str, str]:
    return {"OPENAI_BASE_URL": fake.url, "OPENAI_API_KEY": "sk-openai-test-not-a-real-key"}


def responses_env(fake: Any) -> dict[str, str]:
    return {"OPENAI_BASE_URL": f"{fake.url}/v1", "OPENAI_API_KEY": "sk-test-not-a-real-key"}


GEMINI_KEY = "fake-gemini-key-not-a-real-one"
GEMINI_MODEL = "gemini-2.5-flash"
OPENAI_MODEL = "fake-model"


def gemini_env(fake: Any) -> dict[str, str]:
    return {"GOOGLE_GEMINI_BASE_URL": fake.url, "GEMINI_API_KEY": GEMINI_KEY}


def claude_bash(command: str) -> ToolCall:
    return anthropic_server.ToolUse("Bash", {"command": command, "description": "Run it"})


def opencode_bash(command: str) -> ToolCall:
    return openai_server.ToolCall("bash", {"command": command, "description": "Run it"})


def gemini_shell(command: str) -> ToolCall:
    return gemini_server.FunctionCall("run_shell_command", {"command": command})


def codex_exec(command: str) -> ToolCall:
    # Codex returns after ``yield_time_ms`` with the command still running; long enough for all.
    return responses_server.FunctionCall("exec_command", {"cmd": command, "yield_time_ms": 60000})


def codex_escalated(command: str) -> ToolCall:
    """Codex asks when the model requests escalation for a command (approval_policy on-request)."""
    return responses_server.FunctionCall("exec_command", {"cmd": command, "sandbox_permissions": "require_escalated",
                                                          "justification": "May I?"})


ON_FIRE = "the fake model is on fire"
BAD_KEY = "API key not valid. Please pass a valid API key."


# --------------------------------------------------------------------------- quirks


class ClaudeQuirks(Quirks):
    def after_text(self, runtime: AgentRuntime, sid: str, fake: Any, detail: Any) -> None:
        assert detail.metadata.cost_usd and detail.metadata.cost_usd > 0
        assert fake.conversation_requests()[-1].headers.get("x-api-key") == "sk-ant-test-not-a-real-key"

    def after_tools(self, detail: Any, fake: Any, first_cost: float | None, events: list[SessionEvent],
                    calls: list[ToolCall]) -> None:
        import pytest

        # Cost is per query (the CLI reports the running total): four model turns so far, one cost each.
        assert detail.metadata.cost_usd == pytest.approx((first_cost or 0) * 4, rel=0.01)

    def stored(self, transcript: Any, session_id: str) -> None:
        assert transcript["claudeSessionId"] == _claude_marker(session_id)

    def after_error(self, events: list[SessionEvent]) -> None:
        retries = [e for e in events if e.type == "log" and e.payload["level"] == "warn"
                   and "retrying" in e.payload["message"]]
        assert retries and "500" in retries[0].payload["message"]


class OpenCodeQuirks(Quirks):
    def after_text(self, runtime: AgentRuntime, sid: str, fake: Any, detail: Any) -> None:
        assert detail.metadata.model == f"agent-tui/{OPENAI_MODEL}"
        assert detail.metadata.usage.input_tokens == 12
        first = fake.conversation_requests()[-1]
        assert first.headers.get("Authorization") == "Bearer sk-openai-test-not-a-real-key"
        assert first.body["model"] == OPENAI_MODEL and first.body["stream"] is True
        # The config went into the session's home, never the host's; the key is not in it.
        home = Path(runtime.config.resolved_data_dir()) / sid / "home"
        config_text = (home / ".config" / "opencode" / "opencode.json").read_text()
        assert fake.url in config_text and "sk-openai" not in config_text

    def after_tools(self, detail: Any, fake: Any, first_cost: float | None, events: list[SessionEvent],
                    calls: list[ToolCall]) -> None:
        tool, failing = calls
        finished = [e.payload["block"] for e in events if e.type == "block:upsert"
                    and e.payload["block"]["type"] != "user_message" and e.payload["block"]["status"] != "pending"]
        assert [(b["type"], b.get("toolUseId") or b.get("content")) for b in finished] == [
            ("assistant_text", "Running it."), ("tool_use", tool.id), ("tool_result", tool.id),
            ("tool_use", failing.id), ("tool_result", failing.id), ("assistant_text", "Done: the file says hi.")]
        # The card shows with its input while the call runs: OpenCode announces the call, then
        # its input once the model sent it all, before the result.
        pending = [i for i, e in enumerate(events) if e.type == "block:upsert" and e.payload["block"]["id"] == tool.id
                   and e.payload["block"]["status"] == "pending"]
        assert events[pending[-1]].payload["block"]["input"]["command"] == tool.arguments["command"]
        assert pending[-1] < next(i for i, e in enumerate(events) if e.type == "block:upsert"
                                  and e.payload["block"]["id"] == f"{tool.id}:result")


class GeminiQuirks(Quirks):
    def after_text(self, runtime: AgentRuntime, sid: str, fake: Any, detail: Any) -> None:
        assert detail.metadata.model == GEMINI_MODEL
        first = fake.conversation_requests()[-1]
        assert first.model == GEMINI_MODEL and first.headers.get("x-goog-api-key") == GEMINI_KEY
        home = Path(runtime.config.resolved_data_dir()) / sid / "home"
        assert '"usageStatisticsEnabled": false' in (home / ".gemini" / "settings.json").read_text()

    def after_tools(self, detail: Any, fake: Any, first_cost: float | None, events: list[SessionEvent],
                    calls: list[ToolCall]) -> None:
        # The CLI prints no exit code in its stream; it is read from its chat file, and the model
        # is told it in the function response.
        ok, failed = [b for b in detail.blocks if b.type == "tool_result"][-2:]
        assert ok.model_extra["exitCode"] == 0 and failed.model_extra["exitCode"] == 3
        assert failed.status == "error"
        told = fake.conversation_requests()[-1].text()
        assert "Exit Code: 3" in told and "Output: oops" in told


class GeminiAcpQuirks(Quirks):
    def after_tools(self, detail: Any, fake: Any, first_cost: float | None, events: list[SessionEvent],
                    calls: list[ToolCall]) -> None:
        # Gemini CLI's update says nothing of the output: it is read from its chat file at the end.
        result = next(b for b in detail.blocks if b.type == "tool_result")
        assert result.output == "hi\n" and result.model_extra["exitCode"] == 0


# --------------------------------------------------------------------------- the agents


def _claude_marker(session_id: str) -> str:
    from runtime.runner.claude_transcript import claude_session_id

    return claude_session_id(session_id)


CLAUDE = Agent("claude-code", "claude", anthropic_server.FakeAnthropic, anthropic_env, claude_bash,
               ErrorReply(500, ON_FIRE, times=2), ON_FIRE, error_requests=2, tool_name="Bash",
               keeps_call_ids=True, thinking=True, process_marker=_claude_marker, quirks=ClaudeQuirks())
OPENCODE = Agent("opencode", "opencode", openai_server.FakeOpenAI, openai_env, opencode_bash,
                 # OpenCode retries a 500 five times, waiting what ``retry-after-ms`` says.
                 ErrorReply(500, ON_FIRE, times=6, retry_after_ms=0), ON_FIRE, error_requests=6,
                 model=OPENAI_MODEL, tool_name="bash", keeps_call_ids=True, min_deltas=4, quirks=OpenCodeQuirks())
GEMINI = Agent("gemini-cli", "gemini", gemini_server.FakeGemini, gemini_env, gemini_shell,
               # A 400 is not retried (a 5xx is, with 5 s back-off, up to 10 times).
               ErrorReply(400, BAD_KEY, kind="INVALID_ARGUMENT"), f"API error 400 INVALID_ARGUMENT: {BAD_KEY}",
               error_requests=1, model=GEMINI_MODEL, tool_name="run_shell_command", quirks=GeminiQuirks())
ACP_CLAUDE = Agent("acp-claude", "claude-agent-acp", anthropic_server.FakeAnthropic, anthropic_env, claude_bash,
                   ErrorReply(400, "prompt is too long: 300000 tokens > 200000 maximum",
                              kind="invalid_request_error", times=3), "prompt is too long",
                   native=False, error_code="AGENT_ERROR", tool_name="execute", failing_tool=False, min_deltas=2, usage=False,
                   asks=claude_bash)
ACP_GEMINI = Agent("acp-gemini", "gemini", gemini_server.FakeGemini, gemini_env, gemini_shell,
                   ErrorReply(400, BAD_KEY, kind="INVALID_ARGUMENT"), "API key not valid", model=GEMINI_MODEL,
                   native=False, error_code="AGENT_ERROR", tool_name="execute", failing_tool=False, min_deltas=2, usage=False,
                   load_may_fail=True, asks=gemini_shell, quirks=GeminiAcpQuirks())
ACP_CODEX = Agent("acp-codex", "codex-acp", responses_server.FakeResponses, responses_env, codex_exec,
                  ErrorReply(400, "The model `gpt-5.5` does not exist or you do not have access to it.", times=10),
                  "does not exist", native=False, error_code="AGENT_ERROR", failing_tool=False, min_deltas=2, usage=False,
                  asks=codex_escalated, ask_kinds=frozenset())
ACP_OPENCODE = Agent("acp-opencode", "opencode", openai_server.FakeOpenAI, openai_env, opencode_bash,
                     ErrorReply(500, ON_FIRE, times=6, retry_after_ms=0), ON_FIRE, model=OPENAI_MODEL,
                     native=False, error_code="AGENT_ERROR", failing_tool=False, min_deltas=2, usage=False,
                     main_only=True)

AGENTS = [CLAUDE, OPENCODE, GEMINI, ACP_CLAUDE, ACP_GEMINI, ACP_CODEX, ACP_OPENCODE]
NATIVE = [a for a in AGENTS if a.native]
