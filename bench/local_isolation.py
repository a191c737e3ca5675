"""What bubblewrap costs a local sandbox: exec of ``true`` and a whole shell query, with and
without isolation, in the same run.

    .venv/bin/python bench/local_isolation.py [--runs 30]

Prints p50/p90 in ms for each. Run by hand; not part of CI.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from runtime import AgentRuntime, RuntimeConfig
from runtime.primitives.local import LocalPrimitive


def _summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    return f"p50 {statistics.median(ordered) * 1000:6.1f} ms  p90 {ordered[int(len(ordered) * 0.9)] * 1000:6.1f} ms"


async def _exec_true(primitive: LocalPrimitive, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        process = await primitive.exec(["true"], env={"PATH": "/usr/bin:/bin"})
        await process.wait()
        await process.kill()
        samples.append(time.perf_counter() - started)
    return samples


async def _shell_queries(runtime: AgentRuntime, runs: int) -> list[float]:
    session = await runtime.create_session({"architecture": "shell"})
    samples = []
    for _ in range(runs + 1):
        sub = runtime.subscribe(session.session_id, (await runtime.get_summary(session.session_id)).last_seq)
        started = time.perf_counter()
        await runtime.send_message(session.session_id, "echo hi")
        async for event in sub:
            if event.type in ("query:completed", "query:failed"):
                break
        sub.close()
        samples.append(time.perf_counter() - started)
    return samples[1:]  # the first one also starts the sandbox


async def main(runs: int) -> None:
    for isolation in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            config = RuntimeConfig(db_path=Path(tmp) / "db.sqlite", isolation=isolation)
            async with AgentRuntime(config) as runtime:
                label = "bwrap   " if runtime.isolation.enabled else "no bwrap"
                primitive = runtime._make_primitive("local", "ses-bench")
                assert isinstance(primitive, LocalPrimitive)
                await primitive.start()
                print(f"{label} exec true    {_summary(await _exec_true(primitive, runs))}")
                await primitive.destroy()
                print(f"{label} shell query  {_summary(await _shell_queries(runtime, runs))}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    asyncio.run(main(parser.parse_args().runs))
