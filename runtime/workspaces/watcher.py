"""``file:created`` / ``file:modified`` / ``file:deleted`` while the agent works (local sandboxes).

watchfiles' Rust watcher (inotify on Linux) runs in a thread; changes are grouped for up to
``DEBOUNCE_MS`` and reduced to one event per file per group, so a file written in a tight loop
yields a few events per second, not thousands. ``.git`` is ignored (the worktree's ``.git`` is a
file, but an agent may run git, and a nested repository has a folder).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from .git import run_git

log = logging.getLogger(__name__)

DEBOUNCE_MS = 250
STEP_MS = 50
#: How long one wait for changes lasts (a closing watcher stops after one quiet interval).
IDLE_MS = 100
CLOSE_S = 2.0

Emit = Callable[[list[dict[str, Any]]], Awaitable[None]]


def _drafts(root: str, changes: set[tuple[int, str]], known: set[str]) -> list[dict[str, Any]]:
    """One event per path. Whether a file is new or modified is decided by ``known`` (the files
    that existed before), not by the raw notification: editors and ``sed -i`` write a temporary
    file and rename it over the original, which the OS reports as a creation."""
    paths = {path for _change, path in changes}
    drafts: list[dict[str, Any]] = []
    for path in sorted(paths):
        relative = os.path.relpath(path, root)
        if relative.startswith("..") or ".git" in relative.split(os.sep):
            continue
        relative = relative.replace(os.sep, "/")
        try:
            info = os.lstat(path)
        except OSError:
            info = None
        if info is None:
            if relative in known:
                known.discard(relative)
                drafts.append({"type": "file:deleted", "payload": {"path": relative}})
            continue  # created and gone within one group (a temporary file): nothing to show
        if stat.S_ISDIR(info.st_mode):
            continue
        kind = "file:modified" if relative in known else "file:created"
        known.add(relative)
        drafts.append({"type": kind, "payload": {"path": relative, "size": info.st_size}})
    return drafts


async def _existing_files(root: str) -> set[str]:
    result = await run_git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], root, check=False)
    if result.code != 0:
        return set()
    return {p for p in result.text.split("\0") if p}


@contextlib.asynccontextmanager
async def watch_files(root: Path, emit: Emit) -> AsyncIterator[None]:
    """Watch ``root`` for the duration of the block; on exit the last group is still delivered."""
    from watchfiles._rust_notify import RustNotify

    stop = threading.Event()
    real_root = os.path.realpath(root)
    known = await _existing_files(real_root)
    try:
        notify = await asyncio.to_thread(RustNotify, [real_root], False, False, 50, True, True)
    except Exception:  # noqa: BLE001 - no events is better than no query
        log.warning("cannot watch %s; no file events for this query", root, exc_info=True)
        yield
        return

    closing = False

    async def pump() -> None:
        while True:
            result = await asyncio.to_thread(notify.watch, DEBOUNCE_MS, STEP_MS, IDLE_MS, stop)
            if isinstance(result, set):
                drafts = _drafts(real_root, result, known)
                if drafts:
                    try:
                        await emit(drafts)
                    except Exception:  # noqa: BLE001 - the store failing is reported by the query itself
                        log.warning("publishing file events failed", exc_info=True)
                        return
            elif result == "stop" or stop.is_set() or closing:
                # Closing ends at the first quiet interval, so the query's last writes are in.
                return

    task = asyncio.create_task(pump())
    try:
        yield
    finally:
        closing = True
        try:
            await asyncio.wait_for(asyncio.shield(task), CLOSE_S)
        except Exception:  # noqa: BLE001 - a file written non-stop: stop anyway
            stop.set()
            with contextlib.suppress(Exception):
                await task
        notify.close()
