"""Where Claude Code keeps a session's file: ``<config dir>/projects/<mangled cwd>/<uuid>.jsonl``.

Stdlib only, and apart from ``claude_transcript`` (which needs ``uuid``, ~2.5 ms to import) because the
Claude converter looks session files up at the start of every query.
"""

from __future__ import annotations

import os
import re


def mangle(path: str) -> str:
    """Claude Code's project folder name for a working directory (every non-alphanumeric -> ``-``)."""
    return re.sub(r"[^A-Za-z0-9]", "-", path)


def find_session_file(config_dir: str, claude_id: str, workspace: str | None = None) -> str | None:
    """The session's ``.jsonl``: in the workspace's project folder, else in any project folder
    (the CLI may have resolved the cwd differently, e.g. through a symlink)."""
    projects = os.path.join(config_dir, "projects")
    if workspace:
        candidate = os.path.join(projects, mangle(workspace), f"{claude_id}.jsonl")
        if os.path.isfile(candidate):
            return candidate
    try:
        folders = sorted(os.listdir(projects))
    except OSError:
        return None
    for folder in folders:
        candidate = os.path.join(projects, folder, f"{claude_id}.jsonl")
        if os.path.isfile(candidate):
            return candidate
    return None
