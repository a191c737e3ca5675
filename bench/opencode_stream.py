"""OpenCode: how soon a reply becomes visible, agent-tui's ``opencode serve`` driver against the
``opencode run --format json`` it replaced, in the same run.

    .venv/bin/python bench/opencode_stream.py [--runs 5] [--chunks 40] [--delay 0.05]

The fake OpenAI-compatible server streams one reply of ``--chunks`` pieces, ``--delay`` seconds
apart (a model writing for chunks x delay seconds). Measured, as medians over ``--runs``:

- agent-tui: ``send_message`` -> the first event carrying reply text (a pending block or a
  delta), and -> ``query:completed``; the real CLI through the whole runtime (local sandbox,
  runner, driver, SQLite, event bus), on one session (the first query, which creates the
  sandbox, is left out).
- baseline: the pinned CLI's ``opencode run --format json`` started directly (no runtime at all,
  which favours it), same config and fake -> its first ``text`` line, and -> its exit.

"first text" is what a user watching the session waits for; ``run`` shows nothing until a text
part is complete. Runs in a loopback-only network namespace when allowed. Not part of CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runtime import AgentRuntime  # noqa: E402
from runtime.architectures.base import LaunchContext  # noqa: E402
from runtime.architectures.opencode import OpenCodeArchitecture  # noqa: E402
from runtime.config import RuntimeConfig  # noqa: E402
from runtime.models import AgentProfile  # noqa: E402
from runtime.runner.converters.opencode import SETUP_ENV, write_setup  # noqa: E402
from runtime.runner.execute import _agent_env  # noqa: E402
from tests.claude.netns import LoopbackOnly  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI, Text, Turn  # noqa: E402
from tests.helpers import NODE_BIN, make_config  # noqa: E402

MODEL = "fake-model"


def reply_turn(chunks: int, delay: float) -> Turn:
    text = "".join(f"word{i:03d} " for i in range(chunks))
    return Turn(Text(text, chunk=8), delay_s=delay)


async def agent_tui_runs(fake: FakeOpenAI, runs: int, chunks: int, delay: float) -> list[tuple[float, float]]:
    folder = Path(tempfile.mkdtemp(prefix="bench-opencode-"))
    host_env = {"PATH": "/usr/bin:/bin", "OPENAI_BASE_URL": fake.url, "OPENAI_API_KEY": "sk-bench"}
    config = make_config(folder, agent_bin_dirs=[str(NODE_BIN)], host_env=host_env)
    figures: list[tuple[float, float]] = []
    async with AgentRuntime(config) as runtime:
        session = await runtime.create_session({"architecture": "opencode", "sessionOptions": {"model": MODEL}})
        sid = session.session_id
        for number in range(runs + 1):
            fake.script(reply_turn(chunks, delay))
            detail = await runtime.get_session(sid)
            subscription = runtime.subscribe(sid, detail.last_seq)
            started = time.perf_counter()
            await runtime.send_message(sid, f"Question {number}")
            first = None
            async for event in subscription:
                if first is None and event.type in ("block:upsert", "block:delta"):
                    payload = event.payload
                    text = payload.get("delta") if event.type == "block:delta" else (
                        payload["block"].get("content") if payload["block"]["type"] == "assistant_text" else "")
                    if text:
                        first = time.perf_counter() - started
                if event.type.startswith("query:") and event.type not in ("query:started", "query:queued"):
                    assert event.type == "query:completed", event.payload
                    break
            subscription.close()
            if number:  # the first query also created the sandbox
                figures.append((first or float("nan"), time.perf_counter() - started))
    return figures


async def baseline_runs(fake: FakeOpenAI, runs: int, chunks: int, delay: float) -> list[tuple[float, float]]:
    """``opencode run --format json`` as agent-tui ran it before, started directly."""
    root = Path(tempfile.mkdtemp(prefix="bench-opencode-run-"))
    for sub in ("app", "workspace", "home"):
        (root / sub).mkdir()
    host_env = {"OPENAI_BASE_URL": fake.url, "OPENAI_API_KEY": "sk-bench"}
    binary = str(NODE_BIN / "opencode")
    ctx = LaunchContext(session_id="ses-bench", message_id="m", prompt="x", session_dir=str(root),
                        profile=AgentProfile(id="b", name="b", env=list(host_env)),
                        session_options={"model": MODEL}, resume=False, host_env=host_env,
                        config=RuntimeConfig(host_env={**host_env, "AGENT_TUI_OPENCODE_PATH": binary}))
    launch = OpenCodeArchitecture().launch(ctx)
    env = _agent_env({"baseWorkspacePath": str(root / "workspace"), "launch": launch.wire()})
    setup = json.loads(env.pop(SETUP_ENV))
    write_setup(setup, env)
    figures: list[tuple[float, float]] = []
    for number in range(runs + 1):
        fake.script(reply_turn(chunks, delay))
        argv = [binary, "run", "--format", "json", "--model", setup["run"]["model"]]
        if number:
            argv.append("--continue")
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            *argv, cwd=str(root / "workspace"), env=env, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(f"Question {number}\n".encode())
        process.stdin.close()
        first = None
        async for line in process.stdout:
            if first is None and b'"type":"text"' in line:
                first = time.perf_counter() - started
        await process.wait()
        if number:
            figures.append((first or float("nan"), time.perf_counter() - started))
    return figures


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chunks", type=int, default=40)
    parser.add_argument("--delay", type=float, default=0.05)
    args = parser.parse_args()
    async with FakeOpenAI() as fake:
        ours = await agent_tui_runs(fake, args.runs, args.chunks, args.delay)
        base = await baseline_runs(fake, args.runs, args.chunks, args.delay)
    writing = args.chunks * args.delay
    print(f"reply: {args.chunks} chunks, {args.delay * 1000:.0f} ms apart (the model writes for {writing:.1f} s); "
          f"{args.runs} warm queries each; medians")
    rows = [("agent-tui (opencode serve + driver, whole runtime)", ours),
            ("baseline: opencode run --format json (CLI alone)", base)]
    for name, figures in rows:
        firsts, ends = [f for f, _ in figures], [e for _, e in figures]
        print(f"  {name:52s} first text {median(firsts) * 1000:7.0f} ms   done {median(ends) * 1000:7.0f} ms   "
              f"(first text range {min(firsts) * 1000:.0f}-{max(firsts) * 1000:.0f} ms)")
    ratio_first = median([f for f, _ in base]) / median([f for f, _ in ours])
    ratio_done = median([e for _, e in base]) / median([e for _, e in ours])
    print(f"  baseline / agent-tui: first text {ratio_first:.2f}x, done {ratio_done:.2f}x (> 1: agent-tui sooner)")


if __name__ == "__main__":
    namespace = LoopbackOnly()
    entered = namespace.enter()
    try:
        asyncio.run(main())
    finally:
        if entered:
            namespace.leave()
