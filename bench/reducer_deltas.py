"""The reducer folding ``block:delta`` events: the real ``apply_event`` against the plain
``stored[field] = stored[field] + delta`` it used before, measured in the same run.

    .venv/bin/python bench/reducer_deltas.py

Each case is one block receiving N deltas of a given size (a reply streamed token by token, a
shell command's coalesced output). Appending to a string the block still holds copies it every
time (quadratic in the block's length); ``apply_event`` drops the block's reference first so
CPython can grow the string in place.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runtime.models import make_event  # noqa: E402
from runtime.reducer import SessionState, apply_event  # noqa: E402

CASES = ((20_000, 2), (100_000, 2), (400, 4096), (16, 65_536))
TS = "2026-01-01T00:00:00.000Z"


def events(count: int, size: int) -> list:
    delta = "x" * size
    start = make_event(1, "block:upsert", {"block": {"id": "b", "type": "assistant_text", "content": "",
                                                    "status": "pending"}}, TS, "main", "runner")
    return [start, *(make_event(i + 2, "block:delta", {"blockId": "b", "delta": delta}, TS, "main", "runner")
                     for i in range(count))]


def real(stream: list) -> float:
    state = SessionState()
    began = time.perf_counter()
    for event in stream:
        apply_event(state, event)
    elapsed = time.perf_counter() - began
    assert len(state.blocks[0]["content"]) == sum(len(e.payload.get("delta", "")) for e in stream)
    return elapsed


def baseline(stream: list) -> float:
    """The same fold with the old append (everything else as cheap as possible)."""
    blocks: dict[str, dict] = {}
    began = time.perf_counter()
    for event in stream:
        payload = event.payload
        if event.type == "block:upsert":
            blocks[payload["block"]["id"]] = dict(payload["block"])
        else:
            stored = blocks[payload["blockId"]]
            stored["content"] = stored["content"] + payload["delta"]
    return time.perf_counter() - began


def main() -> None:
    print(f"{'deltas':>8} {'size':>6} {'apply_event':>12} {'old append':>12} {'old / new':>10}")
    for count, size in CASES:
        stream = events(count, size)
        ours = min(real(stream) for _ in range(3))
        theirs = min(baseline(stream) for _ in range(3))
        print(f"{count:>8} {size:>6} {ours * 1000:>10.1f}ms {theirs * 1000:>10.1f}ms {theirs / ours:>9.1f}x")


if __name__ == "__main__":
    main()
