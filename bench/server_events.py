"""Server delivery benchmark: events/s and publish-to-receipt latency through the agent-tui server,
beside two baselines measured in the same run (SPEC §4, issue 4 "Report").

    .venv/bin/python bench/server_events.py [--events 50000] [--rate-events 5000] [--only NAME]

Scenarios (clients are separate processes: Python ``socketio.AsyncClient`` or the JS
``socket.io-client`` under tests/node, WebSocket transport):

- ``node``: a bare Node socket.io server (the original system's stack) emitting one message per
  event to one JS client;
- ``sio``: a bare python-socketio (aiohttp) server emitting one message per event, to one Python
  client and to one JS client (with python-engineio's default per-message deflate, and without);
- ``agent``: the agent-tui server with persistence on (SQLite, the real EventBus): a session
  publishing as fast as it can (100 events per publish; the runner publishes up to 2,000 lines at
  once when its output floods, so one row uses 1,000), to one
  client (Python / JS, batched / unbatched) and to ten clients; then paced at 1,000 events/s to
  ten clients for latency.

Each event is a ~250-byte ``block:delta``; its payload carries the wall-clock publish time, so the
client measures publish-to-receipt latency. Prints a table and the ratios the issue asks for.
Run by hand, not in CI (it takes about a minute and wants an idle machine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "tests" / "node"
FILLER = "x" * 120
BLOCK = "msg-0123456789abcdef-result"


def now_ms() -> float:
    return time.time() * 1000


# --------------------------------------------------------------------------- client process


async def client_main(url: str, mode: str, batch: bool, session_id: str, n: int, token: str | None) -> None:
    import socketio

    client = socketio.AsyncClient(reconnection=False)
    latencies: list[float] = []
    state = {"first_pub": None, "last_recv": 0.0, "messages": 0}
    done = asyncio.Event()

    def take(event: dict[str, Any]) -> None:
        t = now_ms()
        sent = event["payload"]["t"]
        if state["first_pub"] is None:
            state["first_pub"] = sent
        latencies.append(t - sent)
        state["last_recv"] = t

    @client.on("stream:event")
    def one(data: dict[str, Any]) -> None:
        state["messages"] += 1
        take(data["event"])
        if len(latencies) >= n:
            done.set()

    @client.on("stream:events")
    def many(data: dict[str, Any]) -> None:
        state["messages"] += 1
        for event in data["events"]:
            take(event)
        if len(latencies) >= n:
            done.set()

    await client.connect(url, transports=["websocket"], auth={"token": token} if token else None)
    if mode == "agent":
        ack = await client.call("session:join", {"sessionId": session_id, "batch": batch}, timeout=30)
        if not ack.get("success"):
            raise SystemExit(f"join failed: {ack}")
    print("ready", flush=True)
    await done.wait()
    ordered = sorted(latencies)
    print(
        json.dumps(
            {
                "client": "py",
                "batch": batch,
                "count": len(latencies),
                "messages": state["messages"],
                "firstPub": state["first_pub"],
                "lastRecv": state["last_recv"],
                "p50": ordered[len(ordered) // 2],
                "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
            }
        ),
        flush=True,
    )
    await client.disconnect()


# --------------------------------------------------------------------------- bare python-socketio server


async def bare_server_main(deflate: bool) -> None:
    """One ``sio.emit`` per event to every connected client; commands on stdin: ``go <n> <rate>``."""
    import socketio
    from aiohttp import web

    sio = socketio.AsyncServer(async_mode="aiohttp")
    middlewares = []
    if not deflate:
        from runtime.server._engineio import EngineBridge

        middlewares.append(EngineBridge(sio).middleware)
    app = web.Application(middlewares=middlewares)
    sio.attach(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(json.dumps({"port": runner.addresses[0][1]}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().split()
        if not line or line[0] == "quit":
            break
        n, rate = int(line[1]), float(line[2])
        start = time.monotonic()
        for seq in range(1, n + 1):
            if rate:
                delay = start + seq / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await sio.emit(
                "stream:event",
                {
                    "sessionId": "bench",
                    "event": {
                        "seq": seq,
                        "type": "block:delta",
                        "payload": {"blockId": BLOCK, "delta": FILLER, "t": now_ms()},
                        "timestamp": "2026-01-01T00:00:00.000Z",
                        "conversationId": "main",
                        "source": "runner",
                    },
                },
            )
            if seq % 100 == 0:
                await asyncio.sleep(0)  # let the writers run, as a real producer would
    await runner.cleanup()


# --------------------------------------------------------------------------- orchestration


@dataclass
class ClientSpec:
    kind: str  # "py" | "js"
    batch: bool = False


@dataclass
class Result:
    name: str
    clients: int
    events: int
    rate: float  # deliveries per second, all clients together
    per_client: float
    p50: float
    p99: float
    messages: int


async def spawn_clients(
    specs: list[ClientSpec], url: str, mode: str, session_id: str, n: int, token: str | None
) -> list[asyncio.subprocess.Process]:
    procs = []
    for spec in specs:
        if spec.kind == "js":
            argv = [
                "node",
                str(NODE_DIR / "bench_client.mjs"),
                url,
                mode,
                "1" if spec.batch else "0",
                session_id,
                str(n),
                token or "",
            ]
        else:
            argv = [
                sys.executable,
                str(Path(__file__)),
                "_client",
                url,
                mode,
                "1" if spec.batch else "0",
                session_id,
                str(n),
                token or "",
            ]
        procs.append(await asyncio.create_subprocess_exec(*argv, cwd=ROOT, stdout=asyncio.subprocess.PIPE))
    for proc in procs:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if line.strip() != b"ready":
            raise RuntimeError(f"client did not get ready: {line!r}")
    return procs


async def collect(name: str, procs: list[asyncio.subprocess.Process], n: int) -> Result:
    outs = []
    for proc in procs:
        out, _ = await asyncio.wait_for(proc.communicate(), 600)
        outs.append(json.loads(out.decode().strip().splitlines()[-1]))
    start = min(o["firstPub"] for o in outs)
    end = max(o["lastRecv"] for o in outs)
    total = sum(o["count"] for o in outs)
    per_client = statistics.median(o["count"] / ((o["lastRecv"] - o["firstPub"]) / 1000) for o in outs)
    return Result(
        name,
        len(outs),
        n,
        total / ((end - start) / 1000),
        per_client,
        statistics.median(o["p50"] for o in outs),
        max(o["p99"] for o in outs),
        sum(o["messages"] for o in outs),
    )


async def run_node(specs: list[ClientSpec], n: int, rate: float, name: str) -> Result:
    server = await asyncio.create_subprocess_exec(
        "node",
        str(NODE_DIR / "bench_node_server.mjs"),
        cwd=NODE_DIR,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    return await _run_external(server, specs, n, rate, name)


async def run_bare_sio(specs: list[ClientSpec], n: int, rate: float, name: str, deflate: bool) -> Result:
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__)),
        "_bare_server",
        "1" if deflate else "0",
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    return await _run_external(server, specs, n, rate, name)


async def _run_external(
    server: asyncio.subprocess.Process, specs: list[ClientSpec], n: int, rate: float, name: str
) -> Result:
    assert server.stdout is not None and server.stdin is not None
    try:
        port = json.loads(await asyncio.wait_for(server.stdout.readline(), 30))["port"]
        procs = await spawn_clients(specs, f"http://127.0.0.1:{port}", "bare", "-", n, None)
        server.stdin.write(f"go {n} {rate}\n".encode())
        await server.stdin.drain()
        return await collect(name, procs, n)
    finally:
        server.kill()
        await server.wait()


class AgentBench:
    """The agent-tui runtime (SQLite) and server in this process, as the TUI would host them."""

    async def __aenter__(self) -> AgentBench:
        from runtime import AgentRuntime, RuntimeConfig
        from runtime.server.app import start_server

        self.tmp = tempfile.TemporaryDirectory()
        base = Path(self.tmp.name)
        self.runtime = AgentRuntime(
            RuntimeConfig(db_path=base / "bench.db", data_dir=base / "sb", config_dir=base / "cfg")
        )
        await self.runtime.start()
        self.server = await start_server(self.runtime, port=0, token="bench")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.runtime.shutdown()
        self.tmp.cleanup()

    async def ceiling(self, n: int, chunk: int = 100) -> Result:
        """The runtime's own publish path (EventBus + SQLite + reducer), no server, no client: what
        any delivery through the server is bounded by."""
        session = await self.runtime.create_session({"architecture": "shell"})
        bus = self.runtime.bus
        assert bus is not None
        start = time.perf_counter()
        in_flight: set[asyncio.Task[Any]] = set()
        for published in range(0, n, chunk):
            drafts = [
                {
                    "type": "block:delta",
                    "source": "runner",
                    "payload": {"blockId": f"{BLOCK}-{published // 100}", "delta": FILLER, "t": 0.0},
                }
                for _ in range(chunk)
            ]
            in_flight.add(asyncio.ensure_future(bus.publish(session.session_id, drafts)))
            if len(in_flight) >= 4:
                _done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
        await asyncio.gather(*in_flight)
        rate = n / (time.perf_counter() - start)
        await self.runtime.delete_session(session.session_id)
        return Result(f"runtime publish path alone, {chunk} per publish (ceiling)", 0, n, rate, rate, 0, 0, 0)

    async def run(self, specs: list[ClientSpec], n: int, rate: float, name: str, chunk: int = 100) -> Result:
        session = await self.runtime.create_session({"architecture": "shell"})
        sid = session.session_id
        procs = await spawn_clients(specs, self.server.url, "agent", sid, n, "bench")
        bus = self.runtime.bus
        assert bus is not None
        published = 0
        start = time.monotonic()
        # Like the runner's pump, the producer does not wait for one batch to be stored before it
        # makes the next: up to 4 publishes in flight (the bus numbers them in call order and
        # group-commits them).
        in_flight: set[asyncio.Task[Any]] = set()
        while published < n:
            if rate:
                due = min(n, int((time.monotonic() - start) * rate) + 1)
                if due <= published:
                    await asyncio.sleep(max(0.0, start + (published + 1) / rate - time.monotonic()))
                    continue
                size = due - published
            else:
                size = min(chunk, n - published)
            t = now_ms()
            # A new block every 100 deltas, as a real stream has many blocks. (Deltas into one block
            # make the reducer's string append quadratic, which would measure the reducer, not us.)
            block = f"{BLOCK}-{published // 100}"
            drafts = [
                {
                    "type": "block:delta",
                    "source": "runner",
                    "payload": {"blockId": block, "delta": FILLER, "t": t},
                }
                for _ in range(size)
            ]
            in_flight.add(asyncio.ensure_future(bus.publish(sid, drafts)))
            published += size
            if len(in_flight) >= 4 or rate:
                _done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
        if in_flight:
            await asyncio.gather(*in_flight)
        result = await collect(name, procs, n)
        await self.runtime.delete_session(sid)
        return result


def fmt(result: Result) -> str:
    return (
        f"{result.name:<52} {result.clients:>3} {result.rate:>12,.0f} {result.per_client:>12,.0f} "
        f"{result.p50:>9.2f} {result.p99:>9.2f} {result.messages:>9}"
    )


async def bench(args: argparse.Namespace) -> None:
    n, rn = args.events, args.rate_events
    rounds: dict[str, list[Result]] = {}

    def show(key: str, result: Result) -> None:
        rounds.setdefault(key, []).append(result)
        print(fmt(result), flush=True)

    def want(key: str) -> bool:
        return not args.only or any(key.startswith(o) for o in args.only.split(","))

    print(
        f"{'scenario':<52} {'cli':>3} {'events/s':>12} {'per client':>12} {'p50 ms':>9} {'p99 ms':>9} {'messages':>9}"
    )
    for _round in range(args.rounds):
        if want("node"):
            show(
                "node",
                await run_node([ClientSpec("js")], n, 0, "node socket.io -> 1 JS (one emit per event)"),
            )
        if want("sio"):
            show(
                "sio_py",
                await run_bare_sio(
                    [ClientSpec("py")], n, 0, "python-socketio -> 1 Py (one emit per event)", True
                ),
            )
            show(
                "sio_js_deflate",
                await run_bare_sio(
                    [ClientSpec("js")], n, 0, "python-socketio -> 1 JS, deflate (its default)", True
                ),
            )
            show(
                "sio_js",
                await run_bare_sio([ClientSpec("js")], n, 0, "python-socketio -> 1 JS, no deflate", False),
            )
            show(
                "sio_10",
                await run_bare_sio(
                    [ClientSpec("py")] * 5 + [ClientSpec("js")] * 5,
                    n // 2,
                    0,
                    "python-socketio -> 10 (5 Py + 5 JS), no deflate",
                    False,
                ),
            )
        if want("agent"):
            async with AgentBench() as agent:
                show("ceiling", await agent.ceiling(n))
                show(
                    "agent_js_batch",
                    await agent.run([ClientSpec("js", True)], n, 0, "agent-tui -> 1 JS, batch"),
                )
                show(
                    "agent_js_batch_1000",
                    await agent.run(
                        [ClientSpec("js", True)],
                        n,
                        0,
                        "agent-tui -> 1 JS, batch, 1000 per publish",
                        chunk=1000,
                    ),
                )
                show("agent_js", await agent.run([ClientSpec("js")], n, 0, "agent-tui -> 1 JS, unbatched"))
                show(
                    "agent_py_batch",
                    await agent.run([ClientSpec("py", True)], n, 0, "agent-tui -> 1 Py, batch"),
                )
                show("agent_py", await agent.run([ClientSpec("py")], n, 0, "agent-tui -> 1 Py, unbatched"))
                mixed = [
                    ClientSpec("py", True),
                    ClientSpec("py"),
                    ClientSpec("js", True),
                    ClientSpec("js"),
                ] * 2 + [ClientSpec("js", True), ClientSpec("py", True)]
                show(
                    "agent_10", await agent.run(mixed, n // 2, 0, "agent-tui -> 10 (Py/JS, batch/unbatched)")
                )
                show(
                    "agent_10_rate",
                    # JS clients, as in the Node row: ten Python clients would measure their own
                    # CPU contention on a 2-core machine more than the server.
                    await agent.run(
                        [ClientSpec("js", True), ClientSpec("js")] * 5,
                        rn,
                        1000,
                        "agent-tui -> 10 JS (5 batch) at 1,000 ev/s",
                    ),
                )
        if want("node"):
            show(
                "node_10_rate",
                await run_node([ClientSpec("js")] * 10, rn, 1000, "node socket.io -> 10 JS at 1,000 ev/s"),
            )

    print()
    results: dict[str, Result] = {}
    for key, runs in rounds.items():
        # The median round of each scenario (by rate; its p99 with it).
        results[key] = sorted(runs, key=lambda r: r.rate)[len(runs) // 2]
    if args.rounds > 1:
        print(f"medians of {args.rounds} rounds:")
        for result in results.values():
            print(fmt(result))
        print()

    def ratio(a: str, b: str, label: str) -> None:
        # Per round (both measured minutes apart at most), then the median over rounds: on a shared
        # machine the load drifts between rounds far more than within one.
        if a in rounds and b in rounds:
            ratios = sorted(x.rate / y.rate for x, y in zip(rounds[a], rounds[b], strict=False))
            spread = f"   (rounds: {', '.join(f'{r:.2f}' for r in ratios)})" if len(ratios) > 1 else ""
            print(f"{label:<72} {ratios[len(ratios) // 2]:6.2f}{spread}")

    ratio("agent_js_batch", "node", "agent-tui batch -> 1 JS  /  bare Node socket.io -> 1 JS  (aim > 1)")
    ratio("agent_js_batch", "ceiling", "agent-tui batch -> 1 JS  /  runtime publish path alone")
    ratio("agent_js_batch_1000", "node", "agent-tui batch, 1000 per publish -> 1 JS  /  bare Node -> 1 JS")
    ratio("agent_py", "sio_py", "agent-tui unbatched -> 1 Py  /  bare python-socketio -> 1 Py  (aim >= 0.8)")
    ratio("agent_js", "sio_js", "agent-tui unbatched -> 1 JS  /  bare python-socketio -> 1 JS, no deflate")
    ratio("sio_js", "sio_js_deflate", "bare python-socketio -> 1 JS: no deflate / deflate")
    ratio("agent_10", "sio_10", "agent-tui -> 10  /  bare python-socketio -> 10")
    for key, label in (
        ("agent_10_rate", "agent-tui p99 at 1,000 events/s, 10 clients (aim < 5 ms)"),
        ("node_10_rate", "bare Node socket.io p99 at 1,000 events/s, 10 clients"),
    ):
        if key in rounds:
            p99s = sorted(r.p99 for r in rounds[key])
            print(
                f"{label:<72} {p99s[len(p99s) // 2]:6.2f} ms   (rounds: {', '.join(f'{p:.1f}' for p in p99s)})"
            )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_client":
        url, mode, batch, sid, n, token = sys.argv[2:8]
        asyncio.run(client_main(url, mode, batch == "1", sid, int(n), token or None))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_bare_server":
        asyncio.run(bare_server_main(sys.argv[2] == "1"))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--events", type=int, default=50_000, help="events per flood scenario (default 50,000)"
    )
    parser.add_argument(
        "--rate-events", type=int, default=5_000, help="events in the paced scenarios (default 5,000)"
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--only", default="", help="comma-separated prefixes: node, sio, agent")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
