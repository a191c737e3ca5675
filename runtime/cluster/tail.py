"""A subscription to a session another node owns: read from Postgres, woken by the owner's commits.

The store is the log, so reading it after the last seq seen is exact, gapless and in order by
construction; the owner's wake-up (Redis) only says "read now". A missed wake-up costs latency,
never an event: without one the tail reads again after ``poll_s``.
"""

from __future__ import annotations

import asyncio
import contextlib

from ..errors import StoreError
from ..models import SessionEvent
from ..store.base import SessionStore

_PAGE = 2_000


class Wakeups:
    """Per-session "new events were committed" signals (set from Redis, or by this node)."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def signal(self, session_id: str) -> None:
        # Set and replaced: everyone holding this one wakes, nobody has to clear it.
        event = self._events.pop(session_id, None)
        if event is not None:
            event.set()

    def event(self, session_id: str) -> asyncio.Event:
        """The event the next signal sets (take it *before* reading the store)."""
        return self._events.setdefault(session_id, asyncio.Event())


class TailSubscription:
    """Same interface as ``runtime.events.Subscription`` (what the Socket.IO forwarder uses)."""

    def __init__(
        self, store: SessionStore, wakeups: Wakeups, session_id: str, after_seq: int, poll_s: float = 1.0
    ) -> None:
        self.store = store
        self.session_id = session_id
        self.last_seq = max(after_seq, 0)
        self._wakeups = wakeups
        self._poll_s = poll_s
        self._closed = False
        self._stop = asyncio.Event()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def replaying(self) -> bool:
        """Always: a tail reads every event from the store, so what the client has not taken waits there."""
        return True

    def close(self) -> None:
        self._closed = True
        self._stop.set()

    async def aclose(self) -> None:
        self.close()

    def __aiter__(self) -> TailSubscription:
        return self

    async def __anext__(self) -> SessionEvent:
        while True:
            batch = await self.next_batch(1)
            if batch:
                return batch[0]

    async def next_batch(self, limit: int = 10_000) -> list[SessionEvent]:
        while True:
            if self._closed:
                raise StopAsyncIteration
            # Taken before the read: a commit signalled during the read is not lost.
            wake = self._wakeups.event(self.session_id)
            try:
                page = await self.store.load_events(self.session_id, self.last_seq, min(limit, _PAGE))
            except StoreError:
                page = []  # Postgres restarting: read again after the next wake-up or poll
            if page:
                self.last_seq = page[-1].seq
                return page
            stop = asyncio.ensure_future(self._stop.wait())
            woken = asyncio.ensure_future(wake.wait())
            try:
                done, _ = await asyncio.wait(
                    {stop, woken}, timeout=self._poll_s, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for task in (stop, woken):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if not done and await self._deleted():
                self.close()  # deleted through another node: end like a local subscription does

    async def _deleted(self) -> bool:
        try:
            return await self.store.load_session(self.session_id) is None
        except StoreError:
            return False
