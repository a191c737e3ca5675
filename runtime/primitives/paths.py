"""Path confinement shared by every primitive: a relative path must stay inside its root."""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

from ..errors import InvalidPath


def clean_relative(path: str) -> str:
    """Normalize a client-supplied relative path, refusing absolute paths and ``..`` escapes."""
    if not isinstance(path, str) or not path or "\x00" in path:
        raise InvalidPath(f"invalid path: {path!r}")
    if path.startswith(("/", "\\")) or (len(path) > 1 and path[1] == ":"):
        raise InvalidPath(f"absolute paths are not allowed: {path!r}")
    normalized = posixpath.normpath(path.replace("\\", "/"))
    if normalized == ".." or normalized.startswith("../"):
        raise InvalidPath(f"path escapes the workspace: {path!r}")
    return normalized


def confine(root: Path, path: str) -> Path:
    """The real path of ``root/path``, refusing anything (symlinks included) that resolves outside ``root``."""
    relative = clean_relative(path)
    root_real = Path(os.path.realpath(root))
    try:
        target = Path(os.path.realpath(root_real / relative))
    except OSError as exc:
        # A symlink on the way changed while it was being resolved (EINVAL from readlink), or a
        # loop: the sandbox is moving things under us; refuse rather than guess.
        raise InvalidPath(f"path could not be resolved: {path!r} ({exc.strerror})") from exc
    if target != root_real and root_real not in target.parents:
        raise InvalidPath(f"path escapes the workspace: {path!r}")
    return target
