"""Send -> first ``block:delta``: Claude Code and Gemini CLI through ACP vs their own architectures.

    .venv/bin/python bench/acp_latency.py [--runs 3]

Each architecture runs the real pinned agent (tests/node) through the runtime (local sandbox, real
runner, SQLite) against its fake model server (the same one for both of an agent's paths), in a
loopback-only network namespace when allowed. Per architecture: one session, ``--runs`` messages
(the first one creates the sandbox: cold; the rest are warm); the figure is the time from
``send_message`` to the first text ``block:delta`` of the reply. Run by hand; not part of CI.
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
from tests.agent_support import started_runtime  # noqa: E402
from tests.claude.conftest import claude_host_env  # noqa: E402
from tests.claude.netns import LoopbackOnly  # noqa: E402
from tests.fakes import anthropic_server, gemini_server  # noqa: E402
from tests.gemini.conftest import MODEL, gemini_host_env  # noqa: E402
from tests.helpers import NODE_BIN, collect_until, make_config, query_end  # noqa: E402

REPLY = "Hello, this is a reply streamed in several small pieces."
PROFILE = 'name = "Bench"\nenv = ["ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "CLAUDE_CODE_MAX_RETRIES", ' \
          '"GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL"]\n'


async def first_delta(runtime: AgentRuntime, sid: str, text: str) -> float:
    after = (await runtime.get_summary(sid)).last_seq
    began = time.perf_counter()
    message_id, _ = await runtime.send_message(sid, text)
    events = await collect_until(runtime, sid, lambda e: e.type == "block:delta" or query_end(message_id)(e),
                                 after_seq=after, timeout=120)
    took = time.perf_counter() - began
    if events[-1].type != "block:delta":
        raise RuntimeError(f"no delta: {events[-1].payload}")
    await collect_until(runtime, sid, query_end(message_id), after_seq=after, timeout=120)
    return took


async def measure(tmp: Path, architecture: str, host_env: dict[str, str], script: object, runs: int) -> list[float]:
    config = make_config(tmp / architecture, agent_bin_dirs=[str(NODE_BIN)], host_env=host_env)
    (Path(config.config_dir) / "profiles").mkdir(parents=True)  # type: ignore[arg-type]
    (Path(config.config_dir) / "profiles" / "bench.toml").write_text(PROFILE)  # type: ignore[arg-type]
    async with started_runtime(config) as runtime:
        options = {"model": MODEL} if "gemini" in architecture else {}
        session = await runtime.create_session({"architecture": architecture, "agentProfileRef": "bench",
                                                "sessionOptions": options})
        times = []
        for i in range(runs):
            script()  # type: ignore[operator]
            times.append(await first_delta(runtime, session.session_id, f"Say hello ({i})"))
        return times


async def main(runs: int) -> None:
    namespace = LoopbackOnly()
    isolated = namespace.enter()
    rows: list[tuple[str, list[float]]] = []
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        async with anthropic_server.FakeAnthropic() as claude_fake:
            def claude_turn() -> None:
                claude_fake.script(anthropic_server.Turn(anthropic_server.Text(REPLY, chunk=8)))
            for architecture in ("claude-code", "acp-claude"):
                rows.append((architecture, await measure(tmp, architecture, claude_host_env(claude_fake),
                                                         claude_turn, runs)))
        async with gemini_server.FakeGemini() as gemini_fake:
            def gemini_turn() -> None:
                gemini_fake.script(gemini_server.Turn(gemini_server.Text(REPLY, chunk=8)))
            for architecture in ("gemini-cli", "acp-gemini"):
                rows.append((architecture, await measure(tmp, architecture, gemini_host_env(gemini_fake),
                                                         gemini_turn, runs)))
    namespace.leave()
    print(f"send -> first delta, seconds ({runs} messages per session; loopback-only netns: {isolated})")
    print(f"{'architecture':<14} {'cold':>7} {'warm median':>12} {'warm runs'}")
    for architecture, times in rows:
        warm = times[1:]
        median = f"{statistics.median(warm):.2f}" if warm else "-"
        print(f"{architecture:<14} {times[0]:>7.2f} {median:>12} {' '.join(f'{t:.2f}' for t in warm)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    asyncio.run(main(parser.parse_args().runs))
