"""``serve --database-url``: bad values are refused clearly, before anything starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT


def _serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime.server", "--port", "0", "--data-dir", str(tmp_path / "sb"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AGENT_TUI_TOKEN": "t"},
    )


def test_a_database_url_that_is_not_postgres_is_refused(tmp_path: Path) -> None:
    done = _serve(tmp_path, "--database-url", "mysql://db/x")
    assert done.returncode == 2 and "must be a postgresql:// URL" in done.stderr
    done = _serve(tmp_path, "--database-url", "postgresql:///x", "--lease-ttl", "0")
    assert done.returncode == 2 and "--lease-ttl must be" in done.stderr


def test_an_unreachable_postgres_exits_1_with_the_password_hidden(tmp_path: Path) -> None:
    done = _serve(tmp_path, "--database-url", f"postgresql://agent:hunter2@/x?host={tmp_path}&port=1")
    assert done.returncode == 1
    assert "cannot connect to Postgres at postgresql://agent:***@/x" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout and "Traceback" not in done.stderr
