"""The server's token file: ``<user state dir>/agent-tui/servers/<port>.json`` = ``{url, token, pid}``.

Written by a server the user started so a local ``agent-tui --connect http://127.0.0.1:P`` needs
no copying (Jupyter's runtime files do the same). Only the user can read it: the folder is 0700
and the file is *created* 0600 (``O_CREAT|O_EXCL`` with the mode, then renamed into place), so it
is never readable by others, not even for an instant, whatever the umask. Removed on a clean
shutdown; a reader ignores a file whose process is gone or whose URL is another server's.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs

from ..config import APP_NAME
from .guards import WILDCARD_HOSTS, is_loopback_name


def servers_dir() -> Path:
    return Path(platformdirs.user_state_dir(APP_NAME)) / "servers"


def token_path(port: int) -> Path:
    return servers_dir() / f"{int(port)}.json"


def _private_dir(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    info = os.stat(path, follow_symlinks=False)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise PermissionError(f"{path} is not a directory owned by this user")
    if stat.S_IMODE(info.st_mode) != 0o700:
        # An older or hand-made folder: tighten it (ours, checked above) before anything goes in.
        os.chmod(path, 0o700)


def write(url: str, token: str, port: int) -> Path:
    """Write the token file atomically, private from creation. Returns its path."""
    folder = servers_dir()
    _private_dir(folder)
    target = folder / f"{int(port)}.json"
    tmp = folder / f".{int(port)}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        # umask can only clear bits, but make the mode exact anyway (fchmod on our own fd).
        os.fchmod(fd, 0o600)
        os.write(fd, json.dumps({"url": url, "token": token, "pid": os.getpid()}).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)
    return target


def remove(port: int) -> None:
    """Remove the file if this process wrote it (a newer server on the port keeps its own)."""
    path = token_path(port)
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _same_server(file_url: str, url: str) -> bool:
    try:
        mine, theirs = urlsplit(file_url), urlsplit(url)
        mine_port, their_port = mine.port, theirs.port
    except ValueError:
        return False
    if mine_port is None or mine_port != their_port or mine.scheme != theirs.scheme:
        return False
    mine_host, their_host = (mine.hostname or "").lower(), (theirs.hostname or "").lower()
    if mine_host == their_host:
        return True
    # A server bound to loopback or all interfaces is reachable as any loopback name.
    return is_loopback_name(their_host) and (is_loopback_name(mine_host) or mine_host in WILDCARD_HOSTS)


def read_for(url: str) -> str | None:
    """The token of the live local server at ``url``, or None."""
    try:
        port = urlsplit(url).port
    except ValueError:
        return None
    if port is None:
        return None
    try:
        data = json.loads(token_path(port).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("token"), str):
        return None
    if not _same_server(str(data.get("url", "")), url) or not _alive(data.get("pid")):
        return None
    return data["token"]
