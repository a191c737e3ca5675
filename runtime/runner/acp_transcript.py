"""ACP agents' conversations: saved after each query, restored into a new sandbox.

The ACP client keeps the session id in ``home/.agent-tui/acp-session.json`` together with the
folders under ``home/`` where the agent keeps its own conversation (``stateDirs``: the
architecture's, e.g. ``.gemini`` for Gemini CLI, or a profile's ``acp.state``). The stored
transcript (``TRANSCRIPT_FORMAT``) is that file plus the files of those folders (each
zlib-compressed and base64-encoded), by path relative to ``home/``; restoring writes them back, so
the next query's ``session/load`` finds both the id and the agent's files. The whole transcript is
one line of the runner's output, which the host caps at 1 MiB: files that would take it past
``MAX_TOTAL`` (compressed) are left out, named in ``skipped`` (the agent then starts afresh).

Stdlib only: runs inside the sandbox as ``agent_runner.acp_transcript``.
"""

from __future__ import annotations

import base64
import json
import os
import zlib

from .transcript_files import home_for, request_workspace, target_inside

# ``typing`` only for the type checker: importing it costs the runner ~2.5 ms of start-up per query.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

TRANSCRIPT_FORMAT = "acp/1"
STATE_FILE = os.path.join(".agent-tui", "acp-session.json")
#: Files bigger than this are not even read, and the encoded files stop at ``MAX_TOTAL`` bytes
#: (under the host's 1 MiB line limit, with room for the JSON around them).
MAX_FILE = 32 * 1024 * 1024
MAX_TOTAL = 900 * 1024
#: Folder names never saved: caches, logs and installs an agent rebuilds itself.
SKIPPED = frozenset({"node_modules", ".cache", "cache", "tmp-downloads", "bin", "log", "logs", "snapshot",
                     "statsig", "telemetry", "shell-snapshots"})


def _file_entry(path: str) -> dict[str, str] | None:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    return {"z": base64.b64encode(zlib.compress(data, 6)).decode("ascii")}


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
    skipped: list[str] = []
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
            relative = os.path.relpath(path, home)
            entry = _file_entry(path) if os.path.getsize(path) <= MAX_FILE else None
            size = len(entry["z"]) if entry else 0
            if entry is None or total + size > MAX_TOTAL:
                skipped.append(relative)
                continue
            total += size
            files[relative] = entry
    transcript: dict[str, Any] = {"format": TRANSCRIPT_FORMAT, "sessionId": state["sessionId"], "files": files}
    if skipped:
        transcript["skipped"] = skipped[:100]
    return transcript


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
        elif isinstance(entry.get("z"), str):
            try:
                data = zlib.decompress(base64.b64decode(entry["z"]))
            except (ValueError, zlib.error):
                continue
        else:
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as handle:
            handle.write(data)
