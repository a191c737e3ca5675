"""Failover time of a team server: owner SIGKILLed mid-stream -> first event from the new owner.

    .venv/bin/python bench/failover.py [--runs 10] [--lease-ttl 2]

Starts a throwaway Postgres (tests/pg_cluster.py), a redis-server and three ``serve`` nodes
(tests/team/conftest.py). Each run: a session is created on one node and streams a long shell
loop; a client on another node watches it; the owner is SIGKILLed; the time until that client
receives the first event the new owner wrote (the ``query:failed INTERRUPTED_BY_RESTART`` that
closes the stream) is one sample. A replacement node is started after every kill. Prints each
sample and the median. Run by hand (about 5 s per run); not part of CI.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tests.team.conftest as team_conftest  # noqa: E402
from tests.pg_cluster import start_cluster  # noqa: E402
from tests.team.conftest import Team, _free_port  # noqa: E402


async def start_redis(folder: Path) -> tuple[asyncio.subprocess.Process, str]:
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", str(folder),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    async with asyncio.timeout(15):
        while True:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.write(b"PING\r\n")
            ok = (await reader.readline()).startswith(b"+PONG")
            writer.close()
            if ok:
                return process, f"redis://127.0.0.1:{port}/0"


async def one_run(team: Team) -> float:
    owner_node, watch_node = team.nodes[-1], team.nodes[-2]
    owner, _ = await team.client(owner_node)
    watcher, seen = await team.client(watch_node)
    sid = (await owner.call("session:create", {"architecture": "shell"}, timeout=10))["session"]["sessionId"]
    await watcher.call("session:join", {"sessionId": sid}, timeout=10)
    await owner.call(
        "session:message",
        {"sessionId": sid, "content": "for i in $(seq 1 1000); do echo t-$i; sleep 0.02; done"},
        timeout=10,
    )
    await seen.wait_for(lambda: "t-5" in str(seen.events.get(sid, [])))
    owner_node.kill()
    killed = time.monotonic()
    await seen.wait_for(
        lambda: any(e["type"] == "query:failed" for e in seen.events.get(sid, [])), timeout=30
    )
    took = time.monotonic() - killed
    await owner.disconnect()
    await watcher.disconnect()
    await owner_node.process.wait()
    team.nodes.remove(owner_node)
    await team.start_node()
    return took


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--lease-ttl", default="2")
    args = parser.parse_args()
    team_conftest.LEASE_TTL = args.lease_ttl
    cluster = await asyncio.to_thread(start_cluster)
    folder = Path(tempfile.mkdtemp(prefix="agent-tui-failover-"))
    redis, redis_url = await start_redis(folder)
    team = Team(folder, await asyncio.to_thread(cluster.create_database), redis_url)
    samples: list[float] = []
    try:
        for _ in range(3):
            await team.start_node()
        for run in range(args.runs):
            samples.append(await one_run(team))
            print(f"run {run + 1}: {samples[-1]:.2f} s", flush=True)
        print(f"lease ttl {args.lease_ttl} s: median {statistics.median(samples):.2f} s, "
              f"min {min(samples):.2f}, max {max(samples):.2f} over {len(samples)} runs")  # fmt: skip
    finally:
        await team.close()
        redis.terminate()
        await redis.wait()
        await asyncio.to_thread(cluster.stop, "immediate")
        shutil.rmtree(cluster.root, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
