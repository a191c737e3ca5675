"""The persisted event log: gapless seqs, exact replay, lagging subscribers, store failures."""

from __future__ import annotations

import asyncio
import random

import pytest

from runtime import AgentRuntime, EventBus, MemoryStore, StoreError, SubscriberLagged
from runtime.store.base import SessionStore


def _deltas(n: int, start: int = 0) -> list[dict]:
    return [
        {"type": "block:delta", "payload": {"blockId": "b", "delta": f"{i} "}}
        for i in range(start, start + n)
    ]


async def test_subscribe_at_a_random_seq_mid_stream_sees_exactly_the_rest(any_store: SessionStore) -> None:
    store = any_store
    bus = EventBus(store)
    total = 5000
    rng = random.Random(7)
    received: dict[int, list[int]] = {}

    async def producer() -> None:
        sent = 0
        while sent < total:
            n = min(rng.randint(1, 200), total - sent)
            await bus.publish("s1", _deltas(n, sent))
            sent += n
            await asyncio.sleep(0)

    async def subscriber(after: int) -> None:
        seqs = received.setdefault(after, [])
        sub = bus.subscribe("s1", after)
        while not seqs or seqs[-1] < total:
            batch = await sub.next_batch()
            seqs.extend(e.seq for e in batch)
        sub.close()

    async def join_later(after: int) -> None:
        # Join while the stream is running, at a point that is already in the store.
        while bus.last_seq("s1") < after:
            await asyncio.sleep(0)
        await subscriber(after)

    points = sorted(rng.sample(range(1, total), 3))
    await asyncio.gather(producer(), subscriber(0), *(join_later(p) for p in points))
    for after, seqs in received.items():
        assert seqs == list(range(after + 1, total + 1)), f"subscriber after {after}"
    stored = await store.load_events("s1")
    assert [e.seq for e in stored] == list(range(1, total + 1))
    assert [e.payload["delta"] for e in stored[:3]] == ["0 ", "1 ", "2 "]
    await bus.close()


async def test_a_subscriber_that_falls_behind_is_dropped_with_subscriber_lagged(any_store: SessionStore) -> None:
    bus = EventBus(any_store, subscriber_buffer=100)
    await bus.publish("s1", _deltas(10))
    slow = bus.subscribe("s1", 10)
    fast = bus.subscribe("s1", 10)
    first = asyncio.create_task(slow.next_batch())  # nothing stored after 10: it goes live and waits
    await bus.publish("s1", _deltas(40))
    assert [e.seq for e in await first] == list(range(11, 51))
    fast_seen: list[int] = []
    for _ in range(4):
        await bus.publish("s1", _deltas(40))
        while not fast_seen or fast_seen[-1] < bus.last_seq("s1"):
            fast_seen.extend(e.seq for e in await fast.next_batch())
    assert fast_seen == list(range(11, 211))
    with pytest.raises(SubscriberLagged) as info:
        await slow.next_batch()
    assert info.value.last_seq == 50
    assert slow.closed
    # It resumes from the last seq it got and loses nothing.
    resumed = bus.subscribe("s1", info.value.last_seq)
    rest: list[int] = []
    while len(rest) < 160:
        rest.extend(e.seq for e in await resumed.next_batch())
    assert rest == list(range(51, 211))
    await bus.close()


async def test_overflow_during_replay_catches_up_from_the_store(any_store: SessionStore) -> None:
    bus = EventBus(any_store, subscriber_buffer=50)
    await bus.publish("s1", _deltas(500))
    sub = bus.subscribe("s1", 0)
    seen: list[int] = []
    page = await sub.next_batch(100)  # mid-replay ...
    seen.extend(e.seq for e in page)
    for _ in range(5):
        await bus.publish("s1", _deltas(40))  # ... live events overflow its small buffer
    while len(seen) < 700:
        seen.extend(e.seq for e in await sub.next_batch(100))
    assert seen == list(range(1, 701))
    await bus.close()


class FailingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.fail = False

    async def append_batch(self, batch, payloads=None) -> None:  # type: ignore[no-untyped-def]
        if self.fail:
            raise OSError(28, "No space left on device")
        await super().append_batch(batch, payloads)


async def test_a_failed_write_publishes_nothing_and_seqs_stay_gapless() -> None:
    store = FailingStore()
    bus = EventBus(store)
    sub = bus.subscribe("s1", 0)
    await bus.publish("s1", _deltas(3))
    store.fail = True
    with pytest.raises(StoreError, match="No space left"):
        await bus.publish("s1", _deltas(2, 100))
    store.fail = False
    await bus.publish("s1", _deltas(1, 200))
    seen = []
    while len(seen) < 4:
        seen.extend(await sub.next_batch())
    assert [e.seq for e in seen] == [1, 2, 3, 4]
    assert seen[-1].payload["delta"] == "200 "  # the failed events were never delivered
    assert [e.seq for e in await store.load_events("s1")] == [1, 2, 3, 4]
    await bus.close()


async def test_persist_before_publish_listener_sees_only_stored_events() -> None:
    store = MemoryStore()
    bus = EventBus(store)
    seen_in_store: list[bool] = []

    def listener(session_id: str, events) -> None:  # type: ignore[no-untyped-def]
        stored = store._events.get(session_id, [])
        seen_in_store.extend(e in stored for e in events)

    bus.add_listener("s1", listener)
    await asyncio.gather(*(bus.publish("s1", _deltas(10)) for _ in range(10)))
    assert len(seen_in_store) == 100 and all(seen_in_store)
    await bus.close()


async def test_runtime_subscribe_unknown_session_is_a_clear_error(runtime: AgentRuntime) -> None:
    from runtime import SessionNotFound

    with pytest.raises(SessionNotFound):
        runtime.subscribe("nope")


async def test_concurrent_first_publishers_of_a_session_get_distinct_gapless_seqs(any_store: SessionStore) -> None:
    store = any_store
    bus = EventBus(store)
    published = await asyncio.gather(*(bus.publish("fresh", _deltas(1, i)) for i in range(300)))
    assert sorted(e.seq for batch in published for e in batch) == list(range(1, 301))
    assert [e.seq for e in await store.load_events("fresh")] == list(range(1, 301))
    await bus.close()
