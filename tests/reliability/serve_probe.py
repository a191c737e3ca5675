"""``agent-tui serve`` with an event-loop lag probe beside it (the load test runs the server this way).

``python -m tests.reliability.serve_probe <serve options>`` runs exactly ``runtime.server.serve``'s
``serve(args)`` on its own loop, plus one task that sleeps 50 ms at a time and records how late it
woke up: the loop's lag, as any request or event delivery would feel it. The samples
(``[[monotonic seconds, lag ms], ...]``) are written to ``$AGENT_TUI_LAG_FILE`` once a second.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from pathlib import Path

from runtime.server import serve as serve_module

INTERVAL_S = 0.05


async def _probe(path: Path) -> None:
    loop = asyncio.get_running_loop()
    samples: list[tuple[float, float]] = []
    written = time.monotonic()
    while True:
        before = loop.time()
        await asyncio.sleep(INTERVAL_S)
        lag_ms = (loop.time() - before - INTERVAL_S) * 1000
        now = time.monotonic()
        samples.append((round(now, 3), round(max(lag_ms, 0.0), 2)))
        if now - written >= 1.0:
            written = now
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(samples))
            tmp.replace(path)  # atomic: the test never reads half a file


async def _run(args: object) -> int:
    probe = asyncio.get_running_loop().create_task(_probe(Path(os.environ["AGENT_TUI_LAG_FILE"])))
    try:
        return await serve_module.serve(args)  # type: ignore[arg-type]
    finally:
        probe.cancel()


def main() -> int:
    args = serve_module.build_parser().parse_args(sys.argv[1:])
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.INFO), stream=sys.stderr)
    return asyncio.run(_run(args))


if __name__ == "__main__":
    raise SystemExit(main())
