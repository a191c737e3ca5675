"""Moving a worktree into a remote (Modal) sandbox and the agent's changes back (SPEC §10).

Up, when the sandbox starts: the worktree's tracked and untracked-but-not-ignored files, in one
archive (``write_files``: one tar piped into ``tar -x``), then a marker file is touched.
Down, after every query (also on interrupt, terminate and idle shutdown): one command in the
sandbox prints the full file listing plus a tar of the files newer than the marker; the files are
written into the worktree, files gone from the sandbox are deleted from it, the marker moves on.
So a sandbox that dies loses at most what changed since the last query ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import tarfile
from pathlib import Path
from typing import Any, Protocol

from .git import run_git

log = logging.getLogger(__name__)

MARKER = ".agent-tui-sync"

#: Prints ``<listing length>\n<NUL-separated listing><tar of changed files>`` and moves the marker.
_DOWN = r"""
set -e
root="$1"; cd "$root/workspace"
next="$root/.agent-tui-sync.next"; touch "$next"
[ -e "$root/.agent-tui-sync" ] || touch -d @0 "$root/.agent-tui-sync"
find . -path ./.git -prune -o \( -type f -o -type l \) -print0 > "$root/.agent-tui-list"
find . -path ./.git -prune -o \( -type f -o -type l \) -newer "$root/.agent-tui-sync" -print0 \
  | tar -cf "$root/.agent-tui-changed.tar" --null --no-recursion -T -
printf '%d\n' "$(stat -c %s "$root/.agent-tui-list")"
cat "$root/.agent-tui-list" "$root/.agent-tui-changed.tar"
mv "$next" "$root/.agent-tui-sync"
rm -f "$root/.agent-tui-list" "$root/.agent-tui-changed.tar"
"""


class RemotePrimitive(Protocol):
    session_dir: str

    async def write_files(self, files: dict[str, bytes]) -> None: ...
    async def run_capture(self, argv: list[str], stdin: bytes | None = None) -> tuple[int, bytes, bytes]: ...


async def _local_files(worktree: Path) -> list[str]:
    listing = await run_git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], worktree)
    return [p for p in listing.text.split("\0") if p]


async def upload(worktree: Path, primitive: RemotePrimitive) -> int:
    """The worktree into the sandbox's ``workspace/``; returns how many files went up."""
    paths = await _local_files(worktree)

    def read() -> dict[str, bytes]:
        files: dict[str, bytes] = {}
        for path in paths:
            full = worktree / path
            # Symlinks are not carried (write_files writes regular files), nor deleted-but-tracked files.
            if full.is_file() and not full.is_symlink():
                files[f"workspace/{path}"] = full.read_bytes()
        return files

    files = await asyncio.to_thread(read)
    if files:
        await primitive.write_files(files)
    code, _out, err = await primitive.run_capture(["bash", "-c", f'touch "$1/{MARKER}"', "mark", primitive.session_dir])
    if code != 0:
        raise OSError(f"could not mark the upload: {err.decode(errors='replace')[-300:]}")
    return len(files)


async def download(worktree: Path, primitive: RemotePrimitive) -> list[dict[str, Any]]:
    """The sandbox's changes into the worktree; returns ``file:*`` event drafts for them."""
    code, out, err = await primitive.run_capture(["bash", "-c", _DOWN, "sync-down", primitive.session_dir])
    if code != 0:
        raise OSError(f"could not read the sandbox's workspace: {err.decode(errors='replace')[-500:]}")
    head, _, rest = out.partition(b"\n")
    size = int(head)
    remote = {p[2:] if p.startswith("./") else p
              for p in rest[:size].decode("utf-8", "surrogateescape").split("\0") if p}
    archive = rest[size:]
    local = set(await _local_files(worktree))
    return await asyncio.to_thread(_apply, worktree, remote, local, archive)


def _apply(worktree: Path, remote: set[str], local: set[str], archive: bytes) -> list[dict[str, Any]]:
    drafts: list[dict[str, Any]] = []
    root = os.path.realpath(worktree)
    if archive:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
            for member in tar.getmembers():
                name = member.name[2:] if member.name.startswith("./") else member.name
                if not name or name.split("/", 1)[0] == ".git":
                    continue
                existed = (worktree / name).exists() or (worktree / name).is_symlink()
                member.name = name
                try:
                    # "data": no absolute paths, no escapes, no links out, no devices.
                    tar.extract(member, root, filter="data")
                except (tarfile.TarError, OSError) as exc:
                    log.warning("sync: %s not brought back: %s", name, exc)
                    continue
                kind = "file:modified" if existed else "file:created"
                drafts.append({"type": kind, "payload": {"path": name, "size": member.size}})
    for path in sorted(local - remote):
        target = worktree / path
        # Only files: the confinement check is the realpath of the parent staying inside.
        parent = os.path.realpath(target.parent)
        if parent != root and not parent.startswith(root + os.sep):
            continue
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
            drafts.append({"type": "file:deleted", "payload": {"path": path}})
    return drafts
