"""A loopback-only network namespace for the calling thread, so the real CLI can reach the fake
model server on 127.0.0.1 and nothing else.

Linux namespaces belong to threads: ``unshare(CLONE_NEWNET)`` moves only the calling thread (and
every process it starts afterwards) into a fresh namespace whose only interface is ``lo``. The
test's event loop thread enters it, so the fake server listens there and the runner and the CLI
it spawns inherit it; ``leave()`` returns the thread to the original namespace. Needs
CAP_SYS_ADMIN (root in a container usually has it); ``enter()`` returns False where it is
refused, and the tests then run without the isolation.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct

CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1

_libc = ctypes.CDLL(None, use_errno=True)


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))


class LoopbackOnly:
    def __init__(self) -> None:
        self._original: int | None = None

    @property
    def active(self) -> bool:
        return self._original is not None

    def enter(self) -> bool:
        if self._original is not None:
            return True
        original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        if _libc.unshare(CLONE_NEWNET) != 0:
            os.close(original)
            return False
        self._original = original
        try:
            _loopback_up()
        except OSError:
            self.leave()
            return False
        return True

    def leave(self) -> None:
        if self._original is None:
            return
        if _libc.setns(self._original, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"could not return to the original network namespace: {os.strerror(errno)}")
        os.close(self._original)
        self._original = None


def internet_reachable(host: str = "1.1.1.1", port: int = 53, timeout: float = 0.5) -> bool:
    """Whether a TCP connection out of this thread's namespace works (False inside LoopbackOnly)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
