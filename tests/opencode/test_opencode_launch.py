"""How the opencode architecture starts the CLI, what the runner-side converter prepares in the
sandbox, and how OpenCode's database is saved and restored (no CLI needed)."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

from runtime.architectures.base import LaunchContext
from runtime.architectures.opencode import OpenCodeArchitecture, model_and_provider, permissions
from runtime.models import AgentProfile
from runtime.runner.converters.opencode import SETUP_ENV, OpenCodeConverter, transcript_events
from runtime.runner.converters.reaper import RUN_TAG_ENV
from runtime.runner.execute import _agent_env
from runtime.runner.opencode_transcript import db_path_for, load_transcript, read_transcript
from tests.agent_support import launch_context

HOST = {"OPENAI_API_KEY": "sk-host", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "SECRET_TOKEN": "nope"}


def context(tmp_path: Path, **overrides: object) -> LaunchContext:
    return launch_context(tmp_path, "opencode", ["OPENAI_API_KEY", "OPENAI_BASE_URL"], HOST,
                          **{"session_options": {"model": "qwen-coder"}, **overrides})


def test_first_query_argv_environment_and_config(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    launch = OpenCodeArchitecture().launch(ctx)
    argv, env = launch.argv, launch.env
    # ``opencode serve`` on the sandbox's loopback, driven over HTTP by the runner-side driver.
    assert argv == [str(tmp_path / "bin" / "opencode"), "serve", "--hostname", "127.0.0.1", "--port", "0"]
    assert ctx.prompt not in argv and ctx.prompt not in env[SETUP_ENV]  # it goes to the driver's stdin
    assert env["OPENAI_API_KEY"] == "sk-host" and "SECRET_TOKEN" not in env and "NOT_SET" not in env
    for name in ("OPENCODE_DISABLE_AUTOUPDATE", "OPENCODE_DISABLE_MODELS_FETCH", "OPENCODE_DISABLE_SHARE",
                 "OPENCODE_DISABLE_LSP_DOWNLOAD"):
        assert env[name] == "1"
    home = tmp_path / "sandbox" / "home"
    assert env["HOME"] == str(home)
    assert env["OPENCODE_DB"] == str(home / ".local" / "share" / "opencode" / "opencode.db")
    setup = json.loads(env[SETUP_ENV])
    config = setup["config"]
    assert config["model"] == "agent-tui/qwen-coder" and config["permission"] == {"*": "allow"}
    provider = config["provider"]["agent-tui"]
    assert provider["npm"] == "@ai-sdk/openai-compatible"
    assert provider["options"] == {"baseURL": "http://127.0.0.1:9/v1", "apiKey": "{env:OPENAI_API_KEY}"}
    assert "sk-host" not in env[SETUP_ENV]  # the key stays in the environment, never in a file
    assert setup["instructions"] is None
    assert setup["run"] == {"model": "agent-tui/qwen-coder", "resume": False, "autoApprove": True}


def test_models_providers_and_permissions() -> None:
    base = {"OPENAI_BASE_URL": "http://x/v1"}
    assert model_and_provider(None, base)[0] == "agent-tui/gpt-4o"
    assert model_and_provider("anthropic/claude-x", base) == ("anthropic/claude-x", {})
    assert model_and_provider("agent-tui/m", base)[0] == "agent-tui/m"
    assert model_and_provider("gpt-5", {}) == ("openai/gpt-5", {})
    assert model_and_provider("openrouter/x/y", {}) == ("openrouter/x/y", {})
    assert model_and_provider(None, {}) == (None, {})
    assert permissions("acceptEdits", [])["edit"] == "allow"
    ask = permissions("ask", ["Bash"])
    assert ask["*"] == "ask" and ask["bash"] == "allow" and "edit" not in ask


def test_ask_mode_has_no_auto_approval_and_resume_asks_for_the_session(tmp_path: Path) -> None:
    profile = AgentProfile(id="p", name="p", permission_mode="ask", system_prompt="Be terse.")
    env = OpenCodeArchitecture().launch(context(tmp_path, profile=profile, resume=True)).env
    run = json.loads(env[SETUP_ENV])["run"]
    assert run["autoApprove"] is False and run["resume"] is True


def test_prepare_writes_the_config_tags_the_run_and_resumes_what_exists(tmp_path: Path) -> None:
    profile = AgentProfile(id="p", name="p", env=["OPENAI_API_KEY", "OPENAI_BASE_URL"], system_prompt="Be terse.")
    ctx = context(tmp_path, profile=profile, resume=True)
    launch = OpenCodeArchitecture().launch(ctx)
    workspace = tmp_path / "sandbox" / "workspace"
    request = {"baseWorkspacePath": str(workspace), "launch": launch.wire(), "prompt": ctx.prompt}
    env = _agent_env(request)
    converter = OpenCodeConverter(request)
    argv = converter.prepare(launch.argv, env)
    # Run under the driver; no conversation yet, so it will start a new one.
    assert argv[:2] == [sys.executable, "-c"] and argv[3] == env[RUN_TAG_ENV] and argv[5] == "--"
    assert argv[6:] == launch.argv
    assert json.loads(argv[4]) == {"model": "agent-tui/qwen-coder", "autoApprove": True, "session": None}
    assert SETUP_ENV not in env
    folder = tmp_path / "sandbox" / "home" / ".config" / "opencode"
    assert json.loads((folder / "opencode.json").read_text())["model"] == "agent-tui/qwen-coder"
    assert (folder / "AGENTS.md").read_text() == "Be terse."
    # OpenCode would otherwise fetch @opencode-ai/plugin from npm into its config folder.
    assert (folder / "node_modules").is_dir()
    lock = json.loads((folder / "package-lock.json").read_text())
    assert lock["packages"][""]["dependencies"] == json.loads((folder / "package.json").read_text())["dependencies"]
    assert [json.loads(line) for line in converter.initial_input()] == [{"type": "prompt", "text": ctx.prompt}]
    assert converter.keeps_stdin_open()  # answers to permission requests follow
    assert converter.model == "agent-tui/qwen-coder"

    # Once OpenCode's database has a conversation, the run continues that one.
    make_database(Path(env["OPENCODE_DB"]), "ses_abc")
    argv = OpenCodeConverter(request).prepare(launch.argv, _agent_env(request))
    assert json.loads(argv[4])["session"] == "ses_abc"


def make_database(path: Path, session_id: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE session (id TEXT PRIMARY KEY, parent_id TEXT, time_updated INTEGER);
        CREATE TABLE message (id TEXT PRIMARY KEY, session_id TEXT, time_created INTEGER, data TEXT);
        CREATE TABLE part (id TEXT PRIMARY KEY, message_id TEXT, session_id TEXT, data TEXT);
    """)
    db.execute("INSERT INTO session VALUES (?, NULL, 2)", (session_id,))
    db.execute("INSERT INTO session VALUES ('ses_child', ?, 3)", (session_id,))
    db.execute("INSERT INTO message VALUES ('msg_1', ?, 1, ?)", (session_id, json.dumps({"role": "user"})))
    db.execute("INSERT INTO part VALUES ('prt_1', 'msg_1', ?, ?)",
               (session_id, json.dumps({"type": "text", "text": "hello\n"})))
    db.execute("INSERT INTO message VALUES ('msg_2', ?, 2, ?)",
               (session_id, json.dumps({"role": "assistant", "modelID": "m", "providerID": "p"})))
    db.execute("INSERT INTO part VALUES ('prt_2', 'msg_2', ?, ?)",
               (session_id, json.dumps({"type": "text", "text": "Hi!", "time": {"end": 5}})))
    db.commit()
    db.close()


def test_database_is_saved_and_restored_into_a_new_sandbox(tmp_path: Path) -> None:
    workspace = tmp_path / "one" / "workspace"
    assert read_transcript({"baseWorkspacePath": str(workspace)}) is None
    make_database(Path(db_path_for(str(workspace))), "ses_abc")
    transcript = read_transcript({"baseWorkspacePath": str(workspace)})
    assert transcript is not None and transcript["sessionId"] == "ses_abc"
    blocks = [e["payload"]["block"] for e in transcript_events(transcript)]
    assert [(b["type"], b["content"]) for b in blocks] == [("user_message", "hello"), ("assistant_text", "Hi!")]

    fresh = tmp_path / "two" / "workspace"
    stale = Path(db_path_for(str(fresh)) + "-wal")
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"stale")
    load_transcript({"baseWorkspacePath": str(fresh)}, json.loads(json.dumps(transcript)))
    assert not stale.exists()
    db = sqlite3.connect(db_path_for(str(fresh)))
    assert db.execute("SELECT id FROM session WHERE parent_id IS NULL").fetchall() == [("ses_abc",)]
    db.close()


def test_permission_requests_are_relayed_in_ask_modes_and_only_logged_in_bypass() -> None:
    asked = json.dumps({"type": "permission.asked", "properties": {
        "id": "per_1", "sessionID": "ses_1", "permission": "bash", "patterns": ["rm -rf build"],
        "metadata": {"command": "rm -rf build"}, "tool": {"messageID": "msg_1", "callID": "call_1"}}})
    replied = json.dumps({"type": "permission.replied", "properties": {
        "sessionID": "ses_1", "requestID": "per_1", "reply": "once"}})

    ask = OpenCodeConverter({})
    [request] = [e for e in ask.feed(asked) if e["type"] == "permission:requested"]
    assert request["payload"] == {"requestId": "per_1", "toolName": "bash", "toolUseId": "call_1",
                                  "input": {"command": "rm -rf build"}, "title": "bash: rm -rf build",
                                  "kind": "execute", "command": "rm -rf build"}
    assert ask.on_control({"type": "permission_response", "requestId": "per_1", "decision": "deny",
                           "message": " not that "}) == []
    assert [json.loads(line) for line in ask.take_agent_input()] == [
        {"type": "permission_reply", "requestID": "per_1", "reply": "reject", "message": "not that"}]
    assert ask.feed(replied) == []  # our own answer: the session has published permission:resolved

    bypass = OpenCodeConverter({})
    bypass.auto_approve = True  # what prepare() sets for permissionMode "bypass"
    events = bypass.feed(asked) + bypass.feed(replied)
    assert [e["type"] for e in events] == ["log"] and "approved" in events[0]["payload"]["message"]


def test_the_drivers_sse_reader_handles_what_a_server_may_send() -> None:
    import io

    from runtime.runner.converters.opencode_serve import sse_events

    stream = io.BytesIO(
        b": a comment\r\n"
        b"event: message\r\n"
        b"id: 1\r\n"
        b'data: {"type": "a",\r\n'
        b'data:  "n": 1}\r\n'
        b"\r\n"
        b"\n"  # a blank line with nothing pending
        b'data:{"type":"b"}\n\n'
        b"data: [1, 2]\n\n"
        b"data: not json\n\n"
        b'data: {"type": "torn"'  # the stream ends mid-event: never yielded
    )
    assert list(sse_events(stream)) == [
        {"type": "a", "n": 1},
        {"type": "b"},
        {"type": "agent-tui.unparseable", "data": "[1, 2]"},
        {"type": "agent-tui.unparseable", "data": "not json"},
    ]
