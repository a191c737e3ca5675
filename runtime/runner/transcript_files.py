"""What the per-architecture transcript modules share: stable session uuids, the sandbox paths
derived from the request, and reading/writing conversation files without leaving their folder.

Stdlib only: this module runs inside the sandbox as ``agent_runner.transcript_files`` (the host
imports it through ``runtime.runner``).
"""

from __future__ import annotations

import os
import uuid

# ``typing`` only for the type checker: importing it costs the runner ~2.5 ms of start-up per query.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def stable_uuid(session_id: str, namespace: uuid.UUID) -> str:
    """A CLI that wants a UUID for its session id gets ours (``ses-…``) mapped to a stable one
    (in ``namespace``); a UUID stays as it is."""
    try:
        return str(uuid.UUID(session_id))
    except (ValueError, TypeError, AttributeError):
        return str(uuid.uuid5(namespace, str(session_id)))


def request_workspace(request: dict[str, Any]) -> str:
    """The sandbox workspace a runner request is about (default: the current directory)."""
    return str(request.get("baseWorkspacePath") or os.getcwd())


def home_for(workspace: str) -> str:
    """The session's ``home/``, beside its ``workspace/``."""
    return os.path.join(os.path.dirname(workspace.rstrip("/")), "home")


def read_text(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def target_inside(folder: str, relative: Any) -> str | None:
    """The real path of ``relative`` under ``folder``, or None when it would land outside it
    (stored data never decides where a file is written)."""
    root = os.path.realpath(folder)
    target = os.path.realpath(os.path.join(folder, str(relative)))
    return target if target.startswith(root + os.sep) else None


def write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path``, creating its folder."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
