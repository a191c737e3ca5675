"""ACP agents' conversations: saved after each query, restored into a new sandbox.

The ACP client keeps the session id in ``home/.agent-tui/acp-session.json`` together with the
folders under ``home/`` where the agent keeps its own conversation (``stateDirs``: the
architecture's, e.g. ``.gemini`` for Gemini CLI, or a profile's ``acp.state``). The stored
transcript (``TRANSCRIPT_FORMAT``) is that file plus every file of those folders (text as is,
anything else base64), by path relative to ``home/``; restoring writes them back, so the next
query's ``session/load`` finds both the id and the agent's files.

Stdlib only: runs inside the sandbox as ``agent_runner.acp_transcript``.
"""

from __future__ import annotations

import base64
import json
import os

from .transcript_files import home_for, request_workspace, target_inside

# ``typing`` only for the type checker: importing it costs the runner ~2.5 ms of start-up per query.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

TRANSCRIPT_FORMAT = "acp/1"
STATE_FILE = os.path.join(".agent-tui", "acp-session.json")
#: Files bigger than this are left out, and the whole transcript stops growing past ``MAX_TOTAL``
#: (a runaway cache must not bloat the store).
MAX_FILE = 8 * 1024 * 1024
MAX_TOTAL = 48 * 1024 * 1024
#: Folder names never saved: caches and installs an agent rebuilds itself.
SKIPPED = frozenset({"node_modules", ".cache", "cache", "tmp-downloads", "bin", "log", "logs"})


def _file_entry(path: str) -> dict[str, str] | None:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def read_transcript(request: dict[str, Any]) -> dict[str, Any] | None:
    home = home_for(request_workspace(request))
    state_path = os.path.join(home, STATE_FILE)
    try:
        with open(state_path, encoding="utf-8") as handle:
            state = json.load(handle)
    except (OSError, ValueError):
        return None  # no session was opened: nothing to resume
    if not isinstance(state, dict) or not isinstance(state.get("sessionId"), str):
        return None
    files: dict[str, dict[str, str]] = {STATE_FILE: {"text": json.dumps(state)}}
    total = 0
    for folder in state.get("stateDirs") or []:
        root = target_inside(home, folder) if isinstance(folder, str) else None
        if root is None:
            continue
        paths = [root] if os.path.isfile(root) else []
        for current, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED)
            paths.extend(os.path.join(current, n) for n in sorted(names))
        for path in paths:
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            size = os.path.getsize(path)
            if size > MAX_FILE or total + size > MAX_TOTAL:
                continue
            entry = _file_entry(path)
            if entry is not None:
                total += size
                files[os.path.relpath(path, home)] = entry
    return {"format": TRANSCRIPT_FORMAT, "sessionId": state["sessionId"], "files": files}


def load_transcript(request: dict[str, Any], transcript: Any) -> None:
    if not isinstance(transcript, dict) or transcript.get("format") != TRANSCRIPT_FORMAT:
        return
    files = transcript.get("files")
    if not isinstance(files, dict):
        return
    home = home_for(request_workspace(request))
    for relative, entry in files.items():
        target = target_inside(home, relative)
        if target is None or not isinstance(entry, dict):
            continue  # never write outside the session home
        if isinstance(entry.get("text"), str):
            data = entry["text"].encode("utf-8")
        elif isinstance(entry.get("base64"), str):
            data = base64.b64decode(entry["base64"])
        else:
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as handle:
            handle.write(data)
