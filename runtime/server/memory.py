"""Giving memory back to the system after large releases (issue 21 #2, #9).

Freeing Python objects does not lower the process's RSS by itself: objects in reference cycles
wait for the collector, glibc keeps freed chunks in its heaps for re-use, and a heap only shrinks
from its top. After a burst (many clients dropped, many sessions deleted) the server would keep
its peak RSS for good. ``MemoryReleaser`` runs ``gc.collect()`` then glibc's ``malloc_trim(0)``
(which also returns free pages in the middle of every heap) once things went quiet after such a
burst: debounced, so a stream of small releases costs one pass, not one per release.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import os
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Bytes released (estimated) before a pass is worth it.
RELEASE_THRESHOLD = 8 * 1024 * 1024
#: Seconds of quiet after the last release before the pass runs (a burst is one pass).
RELEASE_DELAY_S = 0.5


def _load_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None (musl, macOS: their allocators return memory themselves)."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


_malloc_trim = _load_malloc_trim()


def rss_bytes() -> int:
    """This process's resident set size (0 where /proc is not there)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def release_now() -> None:
    """Collect cycles and hand free heap pages back to the system (tens of ms on a large heap)."""
    gc.collect()
    if _malloc_trim is not None:
        _malloc_trim(0)


class MemoryReleaser:
    """Schedules ``release_now`` once ``threshold`` bytes were released and ``delay`` s passed
    without another release."""

    def __init__(
        self,
        *,
        threshold: int = RELEASE_THRESHOLD,
        delay: float = RELEASE_DELAY_S,
        drop_caches: Callable[[], None] | None = None,
    ) -> None:
        self.threshold = threshold
        self.delay = delay
        #: Called first in each pass: caches that are cheap to rebuild (e.g. the hub's encoded
        #: events) would otherwise keep what they hold through the pass.
        self.drop_caches = drop_caches
        self.released = 0
        self.passes = 0
        self._timer: asyncio.TimerHandle | None = None

    def note(self, size: int) -> None:
        """``size`` bytes (an estimate) were just let go."""
        self.released += size
        if self.released < self.threshold:
            return
        if self._timer is not None:
            self._timer.cancel()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._timer = loop.call_later(self.delay, self._run)

    def _run(self) -> None:
        self._timer = None
        released, self.released = self.released, 0
        self.passes += 1
        before = rss_bytes()
        if self.drop_caches is not None:
            self.drop_caches()
        release_now()
        log.info(
            "gave memory back after releasing ~%d MiB: RSS %d -> %d MiB",
            released >> 20,
            before >> 20,
            rss_bytes() >> 20,
        )

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
