"""Path confinement shared by every primitive: a relative path must stay inside its root."""

from __future__ import annotations

import os
import posixpath
import stat
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


def check_served_file(info: os.stat_result, root: Path | str, shown: str) -> None:
    """Refuse a regular file that may be another file's content under a workspace name.

    A hard link is the one way into a workspace that no path check sees: ``ln /etc/passwd x`` (or
    another session's file, or the runtime's database) gives the agent a name inside the workspace
    for an inode outside it. A file with a second link, or on another device than the workspace
    (a bind mount), is therefore not served: its content cannot be told to belong to the workspace.
    """
    if info.st_nlink > 1:
        raise InvalidPath(
            f"{shown!r} has {info.st_nlink} hard links: not served (it may be a file outside the workspace)"
        )
    if info.st_dev != os.stat(root).st_dev:
        raise InvalidPath(f"{shown!r} is on another device than the workspace: not served")


def walk_files(base: Path, *, recursive: bool = True) -> list[tuple[str, os.stat_result]]:
    """Every servable regular file under ``base`` (relative POSIX path, its ``lstat``), sorted.

    Nothing is followed or ``stat``-ed through a link: a symlink whose target cannot be examined
    (``ln -s /proc/1/root x``) is skipped like any symlink instead of failing the whole listing, and
    folders that cannot be read are skipped. Hard-linked files are left out as ``check_served_file``
    refuses to serve them.
    """
    out: list[tuple[str, os.stat_result]] = []
    root_dev = os.lstat(base).st_dev
    stack = [""]
    while stack:
        prefix = stack.pop()
        try:
            with os.scandir(base / prefix if prefix else base) as entries:
                listed = list(entries)
        except OSError:
            continue
        for entry in listed:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            relative = f"{prefix}/{entry.name}" if prefix else entry.name
            if stat.S_ISDIR(info.st_mode):
                if recursive and info.st_dev == root_dev:
                    stack.append(relative)
            elif stat.S_ISREG(info.st_mode) and info.st_nlink == 1 and info.st_dev == root_dev:
                out.append((relative, info))
    out.sort(key=lambda item: item[0])
    return out
