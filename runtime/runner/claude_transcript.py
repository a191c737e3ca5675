"""Claude Code's own conversation files: saved after each query, restored into a new sandbox.

Claude Code keeps a session as JSON lines in
``$CLAUDE_CONFIG_DIR/projects/<mangled cwd>/<session uuid>.jsonl``, and a subagent's in
``<session uuid>/subagents/agent-<id>.jsonl`` (+ ``.meta.json``) beside it. ``--resume`` finds the
file by the current working directory, so restoring means writing those files back under the
project folder of the sandbox's workspace.

The stored transcript is one JSON object (``TRANSCRIPT_FORMAT``): the session uuid, the workspace
it was recorded in, the project folder name, and ``files`` (path relative to the project folder
-> text). Stdlib only: this module runs inside the sandbox as ``agent_runner.claude_transcript``
and is imported by the host's ``runtime.architectures.claude_code`` for ``claude_session_id``.
"""

from __future__ import annotations

import os
import uuid

from .claude_projects import find_session_file, mangle
from .transcript_files import home_for, read_text, request_workspace, stable_uuid, target_inside, write_text

# ``typing`` only for the type checker: importing it costs the runner ~2.5 ms of start-up per query.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

TRANSCRIPT_FORMAT = "claude-code/1"
#: Claude Code's folder under the session's ``home/`` (the architecture sets ``CLAUDE_CONFIG_DIR`` to it).
CONFIG_DIR_NAME = ".claude"
#: Files bigger than this are left out of a stored transcript (a runaway tool output must not
#: bloat the store); the conversation itself lives in the main ``.jsonl``, which is always kept.
MAX_SIDE_FILE = 8 * 1024 * 1024

_NAMESPACE = uuid.UUID("6f3b8f0e-5d2a-4c1e-9b7a-2f4e8d9c0a11")


def claude_session_id(session_id: str) -> str:
    """Claude Code wants a UUID for ``--session-id``; ours (``ses-…``) is mapped to a stable one."""
    return stable_uuid(session_id, _NAMESPACE)


def config_dir_for(workspace: str) -> str:
    return os.path.join(home_for(workspace), CONFIG_DIR_NAME)


def read_transcript(request: dict[str, Any]) -> dict[str, Any] | None:
    workspace = request_workspace(request)
    claude_id = claude_session_id(str(request.get("sessionId")))
    main = find_session_file(config_dir_for(workspace), claude_id, workspace)
    if main is None:
        return None
    project = os.path.dirname(main)
    files: dict[str, str] = {f"{claude_id}.jsonl": read_text(main)}
    skipped: list[str] = []
    side = os.path.join(project, claude_id)
    for root, _dirs, names in os.walk(side):
        for name in sorted(names):
            path = os.path.join(root, name)
            relative = os.path.relpath(path, project)
            try:
                if os.path.getsize(path) > MAX_SIDE_FILE:
                    skipped.append(relative)
                    continue
                files[relative] = read_text(path)
            except OSError:
                skipped.append(relative)
    transcript: dict[str, Any] = {
        "format": TRANSCRIPT_FORMAT,
        "claudeSessionId": claude_id,
        "workspace": workspace,
        "projectDir": os.path.basename(project),
        "files": files,
    }
    if skipped:
        transcript["skipped"] = skipped
    return transcript


def load_transcript(request: dict[str, Any], transcript: Any) -> None:
    if not isinstance(transcript, dict) or not isinstance(transcript.get("files"), dict):
        return
    workspace = request_workspace(request)
    # Same workspace path as when it was recorded: reuse the CLI's own folder name (it may have
    # shortened a long path); otherwise the folder of this workspace.
    project_name = transcript.get("projectDir") if transcript.get("workspace") == workspace else None
    project = os.path.join(config_dir_for(workspace), "projects", str(project_name or mangle(workspace)))
    for relative, text in transcript["files"].items():
        target = target_inside(project, relative)
        if target is None or not isinstance(text, str):
            continue  # never write outside the project folder, whatever the stored data says
        write_text(target, text)
