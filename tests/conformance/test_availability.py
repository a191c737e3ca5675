"""Every CLI architecture says whether its CLI is installed, through the public API: available
when it is in an agent folder, and otherwise why not and how to install it (no CLI needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime import AgentRuntime
from tests.agent_support import write_executable_in
from tests.helpers import make_config

CLIS = [("claude-code", "claude", "Claude Code CLI", "AGENT_TUI_CLAUDE_PATH", "@anthropic-ai/claude-code"),
        ("gemini-cli", "gemini", "Gemini CLI", "AGENT_TUI_GEMINI_PATH", "@google/gemini-cli"),
        ("opencode", "opencode", "OpenCode CLI", "AGENT_TUI_OPENCODE_PATH", "opencode-ai")]


@pytest.mark.parametrize(("architecture", "binary", "label", "variable", "package"), CLIS, ids=[c[0] for c in CLIS])
async def test_list_architectures_says_whether_the_cli_is_installed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, architecture: str, binary: str, label: str,
        variable: str, package: str) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # whatever this machine has installed
    write_executable_in(tmp_path / "bin", binary)
    configs = {"installed": make_config(tmp_path / "a", host_env={}, agent_bin_dirs=[str(tmp_path / "bin")]),
               "missing": make_config(tmp_path / "b", host_env={}, agent_bin_dirs=[str(tmp_path / "nothing")]),
               "broken": make_config(tmp_path / "c", host_env={variable: str(tmp_path / "nope")})}
    found = {}
    for name, config in configs.items():
        async with AgentRuntime(config) as runtime:
            found[name] = {i.id: i for i in await runtime.list_architectures()}[architecture]
    install = f"install it with `npm install -g {package}`"
    assert found["installed"].available is True and found["installed"].reason is None
    assert found["missing"].available is False
    assert found["missing"].reason == f"the {label} (`{binary}`) is not on PATH (or set {variable} to its path); {install}"
    assert found["broken"].available is False
    assert found["broken"].reason == f"{variable}={tmp_path / 'nope'} is not executable; {install}"
