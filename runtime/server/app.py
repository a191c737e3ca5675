"""The aiohttp application (HTTP routes + Socket.IO) and ``start_server``.

The server runs on the caller's event loop (``AppRunner`` + ``TCPSite``, never ``web.run_app``),
so the TUI can host it in-process beside its own work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import socketio
from aiohttp import web

from ..agent_runtime import AgentRuntime
from . import auth
from ._engineio import GuardedServer
from .http import MAX_BODY, RUNTIME_KEY, TOKEN_KEY, add_routes, make_middlewares
from .limits import ConnectionGuard, GuardedSite
from .sockets import DEFAULT_SEND_BUDGET, SocketHub

log = logging.getLogger(__name__)

SOCKETIO_PATH = "/socket.io/"


#: Longest request line / header field parsed (aiohttp's default is 8,190 bytes).
MAX_REQUEST_LINE = 64 * 1024


class AgentServer:
    """A running server. ``url``, ``host``, ``port``, ``token`` and ``client_count`` are for display."""

    def __init__(
        self,
        runtime: AgentRuntime,
        *,
        host: str,
        port: int,
        token: str | None,
        token_generated: bool = False,
        send_budget: int = DEFAULT_SEND_BUDGET,
        redis_url: str | None = None,
        cors_origins: list[str] | str | None = None,
    ) -> None:
        self.runtime = runtime
        self.host = host
        self.port = port
        self.token = token
        #: True when the token was generated here (non-loopback bind without one): print it once.
        self.token_generated = token_generated
        self.redis_url = redis_url
        manager = None
        if redis_url:
            manager = socketio.AsyncRedisManager(redis_url)
        self.sio = GuardedServer(
            async_mode="aiohttp",
            client_manager=manager,
            # Same-origin only by default: with no token on 127.0.0.1, any web page the user visits
            # could otherwise drive the agents. --cors-origins opens it deliberately.
            cors_allowed_origins=cors_origins,
            max_http_buffer_size=MAX_BODY,
            # HTTP long-polling responses are small and local; gzip would only cost CPU.
            http_compression=False,
            logger=False,
            engineio_logger=False,
        )
        self.hub = SocketHub(runtime, self.sio, token=token, send_budget=send_budget, redis=bool(redis_url))
        bridge = self.hub.bridge
        self.sio.transport_of = lambda eio_sid: bridge.transport(eio_sid, self.sio.environ.get(eio_sid))
        self.guard = ConnectionGuard()
        self.app = web.Application(
            client_max_size=MAX_BODY,
            middlewares=[
                self.guard.middleware,
                self.hub.bridge.middleware,
                *make_middlewares(SOCKETIO_PATH, cors_origins),
            ],
        )
        self.app[RUNTIME_KEY] = runtime
        self.app[TOKEN_KEY] = token
        add_routes(self.app)
        self.sio.attach(self.app, socketio_path=SOCKETIO_PATH.strip("/"))
        self._runner: web.AppRunner | None = None
        self._stopped = False

    @property
    def url(self) -> str:
        host = self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def client_count(self) -> int:
        return self.hub.client_count

    async def start(self) -> None:
        # A request line or header of up to 64 KiB reaches the routes (which answer in JSON); aiohttp's
        # parser answers longer ones itself with a plain-text 400 (docs/protocol.md).
        runner = web.AppRunner(
            self.app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=2.0,
            max_line_size=MAX_REQUEST_LINE,
            max_field_size=MAX_REQUEST_LINE,
        )
        await runner.setup()
        site = GuardedSite(runner, self.host, self.port, self.guard)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self.guard.start()
        self._runner = runner
        addresses = runner.addresses
        if addresses:
            self.port = int(addresses[0][1])
        await self.hub.start()

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.guard.stop()
        await self.hub.stop()
        with contextlib.suppress(Exception):
            await self.sio.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()
        manager = self.sio.manager
        if self.redis_url and hasattr(manager, "thread"):
            # AsyncRedisManager's listener task lives until cancelled.
            task = getattr(manager, "thread", None)
            if isinstance(task, asyncio.Task):
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task


async def start_server(
    runtime: AgentRuntime,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    send_budget: int = DEFAULT_SEND_BUDGET,
    redis_url: str | None = None,
    cors_origins: list[str] | str | None = None,
) -> AgentServer:
    """Serve ``runtime`` over HTTP + Socket.IO on the running loop. ``port=0`` picks a free port."""
    effective, generated = auth.resolve_token(host, token)
    server = AgentServer(
        runtime,
        host=host,
        port=port,
        token=effective,
        token_generated=generated,
        send_budget=send_budget,
        redis_url=redis_url,
        cors_origins=cors_origins,
    )
    await server.start()
    log.info("agent-tui server listening on %s%s", server.url, " (token required)" if effective else "")
    return server
