"""``agent-tui``: the terminal app, embedded runtime by default; ``agent-tui serve`` runs the server only.

Imports are lazy on purpose: ``agent-tui serve`` never imports Textual, and the app imports the
server (aiohttp, python-socketio) only with ``--serve`` or ``--connect``, so the first frame is not
paying for what is not used.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from .primitive_choices import PRIMITIVE_CHOICES

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def parse_hostport(value: str) -> tuple[str, int]:
    """``PORT``, ``HOST:PORT`` or ``[IPv6]:PORT``."""
    host = "127.0.0.1"
    port_text = value
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port_text = rest.lstrip(":")
    elif ":" in value:
        host, _, port_text = value.rpartition(":")
        host = host or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port: {value!r} (expected PORT or HOST:PORT)") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {port}")
    return host, port


def connect_url(value: str) -> str:
    """``--connect``'s URL: ``HOST:PORT`` (or ``PORT``) means ``http://HOST:PORT``; only http(s)."""
    text = value.strip().rstrip("/")
    if "://" not in text:
        host, port = parse_hostport(text)
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"
    scheme = text.split("://", 1)[0].lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"--connect: {value!r} is not an http(s) URL (expected http://HOST:PORT or HOST:PORT)")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agent-tui",
        description="Run AI coding agents in sandboxes and watch many sessions from one terminal.",
        epilog=f"`agent-tui serve --help` for the headless server. Log file: {_log_path()} "
        "(rotated; set $AGENT_TUI_LOG to move it).",
    )
    parser.add_argument("project", nargs="?", metavar="PATH",
                        help="the project new sessions work on by default (a git repository: each session gets "
                             "its own worktree and branch); default: the git repository around the current "
                             "folder. With --connect: a path on the server's machine")
    parser.add_argument("--db", metavar="PATH", help="SQLite file (default: agent-tui.db in the user data dir, "
                                                     "or $AGENT_TUI_DB)")
    parser.add_argument("--primitive", choices=PRIMITIVE_CHOICES, default=None,
                        help="where new sessions' sandboxes run (default: local)")
    parser.add_argument("--serve", metavar="[HOST:]PORT", type=parse_hostport,
                        help="also serve HTTP + Socket.IO from this process (port 0: any free port)")
    parser.add_argument("--token", help="auth token: required from clients with --serve (default: generated and "
                                        "shown in the header), sent to the server with --connect (default: "
                                        "$AGENT_TUI_TOKEN, else the local server's token file). VISIBLE to other "
                                        "local users in `ps`: prefer $AGENT_TUI_TOKEN or --token-file")
    parser.add_argument("--token-file", metavar="PATH", help="read the token from the first line of PATH "
                                                             "(not visible in `ps`)")
    parser.add_argument("--no-auth", action="store_true", help="with --serve on a loopback address: serve WITHOUT "
                                                               "a token (any local user can drive the agents)")
    parser.add_argument("--connect", metavar="URL", help="attach to a remote agent-tui (agent-tui serve / --serve)")
    parser.add_argument("--data-dir", metavar="PATH", help="where local sandboxes live (default: beside the db)")
    parser.add_argument("--no-bell", action="store_true", help="no terminal bell on notifications")
    parser.add_argument("--no-isolation", action="store_true",
                        help="run local sandboxes without bubblewrap (the agent can reach what you can)")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "serve":
        from runtime.server.serve import main as serve_main  # no Textual on this path

        result = serve_main(argv[1:])
        return int(result or 0)
    if argv and argv[0] == "web":
        from .web import main as web_main  # the app itself runs in each browser tab's own process

        return web_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from runtime.agent_runtime import VERSION

        print(f"agent-tui {VERSION}")
        return 0
    if args.connect and (args.serve or args.db or args.primitive or args.data_dir or args.no_auth):
        parser.error("--connect attaches to a remote runtime: --db, --primitive, --data-dir, --serve and --no-auth "
                     "do not apply")
    if args.token and args.token_file:
        parser.error("give --token or --token-file, not both")
    if args.no_auth and not args.serve:
        parser.error("--no-auth only applies to --serve")
    if args.no_auth and (args.token or args.token_file):
        parser.error("--no-auth and a token conflict")
    if args.no_auth and args.serve[0] not in LOOPBACK:
        parser.error(f"--no-auth is only allowed on a loopback bind (127.0.0.1, ::1, localhost), not {args.serve[0]!r}")
    if args.token_file:
        from runtime.server.auth import read_token_file

        try:
            args.token = read_token_file(args.token_file)
        except ValueError as exc:
            parser.error(str(exc))
    if args.connect:
        try:
            args.connect = connect_url(args.connect)
        except (ValueError, argparse.ArgumentTypeError) as exc:
            parser.error(str(exc))
    if args.project is not None and not args.project.strip():
        parser.error("PATH is empty")
    if args.project and _paths_are_local(args) and not os.path.isdir(os.path.expanduser(args.project)):
        parser.error(f"PATH: no such folder: {args.project}")
    from runtime.logfile import add_secret, setup_log_file

    setup_log_file()
    add_secret(args.token or os.environ.get("AGENT_TUI_TOKEN"))
    app = build_app(args)
    app.run()
    return int(app.return_code or 0)


def build_app(args: argparse.Namespace) -> Any:
    from .app import AgentTuiApp

    config_dir = _config_dir()
    bell = not args.no_bell
    if getattr(args, "token_file", None) and not args.token:
        from runtime.server.auth import read_token_file

        args.token = read_token_file(args.token_file)
    if args.connect:
        from runtime.remote import RemoteRuntime

        token = args.token or os.environ.get("AGENT_TUI_TOKEN") or None
        if token is None:
            from runtime.server.token_file import read_for

            token = read_for(args.connect)  # a server this user started on this machine
        client = RemoteRuntime(args.connect, token=token)
        return AgentTuiApp(client, mode="remote", location=args.connect, config_dir=config_dir, bell=bell,
                           project=project_source(args))
    from runtime.config import RuntimeConfig

    config = RuntimeConfig()
    if args.db:
        config.db_path = Path(args.db)
    if args.data_dir:
        config.data_dir = Path(args.data_dir)
    if args.primitive:
        config.primitive = args.primitive
    config.isolation = not args.no_isolation
    if args.serve:
        host, port = args.serve
        config.websocket_host = host
        config.websocket_port = port
        if args.no_auth:
            config.no_auth = True
        else:
            # None: the server generates one, shows it in the header and writes the token file.
            config.token = args.token or os.environ.get("AGENT_TUI_TOKEN") or None
            config.write_token_file = True
    from runtime.agent_runtime import AgentRuntime

    runtime = AgentRuntime(config)
    location = _short_path(config.resolved_db_path())
    return AgentTuiApp(runtime, mode=config.primitive, location=location, config_dir=config_dir, bell=bell,
                       project=project_source(args))


def _paths_are_local(args: argparse.Namespace) -> bool:
    """Whether a path names a folder on this machine: an embedded runtime or a loopback server."""
    if not getattr(args, "connect", None):
        return True
    from urllib.parse import urlsplit

    return urlsplit(args.connect).hostname in LOOPBACK


def project_source(args: argparse.Namespace) -> Any:
    """Where the new-session dialog's default project comes from: PATH, else the repository around
    the current folder (only when paths name this machine: a remote server has its own)."""
    from .projects import ProjectSource

    explicit: str | None = getattr(args, "project", None)
    local = _paths_are_local(args)
    if explicit and local:
        explicit = os.path.abspath(os.path.expanduser(explicit))  # the runtime's cwd is not ours
    try:
        start_dir = os.getcwd() if local else None
    except OSError:  # started in a folder that was removed since
        start_dir = None
    return ProjectSource(explicit=explicit, start_dir=start_dir, local=local)


def _log_path() -> Path:
    from runtime.logfile import default_log_path

    return default_log_path()


def _config_dir() -> Path:
    import platformdirs

    from runtime.config import APP_NAME

    return Path(platformdirs.user_config_dir(APP_NAME))


def _short_path(path: Path) -> str:
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home):] if home != "/" and text.startswith(home + os.sep) else text


if __name__ == "__main__":
    raise SystemExit(main())
