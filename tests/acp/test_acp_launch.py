"""Host side of the ACP architectures: profile ``acp`` tables, launches, availability."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime.architectures import ARCHITECTURES
from runtime.architectures.acp import mcp_servers
from runtime.architectures.base import LaunchContext
from runtime.config import RuntimeConfig
from runtime.models import AgentProfile
from runtime.profiles import ProfileRegistry
from runtime.runner.converters.acp import SETUP_ENV
from tests.helpers import NODE_BIN


def context(profile: AgentProfile, tmp_path: Path, **config: object) -> LaunchContext:
    return LaunchContext(session_id="ses-1", message_id="msg-1", prompt="hi", session_dir=str(tmp_path),
                         profile=profile, session_options={}, resume=False, host_env={"SECRET": "s", "KEY": "k"},
                         config=RuntimeConfig(**config))  # type: ignore[arg-type]


def test_profile_toml_acp_table_adds_an_agent_and_a_broken_one_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "goose.toml").write_text(
        'name = "Goose"\nenv = ["KEY"]\n'
        'acp = { command = ["goose", "acp"], env = { GOOSE_MODE = "auto" }, state = [".config/goose"] }\n')
    (folder / "broken.toml").write_text('name = "Broken"\nacp = { command = [] }\n')
    registry = ProfileRegistry(tmp_path)
    registry.load()
    profile = registry.get("goose")
    assert profile.acp is not None and profile.acp.command == ["goose", "acp"]
    assert [path for path in registry.errors] == [str(folder / "broken.toml")]
    assert "command" in registry.errors[str(folder / "broken.toml")]

    launch = ARCHITECTURES["acp"].launch(context(profile, tmp_path))
    assert launch is not None and launch.argv == ["goose", "acp"]
    assert launch.env["GOOSE_MODE"] == "auto" and launch.env["KEY"] == "k" and "SECRET" not in launch.env
    setup = json.loads(launch.env[SETUP_ENV])
    assert setup["stateDirs"] == [".config/goose"] and setup["autoApprove"] is True


def test_mcp_servers_become_acps_list() -> None:
    profile = AgentProfile(id="p", name="p", mcp_servers={
        "files": {"command": "mcp-files", "args": ["--root", "."], "env": {"A": "1"}},
        "web": {"type": "http", "url": "http://127.0.0.1:9/mcp", "headers": {"X": "y"}},
        "bad": "not a table"})
    assert mcp_servers(profile) == [
        {"name": "files", "command": "mcp-files", "args": ["--root", "."], "env": [{"name": "A", "value": "1"}]},
        {"type": "http", "name": "web", "url": "http://127.0.0.1:9/mcp", "headers": [{"name": "X", "value": "y"}]}]


INSTALL_HINTS = {"acp-claude": "@agentclientprotocol/claude-agent-acp", "acp-gemini": "@google/gemini-cli",
                 "acp-codex": "codex-acp", "acp-opencode": "opencode-ai"}


@pytest.mark.parametrize(("arch_id", "hint"), INSTALL_HINTS.items(), ids=list(INSTALL_HINTS))
def test_builtins_say_how_to_install_a_missing_agent(tmp_path: Path, arch_id: str, hint: str) -> None:
    config = RuntimeConfig(agent_bin_dirs=[str(tmp_path)], host_env={"PATH": str(tmp_path)})
    info = ARCHITECTURES[arch_id].info(config, "local")
    assert not info.available and hint in (info.reason or ""), info


def test_an_installed_builtin_is_available() -> None:
    installed = RuntimeConfig(agent_bin_dirs=[str(NODE_BIN)], host_env={"PATH": "/usr/bin:/bin"})
    if (NODE_BIN / "claude-agent-acp").exists():
        assert ARCHITECTURES["acp-claude"].info(installed, "local").available


@pytest.mark.parametrize(("mode", "expected", "auto"), [("bypass", "default", True), ("ask", "default", False),
                                                      ("acceptEdits", "acceptEdits", False)])
def test_claude_acp_settings_follow_the_permission_mode(tmp_path: Path, mode: str, expected: str, auto: bool) -> None:
    profile = AgentProfile(id="p", name="p", permission_mode=mode, allowed_tools=["Read"])  # type: ignore[arg-type]
    launch = ARCHITECTURES["acp-claude"].launch(context(profile, tmp_path))
    assert launch is not None
    setup = json.loads(launch.env[SETUP_ENV])
    settings = json.loads(setup["files"][".claude/settings.json"])
    assert settings["permissions"] == {"defaultMode": expected, "allow": ["Read"]}
    assert setup["autoApprove"] is auto and setup["stateDirs"] == [".claude", ".claude.json"]
