#!/usr/bin/env python3
"""How fast the Changes pane shows a large change set: the real app over a real runtime, a real
repository, a shell session whose command creates N files in its worktree (default 1,000).

Printed: the time from the toggle key to the list drawn (the pane opens on a change set the
reducer already holds), the time to rebuild the list after the change set changed (what one
batch of events costs while an agent works), the first diff, and a page down through the list.

    .venv/bin/python bench/changes_pane.py              # 1,000 files
    .venv/bin/python bench/changes_pane.py --files 5000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent_tui.app import AgentTuiApp  # noqa: E402
from runtime import AgentRuntime, MemoryStore, RuntimeConfig  # noqa: E402


def make_repo(path: Path) -> None:
    path.mkdir()
    git = ["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=path, check=True)
    (path / "README.md").write_text("bench\n")
    subprocess.run([*git, "add", "-A"], cwd=path, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "initial"], cwd=path, check=True)


async def until(pilot: object, predicate: object, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        await pilot.pause(0.01)  # type: ignore[attr-defined]


async def run(files: int) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        make_repo(tmp / "project")
        runtime = AgentRuntime(RuntimeConfig(persistence=MemoryStore(), data_dir=tmp / "sandboxes",
                                             config_dir=tmp / "config"))
        app = AgentTuiApp(runtime, bell=False, cursor_blink=False)
        async with app.run_test(size=(130, 40)) as pilot:
            await until(pilot, lambda: app.ready)
            await app.create_session({"architecture": "shell", "name": "bench",
                                      "workspace": {"project": str(tmp / "project")}})
            model = app.current
            assert model is not None
            await runtime.send_message(model.session_id,
                                       f"mkdir -p gen && for i in $(seq {files}); do echo line $i > gen/f$i.txt; done")
            await until(pilot, lambda: model.state.active_query is None and model.state.changes is not None
                        and len(model.state.changes["files"]) == files and bool(model.state.changes["head"]))
            pane = app.changes_pane

            start = time.perf_counter()
            app.action_toggle_changes()
            await until(pilot, lambda: pane.file_list.count == files)
            await pilot.pause()  # one more turn: laid out and drawn
            opened = time.perf_counter() - start
            await until(pilot, lambda: not pane.busy)
            first_diff = time.perf_counter() - start

            rebuilds = []
            for _ in range(5):
                pane._signature = None  # as if a batch changed the change set
                start = time.perf_counter()
                pane.sync()
                await pilot.pause()
                rebuilds.append(time.perf_counter() - start)

            app.action_toggle_changes()  # hidden, then shown again (warm: what a user sees after the first time)
            await pilot.pause()
            start = time.perf_counter()
            app.action_toggle_changes()
            await pilot.pause()
            reopened = time.perf_counter() - start
            await until(pilot, lambda: not pane.busy)

            pane.file_list.focus()
            pages = []
            for _ in range(10):
                start = time.perf_counter()
                pane.file_list.action_page(1)
                await pilot.pause()
                pages.append(time.perf_counter() - start)
                await until(pilot, lambda: not pane.busy)
            paging = statistics.median(pages)

        print(f"{files:,} changed files (real repository, shell session, local sandbox)")
        print(f"  toggle key -> list drawn:        {opened * 1000:7.0f} ms")
        print(f"  toggle key -> first file's diff: {first_diff * 1000:7.0f} ms")
        print(f"  hide, then toggle key again:     {reopened * 1000:7.0f} ms")
        print(f"  list rebuild after a change set: {statistics.median(rebuilds) * 1000:7.0f} ms (median of 5)")
        print(f"  page down, drawn:                {paging * 1000:7.1f} ms per key (median of 10)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    asyncio.run(run(parser.parse_args().files))


if __name__ == "__main__":
    main()
