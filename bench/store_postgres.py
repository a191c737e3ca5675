"""Persisted events/s through the event bus on Postgres beside SQLite, measured in the same run.

    .venv/bin/python bench/store_postgres.py [--events 20000] [--sessions 50]

Starts a throwaway Postgres cluster (tests/pg_cluster.py; unix socket, durable settings:
fsync on, ``synchronous_commit=off``, the equivalent of SQLite's WAL + ``synchronous=NORMAL``
that the SQLite store uses) and a SQLite file in a temp dir, then, for each store, publishes
through one ``EventBus`` (the path every event of a node takes: seq, group commit, delivery):

    serial 1      one publisher, one event per publish, each awaited (a commit per event)
    batch 100     one publisher, 100 events per publish
    fan-in N      N sessions publishing one event at a time concurrently (the group commit
                  turns each writer turn into one transaction / one COPY)

Run by hand (about 20 s); not part of CI.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runtime import EventBus, SQLiteStore  # noqa: E402
from runtime.store.base import SessionStore  # noqa: E402
from runtime.store.postgres import PostgresStore  # noqa: E402
from tests.pg_cluster import start_cluster  # noqa: E402

PAYLOAD = {"blockId": "msg-0123456789abcdef-result", "delta": "x" * 120}
DURABLE = "-c fsync=on -c synchronous_commit=off"


def drafts(n: int) -> list[dict]:
    return [{"type": "block:delta", "payload": PAYLOAD} for _ in range(n)]


async def serial(bus: EventBus, n: int) -> None:
    one = drafts(1)
    for _ in range(n):
        await bus.publish("serial", one)


async def batched(bus: EventBus, n: int) -> None:
    hundred = drafts(100)
    for _ in range(n // 100):
        await bus.publish("batched", hundred)


def fan_in(sessions: int) -> Callable[[EventBus, int], Awaitable[None]]:
    async def run(bus: EventBus, n: int) -> None:
        one = drafts(1)

        async def publisher(i: int) -> None:
            for _ in range(n // sessions):
                await bus.publish(f"fan-{i}", one)

        await asyncio.gather(*(publisher(i) for i in range(sessions)))

    return run


async def measure(
    make: Callable[[], SessionStore], pattern: Callable[[EventBus, int], Awaitable[None]], n: int
) -> float:
    store = make()
    await store.open()
    bus = EventBus(store)
    await bus.publish("warm-up", drafts(10))
    started = time.perf_counter()
    await pattern(bus, n)
    await bus.flush()
    elapsed = time.perf_counter() - started
    await bus.close()
    await store.close()
    return n / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--sessions", type=int, default=50)
    args = parser.parse_args()
    cluster = await asyncio.to_thread(start_cluster, DURABLE)
    folder = Path(tempfile.mkdtemp(prefix="agent-tui-bench-"))
    try:
        patterns = [
            ("serial 1", serial, min(args.events, 5_000)),
            ("batch 100", batched, args.events),
            (f"fan-in {args.sessions}", fan_in(args.sessions), args.events),
        ]
        print(f"{'pattern':<14}{'SQLite ev/s':>14}{'Postgres ev/s':>16}{'PG/SQLite':>11}")
        for name, pattern, n in patterns:
            db = folder / f"{name.replace(' ', '-')}.db"
            url = await asyncio.to_thread(cluster.create_database)
            lite = await measure(lambda db=db: SQLiteStore(db), pattern, n)
            pg = await measure(lambda url=url: PostgresStore(url), pattern, n)
            print(f"{name:<14}{lite:>14,.0f}{pg:>16,.0f}{pg / lite:>11.2f}")
    finally:
        await asyncio.to_thread(cluster.stop, "immediate")
        shutil.rmtree(cluster.root, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
