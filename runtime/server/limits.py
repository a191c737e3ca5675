"""Connection limits: connections that never finish a request cannot take the server down.

Without them anyone who can connect (no token needed) could hold thousands of idle or slow-header
connections, exhaust the open-files limit, and with it make ``accept()`` fail (and log) in a loop.

- A connection is *pending* from accept until its first request's headers are parsed (the
  ``middleware`` below marks it started). Pending connections are closed after
  ``HEADER_TIMEOUT_S``.
- At most ``MAX_PENDING_PER_ADDRESS`` pending connections per client address: one more evicts that
  address's oldest pending connection.
- At most ``max_connections`` in all (from ``RLIMIT_NOFILE``, leaving room for the database, the
  sandboxes' pipes and the runner): one more evicts the oldest pending connection of any address,
  or, when every connection is in use, is closed at once. Legitimate clients send their headers
  within milliseconds, so a new request (``/health``, a Socket.IO handshake) still gets through a
  flood of idle connections.
- Refusing is cheap (an abort in ``connection_made``, no parser, no task), and the log says so at
  most ``LineLimiter.lines`` times per window, with a count of what it did not log.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ._engineio import LineLimiter

log = logging.getLogger(__name__)

#: Seconds a connection may take to send its first request's headers.
HEADER_TIMEOUT_S = 10.0
#: Connections of one address that may be waiting for their first request's headers.
MAX_PENDING_PER_ADDRESS = 256
#: File descriptors kept free for everything that is not a client connection.
FD_RESERVE = 256

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def default_max_connections() -> int:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 10_000
    return max(32, min(10_000, soft - FD_RESERVE))


class _AcceptErrors(logging.Filter):
    """asyncio logs every failed ``accept()`` (EMFILE: out of file descriptors) with a traceback:
    one short line instead, rate limited."""

    def __init__(self) -> None:
        super().__init__()
        self.limiter = LineLimiter(lines=5)

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("socket.accept() out of system resource"):
            return True
        if not self.limiter.allow():
            return False
        exc = record.exc_info[1] if record.exc_info else None
        record.msg, record.args = "socket.accept() failed: %s", (exc,)
        record.exc_info = None
        record.exc_text = None
        return True


_ACCEPT_ERRORS = _AcceptErrors()


class ConnectionGuard:
    def __init__(
        self,
        *,
        max_connections: int | None = None,
        max_pending_per_address: int = MAX_PENDING_PER_ADDRESS,
        header_timeout: float = HEADER_TIMEOUT_S,
    ) -> None:
        self.max_connections = max_connections or default_max_connections()
        self.max_pending_per_address = max_pending_per_address
        self.header_timeout = header_timeout
        #: Every open client connection.
        self.open: set[asyncio.BaseTransport] = set()
        #: Connections still waiting for their first request, oldest first: transport -> (since, address).
        self.pending: OrderedDict[asyncio.BaseTransport, tuple[float, str]] = OrderedDict()
        self._pending_by_address: dict[str, int] = {}
        self.refused = 0
        self.timed_out = 0
        self._limiter = LineLimiter()
        self._sweeper: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        asyncio_log = logging.getLogger("asyncio")
        if _ACCEPT_ERRORS not in asyncio_log.filters:
            asyncio_log.addFilter(_ACCEPT_ERRORS)
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep(), name="connection-guard")

    def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()

    def protocol_factory(self, make: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        return lambda: _Tracked(make(), self)

    # ------------------------------------------------------------------ bookkeeping

    def admit(self, transport: asyncio.BaseTransport) -> bool:
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        if self._pending_by_address.get(address, 0) >= self.max_pending_per_address:
            self._evict(
                self._oldest_pending(address), f"more than {self.max_pending_per_address} from {address}"
            )
        if len(self.open) >= self.max_connections:
            oldest = next(iter(self.pending), None)
            if oldest is None:
                self.refused += 1
                self._say(f"refusing a connection from {address}: {len(self.open)} open (the limit)")
                return False
            self._evict(oldest, f"{len(self.open)} connections open (the limit)")
        self.open.add(transport)
        self.pending[transport] = (time.monotonic(), address)
        self._pending_by_address[address] = self._pending_by_address.get(address, 0) + 1
        return True

    def started(self, transport: asyncio.BaseTransport | None) -> None:
        """The connection's first request arrived: it is no longer pending."""
        if transport is None:
            return
        entry = self.pending.pop(transport, None)
        if entry is not None:
            self._unpend(entry[1])

    def forget(self, transport: asyncio.BaseTransport) -> None:
        self.open.discard(transport)
        self.started(transport)

    def _unpend(self, address: str) -> None:
        left = self._pending_by_address.get(address, 1) - 1
        if left > 0:
            self._pending_by_address[address] = left
        else:
            self._pending_by_address.pop(address, None)

    def _oldest_pending(self, address: str) -> asyncio.BaseTransport | None:
        for transport, (_since, owner) in self.pending.items():
            if owner == address:
                return transport
        return None

    def _evict(self, transport: asyncio.BaseTransport | None, why: str) -> None:
        if transport is None:
            return
        self.refused += 1
        self._say(f"closing a connection that sent no request: {why}")
        self.forget(transport)
        transport.abort()

    def _say(self, message: str) -> None:
        if self._limiter.allow():
            more = self._limiter.take_suppressed()
            log.warning("%s%s", message, f" ({more} more not logged)" if more else "")

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            deadline = time.monotonic() - self.header_timeout
            expired = []
            for transport, (since, _address) in self.pending.items():
                if since > deadline:
                    break
                expired.append(transport)
            for transport in expired:
                self.timed_out += 1
                self.forget(transport)
                transport.abort()
            if expired:
                self._say(
                    f"closed {len(expired)} connections that sent no request within {self.header_timeout:g} s"
                )

    # ------------------------------------------------------------------ aiohttp

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.started(request.transport)
        return await handler(request)


class _Tracked(asyncio.Protocol):
    """aiohttp's protocol for one connection, told to the guard on connect and on close."""

    __slots__ = ("_guard", "_inner", "_transport")

    def __init__(self, inner: asyncio.Protocol, guard: ConnectionGuard) -> None:
        self._inner = inner
        self._guard = guard
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._guard.admit(transport):
            transport.abort()  # before aiohttp saw it: no parser, no task
            return
        self._transport = transport
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is None:
            return
        self._guard.forget(self._transport)
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._transport is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self._transport is None:
            return None
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class GuardedSite(web.TCPSite):
    """``web.TCPSite`` whose connections go through a ``ConnectionGuard`` (same start-up otherwise)."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, guard: ConnectionGuard) -> None:
        super().__init__(runner, host, port)
        self.guard = guard

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        self._server = await loop.create_server(
            self.guard.protocol_factory(server),
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        if self._server.sockets:
            self._bound_port = self._server.sockets[0].getsockname()[1]
        else:
            self._bound_port = self._port
