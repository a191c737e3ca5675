"""Gemini CLI's own conversation files: saved after each query, restored into a new sandbox.

Gemini CLI names a project after its folder (``~/.gemini/projects.json`` maps the workspace path
to that name) and records each session as JSON lines in
``~/.gemini/tmp/<project>/chats/session-<time>-<first 8 chars of the uuid>.jsonl``; ``--resume
<uuid>`` looks for it there. The stored transcript (``TRANSCRIPT_FORMAT``) holds the session
uuid, the workspace it was recorded in and ``files``: every chat file of the project plus the
project registry and its ``.project_root`` markers, as text by path relative to ``~/.gemini``.
Restoring writes them back; when the workspace path changed, the registry and markers are
pointed at the new one, so the CLI finds the same project folder.

Stdlib only: this module runs inside the sandbox as ``agent_runner.gemini_transcript`` and is
imported by the host's ``runtime.architectures.gemini_cli`` for ``gemini_session_id``.
"""

from __future__ import annotations

import glob
import os
import uuid

from .transcript_files import home_for, read_text, request_workspace, stable_uuid, target_inside, write_text

# ``typing`` only for the type checker: importing it costs the runner ~2.5 ms of start-up per query.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

TRANSCRIPT_FORMAT = "gemini-cli/1"
#: Gemini CLI's folder under the session's ``home/``.
GEMINI_DIR = ".gemini"
#: Chat files bigger than this are left out (a runaway tool output must not bloat the store);
#: the session's own main chat file is always kept.
MAX_SIDE_FILE = 8 * 1024 * 1024

_NAMESPACE = uuid.UUID("0b7e4f52-3c1d-4a8e-9f60-5d2e7a1c9b34")


def gemini_session_id(session_id: str) -> str:
    """Gemini CLI wants a UUID for ``--session-id``; ours (``ses-…``) is mapped to a stable one."""
    return stable_uuid(session_id, _NAMESPACE)


def gemini_dir_for(workspace: str) -> str:
    return os.path.join(home_for(workspace), GEMINI_DIR)


def chat_files(gemini_dir: str, session_uuid: str) -> list[str]:
    """The chat files of one session (``session-*-<uuid8>.jsonl``, or ``.json`` from older CLIs)."""
    short = session_uuid[:8]
    found: list[str] = []
    for suffix in ("jsonl", "json"):
        found.extend(glob.glob(os.path.join(gemini_dir, "tmp", "*", "chats", f"session-*-{short}.{suffix}")))
    return sorted(found)


def read_transcript(request: dict[str, Any]) -> dict[str, Any] | None:
    workspace = request_workspace(request)
    session_uuid = gemini_session_id(str(request.get("sessionId")))
    root = gemini_dir_for(workspace)
    own = set(chat_files(root, session_uuid))
    if not own:
        return None  # the CLI stopped before it wrote anything: nothing to resume
    files: dict[str, str] = {}
    candidates = [os.path.join(root, "projects.json"),
                  *glob.glob(os.path.join(root, "tmp", "*", ".project_root")),
                  *glob.glob(os.path.join(root, "history", "*", ".project_root")),
                  *glob.glob(os.path.join(root, "tmp", "*", "chats", "*"))]
    for path in candidates:
        if not os.path.isfile(path):
            continue
        if path not in own and os.path.getsize(path) > MAX_SIDE_FILE:
            continue
        files[os.path.relpath(path, root)] = read_text(path)
    return {"format": TRANSCRIPT_FORMAT, "sessionId": session_uuid, "workspace": workspace, "files": files}


def load_transcript(request: dict[str, Any], transcript: Any) -> None:
    if not isinstance(transcript, dict) or transcript.get("format") != TRANSCRIPT_FORMAT:
        return
    files = transcript.get("files")
    if not isinstance(files, dict):
        return
    workspace = request_workspace(request)
    recorded = transcript.get("workspace")
    moved = isinstance(recorded, str) and recorded.rstrip("/") != workspace.rstrip("/")
    root = gemini_dir_for(workspace)
    for relative, text in files.items():
        target = target_inside(root, relative)
        if target is None or not isinstance(text, str):
            continue  # never write outside ~/.gemini
        name = os.path.basename(target)
        if moved and (name in ("projects.json", ".project_root")):
            # The project registry and markers name the workspace path; point them at the new one.
            text = text.replace(str(recorded).rstrip("/"), workspace.rstrip("/"))
        write_text(target, text)
