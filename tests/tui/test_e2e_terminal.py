"""The real ``agent-tui`` command in a pseudo-terminal: create a shell session, run a command, quit.

HOME and every data dir are in a temp folder; the test checks the exit code, that no traceback was
printed and that no process of the app (or of its sandbox) is left behind.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pexpect

from tests.tui.servers import AGENT_TUI, child_env


def processes_under(folder: Path) -> list[int]:
    """Pids whose working directory or command line is inside ``folder``."""
    found = []
    needle = str(folder)
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().decode(errors="replace")
            with open(f"/proc/{entry}/stat") as handle:
                state = handle.read().split(")")[-1].split()[0]
        except OSError:
            continue
        if state != "Z" and (cwd.startswith(needle) or needle in cmdline):
            found.append(int(entry))
    return found


def test_agent_tui_command_runs_a_shell_session_and_quits_cleanly(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {**child_env(home), "TERM": "xterm-256color"}
    child = pexpect.spawn(str(AGENT_TUI), ["--db", str(tmp_path / "data" / "agent-tui.db"), "--no-bell"], env=env,
                          cwd=str(tmp_path), dimensions=(40, 120), encoding="utf-8", codec_errors="replace",
                          timeout=30)
    transcript: list[str] = []
    child.logfile_read = _Collect(transcript)
    try:
        child.expect("SESSIONS")  # the first frame
        child.expect("0 sessions")  # the runtime is up
        child.sendcontrol("n")
        child.expect("New session")
        child.expect("Shell")
        child.sendcontrol("s")  # create with the first available architecture: shell
        child.expect("shell · local")
        # The quotes keep "hello" out of the echoed command: only the output can show it whole.
        child.send("echo hel''lo")
        child.send("\r")
        child.expect("hello")
        child.sendcontrol("q")
        child.expect(pexpect.EOF, timeout=30)
    finally:
        child.close()
    output = "".join(transcript)
    assert child.exitstatus == 0, output[-2000:]
    assert "Traceback" not in output
    deadline = time.monotonic() + 10
    while processes_under(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_under(tmp_path) == []


class _Collect:
    def __init__(self, sink: list[str]) -> None:
        self.sink = sink

    def write(self, data: str) -> None:
        self.sink.append(data)

    def flush(self) -> None:
        pass
