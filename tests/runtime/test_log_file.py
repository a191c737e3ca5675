"""The log file (issue 20 item 8): in the user's state dir, named in --help, private, rotated,
records refused databases and broken profiles, and never holds a secret."""

from __future__ import annotations

import logging
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.logfile import PrivateRotatingFileHandler, add_secret, setup_log_file
from tests.tui.servers import AGENT_TUI, child_env


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "state" / "agent-tui.log"
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    assert setup_log_file(path, max_bytes=4000, backups=2) == path
    yield path
    for handler in root.handlers:
        if handler not in before:
            handler.close()
            root.removeHandler(handler)
    root.setLevel(level)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_log_file_is_private_and_rotates_whatever_the_umask(log_file: Path) -> None:
    import os

    old = os.umask(0)
    try:
        for i in range(200):
            logging.getLogger("runtime.test").warning("line %d %s", i, "x" * 60)
    finally:
        os.umask(old)
    files = sorted(log_file.parent.iterdir())
    assert [p.name for p in files] == ["agent-tui.log", "agent-tui.log.1", "agent-tui.log.2"]
    assert all(_mode(p) == 0o600 for p in files), [oct(_mode(p)) for p in files]
    assert _mode(log_file.parent) == 0o700
    assert any(isinstance(h, PrivateRotatingFileHandler) for h in logging.getLogger().handlers)


def test_secrets_never_reach_the_log_file(log_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "key-from-the-environment-123")
    add_secret("server-token-abcdef")
    log = logging.getLogger("runtime.test")
    log.warning("env %s", "key-from-the-environment-123")
    log.warning("header Authorization: Bearer abc.def.ghi and url http://h/socket.io/?token=s3cr3tvalue&x=1")
    log.warning("pasted sk-ant-api03-AAAAAAAAAAAAAAAA and server-token-abcdef")
    try:
        raise RuntimeError("failed with key-from-the-environment-123")
    except RuntimeError:
        log.exception("boom")
    text = log_file.read_text()
    for secret in ("key-from-the-environment-123", "abc.def.ghi", "s3cr3tvalue", "sk-ant-api03-AAAA",
                   "server-token-abcdef"):
        assert secret not in text, secret
    assert text.count("[redacted]") >= 6 and "boom" in text and "RuntimeError" in text


def test_help_names_the_log_file_and_problems_are_recorded_there(tmp_path: Path) -> None:
    """The real command: --help names the file; a refused --db and a broken profile land in it."""
    home = tmp_path / "home"
    home.mkdir()
    env = child_env(home)
    log = home / "state" / "agent-tui" / "agent-tui.log"
    shown = subprocess.run([str(AGENT_TUI), "--help"], env={**env, "COLUMNS": "400"}, capture_output=True,
                           text=True, timeout=60)
    assert f"Log file: {log}" in shown.stdout, shown.stdout

    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    profiles = home / "config" / "agent-tui" / "profiles"
    profiles.mkdir(parents=True)
    (profiles / "broken.toml").write_text('permissionMode = "sometimes"\n')
    refused = subprocess.run([str(AGENT_TUI), "serve", "--port", "0", "--db", str(notes)], env=env,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "not an agent-tui database" in refused.stderr, refused.stderr
    assert notes.read_text() == "my notes\n"

    served = subprocess.Popen([str(AGENT_TUI), "serve", "--port", "0", "--db", str(tmp_path / "ok.db")], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert served.stdout is not None
        assert "listening on" in served.stdout.readline()
    finally:
        served.terminate()
        served.wait(timeout=30)
    text = log.read_text()
    assert f"{notes} is not an agent-tui database" in text, text
    assert f"profile file {profiles / 'broken.toml'} ignored: permissionMode" in text, text
    assert _mode(log) == 0o600
