"""``agent-tui serve`` with a read-only data folder: one clear line on stderr, exit 1, no traceback
(issue 20 item 6); nothing is written into the folder."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.reliability.test_storage_faults import read_only_view
from tests.tui.servers import AGENT_TUI, child_env


def _serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(AGENT_TUI), "serve", "--port", "0", *args], env=env, capture_output=True,
                          text=True, timeout=30)


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("which", ["user-data-dir", "inside-read-only", "data-dir"])
def test_serve_with_a_read_only_data_folder_says_so_in_one_line(tmp_path: Path, which: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = child_env(home)
    real = tmp_path / "real"
    (real / "agent-tui").mkdir(parents=True)
    before = _listing(real)
    with read_only_view(real, tmp_path / "ro") as how:
        if which == "user-data-dir":  # the default: database and sandboxes in $XDG_DATA_HOME/agent-tui
            env["XDG_DATA_HOME"] = str(tmp_path / "ro")
            result = _serve(env)
        elif which == "inside-read-only":  # $XDG_DATA_HOME does not exist yet, inside a read-only folder
            env["XDG_DATA_HOME"] = str(tmp_path / "ro" / "share")
            result = _serve(env)
        else:  # a writable database, sandboxes in a read-only folder
            result = _serve(env, "--db", str(tmp_path / "db" / "agent-tui.db"),
                            "--data-dir", str(tmp_path / "ro" / "agent-tui" / "sandboxes"))
    assert result.returncode == 1, (how, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("agent-tui serve: "), result.stderr
    assert str(tmp_path / "ro") in lines[0], lines[0]
    assert _listing(real) == before
