"""Workspaces (SPEC §10): worktree creation and change listing on a large repository.

    .venv/bin/python bench/workspaces.py [--files 10000] [--changed 1000 5000]

Makes a real repository with ``--files`` tracked files (in a temp dir, its own HOME), creates a
session on it through ``AgentRuntime`` and measures:

    worktree            adding the session's worktree (``git worktree add``, a full checkout)
    changes N (cold)    ``get_changes`` right after N files were changed (N/2 modified, N/2 new)
    changes N (warm)    the same call again (the private index's stat cache is warm)
    changes N + JSON    building the HTTP body (``WorkspaceChanges.wire()`` + JSON) on top
    diff N              ``get_diff`` of the whole change set
    write -> event      a shell agent writes a file (its content is the wall time of the write);
                        how long until the ``file:*`` event reaches a subscriber (median of 5)

Run by hand; not part of CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runtime import AgentRuntime  # noqa: E402
from tests.helpers import make_config  # noqa: E402

IDENTITY = ["-c", "user.name=bench", "-c", "user.email=bench@example.com"]


def make_repo(path: Path, files: int) -> None:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True)
    for i in range(files):
        folder = path / f"pkg{i // 100:03d}"
        folder.mkdir(exist_ok=True)
        (folder / f"mod{i:05d}.py").write_text(f"# module {i}\nVALUE = {i}\n" + "x = 1\n" * 20)
    subprocess.run(["git", "add", "-A"], cwd=path, check=True)
    subprocess.run(["git", *IDENTITY, "commit", "-q", "-m", "initial"], cwd=path, check=True)


def change(worktree: Path, count: int, tag: str) -> None:
    modified = sorted(worktree.glob("pkg*/mod*.py"))[: count // 2]
    for file in modified:
        with file.open("a") as handle:
            handle.write(f"# changed {tag}\n")
    new = worktree / f"new-{tag}"
    new.mkdir()
    for i in range(count - len(modified)):
        (new / f"file{i:05d}.txt").write_text(f"new {i}\n")


async def timed(label: str, call) -> object:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = await call
    print(f"{label:<28} {1000 * (time.perf_counter() - started):8.1f} ms")
    return result


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--changed", type=int, nargs="+", default=[1000, 5000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        os.environ["HOME"] = str(tmp / "home")
        started = time.perf_counter()
        make_repo(tmp / "repo", args.files)
        print(f"repository with {args.files} files made in {time.perf_counter() - started:.1f} s (not measured)")
        async with AgentRuntime(make_config(tmp)) as runtime:
            summary = await runtime.create_session(
                {"architecture": "shell", "name": "bench", "workspace": {"project": str(tmp / "repo")}}
            )
            sid = summary.session_id
            workspace = runtime._manager().get(sid).workspace
            assert workspace is not None
            await timed("worktree", workspace.ensure())
            await timed("changes 0 (first)", runtime.get_changes(sid))
            done = 0
            for count in args.changed:
                await runtime.discard(sid)
                change(workspace.path, count, str(count))
                result = await timed(f"changes {count} (cold)", runtime.get_changes(sid))
                assert len(result.files) == count, len(result.files)  # type: ignore[attr-defined]
                result = await timed(f"changes {count} (warm)", runtime.get_changes(sid))
                started = time.perf_counter()
                body = json.dumps(result.wire())  # type: ignore[attr-defined]
                print(f"{f'changes {count} JSON only':<28} {1000 * (time.perf_counter() - started):8.1f} ms"
                      f"  ({len(body) // 1024} KiB)")
                await timed(f"diff {count}", runtime.get_diff(sid))
                done += 1
            await runtime.discard(sid)
            await write_to_event(runtime, sid)


async def write_to_event(runtime: AgentRuntime, sid: str) -> None:
    import statistics

    script = "; ".join(f"sleep 0.4; date +%s.%N > lat{i}.txt" for i in range(5)) + "; sleep 0.5"
    latencies: list[float] = []
    after = (await runtime.get_summary(sid)).last_seq
    message_id, _ = await runtime.send_message(sid, script)
    async for event in runtime.subscribe(sid, after):
        if event.type == "file:created" and event.payload["path"].startswith("lat"):
            written = float((runtime._manager().get(sid).workspace.path / event.payload["path"]).read_text())
            latencies.append(1000 * (time.time() - written))
        if event.type in ("query:completed", "query:failed") and event.payload.get("messageId") == message_id:
            break
    print(f"{'write -> event (median)':<28} {statistics.median(latencies):8.1f} ms  (n={len(latencies)}, "
          f"max {max(latencies):.1f} ms)")


if __name__ == "__main__":
    asyncio.run(main())
