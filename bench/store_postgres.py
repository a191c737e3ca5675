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

Then the same through one whole node (``--node-events``, 0 to skip): the runtime and its server
in this process (bench/server_events.py's ``AgentBench``), a session publishing 100 events per
publish (4 in flight, as the runner's pump does) to one Socket.IO client in another process
(WebSocket, batched): SQLite ``AgentRuntime`` beside a Postgres ``ClusterRuntime`` node (leases,
fencing and Redis-less wake-ups included). Events/s = received by the client.

Run by hand (about 30 s); not part of CI.
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

from bench.server_events import AgentBench, ClientSpec  # noqa: E402
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


class PostgresNodeBench(AgentBench):
    """``AgentBench`` with a Postgres-backed cluster node instead of the SQLite runtime."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def __aenter__(self) -> PostgresNodeBench:
        from runtime import RuntimeConfig
        from runtime.cluster import ClusterRuntime
        from runtime.server.app import start_server

        self.tmp = tempfile.TemporaryDirectory()
        base = Path(self.tmp.name)
        config = RuntimeConfig(
            database_url=self.url, data_dir=base / "sb", config_dir=base / "cfg", token="bench"
        )
        self.runtime = ClusterRuntime(config)
        await self.runtime.start()
        self.server = await start_server(self.runtime, port=0, token="bench")
        self.runtime.server = self.server
        await self.runtime.join_cluster(self.server.url)
        return self


async def through_node(url: str, n: int) -> tuple[float, float]:
    spec = [ClientSpec("py", batch=True)]
    async with AgentBench() as lite:
        sqlite = await lite.run(spec, n, 0, "sqlite node")
    async with PostgresNodeBench(url) as pg:
        postgres = await pg.run(spec, n, 0, "postgres node")
    return sqlite.rate, postgres.rate


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--node-events", type=int, default=20_000)
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
        if args.node_events:
            url = await asyncio.to_thread(cluster.create_database)
            lite, pg = await through_node(url, args.node_events)
            print(
                f"{'one node':<14}{lite:>14,.0f}{pg:>16,.0f}{pg / lite:>11.2f}   (publish -> store -> Socket.IO client)"
            )
    finally:
        await asyncio.to_thread(cluster.stop, "immediate")
        shutil.rmtree(cluster.root, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
