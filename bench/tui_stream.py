#!/usr/bin/env python3
"""How the TUI keeps up with a fast stream, beside stock ``Markdown.get_stream()``, in one run.

A ~5,000-token reply (20,000 characters) with a 300-line code fence is streamed as ``block:delta``
events of 2 characters at 500 events/s (20 s nominal):

- **agent-tui**: the real app over a real runtime (memory store); the events go through the event
  bus, the subscription, the reducer and the app's per-frame redraw, as a live agent's would.
- **stock**: a bare Textual app with one ``Markdown`` fed through ``Markdown.get_stream()``, one
  ``write()`` per event.

Printed per variant: time until fully rendered / stream duration, and event-loop lag (p50, p95,
max) sampled every 5 ms while the code fence streams. Then the start-up time of the real
``agent-tui`` command to its first frame (in a pseudo-terminal, temp HOME; median of 3).

    .venv/bin/python bench/tui_stream.py              # full run (~1 min)
    .venv/bin/python bench/tui_stream.py --scale 0.25 # a quarter of the text, same rate
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZE = (120, 40)
SAMPLE_S = 0.005


def build_reply(scale: float = 1.0) -> tuple[str, int, int]:
    """The reply text and the character offsets where its code fence starts and ends."""
    paragraph = ("The session manager keeps one queue per session; a message sent while a query runs waits "
                 "its turn, and the event log records every step so a reloaded view matches a live one. ")
    prose_before = "\n\n".join(f"**Step {i + 1}.** " + paragraph * 2 for i in range(int(20 * scale)))
    lines = []
    for i in range(int(300 * scale)):
        if i % 15 == 0:
            lines.append(f"def handler_{i}(event, retries=3):")
        elif i % 15 == 1:
            lines.append(f'    """Handle event {i}."""')
        else:
            lines.append(f"    v{i} = f(event['p'], k=\"{i}\")")
    fence = "```python\n" + "\n".join(lines) + "\n```\n"
    prose_after = "\n\n".join(paragraph for _ in range(int(16 * scale)))
    head = prose_before + "\n\n"
    text = head + fence + "\n" + prose_after + "\n"
    return text, len(head), len(head) + len(fence)


def chunks(text: str, size: int = 2) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


class LagMonitor:
    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(SAMPLE_S)
            self.samples.append((start, time.perf_counter() - start - SAMPLE_S))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task:
            self._task.cancel()

    def between(self, t0: float, t1: float) -> list[float]:
        return sorted(lag for t, lag in self.samples if t0 <= t <= t1)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


async def paced(deltas: list[str], rate: float, send: Any, marks: dict[str, float], fence: tuple[int, int]) -> None:
    start = time.perf_counter()
    marks["start"] = start
    offset = 0
    for index, delta in enumerate(deltas):
        due = start + index / rate
        now = time.perf_counter()
        if due > now:
            await asyncio.sleep(due - now)
        if "fence_open" not in marks and offset >= fence[0]:
            marks["fence_open"] = time.perf_counter()
        if "fence_close" not in marks and offset >= fence[1]:
            marks["fence_close"] = time.perf_counter()
        await send(delta)
        offset += len(delta)
    marks["sent"] = time.perf_counter()


async def bench_agent_tui(text: str, fence: tuple[int, int], rate: float) -> dict[str, float]:
    from agent_tui.demo import make_app
    from agent_tui.widgets.assistant_text import AssistantText

    tmp = Path(tempfile.mkdtemp())
    app = make_app(tmp)
    monitor = LagMonitor()
    marks: dict[str, float] = {}
    deltas = chunks(text)
    async with app.run_test(size=SIZE) as pilot:
        while not app.ready:
            await pilot.pause(0.01)
        runtime = app.client
        summary = await runtime.create_session({"architecture": "shell", "name": "bench"})
        sid = summary.session_id
        while app.current is None:
            await pilot.pause(0.01)
        await runtime.bus.publish(sid, [{"type": "block:upsert", "payload": {"block": {
            "id": "reply", "type": "assistant_text", "status": "pending", "content": ""}}}])

        async def send(delta: str) -> None:
            await runtime.bus.publish(sid, [{"type": "block:delta", "payload": {"blockId": "reply", "delta": delta}}])

        monitor.start()
        await paced(deltas, rate, send, marks, fence)
        while True:
            widgets = list(app.conversation.query(AssistantText))
            if widgets and widgets[0].text == text and not app.conversation.is_dirty and not app._frame_pending:
                break
            await asyncio.sleep(0.002)
        marks["done"] = time.perf_counter()
        monitor.stop()
        await pilot.pause()
        shutil.rmtree(tmp, ignore_errors=True)
    return summarize(marks, monitor, len(deltas) / rate)


async def bench_stock(text: str, fence: tuple[int, int], rate: float) -> dict[str, float]:
    from textual.app import App, ComposeResult
    from textual.containers import VerticalScroll
    from textual.widgets import Markdown

    class Stock(App[None]):
        def compose(self) -> ComposeResult:
            with VerticalScroll():
                yield Markdown("")

    app = Stock()
    monitor = LagMonitor()
    marks: dict[str, float] = {}
    deltas = chunks(text)
    async with app.run_test(size=SIZE) as pilot:
        markdown = app.query_one(Markdown)
        stream = Markdown.get_stream(markdown)
        monitor.start()
        await paced(deltas, rate, stream.write, marks, fence)
        while stream._pending or markdown.source != text or markdown.lock.is_locked:
            await asyncio.sleep(0.002)
        marks["done"] = time.perf_counter()
        monitor.stop()
        await stream.stop()
        await pilot.pause()
    return summarize(marks, monitor, len(deltas) / rate)


def summarize(marks: dict[str, float], monitor: LagMonitor, nominal: float) -> dict[str, float]:
    fence_lags = monitor.between(marks["fence_open"], marks.get("fence_close", marks["sent"]))
    all_lags = monitor.between(marks["start"], marks["done"])
    worst = max(monitor.samples, key=lambda sample: sample[1]) if monitor.samples else (marks["start"], 0.0)
    return {
        "worst_at_s": worst[0] - marks["start"],
        "fence_open_s": marks["fence_open"] - marks["start"],
        "fence_close_s": marks.get("fence_close", marks["sent"]) - marks["start"],
        "nominal_s": nominal,
        "elapsed_s": marks["done"] - marks["start"],
        "ratio": (marks["done"] - marks["start"]) / nominal,
        "fence_p50_ms": pct(fence_lags, 50) * 1000,
        "fence_p95_ms": pct(fence_lags, 95) * 1000,
        "fence_max_ms": (fence_lags[-1] if fence_lags else float("nan")) * 1000,
        "all_p95_ms": pct(all_lags, 95) * 1000,
    }


async def noise_floor(seconds: float = 3.0) -> list[float]:
    """Loop lag of an idle asyncio loop: what the machine alone adds (other processes, timer slack)."""
    monitor = LagMonitor()
    monitor.start()
    start = time.perf_counter()
    await asyncio.sleep(seconds)
    monitor.stop()
    return monitor.between(start, time.perf_counter())


def startup_times(runs: int = 3) -> list[float]:
    """Seconds from spawning ``agent-tui`` to its first frame (the session list title on screen)."""
    import pexpect

    exe = ROOT / ".venv" / "bin" / "agent-tui"
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as home:
            env = {**os.environ, "HOME": home, "XDG_DATA_HOME": f"{home}/data", "XDG_CONFIG_HOME": f"{home}/config",
                   "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
            env.pop("AGENT_TUI_DB", None)
            start = time.perf_counter()
            child = pexpect.spawn(str(exe), ["--no-bell"], env=env, dimensions=(40, 120), encoding="utf-8",
                                  timeout=20)
            child.expect("SESSIONS")
            times.append(time.perf_counter() - start)
            child.sendcontrol("q")
            child.expect(pexpect.EOF)
            child.close()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=500.0, help="events per second (default 500)")
    parser.add_argument("--scale", type=float, default=1.0, help="text size factor (default 1: ~20,000 chars)")
    parser.add_argument("--skip-startup", action="store_true")
    parser.add_argument("--skip-stock", action="store_true")
    args = parser.parse_args()

    text, fence_start, fence_end = build_reply(args.scale)
    events = len(chunks(text))
    print(f"reply: {len(text):,} chars (~{len(text) // 4:,} tokens), code fence of "
          f"{text[fence_start:fence_end].count(chr(10)) - 1} lines; {events:,} block:delta events of 2 chars "
          f"at {args.rate:.0f}/s = {events / args.rate:.1f} s nominal")
    floor = asyncio.run(noise_floor())
    print(f"noise floor (idle loop, same machine, now): lag p50 {pct(floor, 50) * 1000:.1f} ms, "
          f"p95 {pct(floor, 95) * 1000:.1f} ms, max {floor[-1] * 1000:.0f} ms; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    results = {"agent-tui": asyncio.run(bench_agent_tui(text, (fence_start, fence_end), args.rate))}
    if not args.skip_stock:
        results["stock Markdown.get_stream"] = asyncio.run(bench_stock(text, (fence_start, fence_end), args.rate))
    print(f"{'variant':28} {'rendered/stream':>15} {'fence lag p50':>14} {'p95':>8} {'max':>8} {'whole p95':>10}")
    for name, r in results.items():
        print(f"{name:28} {r['ratio']:15.3f} {r['fence_p50_ms']:12.1f}ms {r['fence_p95_ms']:6.1f}ms "
              f"{r['fence_max_ms']:6.0f}ms {r['all_p95_ms']:8.1f}ms")
    ours = results["agent-tui"]
    print(f"agent-tui: the fence streamed from {ours['fence_open_s']:.1f} s to {ours['fence_close_s']:.1f} s; "
          f"its worst stall was at {ours['worst_at_s']:.1f} s")
    if "stock Markdown.get_stream" in results:
        ours, stock = results["agent-tui"], results["stock Markdown.get_stream"]
        print(f"stock / agent-tui: time {stock['elapsed_s'] / ours['elapsed_s']:.2f}x, "
              f"fence lag p95 {stock['fence_p95_ms'] / max(ours['fence_p95_ms'], 0.01):.1f}x")
    if not args.skip_startup:
        times = startup_times()
        print(f"agent-tui start-up to first frame: median {statistics.median(times):.3f} s "
              f"(runs: {', '.join(f'{t:.3f}' for t in times)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
