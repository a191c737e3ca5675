"""One process owns a database at a time: an OS lock on a file beside it, held for the process's life.

Two runtimes on one SQLite file break each other (the second one's start-up recovery marks the
first one's running queries interrupted, and both number events from their own counters), so the
second refuses, naming the first: the lock file holds ``{"pid": ..., "url": ...}`` (``url`` once
the owner serves HTTP + Socket.IO), which is what a user needs to attach to it instead.

``flock`` is released by the kernel when the owner dies, however it dies, so a crash never leaves
a stale lock; the file itself stays (removing it would race with the next owner).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
from pathlib import Path
from typing import Any

from .errors import StoreError


class DatabaseInUse(StoreError):
    """Another process holds the database's instance lock."""

    code = "DATABASE_IN_USE"
    status = 409


def lock_path_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


def connect_url(url: str) -> str:
    """The address a local client dials for a server bound to every interface."""
    for wildcard in ("://0.0.0.0:", "://[::]:"):
        url = url.replace(wildcard, "://127.0.0.1:")
    return url


class InstanceLock:
    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.path = lock_path_for(db_path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise :class:`DatabaseInUse` naming the owner and how to attach to it."""
        if self._fd is not None:
            return
        # Created private (the umask can only take bits away); O_CLOEXEC: sandboxes and agent
        # CLIs started by this process must not inherit (and so keep) the lock.
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise StoreError(
                    f"database {self.db_path} cannot be used: its folder is read-only ({exc.strerror}); "
                    "agent-tui writes the database and its .lock, -wal and -shm files there"
                ) from exc
            raise StoreError(f"cannot create {self.path}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read_owner(fd)
            os.close(fd)
            raise DatabaseInUse(in_use_message(self.db_path, owner), details=owner or None) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._write({"pid": os.getpid()})

    def record_url(self, url: str | None) -> None:
        """Say where this process serves, so a second one can tell the user how to attach."""
        if self._fd is None:
            return
        owner: dict[str, Any] = {"pid": os.getpid()}
        if url:
            owner["url"] = connect_url(url)
        self._write(owner)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # no stale owner for whoever reads it next
        os.close(fd)  # releases the flock

    def _write(self, owner: dict[str, Any]) -> None:
        assert self._fd is not None
        data = json.dumps(owner).encode()
        # The owner is written in place with one pwrite so a reader sees old or new JSON, never an
        # empty file in between (it may see a longer old tail: the reader stops at the first '}').
        os.pwrite(self._fd, data, 0)
        os.ftruncate(self._fd, len(data))


def _read_owner(fd: int) -> dict[str, Any]:
    try:
        raw = os.pread(fd, 4096, 0).decode("utf-8", "replace")
        owner = json.loads(raw[: raw.find("}") + 1]) if "}" in raw else {}
    except (OSError, ValueError):
        return {}
    return owner if isinstance(owner, dict) else {}


def in_use_message(db_path: Path, owner: dict[str, Any]) -> str:
    pid = owner.get("pid")
    url = owner.get("url")
    who = f"another agent-tui (pid {pid})" if isinstance(pid, int) else "another agent-tui"
    if isinstance(url, str) and url:
        return (
            f"database {db_path} is in use by {who}, serving {url}: "
            f"attach to it with `agent-tui --connect {url}`"
        )
    return (
        f"database {db_path} is in use by {who}: use that one (start it with --serve PORT to attach "
        "from here with `agent-tui --connect URL`), or open another database with --db PATH"
    )
