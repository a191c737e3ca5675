"""Real git repositories for the workspace tests (never a mocked git)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

IDENTITY = ["-c", "user.name=Test User", "-c", "user.email=test@example.com"]


def git(cwd: Path | str, *args: str) -> str:
    """Run git as the user would in their checkout; returns stdout."""
    return subprocess.run(
        ["git", *IDENTITY, *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def make_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    for name, content in (files or {"README.md": "hello\n", "src/app.py": "print('v1')\n"}).items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "project")


def status(path: Path) -> str:
    return git(path, "status", "--porcelain")


def head(path: Path, ref: str = "HEAD") -> str:
    return git(path, "rev-parse", ref).strip()
