#!/usr/bin/env python3
"""``agent-tui web`` in headless Chromium: time to the first frame, and keystroke-to-screen.

- **first frame**: from ``page.goto(url?token=…)`` (token → cookie redirect, page, textual.js, the
  websocket, a new app process per tab) to the first bytes drawn in the terminal
  (textual.js's ``-first-byte``), and to the app's full first screen (``SESSIONS`` and the
  session count, i.e. attached to the runtime). Median over ``--pages`` fresh tabs.
- **keystroke-to-screen**: a key pressed in the composer (Chromium's real key event) until the
  terminal has *rendered* the frame that shows it: a capture-phase ``keydown`` listener stamps the
  time in the page, and xterm.js's ``onRender`` stamps when the character is on the screen. The
  app process, the textual-serve websocket and xterm.js are all on the path, as for a user.

    .venv/bin/python bench/web_latency.py              # ~30 s
    .venv/bin/python bench/web_latency.py --keys 200
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.web.browser import TOKEN, WebProcess, focus, launch, open_app, wait_for_text  # noqa: E402

PROBE = """(expected) => {
  const tab = window.__textualTabs[0], t = tab.terminal;
  window.__lat = []; window.__expect = null; window.__down = 0;
  document.addEventListener('keydown', () => { window.__down = performance.now(); }, true);
  const onScreen = (text) => {
    const b = t.buffer.active;
    for (let i = 0; i < t.rows; i++) { const l = b.getLine(b.viewportY + i); if (l && l.translateToString(true).includes(text)) return true; }
    return false;
  };
  t.onRender(() => {
    if (window.__expect !== null && onScreen(window.__expect)) {
      window.__lat.push(performance.now() - window.__down); window.__expect = null;
    }
  });
}"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=3, help="fresh tabs timed to their first frame")
    parser.add_argument("--keys", type=int, default=100, help="keystrokes timed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agent-tui-web-bench-") as tmp:
        web = WebProcess(Path(tmp)).start()
        try:
            with sync_playwright() as p:
                browser = launch(p)
                first_bytes: list[float] = []
                first_screens: list[float] = []
                page = None
                for _ in range(args.pages):
                    context = browser.new_context(viewport={"width": 1280, "height": 800})
                    started = time.perf_counter()
                    page = open_app(context, web.url + f"?token={TOKEN}")
                    page.wait_for_function("() => document.body.classList.contains('-first-byte')",
                                           polling="raf", timeout=60_000)
                    first_bytes.append(time.perf_counter() - started)
                    wait_for_text(page, "0 sessions", timeout_s=60)
                    first_screens.append(time.perf_counter() - started)
                    if len(first_bytes) < args.pages:
                        context.close()
                assert page is not None
                focus(page)
                page.evaluate(PROBE)
                rng = random.Random(7)
                # Words of random letters, so every prefix is unique on screen; a fresh line each 40 keys
                # keeps the composer from wrapping.
                typed = ""
                for i in range(args.keys):
                    if i and i % 40 == 0:
                        page.keyboard.press("Control+u")  # clear the composer line
                        typed = ""
                        page.wait_for_timeout(50)
                    char = rng.choice(string.ascii_lowercase)
                    typed += char
                    page.evaluate("(t) => { window.__expect = t; }", typed[-12:] if len(typed) >= 3 else "q" * 99)
                    if len(typed) < 3:
                        page.keyboard.press(char)
                        continue
                    before = page.evaluate("window.__lat.length")
                    page.keyboard.press(char)
                    page.wait_for_function(f"() => window.__lat.length > {before}", timeout=10_000)
                latencies: list[float] = page.evaluate("window.__lat")
                browser.close()
        finally:
            web.stop()
    print(f"first frame (goto → first bytes drawn), median of {len(first_bytes)}: "
          f"{statistics.median(first_bytes) * 1000:.0f} ms  (all: {', '.join(f'{v * 1000:.0f}' for v in first_bytes)})")
    print(f"first full screen (attached, session list drawn), median: {statistics.median(first_screens) * 1000:.0f} ms")
    print(f"keystroke-to-screen over {len(latencies)} keys: p50 {percentile(latencies, 0.5):.1f} ms, "
          f"p99 {percentile(latencies, 0.99):.1f} ms, max {max(latencies):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
