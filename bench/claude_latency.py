"""Claude Code latency: ``send_message`` -> first ``block:delta``, and where the time goes.

    .venv/bin/python bench/claude_latency.py [--runs 5]

Runs the real pinned CLI (tests/node) through the runtime (local sandbox, real runner, SQLite)
against the fake Anthropic server, in a loopback-only network namespace when allowed. A shim
``claude`` records when the CLI is exec'd, the fake records when the CLI's first model request
arrives and when it wrote the first text delta, so one run splits into:

    send -> exec        the runtime before the CLI starts (sandbox, runner start, launch)
    exec -> request     the CLI's own start-up, up to its first model request
    request -> delta    the fake server (≈0)
    delta -> event      the CLI printing it, the runner converting it, the bus delivering it

"Runtime overhead" is the total minus the CLI's start-up and the fake's share. It still includes
the CLI's own SSE-to-stdout step, which cannot be told apart from outside. Cold = the first
message of a session (creates the sandbox); warm = a later one (sandbox up, ``--resume``).

Both runs use the same runtime; the second one starts the runner with a tuned interpreter (a
``RuntimeConfig.runner_python`` wrapper running ``python -S`` with bytecode caching allowed), to
show how much of "send -> exec" is the runner's Python start-up rather than the runtime itself.
Run by hand; not part of CI.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runtime import AgentRuntime  # noqa: E402
from tests.claude.conftest import PROFILE_ID, claude_host_env, write_test_profile  # noqa: E402
from tests.claude.netns import LoopbackOnly  # noqa: E402
from tests.fakes.anthropic_server import FakeAnthropic, Text, Turn  # noqa: E402
from tests.helpers import NODE_BIN, make_config  # noqa: E402

PHASES = ("send -> first delta", "send -> exec", "exec -> request", "request -> delta", "delta -> event",
          "runtime overhead")


def make_shim(folder: Path, log: Path) -> Path:
    """A ``claude`` that notes the wall-clock time it was exec'd, then becomes the real CLI."""
    folder.mkdir(parents=True, exist_ok=True)
    shim = folder / "claude"
    shim.write_text(f'#!/bin/bash\necho "$EPOCHREALTIME" >> {log}\nexec {NODE_BIN / "claude"} "$@"\n')
    shim.chmod(0o755)
    return shim


async def one_query(runtime: AgentRuntime, fake: FakeAnthropic, session_id: str, log: Path) -> dict[str, float]:
    fake.script(Turn(Text("A reply from the fake model, streamed in a few small pieces.")))
    before_requests = len(fake.conversation_requests())
    before_execs = len(log.read_text().split()) if log.exists() else 0
    after = (await runtime.get_summary(session_id)).last_seq
    subscription = runtime.subscribe(session_id, after)
    sent = time.time()
    message_id, _ = await runtime.send_message(session_id, "Say something")
    first_delta = None
    async for event in subscription:
        if event.type == "block:delta" and first_delta is None:
            first_delta = time.time()
        if event.type.startswith("query:") and event.payload.get("messageId") == message_id \
                and event.type != "query:started":
            if event.type != "query:completed":
                raise RuntimeError(f"query ended with {event.type}: {event.payload}")
            break
    subscription.close()
    assert first_delta is not None
    request = fake.conversation_requests()[before_requests]
    executed = float(log.read_text().split()[before_execs])
    assert request.first_delta_wall is not None
    total = first_delta - sent
    cli_start = request.wall - executed
    fake_share = request.first_delta_wall - request.wall
    return {
        "send -> first delta": total,
        "send -> exec": executed - sent,
        "exec -> request": cli_start,
        "request -> delta": fake_share,
        "delta -> event": first_delta - request.first_delta_wall,
        "runtime overhead": total - cli_start - fake_share,
    }


def tuned_python(folder: Path) -> Path:
    """The runner's interpreter without ``site`` (the runner is stdlib-only; a venv's .pth files,
    e.g. an editable install's finder, cost tens of ms) and with ``.pyc`` caching in ``app/``."""
    wrapper = folder / "python-tuned"
    wrapper.write_text(f"#!/bin/sh\nunset PYTHONDONTWRITEBYTECODE\nexec {sys.executable} -S \"$@\"\n")
    wrapper.chmod(0o755)
    return wrapper


async def run(runs: int, tuned: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="claude-latency-") as temp:
        tmp = Path(temp)
        log = tmp / "exec-times"
        shim = make_shim(tmp / "bin", log)
        cold: list[dict[str, float]] = []
        warm: list[dict[str, float]] = []
        async with FakeAnthropic() as fake:
            config = make_config(tmp, host_env=claude_host_env(fake, AGENT_TUI_CLAUDE_PATH=str(shim)))
            if tuned:
                config.runner_python = str(tuned_python(tmp / "bin"))
            write_test_profile(Path(config.config_dir))  # type: ignore[arg-type]
            async with AgentRuntime(config) as runtime:
                # One throwaway query so disk caches hold the CLI binary.
                warmup = await runtime.create_session({"architecture": "claude-code", "agentProfileRef": PROFILE_ID})
                await one_query(runtime, fake, warmup.session_id, log)
                for _ in range(runs):
                    session = await runtime.create_session({"architecture": "claude-code",
                                                            "agentProfileRef": PROFILE_ID})
                    cold.append(await one_query(runtime, fake, session.session_id, log))
                    warm.append(await one_query(runtime, fake, session.session_id, log))
    runner = "runner: python -S, .pyc cached" if tuned else "runner: default interpreter"
    print(f"\nClaude Code latency ({runner}), {runs} sessions x (cold + warm), medians in ms (min-max):")
    print(f"  {'':22} {'cold (new sandbox)':>22} {'warm (resume)':>22}")
    for phase in PHASES:
        cells = []
        for rows in (cold, warm):
            values = [r[phase] * 1000 for r in rows]
            cells.append(f"{statistics.median(values):7.1f} ({min(values):.0f}-{max(values):.0f})")
        print(f"  {phase:22} {cells[0]:>22} {cells[1]:>22}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    namespace = LoopbackOnly()
    isolated = namespace.enter()
    print("network: loopback-only namespace" if isolated else "network: host (no namespace allowed)")
    try:
        asyncio.run(run(args.runs, tuned=False))
        asyncio.run(run(args.runs, tuned=True))
    finally:
        namespace.leave()


if __name__ == "__main__":
    main()
