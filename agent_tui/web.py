"""``agent-tui web``: the real app in a browser, one app process per tab (textual-serve).

Each browser tab's websocket starts its own ``agent-tui --connect URL`` process (textual-serve's
``AppService`` speaks the WebDriver protocol with it), so every tab sees the same sessions live.
Without ``--connect`` this process also runs the embedded runtime and its HTTP + Socket.IO server
on a loopback port, and the tabs attach to that. The token reaches the tab processes through
``AGENT_TUI_TOKEN`` in their environment, never argv (other local users can read argv).

Security (SPEC §11): every request needs the token (in a form, or once as ``?token=``, then kept in
an HttpOnly SameSite=Strict cookie); Host and Origin are checked on every request, the websocket
included; loopback bind by default. The pure checks live in ``web_guard``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import json
import logging
import os
import secrets
import shlex
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import WSMsgType, web
from textual_serve.app_service import AppService
from textual_serve.download_manager import DownloadManager

from . import web_guard
from .primitive_choices import PRIMITIVE_CHOICES

log = logging.getLogger(__name__)

DEFAULT_PORT = 8788
TOKEN_ENV = "AGENT_TUI_TOKEN"
#: Browser → app messages are keystrokes, pastes and resizes: a paste may be big, not unbounded.
MAX_WS_MESSAGE = 1024 * 1024
#: Seconds a tab's app process gets to quit after the tab closes before it is killed.
APP_QUIT_GRACE_S = 5.0


@dataclass
class WebConfig:
    token: str
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    #: argv of each tab's app process (a shell-quoted command is built from it).
    app_argv: list[str] = field(default_factory=list)
    #: Added to each tab's app process environment (the server token).
    app_env: dict[str, str] = field(default_factory=dict)
    allowed_hosts: tuple[str, ...] = ()
    max_tabs: int = 32
    title: str = "agent-tui"


class WebServer:
    """The browser-facing aiohttp app: login, the page, textual-serve's statics and the app websocket."""

    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self.port = config.port
        self.download_manager = DownloadManager()
        self.statics_path = _textual_serve_dir() / "static"
        self.tabs: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard], client_max_size=64 * 1024)
        app.add_routes([
            web.get("/", self.handle_index),
            web.post("/login", self.handle_login),
            web.get("/ws", self.handle_websocket),
            web.get("/download/{key}", self.handle_download),
            web.static("/static", self.statics_path),
        ])
        app.on_shutdown.append(self._close_tabs)
        return app

    async def start(self) -> None:
        runner = web.AppRunner(self.make_app(), handle_signals=False, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        if runner.addresses:
            self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    @property
    def url(self) -> str:
        host = self.config.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    async def _close_tabs(self, _app: web.Application) -> None:
        # Closing the websockets ends each tab's message loop, which quits its app process.
        for ws in list(self.tabs):
            with contextlib.suppress(Exception):
                await ws.close(code=1001, message=b"server shutting down")

    # --- guard -----------------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        host = request.headers.get("Host")
        if not web_guard.host_allowed(host, self.config.host, self.config.allowed_hosts):
            return _plain(403, "forbidden host")
        if not web_guard.origin_allowed(request.headers.get("Origin"), host, request.scheme):
            return _plain(403, "forbidden origin")
        token = self.config.token
        if request.path == "/" and "token" in request.query:
            if not web_guard.token_matches(token, request.query.get("token")):
                return self._login_page(status=401, error="That token is not right.")
            # Keep it in a cookie and drop it from the address bar (and so from history and Referer).
            rest = [(k, v) for k, v in request.query.items() if k != "token"]
            return self._with_cookie(_see_other("/" + (f"?{urlencode(rest)}" if rest else "")), request)
        if request.path == "/login":
            return _secure(await handler(request))
        if not web_guard.cookie_matches(token, request.cookies.get(self.cookie_name)):
            if request.path == "/" and request.method == "GET":
                return self._login_page(status=401)
            return _plain(401, "unauthorized")
        response = await handler(request)
        return _secure(response)

    @property
    def cookie_name(self) -> str:
        return web_guard.cookie_name(self.port)

    def _with_cookie(self, response: web.Response, request: web.Request) -> web.Response:
        response.set_cookie(self.cookie_name, web_guard.cookie_value(self.config.token), path="/",
                            httponly=True, samesite="Strict", secure=request.scheme == "https")
        return _secure(response)

    def _login_page(self, *, status: int, error: str = "") -> web.Response:
        message = f'<p class="error">{html.escape(error)}</p>' if error else ""
        body = _LOGIN_PAGE.replace("{title}", html.escape(self.config.title)).replace("{error}", message)
        return _secure(web.Response(status=status, text=body, content_type="text/html"))

    # --- handlers --------------------------------------------------------------------------------

    async def handle_login(self, request: web.Request) -> web.Response:
        form = await request.post()
        if not web_guard.token_matches(self.config.token, form.get("token")):
            return self._login_page(status=401, error="That token is not right.")
        return self._with_cookie(_see_other("/"), request)

    async def handle_index(self, request: web.Request) -> web.Response:
        font_size = _to_int(request.query.get("fontsize", "16"), 16, 6, 64)
        scheme = "wss" if request.scheme == "https" else "ws"
        # request.host passed the Host check: the page talks back to the name the browser used.
        page = (_INDEX_PAGE.replace("{title}", html.escape(self.config.title))
                .replace("{font_size}", str(font_size))
                .replace("{ws_url}", html.escape(f"{scheme}://{request.host}/ws")))
        return web.Response(text=page, content_type="text/html")

    async def handle_download(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info["key"]
        try:
            meta = await self.download_manager.get_download_metadata(key)
        except KeyError:
            raise web.HTTPNotFound(text="no such download") from None
        response = web.StreamResponse()
        response.content_type = meta.mime_type
        if meta.encoding:
            response.charset = meta.encoding
        disposition = "inline" if meta.open_method == "browser" else "attachment"
        response.headers["Content-Disposition"] = f"{disposition}; filename={json.dumps(meta.file_name)}"
        await response.prepare(request)
        async for chunk in self.download_manager.download(key):
            await response.write(chunk)
        await response.write_eof()
        return response

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
        if len(self.tabs) >= self.config.max_tabs:
            return _plain(503, "too many open tabs")
        ws = web.WebSocketResponse(heartbeat=15, max_msg_size=MAX_WS_MESSAGE)
        await ws.prepare(request)
        width = _to_int(request.query.get("width", "80"), 80, 10, 1000)
        height = _to_int(request.query.get("height", "24"), 24, 4, 500)
        service = _TabAppService(
            shlex.join(self.config.app_argv),
            self.config.app_env,
            write_bytes=ws.send_bytes,
            write_str=ws.send_str,
            close=ws.close,
            download_manager=self.download_manager,
        )
        self.tabs.add(ws)
        try:
            await service.start(width, height)
            try:
                await _pump(ws, service)
            finally:
                await _stop_service(service)
        except Exception:  # a tab's failure never takes the server down
            log.exception("browser tab failed")
        finally:
            self.tabs.discard(ws)
            with contextlib.suppress(Exception):
                await ws.close()
        return ws


class _TabAppService(AppService):  # type: ignore[misc]
    """textual-serve's AppService with the server token added to the app process's environment."""

    def __init__(self, command: str, extra_env: dict[str, str], **kwargs: Any) -> None:
        super().__init__(command, **kwargs)
        self.extra_env = extra_env

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        environment: dict[str, str] = super()._build_environment(width=width, height=height)
        environment.update(self.extra_env)
        return environment


async def _pump(ws: web.WebSocketResponse, service: Any) -> None:
    """Browser → app process. Malformed messages are ignored (the browser script never sends them)."""
    async for message in ws:
        if message.type != WSMsgType.TEXT:
            continue
        try:
            envelope = json.loads(message.data)
            kind = envelope[0]
        except (ValueError, TypeError, IndexError, KeyError):
            continue
        if kind == "stdin" and len(envelope) > 1 and isinstance(envelope[1], str):
            await service.send_bytes(envelope[1].encode("utf-8", "replace"))
        elif kind == "resize" and len(envelope) > 1 and isinstance(envelope[1], dict):
            size = envelope[1]
            await service.set_terminal_size(_to_int(str(size.get("width")), 80, 10, 1000),
                                            _to_int(str(size.get("height")), 24, 4, 500))
        elif kind == "ping" and len(envelope) > 1:
            await ws.send_json(["pong", envelope[1]])
        elif kind == "blur":
            await service.blur()
        elif kind == "focus":
            await service.focus()


async def _stop_service(service: Any) -> None:
    try:
        await asyncio.wait_for(service.stop(), APP_QUIT_GRACE_S)
    except (TimeoutError, Exception):
        process = getattr(service, "_process", None)
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


def _textual_serve_dir() -> Path:
    import textual_serve

    return Path(textual_serve.__file__).parent


def _to_int(value: str, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(value)))
    except (TypeError, ValueError):
        return default


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _plain(status: int, text: str) -> web.Response:
    return _secure(web.Response(status=status, text=text + "\n"))


def _secure(response: web.StreamResponse) -> web.StreamResponse:
    if response.prepared:
        return response
    # A framed terminal would let another site's page steer keystrokes into the app (clickjacking).
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
    # "no-referrer" would make Chromium send "Origin: null" on the login form, which the guard refuses.
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


_LOGIN_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}: token</title>
<style>
body { background: #0c181f; color: #eee; font-family: menlo, monospace; display: flex;
       align-items: center; justify-content: center; height: 100vh; margin: 0; }
form { background: #12232d; padding: 32px; min-width: 420px; }
input { width: 100%; box-sizing: border-box; padding: 8px; margin: 12px 0; font-family: inherit; }
button { padding: 8px 24px; background: #5e0ba7; color: #fff; border: none; font-family: inherit; }
.error { color: #ff8080; }
</style></head>
<body><form method="post" action="/login">
<h2>{title}</h2>
<label for="token">Token (printed by <code>agent-tui web</code>)</label>
<input id="token" name="token" type="password" autocomplete="off" autofocus required>
{error}
<button type="submit">Open</button>
</form></body></html>
"""

# textual-serve's page, minus the third-party font request (the bundled font is served here).
_INDEX_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="/static/css/xterm.css">
<script src="/static/js/textual.js"></script>
<style>
@font-face { font-family: "Roboto Mono"; src: url("/static/fonts/RobotoMono-VariableFont_wght.ttf"); }
@font-face { font-family: "Roboto Mono"; font-style: italic;
             src: url("/static/fonts/RobotoMono-Italic-VariableFont_wght.ttf"); }
html, body { margin: 0; height: 100%; background: #0c181f; }
.textual-terminal { width: 100vw; height: 100vh; opacity: 0; }
body.-first-byte .textual-terminal { opacity: 1; }
.closed-dialog { display: none; position: absolute; inset: 0; align-items: center; justify-content: center;
                 z-index: 10; color: #eee; font-family: "Roboto Mono", menlo, monospace; }
body.-closed .closed-dialog { display: flex; }
.closed-dialog div { background: #12232d; padding: 32px; text-align: center; }
button { padding: 8px 24px; background: #5e0ba7; color: #fff; border: none; font-family: inherit; margin-top: 16px; }
#start { display: none; }
</style></head>
<body>
<div class="closed-dialog"><div><div>Session ended.</div>
<button type="button" onclick="window.location.reload()">Restart</button></div></div>
<button type="button" id="start"></button>
<div id="terminal" class="textual-terminal" data-session-websocket-url="{ws_url}" data-font-size="{font_size}"></div>
</body></html>
"""


# --- command line --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agent-tui web",
        description="Serve the agent-tui app to web browsers: every tab runs its own app attached to the "
                    "same sessions (the embedded runtime, or --connect URL).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free)")
    parser.add_argument("--token", default=None,
                        help="token browsers must give (default: $AGENT_TUI_TOKEN, else generated and printed "
                             "once); with --connect it is also sent to that server")
    parser.add_argument("--connect", metavar="URL", help="attach the tabs to this agent-tui server "
                                                        "instead of running the embedded runtime")
    parser.add_argument("--db", type=Path, default=None, help="SQLite file of the embedded runtime")
    parser.add_argument("--primitive", choices=PRIMITIVE_CHOICES, default=None,
                        help="where the embedded runtime's sandboxes run (default local)")
    parser.add_argument("--data-dir", type=Path, default=None, help="where local sandboxes live")
    parser.add_argument("--allowed-hosts", default="",
                        help="comma-separated extra Host names browsers may use (e.g. behind a proxy)")
    parser.add_argument("--max-tabs", type=int, default=32, help="most browser tabs (app processes) at once")
    return parser


async def serve_web(args: argparse.Namespace, token: str, generated: bool) -> int:
    runtime = None
    server = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    web_server: WebServer | None = None
    try:
        app_env: dict[str, str] = {}
        if args.connect:
            target = args.connect
            if args.token or os.environ.get(TOKEN_ENV):
                app_env[TOKEN_ENV] = token
        else:
            from runtime.agent_runtime import AgentRuntime
            from runtime.config import RuntimeConfig
            from runtime.errors import AgentTuiError
            from runtime.server.app import start_server

            runtime_config = RuntimeConfig(db_path=args.db, data_dir=args.data_dir)
            runtime_config.primitive = args.primitive or runtime_config.primitive
            runtime = AgentRuntime(runtime_config)
            try:
                await runtime.start()
            except AgentTuiError as exc:
                print(f"agent-tui web: {exc.message}", file=sys.stderr)
                return 1
            server = await start_server(runtime, host="127.0.0.1", port=0, token=token)
            runtime.server = server
            target = server.url
            app_env[TOKEN_ENV] = token
        config = WebConfig(
            token=token,
            host=args.host,
            port=args.port,
            app_argv=[sys.executable, "-m", "agent_tui", "--connect", target, "--no-bell"],
            app_env=app_env,
            allowed_hosts=tuple(h.strip() for h in args.allowed_hosts.split(",") if h.strip()),
            max_tabs=max(1, args.max_tabs),
        )
        web_server = WebServer(config)
        try:
            await web_server.start()
        except OSError as exc:
            print(f"agent-tui web: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        print(f"agent-tui web on {web_server.url}", flush=True)
        print(f"tabs attach to {target}" + ("" if args.connect else " (embedded runtime)"), flush=True)
        if args.host in web_guard.ANY_ADDRESS and not config.allowed_hosts:
            # The Host check would refuse every name but localhost: say how to open it up.
            print("note: browsers on other machines need --allowed-hosts NAME (the name they use for this one)",
                  flush=True)
        if generated:
            # Printed once, here only (never logged): the link sets the cookie and drops the token from the URL.
            print(f"open {web_server.url}?token={token}", flush=True)
        await stop.wait()
        print("agent-tui web shutting down", flush=True)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if web_server is not None:
            await web_server.stop()
        if runtime is not None:
            await runtime.shutdown()  # stops the server first
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.connect and (args.db or args.data_dir or args.primitive):
        parser.error("--connect attaches to a remote runtime: --db, --primitive and --data-dir do not apply")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be 0..65535")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = args.token or os.environ.get(TOKEN_ENV) or ""
    generated = not token
    if generated:
        token = secrets.token_urlsafe(32)
    try:
        return asyncio.run(serve_web(args, token, generated))
    except KeyboardInterrupt:
        return 130
