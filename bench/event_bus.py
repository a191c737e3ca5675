"""Event bus throughput and latency: publish -> SQLite -> one subscriber, beside raw aiosqlite.

    .venv/bin/python bench/event_bus.py [--events 100000]

Prints events/s for three publish patterns, the raw ``aiosqlite`` ``executemany`` insert rate of
the same rows measured in the same run (the ceiling), their ratios, and the p50/p99
publish-to-delivery latency at a paced 1,000 events/s. Run by hand; not part of CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiosqlite

from runtime import EventBus, SQLiteStore

PAYLOAD = {"blockId": "msg-0123456789abcdef-result", "delta": "x" * 120}


def drafts(n: int) -> list[dict]:
    return [{"type": "block:delta", "payload": PAYLOAD} for _ in range(n)]


async def raw_insert(path: Path, batches: list[list[tuple[Any, ...]]]) -> float:
    """Rows/s of plain ``aiosqlite`` ``executemany``, one transaction per batch: the ceiling."""
    db = await aiosqlite.connect(path, isolation_level=None)
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=NORMAL")
    await db.execute(
        "CREATE TABLE events (session_id TEXT, seq INTEGER, type TEXT, payload TEXT, timestamp TEXT,"
        " conversation_id TEXT, source TEXT, PRIMARY KEY (session_id, seq)) WITHOUT ROWID"
    )
    started = time.perf_counter()
    for rows in batches:
        await db.execute("BEGIN")
        await db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        await db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    await db.close()
    return sum(map(len, batches)) / elapsed


async def raw_aiosqlite(path: Path, n: int) -> float:
    ts = "2026-11-27T00:00:00.000Z"
    return await raw_insert(path, [
        [("s", i, "block:delta", json.dumps(PAYLOAD), ts, "main", "server") for i in range(start + 1, min(start + 1000, n) + 1)]
        for start in range(0, n, 1000)
    ])


async def through_bus(path: Path, n: int, pattern: str) -> float:
    store = SQLiteStore(path)
    await store.open()
    bus = EventBus(store, subscriber_buffer=n + 1)
    sub = bus.subscribe("s", 0)
    received = 0

    async def consume() -> None:
        nonlocal received
        while received < n:
            received += len(await sub.next_batch())

    consumer = asyncio.create_task(consume())
    started = time.perf_counter()
    if pattern == "runner-loop":
        # What a session does with a fast runner: a reader queues lines as they arrive and the
        # publisher takes everything queued (up to 2,000) per publish, so batches grow under load.
        lines: asyncio.Queue[dict | None] = asyncio.Queue(8000)

        async def reader() -> None:
            for chunk in range(0, n, 50):
                for draft in drafts(min(50, n - chunk)):
                    lines.put_nowait(draft) if not lines.full() else await lines.put(draft)
                await asyncio.sleep(0)
            await lines.put(None)

        feeder = asyncio.create_task(reader())
        done = False
        while not done:
            batch = [await lines.get()]
            while len(batch) < 2000 and not lines.empty():
                batch.append(lines.get_nowait())
            if batch[-1] is None:
                batch.pop()
                done = True
            if batch:
                await bus.publish("s", batch)
        await feeder
    elif pattern == "batch-100":
        # A runner's read loop: everything that arrived in one turn, published together.
        for _ in range(n // 100):
            await bus.publish("s", drafts(100))
    elif pattern == "concurrent-1":
        # Many publishers of one event each (e.g. many sessions): the group commit merges them.
        await asyncio.gather(*(bus.publish("s", drafts(1)) for _ in range(n)))
    else:  # "sequential-1": the worst case, one awaited publish per event
        for _ in range(n):
            await bus.publish("s", drafts(1))
    await consumer
    elapsed = time.perf_counter() - started
    assert received == n and bus.last_seq("s") == n
    await bus.close()
    await store.close()
    return n / elapsed


async def latency(path: Path, rate: int, seconds: float) -> tuple[float, float]:
    store = SQLiteStore(path)
    await store.open()
    bus = EventBus(store)
    sub = bus.subscribe("s", 0)
    sent_at: dict[int, float] = {}
    lat: list[float] = []
    total = int(rate * seconds)

    async def consume() -> None:
        while len(lat) < total:
            for event in await sub.next_batch():
                lat.append(time.perf_counter() - sent_at[event.seq])

    consumer = asyncio.create_task(consume())
    inflight: set[asyncio.Future] = set()
    interval = 1 / rate
    start = time.perf_counter()
    for i in range(total):
        target = start + i * interval
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent_at[i + 1] = time.perf_counter()
        inflight.add(task := asyncio.ensure_future(bus.publish("s", drafts(1))))
        task.add_done_callback(inflight.discard)
    await consumer
    await bus.close()
    await store.close()
    lat.sort()
    return lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    n = args.events
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        raw = statistics.median([await raw_aiosqlite(folder / f"raw{i}.db", n) for i in range(3)])
        print(f"raw aiosqlite executemany (1000/commit): {raw:>10,.0f} rows/s   (baseline, same run)")
        for pattern in ("runner-loop", "batch-100", "concurrent-1", "sequential-1"):
            count = n if pattern != "sequential-1" else min(n, 20_000)
            rate = statistics.median(
                [await through_bus(folder / f"{pattern}{i}.db", count, pattern) for i in range(3)]
            )
            print(f"bus {pattern:<13} publish->SQLite->subscriber: {rate:>10,.0f} events/s"
                  f"   ratio to raw {rate / raw:.2f}")
        p50, p99 = await latency(folder / "lat.db", 1000, 5.0)
        print(f"latency at 1,000 events/s (publish -> subscriber): p50 {p50:.2f} ms, p99 {p99:.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
