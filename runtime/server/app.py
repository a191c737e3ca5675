"""The aiohttp application (HTTP routes + Socket.IO) and ``start_server``.

The server runs on the caller's event loop (``AppRunner`` + ``TCPSite``, never ``web.run_app``),
so the TUI can host it in-process beside its own work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from pathlib import Path

import socketio
from aiohttp import web

from ..agent_runtime import AgentRuntime
from . import auth, token_file
from ._engineio import GuardedServer
from .guards import WILDCARD_HOSTS, GuardConfig, guard_middleware
from .http import MAX_BODY, RUNTIME_KEY, TOKEN_KEY, add_routes, make_middlewares
from .limits import ConnectionGuard, GuardedSite
from .sockets import DEFAULT_SEND_BUDGET, DEFAULT_TOTAL_BUDGET, SocketHub

log = logging.getLogger(__name__)

SOCKETIO_PATH = "/socket.io/"


#: Longest request line / header field parsed (aiohttp's default is 8,190 bytes).
MAX_REQUEST_LINE = 64 * 1024


def _own_names(host: str) -> tuple[str, ...]:
    """On an all-interfaces bind, this machine's own host name is a name clients use (``http://box:P``);
    an attacker cannot rebind it, since it is not their domain."""
    if host.strip("[]") in WILDCARD_HOSTS:
        name = socket.gethostname().lower()
        return (name,) if name and name != "localhost" else ()
    return ()


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
        total_budget: int = DEFAULT_TOTAL_BUDGET,
        redis_url: str | None = None,
        cors_origins: list[str] | str | None = None,
        allowed_hosts: list[str] | tuple[str, ...] = (),
        trust_proxy: bool = False,
        write_token_file: bool = False,
    ) -> None:
        self.runtime = runtime
        self.host = host
        self.port = port
        self.token = token
        #: True when the token was generated here (none given): show it once where the server started.
        self.token_generated = token_generated
        #: Where the token was written for local ``--connect`` (``write_token_file``), once started.
        self.token_file: Path | None = None
        self._write_token_file = write_token_file
        self.redis_url = redis_url
        manager = None
        if redis_url:
            manager = socketio.AsyncRedisManager(redis_url)
        self.sio = GuardedServer(
            async_mode="aiohttp",
            client_manager=manager,
            # The guard middleware checks Origin (same origin or --cors-origins) for Socket.IO too;
            # engine.io's own default check believes X-Forwarded-Host from anyone, so it is off
            # ([]) unless origins are configured, when engine.io also sends their CORS headers.
            cors_allowed_origins=cors_origins if cors_origins else [],
            max_http_buffer_size=MAX_BODY,
            # HTTP long-polling responses are small and local; gzip would only cost CPU.
            http_compression=False,
            logger=False,
            engineio_logger=False,
        )
        # A cluster node (runtime/cluster) streams other nodes' sessions from Postgres itself:
        # the Redis mirror of its own sessions would deliver their events twice.
        mirror = bool(redis_url) and not hasattr(runtime, "join_cluster")
        self.hub = SocketHub(
            runtime, self.sio, token=token, send_budget=send_budget, total_budget=total_budget, redis=mirror
        )
        bridge = self.hub.bridge
        self.sio.transport_of = lambda eio_sid: bridge.transport(eio_sid, self.sio.environ.get(eio_sid))
        self.guard = ConnectionGuard()
        self.app = web.Application(
            client_max_size=MAX_BODY,
            middlewares=[
                # Marks the connection's headers as received (limits.py), before anything can refuse it.
                self.guard.middleware,
                # Then: a refused Host, Origin or content type reaches nothing else, not even auth.
                guard_middleware(
                    GuardConfig(
                        bound_host=host,
                        allowed_hosts=(*allowed_hosts, *_own_names(host)),
                        cors_origins=cors_origins,
                        trust_proxy=trust_proxy,
                        exempt_content_type=(SOCKETIO_PATH,),
                    )
                ),
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
        if self._write_token_file and self.token:
            self.token_file = token_file.write(self.url, self.token, self.port)

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.token_file is not None:
            token_file.remove(self.port)
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
    total_budget: int = DEFAULT_TOTAL_BUDGET,
    redis_url: str | None = None,
    cors_origins: list[str] | str | None = None,
    no_auth: bool = False,
    allowed_hosts: list[str] | tuple[str, ...] = (),
    trust_proxy: bool = False,
    write_token_file: bool = False,
) -> AgentServer:
    """Serve ``runtime`` over HTTP + Socket.IO on the running loop. ``port=0`` picks a free port.

    Without ``token`` (and ``AGENT_TUI_TOKEN``) a random token is generated: read it from
    ``server.token``. ``no_auth=True`` serves without one, on a loopback ``host`` only
    (``auth.NoAuthRefused`` otherwise). ``allowed_hosts`` extends the Host allowlist,
    ``trust_proxy`` believes ``X-Forwarded-Host``/``-Proto`` (only behind a proxy you run), and
    ``write_token_file`` writes the token file a local ``agent-tui --connect`` reads.
    """
    effective, generated = auth.resolve_token(host, token, no_auth=no_auth)
    server = AgentServer(
        runtime,
        host=host,
        port=port,
        token=effective,
        token_generated=generated,
        send_budget=send_budget,
        total_budget=total_budget,
        redis_url=redis_url,
        cors_origins=cors_origins,
        allowed_hosts=allowed_hosts,
        trust_proxy=trust_proxy,
        write_token_file=write_token_file,
    )
    await server.start()
    log.info("agent-tui server listening on %s%s", server.url, " (token required)" if effective else " (NO AUTH: --no-auth)")
    return server
