#!/usr/bin/env python3
"""Write the README's screenshots: the real app, driven with ``run_test`` through scripted sessions.

    .venv/bin/python scripts/screenshots.py            # all of them, into screenshots/
    .venv/bin/python scripts/screenshots.py streaming  # just one

screenshots/web.png (the app in Chromium) comes from the browser test instead:

    AGENT_TUI_WRITE_SCREENSHOTS=1 .venv/bin/pytest -q tests/web/test_browser.py -k socketio

The scenes (``agent_tui/demo.py``) publish ordinary events into a real runtime, so the pictures
show exactly what a live session would: the reducer and the widgets are the real ones.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent_tui.demo import make_app, scene  # noqa: E402

SCENES = {
    "empty": "agent-tui with no sessions yet",
    "sessions": "Five sessions: idle with cost, busy, failed, starting a sandbox, waiting for permission",
    "streaming": "A reply streaming a code fence below tool cards (the failed one unfolded)",
    "dialog": "The new-session dialog",
    "search": "Searching the conversation",
    "permission": "An agent asks to edit a file: the diff, and allow once / always / deny (y / a / n)",
    "changes": "The Changes pane (f5): what the agent changed in its worktree, with the diff of one file",
}
SIZE = (130, 38)


async def shoot(name: str, out: Path) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(Path(tmp))
        async with app.run_test(size=SIZE) as pilot:
            await scene(pilot, name)
            path = out / f"{name}.svg"
            path.write_text(app.export_screenshot(title=f"agent-tui: {SCENES[name]}"), "utf-8")
    return path


def main(argv: list[str]) -> int:
    names = argv or list(SCENES)
    unknown = [n for n in names if n not in SCENES]
    if unknown:
        print(f"unknown scene(s): {', '.join(unknown)} (known: {', '.join(SCENES)})", file=sys.stderr)
        return 2
    out = ROOT / "screenshots"
    out.mkdir(exist_ok=True)
    for name in names:
        print(asyncio.run(shoot(name, out)).relative_to(ROOT))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
