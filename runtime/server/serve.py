"""``agent-tui serve``: the runtime and the HTTP + Socket.IO server, without the TUI.

For a team server or a container. Never imports Textual (``agent_tui/cli.py`` dispatches here
before importing it). Exits 0 on SIGINT/SIGTERM after closing running queries, terminating
sandboxes and closing the store.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import logging
import os
import signal
import sys
from pathlib import Path

from ..primitives.registry import DEFAULT_PRIMITIVE, PrimitivePluginError, names

DEFAULT_PORT = 8787

log = logging.getLogger(__name__)


def _primitive_names() -> list[str]:
    try:
        return names()
    except PrimitivePluginError as exc:  # a broken plugin: say which, not a traceback
        raise SystemExit(f"agent-tui serve: {exc.message}") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agent-tui serve",
        description="Serve the agent-tui runtime over HTTP + Socket.IO (no terminal UI).",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1). Every bind requires a token (see --token-file)",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free port)"
    )
    parser.add_argument(
        "--token",
        default=None,
        help="bearer token clients must present. VISIBLE to other local users in `ps`: prefer "
        "$AGENT_TUI_TOKEN or --token-file. Default: generated, printed once here, and written to "
        "<user state dir>/agent-tui/servers/<port>.json (mode 0600) for a local `agent-tui --connect`",
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="read the token from the first line of PATH (not visible in `ps`)",
    )
    parser.add_argument(
        "--no-auth",
        action="store_true",
        help="serve WITHOUT a token: loopback binds only; any local user can then drive the agents",
    )
    parser.add_argument(
        "--allowed-hosts",
        default=None,
        metavar="NAMES",
        help="comma-separated Host names the server answers to besides loopback and the bound address "
        "(a reverse proxy's or the machine's DNS name; '.example.com' includes subdomains)",
    )
    parser.add_argument(
        "--trust-proxy",
        action="store_true",
        help="believe X-Forwarded-Host/-Proto (only behind a reverse proxy you run, which sets them)",
    )
    parser.add_argument(
        "--db", type=Path, default=None, help="SQLite file (default: $AGENT_TUI_DB or the user data dir)"
    )
    parser.add_argument(
        "--primitive", choices=_primitive_names(), default=DEFAULT_PRIMITIVE, help="where sandboxes run (default local)"
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="where local sandboxes live")
    parser.add_argument(
        "--no-isolation", action="store_true", help="run local sandboxes without bubblewrap (docs/isolation.md)"
    )
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
        help="comma-separated browser origins allowed to call the server ('*': any); default: none "
        "(requests carrying another Origin are refused with 403)",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level on stderr (default INFO)")
    return parser


async def serve(args: argparse.Namespace) -> int:
    from ..agent_runtime import AgentRuntime
    from ..config import RuntimeConfig
    from ..errors import AgentTuiError
    from ..logfile import add_secret
    from .app import start_server

    database_url = args.database_url or os.environ.get("AGENT_TUI_DATABASE_URL") or None
    config = RuntimeConfig(
        db_path=args.db,
        primitive=args.primitive,
        data_dir=args.data_dir,
        database_url=database_url,
        token=args.token,
        isolation=not args.no_isolation,
    )
    runtime: AgentRuntime
    if database_url:
        from ..cluster import ClusterRuntime

        runtime = ClusterRuntime(config, redis_url=args.redis_url, lease_ttl_s=args.lease_ttl)
    else:
        runtime = AgentRuntime(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # `kill -USR1 <pid>` prints every thread's stack to stderr: for a node that seems stuck.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
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
                no_auth=args.no_auth,
                allowed_hosts=_split(args.allowed_hosts) + _advertised_host(args.advertise_url),
                trust_proxy=args.trust_proxy,
                write_token_file=True,
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
        if database_url:
            runtime.config.token = server.token  # sent with the commands forwarded to other nodes
            await runtime.join_cluster(args.advertise_url or server.url)  # type: ignore[attr-defined]
        print(f"agent-tui server listening on {server.url}", flush=True)
        if not runtime.isolation.enabled:
            print(f"warning: local sandboxes are NOT isolated: {runtime.isolation.reason}", file=sys.stderr)
        if server.token_generated:
            # Printed once, here only: never logged.
            print(
                f"token (generated; clients send it as 'Authorization: Bearer <token>' or "
                f"Socket.IO auth {{token}}): {server.token}",
                flush=True,
            )
        if server.token_file is not None:
            print(f"token file (local `agent-tui --connect {server.url}` reads it): {server.token_file}", flush=True)
        if server.token is None:
            print("NO AUTH (--no-auth): any local user or process can drive this server", flush=True)
        await stop.wait()
        print("agent-tui server shutting down", flush=True)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        watchdog = loop.create_task(_report_slow_shutdown(), name="shutdown-watchdog")
        try:
            await runtime.shutdown()
        finally:
            watchdog.cancel()
    return 0


async def _report_slow_shutdown(after_s: float = 10.0) -> None:
    """A shutdown that takes long says on stderr what it waits for (each task's stack), so a
    hang seen once in CI or in a container's log can be found without a debugger."""
    import io

    while True:
        await asyncio.sleep(after_s)
        out = io.StringIO()
        me = asyncio.current_task()
        for task in asyncio.all_tasks():
            if task is not me:
                task.print_stack(limit=12, file=out)
        print(f"agent-tui serve: shutdown still waiting after {after_s:.0f} s on:\n{out.getvalue()}",
              file=sys.stderr, flush=True)


def _advertised_host(url: str | None) -> list[str]:
    """A cluster node is reached by the others under its --advertise-url, so that Host is its own."""
    if not url:
        return []
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname
    return [host] if host else []


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


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
    from .auth import is_loopback, read_token_file

    if args.token_file is not None:
        if args.token:
            print("agent-tui serve: give --token or --token-file, not both", file=sys.stderr)
            return 2
        try:
            args.token = read_token_file(str(args.token_file))
        except ValueError as exc:
            print(f"agent-tui serve: {exc}", file=sys.stderr)
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
    if args.no_auth and not is_loopback(args.host):
        print(
            f"agent-tui serve: --no-auth is only allowed on a loopback bind (127.0.0.1, ::1, localhost), "
            f"not {args.host!r}: other machines could run commands as you",
            file=sys.stderr,
        )
        return 2
    if args.no_auth and args.token:
        print("agent-tui serve: --no-auth and a token (--token, --token-file, $AGENT_TUI_TOKEN) conflict",
              file=sys.stderr)
        return 2
    try:
        return asyncio.run(serve(args))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
