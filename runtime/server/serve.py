"""``agent-tui serve``: the runtime and the HTTP + Socket.IO server, without the TUI.

For a team server or a container. Never imports Textual (``agent_tui/cli.py`` dispatches here
before importing it). Exits 0 on SIGINT/SIGTERM after closing running queries, terminating
sandboxes and closing the store.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

DEFAULT_PORT = 8787

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agent-tui serve",
        description="Serve the agent-tui runtime over HTTP + Socket.IO (no terminal UI).",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1; any other address requires a token, "
        "one is generated and printed if none is given)",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free port)"
    )
    parser.add_argument(
        "--token", default=None, help="bearer token clients must present (default: $AGENT_TUI_TOKEN)"
    )
    parser.add_argument(
        "--db", type=Path, default=None, help="SQLite file (default: $AGENT_TUI_DB or the user data dir)"
    )
    parser.add_argument(
        "--primitive", choices=("local", "modal"), default="local", help="where sandboxes run (default local)"
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="where local sandboxes live")
    parser.add_argument(
        "--redis-url",
        default=None,
        help="fan Socket.IO events out across several serve processes through Redis",
    )
    parser.add_argument(
        "--cors-origins",
        default=None,
        help="comma-separated browser origins allowed to connect ('*': any); default: same origin",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level on stderr (default INFO)")
    return parser


async def serve(args: argparse.Namespace) -> int:
    from ..agent_runtime import AgentRuntime
    from ..config import RuntimeConfig
    from ..errors import AgentTuiError
    from ..logfile import add_secret
    from .app import start_server

    config = RuntimeConfig(db_path=args.db, primitive=args.primitive, data_dir=args.data_dir)
    runtime = AgentRuntime(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        try:
            await runtime.start()
        except AgentTuiError as exc:
            # A database that cannot be used (read-only, newer than this version, disk full at
            # recovery, in use by another process, not ours): say so and exit 1, no traceback.
            # A corrupt file of ours is not this case: it is moved aside and a new one started.
            print(f"agent-tui serve: {exc.message}", file=sys.stderr)
            return 1
        except OSError as exc:
            # A folder it must write (data dir, sandboxes) that is read-only or not there: the
            # same one clear line; the traceback goes to the log file only.
            log.debug("start failed", exc_info=True)
            where = f": {exc.filename}" if exc.filename else ""
            print(f"agent-tui serve: cannot start: {exc.strerror or exc}{where}", file=sys.stderr)
            return 1
        cors: list[str] | str | None = None
        if args.cors_origins:
            cors = (
                "*"
                if args.cors_origins.strip() == "*"
                else [o.strip() for o in args.cors_origins.split(",") if o.strip()]
            )
        try:
            server = await start_server(
                runtime,
                host=args.host,
                port=args.port,
                token=args.token,
                redis_url=args.redis_url,
                cors_origins=cors,
            )
        except OSError as exc:
            print(
                f"agent-tui serve: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            return 1
        # shutdown() stops the server first, then closes queries, sandboxes and the store.
        runtime.server = server
        runtime.record_server_url(server.url)
        add_secret(server.token)
        print(f"agent-tui server listening on {server.url}", flush=True)
        if server.token_generated:
            # Printed once, here only: never logged.
            print(
                f"token (generated; clients send it as 'Authorization: Bearer <token>' or "
                f"Socket.IO auth {{token}}): {server.token}",
                flush=True,
            )
        await stop.wait()
        print("agent-tui server shutting down", flush=True)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await runtime.shutdown()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from ..logfile import setup_log_file

    setup_log_file()
    if args.port < 0 or args.port > 65535:
        print("agent-tui serve: --port must be 0..65535", file=sys.stderr)
        return 2
    if args.token is None and os.environ.get("AGENT_TUI_TOKEN"):
        args.token = os.environ["AGENT_TUI_TOKEN"]
    try:
        return asyncio.run(serve(args))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
