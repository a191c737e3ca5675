"""OpenCode's own conversation store: saved after each query, restored into a new sandbox.

OpenCode keeps its sessions, messages and parts in one SQLite database,
``$XDG_DATA_HOME/opencode/opencode.db`` (the architecture pins it there with ``OPENCODE_DB``).
The stored transcript is a consistent copy of that database (SQLite's online backup, so rows
still in the write-ahead log are included), zlib-compressed and base64-encoded, with the id of
the conversation it holds. Restoring writes it back before the next ``opencode run --session``.

A whole-database copy keeps everything OpenCode needs to resume (messages, parts, tool state,
the project row) without depending on its schema; it is small (tens of KiB compressed).

Stdlib only: this module runs inside the sandbox as ``agent_runner.opencode_transcript`` and is
imported by the host's ``runtime.architectures.opencode`` for the paths.
"""

from __future__ import annotations

import base64
import contextlib
import os
import sqlite3
import tempfile
import zlib

from .transcript_files import home_for, request_workspace

# ``typing`` only for the type checker: importing it costs the runner ~2.5 ms of start-up per query.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

TRANSCRIPT_FORMAT = "opencode/1"
DB_NAME = "opencode.db"


def data_dir_for_home(home: str) -> str:
    """OpenCode's data folder for a session ``home/`` (the runner sets ``XDG_DATA_HOME`` to
    ``home/.local/share``)."""
    return os.path.join(home, ".local", "share", "opencode")


def db_path_for(workspace: str) -> str:
    return os.path.join(data_dir_for_home(home_for(workspace)), DB_NAME)


def latest_session(db: sqlite3.Connection) -> str | None:
    """The conversation to resume: the most recently updated top-level session."""
    row = db.execute(
        "SELECT id FROM session WHERE parent_id IS NULL ORDER BY time_updated DESC, id DESC LIMIT 1"
    ).fetchone()
    return str(row[0]) if row else None


def read_transcript(request: dict[str, Any]) -> dict[str, Any] | None:
    workspace = request_workspace(request)
    path = db_path_for(workspace)
    if not os.path.isfile(path):
        return None
    handle, copy = tempfile.mkstemp(suffix=".db", dir=os.path.dirname(path))
    os.close(handle)
    try:
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            session_id = latest_session(source)
            if session_id is None:
                return None  # the CLI stopped before it created a conversation: nothing to resume
            target = sqlite3.connect(copy)
            try:
                source.backup(target)
            finally:
                target.close()
        finally:
            source.close()
        with open(copy, "rb") as stream:
            data = stream.read()
    finally:
        with contextlib.suppress(OSError):
            os.unlink(copy)
    return {
        "format": TRANSCRIPT_FORMAT,
        "sessionId": session_id,
        "workspace": workspace,
        "db": base64.b64encode(zlib.compress(data, 6)).decode("ascii"),
    }


def load_transcript(request: dict[str, Any], transcript: Any) -> None:
    if not isinstance(transcript, dict) or transcript.get("format") != TRANSCRIPT_FORMAT:
        return
    encoded = transcript.get("db")
    if not isinstance(encoded, str):
        return
    data = zlib.decompress(base64.b64decode(encoded))
    path = db_path_for(request_workspace(request))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # A stale write-ahead log beside the restored file would be replayed into it.
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + suffix)
    temporary = path + ".restoring"
    with open(temporary, "wb") as stream:
        stream.write(data)
    os.replace(temporary, path)
