"""How the claude-code architecture starts the CLI, and how its session files are saved and restored
(no CLI needed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from runtime.architectures import get_architecture
from runtime.architectures.base import LaunchContext
from runtime.architectures.claude_code import ClaudeCodeArchitecture
from runtime.models import AgentProfile
from runtime.runner.claude_transcript import claude_session_id, load_transcript, mangle, read_transcript
from runtime.runner.converters.claude_code import ClaudeCodeConverter
from tests.agent_support import launch_context
from tests.agent_support import option_value as option

HOST = {"ANTHROPIC_API_KEY": "sk-host", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9", "SECRET_TOKEN": "nope",
        "CLAUDE_CODE_OAUTH_TOKEN": "oauth", "HOME": "/root"}


def context(tmp_path: Path, **overrides: object) -> LaunchContext:
    return launch_context(tmp_path, "claude", ["ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "CLAUDE_CODE_OAUTH_TOKEN"],
                          HOST, **overrides)


def test_first_query_argv_and_environment(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    launch = ClaudeCodeArchitecture().launch(ctx)
    argv, env = launch.argv, launch.env
    assert argv[0] == str(tmp_path / "bin" / "claude")
    for flag in ("-p", "--verbose", "--include-partial-messages", "--dangerously-skip-permissions"):
        assert flag in argv
    assert option(argv, "--output-format") == "stream-json"
    assert option(argv, "--session-id") == claude_session_id(ctx.session_id) and "--resume" not in argv
    assert argv[-2:] == ["--", "-v looks like an option"]
    assert "--model" not in argv and "--append-system-prompt" not in argv and "--allowedTools" not in argv
    # Only what the profile names passes from the host, plus the fixed settings.
    assert env["ANTHROPIC_API_KEY"] == "sk-host" and env["CLAUDE_CODE_OAUTH_TOKEN"] == "oauth"
    assert "SECRET_TOKEN" not in env and "NOT_SET" not in env
    assert env["HOME"] == str(tmp_path / "sandbox" / "home")
    assert env["CLAUDE_CONFIG_DIR"] == str(tmp_path / "sandbox" / "home" / ".claude")
    assert env["IS_SANDBOX"] == "1" and env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
    assert env["DISABLE_TELEMETRY"] == "1" and env["DISABLE_AUTOUPDATER"] == "1"


def test_resume_model_prompt_tools_and_permission_modes(tmp_path: Path) -> None:
    profile = AgentProfile(id="p", name="p", model="profile-model", system_prompt="Be brief.",
                           allowed_tools=["Read", "Bash(git *)"], permission_mode="acceptEdits",
                           mcp_servers={"docs": {"command": "docs-mcp"}})
    ctx = context(tmp_path, resume=True, profile=profile, session_options={"model": "option-model"},
                  extra_allowed_tools=["Edit", "Read"])
    argv = ClaudeCodeArchitecture().launch(ctx).argv
    assert option(argv, "--resume") == claude_session_id(ctx.session_id) and "--session-id" not in argv
    assert option(argv, "--model") == "option-model"
    assert option(argv, "--append-system-prompt") == "Be brief."
    assert option(argv, "--allowedTools") == "Read,Bash(git *),Edit"
    assert json.loads(option(argv, "--mcp-config") or "{}") == {"mcpServers": {"docs": {"command": "docs-mcp"}}}
    assert option(argv, "--permission-mode") == "acceptEdits" and "--dangerously-skip-permissions" not in argv
    assert option(ClaudeCodeArchitecture().launch(context(tmp_path, profile=AgentProfile(
        id="p", name="p", model="profile-model"))).argv, "--model") == "profile-model"
    ask = ClaudeCodeArchitecture().launch(context(tmp_path, profile=AgentProfile(
        id="p", name="p", permission_mode="ask"))).argv
    # The CLI asks over its control protocol; the prompt goes to its stdin (docs/permissions.md).
    assert option(ask, "--permission-prompt-tool") == "stdio" and option(ask, "--input-format") == "stream-json"
    assert option(ask, "--permission-mode") == "default" and "--" not in ask and ask[-1] != "-v looks like an option"
    assert "--dangerously-skip-permissions" not in ask


def test_session_ids_are_stable_uuids() -> None:
    assert claude_session_id("ses-abc") == claude_session_id("ses-abc") != claude_session_id("ses-abd")
    assert claude_session_id("11111111-2222-3333-4444-555555555555") == "11111111-2222-3333-4444-555555555555"
    assert get_architecture("claude-sdk") is get_architecture("claude-code")


def test_transcript_round_trip_into_a_new_sandbox(tmp_path: Path) -> None:
    workspace = tmp_path / "s" / "workspace"
    claude_id = claude_session_id("ses-x")
    project = tmp_path / "s" / "home" / ".claude" / "projects" / mangle(str(workspace))
    (project / claude_id / "subagents").mkdir(parents=True)
    (project / f"{claude_id}.jsonl").write_text('{"type":"user"}\n')
    (project / claude_id / "subagents" / "agent-a1.jsonl").write_text('{"type":"assistant"}\n')
    (project / "other-session.jsonl").write_text("not ours\n")
    request = {"baseWorkspacePath": str(workspace), "sessionId": "ses-x"}
    transcript = read_transcript(request)
    assert transcript is not None
    assert set(transcript["files"]) == {f"{claude_id}.jsonl", f"{claude_id}/subagents/agent-a1.jsonl"}

    # A new, empty sandbox (even at another path) gets the files where --resume looks.
    moved = tmp_path / "t" / "workspace"
    evil = dict(transcript, files={**transcript["files"], "../../../escape.txt": "x"})
    load_transcript({"baseWorkspacePath": str(moved), "sessionId": "ses-x"}, evil)
    target = tmp_path / "t" / "home" / ".claude" / "projects" / mangle(str(moved))
    assert (target / f"{claude_id}.jsonl").read_text() == '{"type":"user"}\n'
    assert (target / claude_id / "subagents" / "agent-a1.jsonl").exists()
    assert not list(tmp_path.rglob("escape.txt"))
    assert read_transcript({"baseWorkspacePath": str(tmp_path / "none" / "workspace"), "sessionId": "ses-x"}) is None


def test_prepare_resumes_only_a_conversation_that_exists(tmp_path: Path) -> None:
    config_dir = tmp_path / "home" / ".claude"
    env = {"CLAUDE_CONFIG_DIR": str(config_dir), "HOME": str(tmp_path / "home")}
    argv = ["claude", "-p", "--resume", "u-1", "--", "--resume"]
    # Nothing on disk (the first query was stopped before the CLI wrote anything): start it.
    assert ClaudeCodeConverter({}).prepare(argv, env) == ["claude", "-p", "--session-id", "u-1", "--", "--resume"]
    (config_dir / "projects" / "p").mkdir(parents=True)
    cost = {"type": "cost-state", "totalCostUSD": 0.25}
    said = {"type": "user", "message": {"role": "user", "content": "hi"}, "sessionId": "u-1"}
    (config_dir / "projects" / "p" / "u-1.jsonl").write_text(json.dumps(said) + "\n" + json.dumps(cost) + "\n")
    converter = ClaudeCodeConverter({})
    assert converter.prepare(["claude", "--session-id", "u-1", "--", "x"], env) == [
        "claude", "--resume", "u-1", "--", "x"]
    assert converter.cost_baseline == 0.25
    events = converter.feed(json.dumps({"type": "result", "total_cost_usd": 0.75, "usage": {}}))
    assert events[0]["payload"]["costUsd"] == 0.5
    assert os.path.exists(config_dir / "projects" / "p" / "u-1.jsonl")


def test_a_session_file_without_a_message_is_set_aside_and_the_conversation_starts_afresh(tmp_path: Path) -> None:
    """The CLI killed before it flushed a message (found by tests/permissions: a restart while a
    request was pending): its file holds only queue entries, ``--resume`` would answer "No
    conversation found", and the id is taken, so the file is kept aside and ``--session-id`` used."""
    config_dir = tmp_path / "home" / ".claude"
    env = {"CLAUDE_CONFIG_DIR": str(config_dir), "HOME": str(tmp_path / "home")}
    folder = config_dir / "projects" / "p"
    folder.mkdir(parents=True)
    queued = [{"type": "queue-operation", "operation": "enqueue", "sessionId": "u-1", "content": "Make it"},
              {"type": "queue-operation", "operation": "dequeue", "sessionId": "u-1"}]
    torn = '{"type":"user","message":{"role":"user","content":"Ma'
    (folder / "u-1.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queued) + torn)
    argv = ClaudeCodeConverter({}).prepare(["claude", "-p", "--resume", "u-1", "--", "x"], env)
    assert argv == ["claude", "-p", "--session-id", "u-1", "--", "x"]
    assert not (folder / "u-1.jsonl").exists() and (folder / "u-1.jsonl.unusable").exists()
