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
        "--database-url",
        default=None,
        help="postgresql://... : keep sessions in Postgres and run as one node of a team server "
        "(default: $AGENT_TUI_DATABASE_URL; without it, the SQLite file). See docs/deploy.md",
    )
    parser.add_argument(
        "--advertise-url",
        default=None,
        help="with --database-url: the URL other nodes reach this one at (default: the listening URL)",
    )
    parser.add_argument(
        "--lease-ttl", type=float, default=3.0, help="with --database-url: seconds a dead node keeps its sessions"
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
    from .app import start_server

    database_url = args.database_url or os.environ.get("AGENT_TUI_DATABASE_URL") or None
    config = RuntimeConfig(
        db_path=args.db, primitive=args.primitive, data_dir=args.data_dir, database_url=database_url, token=args.token
    )
    runtime: AgentRuntime
    if database_url:
        from ..cluster import ClusterRuntime

        runtime = ClusterRuntime(config, redis_url=args.redis_url, lease_ttl_s=args.lease_ttl)
    else:
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
            # recovery): say so and exit 1, no traceback. A corrupt file is not this case: it is
            # moved aside and a new database started.
            print(f"agent-tui serve: {exc.message}", file=sys.stderr)
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
        if database_url:
            runtime.config.token = server.token  # sent with the commands forwarded to other nodes
            await runtime.join_cluster(args.advertise_url or server.url)  # type: ignore[attr-defined]
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
    if args.port < 0 or args.port > 65535:
        print("agent-tui serve: --port must be 0..65535", file=sys.stderr)
        return 2
    database_url = args.database_url or os.environ.get("AGENT_TUI_DATABASE_URL") or ""
    if database_url and not database_url.startswith(("postgresql://", "postgres://")):
        print("agent-tui serve: --database-url must be a postgresql:// URL", file=sys.stderr)
        return 2
    if not 0.5 <= args.lease_ttl <= 300:
        print("agent-tui serve: --lease-ttl must be 0.5..300 seconds", file=sys.stderr)
        return 2
    if args.token is None and os.environ.get("AGENT_TUI_TOKEN"):
        args.token = os.environ["AGENT_TUI_TOKEN"]
    try:
        return asyncio.run(serve(args))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
