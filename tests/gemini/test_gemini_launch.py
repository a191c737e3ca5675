"""How the gemini-cli architecture starts the CLI, what the runner-side converter prepares in the
sandbox, and how Gemini CLI's chat files are saved and restored (no CLI needed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from runtime.architectures.base import LaunchContext
from runtime.architectures.gemini_cli import MAX_ARGV_PROMPT, GeminiCliArchitecture
from runtime.models import AgentProfile
from runtime.runner.converters.gemini_cli import SETUP_ENV, GeminiCliConverter, transcript_events
from runtime.runner.execute import _agent_env
from runtime.runner.gemini_transcript import gemini_session_id, load_transcript, read_transcript
from tests.agent_support import launch_context
from tests.agent_support import option_value as option
from tests.conformance.golden import GOLDENS

DATA = GOLDENS["gemini-cli"].data
HOST = {"GEMINI_API_KEY": "key-host", "GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:9", "SECRET_TOKEN": "nope"}


def context(tmp_path: Path, **overrides: object) -> LaunchContext:
    return launch_context(tmp_path, "gemini", ["GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL"], HOST, **overrides)


def test_first_query_argv_environment_and_settings(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    launch = GeminiCliArchitecture().launch(ctx)
    argv, env = launch.argv, launch.env
    assert argv[0] == str(tmp_path / "bin" / "gemini")
    assert option(argv, "-o") == "stream-json" and option(argv, "--approval-mode") == "yolo"
    assert option(argv, "--session-id") == gemini_session_id(ctx.session_id) and "--resume" not in argv
    assert argv[-1] == "--prompt=-v looks like an option" and "-m" not in argv
    assert env["GEMINI_API_KEY"] == "key-host" and env["GOOGLE_GEMINI_BASE_URL"] == "http://127.0.0.1:9"
    assert "SECRET_TOKEN" not in env and "NOT_SET" not in env
    assert env["GEMINI_CLI_TRUST_WORKSPACE"] == "true" and env["GEMINI_CLI_NO_RELAUNCH"] == "true"
    home = tmp_path / "sandbox" / "home"
    assert env["HOME"] == str(home) and env["TMPDIR"].startswith(str(home))
    settings = json.loads(env[SETUP_ENV])["settings"]
    assert settings["privacy"] == {"usageStatisticsEnabled": False} and settings["telemetry"] == {"enabled": False}
    assert settings["general"] == {"enableAutoUpdate": False, "enableAutoUpdateNotification": False}
    assert settings["security"] == {"auth": {"selectedType": "gemini-api-key"}}
    assert "key-host" not in env[SETUP_ENV]


def test_modes_models_resume_and_long_prompts(tmp_path: Path) -> None:
    profile = AgentProfile(id="p", name="p", permission_mode="ask", allowed_tools=["read_file"], model="gemini-x")
    argv = GeminiCliArchitecture().launch(context(tmp_path, profile=profile, resume=True,
                                                  session_options={"model": "gemini-y"})).argv
    assert option(argv, "--approval-mode") == "default" and option(argv, "--allowed-tools") == "read_file"
    assert option(argv, "-m") == "gemini-y" and "--resume" in argv and "--session-id" not in argv
    edits = AgentProfile(id="p", name="p", permission_mode="acceptEdits")
    assert option(GeminiCliArchitecture().launch(context(tmp_path, profile=edits)).argv,
                  "--approval-mode") == "auto_edit"
    long_prompt = "x" * (MAX_ARGV_PROMPT + 1)
    argv = GeminiCliArchitecture().launch(context(tmp_path, prompt=long_prompt)).argv
    assert not any(a.startswith("--prompt") for a in argv)


def prepared(tmp_path: Path, ctx: LaunchContext) -> tuple[list[str], dict[str, str], GeminiCliConverter]:
    launch = GeminiCliArchitecture().launch(ctx)
    request = {"baseWorkspacePath": str(tmp_path / "sandbox" / "workspace"), "launch": launch.wire(),
               "prompt": ctx.prompt}
    env = _agent_env(request)
    converter = GeminiCliConverter(request)
    return converter.prepare(launch.argv, env), env, converter


def test_prepare_writes_settings_and_resumes_only_what_exists(tmp_path: Path) -> None:
    home = tmp_path / "sandbox" / "home"
    (home / ".gemini").mkdir(parents=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps({"ui": {"theme": "kept"}, "telemetry": {"enabled": True}}))
    profile = AgentProfile(id="p", name="p", env=["GEMINI_API_KEY"], system_prompt="Be terse.")
    argv, env, converter = prepared(tmp_path, context(tmp_path, profile=profile, resume=True))
    assert argv[:2] == [sys.executable, "-c"]  # under the reaper
    # No chat file yet (say the first query was stopped early): start the conversation instead.
    uuid = gemini_session_id("ses-0123456789abcdef0123")
    assert option(argv, "--session-id") == uuid and "--resume" not in argv
    settings = json.loads((home / ".gemini" / "settings.json").read_text())
    assert settings["ui"] == {"theme": "kept"} and settings["telemetry"] == {"enabled": False}
    assert (home / ".gemini" / "GEMINI.md").read_text() == "Be terse."
    assert Path(env["TMPDIR"]).is_dir() and SETUP_ENV not in env
    assert converter.initial_input() == []  # the prompt is in argv

    # With the golden "resume" chat file in place (one model turn), the run resumes it.
    transcript = json.loads((DATA / "resume" / "transcript.json").read_text())
    load_transcript({"baseWorkspacePath": str(tmp_path / "sandbox" / "workspace")},
                    {**transcript, "sessionId": uuid})
    chats = list((home / ".gemini" / "tmp").glob("*/chats/*.jsonl"))
    original = transcript["sessionId"]
    for chat in chats:  # give the restored file our session's uuid
        chat.write_text(chat.read_text().replace(original, uuid))
        chat.rename(chat.with_name(chat.name.replace(original[:8], uuid[:8])))
    argv, _env, converter = prepared(tmp_path, context(tmp_path, profile=profile, resume=False))
    assert option(argv, "--resume") == uuid and "--session-id" not in argv
    assert converter.turn_base == 2


def test_chat_files_are_saved_and_restored_into_a_moved_workspace(tmp_path: Path) -> None:
    transcript = json.loads((DATA / "tool_loop" / "transcript.json").read_text())
    fresh = tmp_path / "elsewhere" / "workspace"
    load_transcript({"baseWorkspacePath": str(fresh)}, transcript)
    gemini = tmp_path / "elsewhere" / "home" / ".gemini"
    assert str(fresh) in (gemini / "projects.json").read_text()
    assert transcript["workspace"] not in (gemini / "projects.json").read_text()
    saved = read_transcript({"baseWorkspacePath": str(fresh), "sessionId": "ignored"})
    assert saved is None  # another session's uuid: nothing of ours to save
    again = read_transcript({"baseWorkspacePath": str(fresh), "sessionId": transcript["sessionId"]})
    assert again is not None and again["workspace"] == str(fresh)
    assert transcript_events(again, include_prompts=False) == transcript_events(transcript, include_prompts=False)
