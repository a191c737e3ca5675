"""The ingress path: runner stdout lines -> the gate -> the event bus -> SQLite -> a subscriber.

    .venv/bin/python bench/ingress.py [--lines 100000] [--profile]

A runner's lines as an agent streams them (text deltas mostly, tool cards, usage), in batches of
2,000 as ``QueryRun`` takes them. Measured in the same run:

- ``gate``: lines/s through ``parse_runner_line`` as it is (orjson decode, one encode kept), beside
  the stdlib strict decoder it used before (``_strict_loads``: Python hooks on every number);
- ``ingress``: the whole path, as it is, beside the same path with the stdlib decoder and the
  gate's text not handed on (the bus encodes each payload again), and beside raw ``aiosqlite``
  ``executemany`` of the same rows (the ceiling).

``--profile`` prints cProfile's top functions of the whole path as it is. Run by hand; not in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from event_bus import raw_insert  # bench/ is the script's folder

from runtime import EventBus, SQLiteStore
from runtime.sessions import runner_events
from runtime.sessions.runner_events import parse_runner_line

BATCH = 2_000
TS = "2026-12-04T18:00:00.000Z"


def runner_lines(n: int) -> list[bytes]:
    """``n`` lines of one query: per turn a text block, 16 deltas, a tool call and its result."""
    lines: list[bytes] = []
    turn = 0
    while len(lines) < n:
        turn += 1
        text_id, tool_id = f"msg-{turn:06d}-text", f"toolu_{turn:06d}"

        def event(kind: str, payload: dict[str, Any]) -> None:
            lines.append(orjson.dumps({"type": kind, "payload": payload, "timestamp": TS,
                                       "conversationId": "main", "source": "runner"}))

        event("block:upsert", {"block": {"id": text_id, "type": "assistant_text", "status": "pending",
                                         "content": "", "model": "claude-sonnet-4"}})
        for i in range(16):
            event("block:delta", {"blockId": text_id, "delta": f"word {i} of the reply, streamed as it comes. "})
        event("block:upsert", {"block": {"id": text_id, "type": "assistant_text", "status": "complete"}})
        event("block:upsert", {"block": {"id": tool_id, "type": "tool_use", "status": "pending", "toolName": "Bash",
                                         "toolUseId": tool_id, "input": {"command": "ls -la src", "timeout": 120000},
                                         "kind": "execute", "command": "ls -la src"}})
        event("block:upsert", {"block": {"id": f"{tool_id}-result", "type": "tool_result", "status": "complete",
                                         "toolUseId": tool_id, "output": "total 48\n" + "-rw-r--r-- 1 u u 1234 a.py\n" * 8,
                                         "isError": False, "durationMs": 41}})
        event("metadata:update", {"usage": {"inputTokens": 1200 + turn, "outputTokens": 300, "totalTokens": 1500 + turn},
                                  "costUsd": 0.0123 * turn, "model": "claude-sonnet-4"})
    return lines[:n]


def _known(_conversation: str, _block: str) -> dict[str, Any] | None:
    return {"id": _block, "type": "assistant_text", "status": "pending", "content": ""}


def gate_rate(lines: list[bytes]) -> float:
    started = time.perf_counter()
    for start in range(0, len(lines), BATCH):
        seen: dict[tuple[str, str], dict[str, Any]] = {}
        for line in lines[start:start + BATCH]:
            parse_runner_line(line, _known, seen)
    return len(lines) / (time.perf_counter() - started)


async def ingress_rate(path: Path, lines: list[bytes], hand_on_text: bool = True) -> float:
    store = SQLiteStore(path)
    await store.open()
    bus = EventBus(store, subscriber_buffer=len(lines) + 1)
    sub = bus.subscribe("s", 0)
    received = 0

    async def consume() -> None:
        nonlocal received
        while received < len(lines):
            received += len(await sub.next_batch())

    consumer = asyncio.create_task(consume())
    started = time.perf_counter()
    for start in range(0, len(lines), BATCH):
        seen: dict[tuple[str, str], dict[str, Any]] = {}
        drafts = [parse_runner_line(line, _known, seen) for line in lines[start:start + BATCH]]
        if not hand_on_text:
            for draft in drafts:
                draft.pop("payloadJson", None)
        await bus.publish("s", drafts)
    await consumer
    elapsed = time.perf_counter() - started
    sub.close()
    await bus.close()
    await store.close()
    return len(lines) / elapsed


async def raw_rate(path: Path, lines: list[bytes]) -> float:
    docs = [orjson.loads(line) for line in lines]
    return await raw_insert(path, [
        [("s", start + i + 1, d["type"], orjson.dumps(d["payload"]).decode(), TS, "main", "runner")
         for i, d in enumerate(docs[start:start + BATCH])]
        for start in range(0, len(docs), BATCH)
    ])


def with_strict_decoder(run: Callable[[], Any]) -> Any:
    """``run()`` with the gate decoding as it did before (the stdlib parser with number hooks)."""
    decode = runner_events.decode
    runner_events.decode = runner_events._strict_loads  # type: ignore[assignment]
    try:
        return run()
    finally:
        runner_events.decode = decode  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    lines = runner_lines(args.lines)
    print(f"{len(lines):,} runner lines, {sum(map(len, lines)) / len(lines):.0f} bytes each on average")

    new_gate = gate_rate(lines)
    old_gate = with_strict_decoder(lambda: gate_rate(lines))
    print(f"gate      as it is {new_gate:>10,.0f} lines/s | stdlib strict decoder {old_gate:>10,.0f} "
          f"| ratio {new_gate / old_gate:.2f}")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        new = asyncio.run(ingress_rate(folder / "new.db", lines))
        old = with_strict_decoder(lambda: asyncio.run(ingress_rate(folder / "old.db", lines, hand_on_text=False)))
        raw = asyncio.run(raw_rate(folder / "raw.db", lines))
        print(f"ingress   as it is {new:>10,.0f} events/s | strict decoder, bus re-encodes {old:>10,.0f} "
              f"| ratio {new / old:.2f}")
        print(f"          raw aiosqlite executemany (ceiling) {raw:>10,.0f} rows/s | as it is / raw {new / raw:.2f}")
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            asyncio.run(ingress_rate(folder / "profiled.db", lines))
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
