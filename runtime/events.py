"""EventBus: assigns each event its seq, persists it, and only then delivers it.

Persist-then-publish with a group commit: ``publish`` queues events with their seqs and awaits
the writer; the writer takes *everything* queued since its last turn (all sessions), appends it
in one transaction, then hands it to listeners (reducers, in-process) and subscribers (bounded
buffers), in seq order. A failed write publishes nothing and raises ``StoreError`` to every
publisher of that batch; the seqs of the failed events are reused so the log stays gapless.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

from .errors import RuntimeClosed, StoreError, SubscriberLagged
from .jsonsafe import storable_text
from .models import EventDraft, SessionEvent, make_event, now_iso
from .store.base import SessionStore

log = logging.getLogger(__name__)

Listener = Callable[[str, list[SessionEvent]], None]

#: Events a subscriber may have waiting before it is dropped as lagged.
DEFAULT_SUBSCRIBER_BUFFER = 50_000
_REPLAY_PAGE = 2_000


def _draft_fields(
    draft: EventDraft | Mapping[str, Any],
) -> tuple[str, dict[str, Any], str | None, str, str, str | None]:
    """The fields of a draft, and its payload's JSON text when the caller already has it (the
    runner-line gate encodes each payload once and hands the text on as ``payloadJson``)."""
    if isinstance(draft, EventDraft):
        return draft.type, draft.payload, draft.timestamp, draft.conversation_id, draft.source, None
    return (
        draft["type"],
        draft.get("payload") or {},
        draft.get("timestamp"),
        draft.get("conversationId") or draft.get("conversation_id") or "main",
        draft.get("source") or "server",
        draft.get("payloadJson"),
    )


def _encode(payload: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The payload as stored and its JSON text: the one encoding the store writes. A payload from
    an in-process caller with a lone surrogate or a huge integer is repaired, so it cannot fail
    the whole group commit; one nested too deeply is refused before it is queued."""
    try:
        return storable_text(payload)  # type: ignore[no-any-return]
    except TypeError as exc:
        raise StoreError(f"event payload cannot be stored: {exc}") from exc


class Subscription:
    """An async iterator over one session's events: stored ones after ``after_seq``, then live ones.

    Registered with the bus *before* the store is read, so nothing published in between is missed;
    events seen twice (in the store and in the live buffer) are skipped by seq.
    """

    def __init__(self, bus: EventBus, session_id: str, after_seq: int, max_buffer: int) -> None:
        self.bus = bus
        self.session_id = session_id
        self.last_seq = after_seq
        self._max_buffer = max_buffer
        self._buffer: deque[SessionEvent] = deque()
        self._wakeup = asyncio.Event()
        self._replayed = False
        self._dropped = 0
        self._lagged = False
        self._closed = False
        bus._subscribers.setdefault(session_id, set()).add(self)

    # Called by the bus, synchronously, after a commit.
    def _deliver(self, events: list[SessionEvent]) -> None:
        if self._closed or self._lagged:
            return
        if len(self._buffer) + len(events) > self._max_buffer:
            self._buffer.clear()
            if self._replayed:
                self._lagged = True
            else:
                # Still reading the store: everything delivered is already committed, so the
                # replay will read it from there. Count it so a page read racing with this retries.
                self._dropped += 1
        else:
            self._buffer.extend(events)
        self._wakeup.set()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            subs = self.bus._subscribers.get(self.session_id)
            if subs is not None:
                subs.discard(self)
            self._wakeup.set()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def replaying(self) -> bool:
        """Still reading stored events: what has not been read waits in the store, not in memory."""
        return not self._replayed

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> SessionEvent:
        while True:
            batch = await self.next_batch(1)
            if batch:
                return batch[0]

    async def next_batch(self, limit: int = 10_000) -> list[SessionEvent]:
        """Every event available now (up to ``limit``), waiting until there is at least one.

        Raises ``StopAsyncIteration`` when closed and ``SubscriberLagged`` after an overflow.
        """
        while not self._replayed:
            dropped = self._dropped
            page = await self.bus.store.load_events(self.session_id, self.last_seq, min(limit, _REPLAY_PAGE))
            if page:
                self.last_seq = page[-1].seq
                return page
            if dropped == self._dropped:
                self._replayed = True
        while True:
            if self._lagged:
                self.close()
                raise SubscriberLagged(self.session_id, self.last_seq)
            out: list[SessionEvent] = []
            buffer = self._buffer
            while buffer and len(out) < limit:
                event = buffer.popleft()
                if event.seq > self.last_seq:
                    out.append(event)
                    self.last_seq = event.seq
            if out:
                return out
            if self._closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()

    async def aclose(self) -> None:
        self.close()


class EventBus:
    def __init__(self, store: SessionStore, *, subscriber_buffer: int = DEFAULT_SUBSCRIBER_BUFFER) -> None:
        self.store = store
        self.subscriber_buffer = subscriber_buffer
        self._seq: dict[str, int] = {}
        self._opening: dict[str, asyncio.Future[int]] = {}
        self._pending: list[tuple[str, SessionEvent]] = []
        #: The JSON text of each pending event's payload, in ``_pending``'s order (for the store).
        self._pending_json: list[str] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._wakeup = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._listeners: dict[str, list[Listener]] = {}
        self._global_listeners: list[Listener] = []
        self._subscribers: dict[str, set[Subscription]] = {}
        self._closed = False

    # ------------------------------------------------------------------ sessions

    async def open_session(self, session_id: str) -> int:
        """Load the session's high-water mark; must run before its first publish."""
        if session_id not in self._seq:
            # Concurrent first publishers share one read of the high-water mark.
            opening = self._opening.get(session_id)
            if opening is None:
                opening = self._opening[session_id] = asyncio.ensure_future(self.store.last_seq(session_id))
            try:
                last = await asyncio.shield(opening)
            finally:
                if opening.done():
                    self._opening.pop(session_id, None)
            self._seq.setdefault(session_id, last)
        return self._seq[session_id]

    def last_seq(self, session_id: str) -> int:
        return self._seq.get(session_id, 0)

    def forget_session(self, session_id: str) -> None:
        self._seq.pop(session_id, None)
        self._listeners.pop(session_id, None)
        for sub in list(self._subscribers.pop(session_id, ())):
            sub.close()

    def subscriber_count(self, session_id: str) -> int:
        return len(self._subscribers.get(session_id, ()))

    def add_listener(self, session_id: str | None, listener: Listener) -> Callable[[], None]:
        """Call ``listener(session_id, events)`` synchronously after each commit (``None``: all sessions)."""
        target = self._global_listeners if session_id is None else self._listeners.setdefault(session_id, [])
        target.append(listener)
        return lambda: target.remove(listener) if listener in target else None

    def remove_listener(self, session_id: str, listener: Listener) -> None:
        """Undo ``add_listener(session_id, listener)`` (for a caller that keeps no remover: a live
        session would hold a ~200-byte closure for it, docs/reliability.md #9)."""
        target = self._listeners.get(session_id)
        if target is not None and listener in target:
            target.remove(listener)
            if not target:
                del self._listeners[session_id]

    # ------------------------------------------------------------------ publish

    async def publish(
        self, session_id: str, drafts: Iterable[EventDraft | Mapping[str, Any]]
    ) -> list[SessionEvent]:
        """Persist ``drafts`` as the session's next events, then deliver them. Returns them with seqs."""
        if self._closed:
            raise RuntimeClosed("event bus is closed")
        if session_id not in self._seq:
            await self.open_session(session_id)
        seq = self._seq[session_id]
        build = make_event
        events: list[SessionEvent] = []
        default_ts = None
        texts: list[str] = []
        for draft in drafts:
            kind, payload, timestamp, conversation_id, source, text = _draft_fields(draft)
            if text is None:
                payload, text = _encode(payload)
            texts.append(text)
            if timestamp is None:
                default_ts = default_ts or now_iso()
                timestamp = default_ts
            seq += 1
            events.append(build(seq, kind, payload, timestamp, conversation_id, source))
        if not events:
            return events
        self._seq[session_id] = seq
        self._pending.extend((session_id, e) for e in events)
        self._pending_json.extend(texts)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._ensure_writer()
        await waiter
        return events

    async def publish_one(
        self, session_id: str, kind: str, payload: dict[str, Any] | None = None, **fields: Any
    ) -> SessionEvent:
        draft: dict[str, Any] = {"type": kind, "payload": payload or {}, **fields}
        return (await self.publish(session_id, [draft]))[0]

    def _ensure_writer(self) -> None:
        self._wakeup.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_loop(), name="event-bus-writer")

    async def _write_loop(self) -> None:
        while not self._closed or self._pending:
            if not self._pending:
                self._wakeup.clear()
                if self._closed:
                    return
                await self._wakeup.wait()
                continue
            batch, self._pending = self._pending, []
            texts, self._pending_json = self._pending_json, []
            waiters, self._waiters = self._waiters, []
            try:
                await self.store.append_batch(batch, texts)
            except Exception as exc:  # noqa: BLE001 - every failure must reach the publishers
                error = exc if isinstance(exc, StoreError) else StoreError(f"could not persist events: {exc}")
                try:
                    self._renumber_after_failure(batch)
                finally:
                    # Whatever happens, no publisher of this batch may wait forever.
                    log.error("event batch of %d not persisted: %s", len(batch), error)
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(error)
                continue
            self._dispatch(batch)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def _renumber_after_failure(self, failed: list[tuple[str, SessionEvent]]) -> None:
        # The failed events never existed: hand their seqs to whatever was queued after them.
        first: dict[str, int] = {}
        for session_id, event in failed:
            first.setdefault(session_id, event.seq)
        for session_id, start in first.items():
            seq = start - 1
            for sid, event in self._pending:
                if sid == session_id:
                    seq += 1
                    # Not ``event.seq = ...``: events from make_event have a frozen fields-set,
                    # and pydantic's __setattr__ raised on it (killing the writer, leaving every
                    # publisher waiting forever).
                    event.__dict__["seq"] = seq
            self._seq[session_id] = seq

    def _dispatch(self, batch: list[tuple[str, SessionEvent]]) -> None:
        by_session: dict[str, list[SessionEvent]] = {}
        for session_id, event in batch:
            by_session.setdefault(session_id, []).append(event)
        for session_id, events in by_session.items():
            for listener in (*self._listeners.get(session_id, ()), *self._global_listeners):
                try:
                    listener(session_id, events)
                except Exception:  # a broken view must not stop delivery to the others
                    log.exception("event listener failed for session %s", session_id)
            for sub in list(self._subscribers.get(session_id, ())):
                sub._deliver(events)

    # ------------------------------------------------------------------ subscribe

    def subscribe(
        self, session_id: str, after_seq: int = 0, *, max_buffer: int | None = None
    ) -> Subscription:
        return Subscription(self, session_id, max(after_seq, 0), max_buffer or self.subscriber_buffer)

    async def iterate(self, session_id: str, after_seq: int = 0) -> AsyncIterator[SessionEvent]:
        sub = self.subscribe(session_id, after_seq)
        try:
            async for event in sub:
                yield event
        finally:
            sub.close()

    # ------------------------------------------------------------------ shutdown

    async def flush(self) -> None:
        """Wait until everything published so far is persisted and delivered."""
        if self._pending:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            self._ensure_writer()
            await asyncio.shield(waiter)

    async def close(self) -> None:
        try:
            await self.flush()
        except StoreError:
            pass
        self._closed = True
        self._wakeup.set()
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)
        for subs in list(self._subscribers.values()):
            for sub in list(subs):
                sub.close()
