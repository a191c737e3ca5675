"""Folders only the user can read: the data dir, the database's folder, sandboxes' parent."""

from __future__ import annotations

import contextlib
from pathlib import Path


def make_private_dir(folder: Path) -> None:
    """Create ``folder`` (and missing parents) readable by the user only: mode given at creation,
    so there is no moment where it is open to others (the umask can only take bits away)."""
    missing: list[Path] = []
    current = folder
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
