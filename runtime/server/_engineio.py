"""Everything the server needs from python-socketio / python-engineio beyond their documented API.

Kept in this one module, each use guarded, so an upgrade that changes them breaks here (and in
``tests/server/test_engineio_bridge.py``) instead of somewhere in the middle of the server:

- the engine.io sid of a Socket.IO sid (``manager.eio_sid_from_sid``);
- the engine.io socket's outgoing ``queue`` (an ``asyncio.Queue``): ``queue.join()`` returns once
  the transport's writer has taken everything queued so far. That is the flow-control signal: we
  send the next batch to a client only after its writer took the previous one, so a slow client's
  backlog accumulates in *our* per-connection buffer, where it is counted in bytes, instead of in
  engine.io's unbounded queue;
- the aiohttp transport under a WebSocket, to abort a client that stopped reading. Closing it
  through engine.io would wait forever for that client to drain its queue.

Per-message deflate is switched off without touching engine.io at all: an aiohttp middleware
removes the client's ``Sec-WebSocket-Extensions`` offer before the upgrade, so aiohttp never
negotiates compression whatever ``WebSocketResponse(compress=...)`` engine.io uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import engineio.exceptions
import engineio.payload
import socketio
import socketio.packet
from aiohttp import hdrs, web

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class EngineBridge:
    def __init__(self, sio: Any, socketio_path: str = "/socket.io/") -> None:
        self.sio = sio
        self.path = socketio_path
        #: aiohttp transports of WebSocket upgrades of polling sessions, by engine.io sid.
        self._upgrades: dict[str, asyncio.BaseTransport] = {}
        self.flow_control = self._probe_flow_control()

    def _probe_flow_control(self) -> bool:
        eio = getattr(self.sio, "eio", None)
        ok = isinstance(getattr(eio, "sockets", None), dict) and callable(
            getattr(getattr(self.sio, "manager", None), "eio_sid_from_sid", None)
        )
        if not ok:  # pragma: no cover - only after an incompatible python-socketio upgrade
            log.error("python-socketio internals changed: per-connection flow control is disabled")
        return ok

    # ------------------------------------------------------------------ ids

    def eio_sid(self, sid: str) -> str | None:
        try:
            return self.sio.manager.eio_sid_from_sid(sid, "/")
        except Exception:  # pragma: no cover - see _probe_flow_control
            return None

    # ------------------------------------------------------------------ sending

    async def send_text(self, eio_sid: str, text: str) -> None:
        """Queue an already encoded Socket.IO packet (``2[...]``) for one client (public engine.io API)."""
        await self.sio.eio.send(eio_sid, text)

    def _queue(self, eio_sid: str) -> asyncio.Queue[Any] | None:
        if not self.flow_control:  # pragma: no cover
            return None
        socket = self.sio.eio.sockets.get(eio_sid)
        queue = getattr(socket, "queue", None)
        return queue if isinstance(queue, asyncio.Queue) else None

    def idle(self, eio_sid: str) -> bool:
        """True when the client's writer has taken everything queued (nothing waits in engine.io)."""
        queue = self._queue(eio_sid)
        return queue is not None and queue.qsize() == 0 and self.connected(eio_sid)

    def connected(self, eio_sid: str) -> bool:
        socket = self.sio.eio.sockets.get(eio_sid)
        return socket is not None and not getattr(socket, "closed", False)

    async def wait_taken(self, eio_sid: str) -> None:
        """Return once the client's writer has taken every packet queued so far."""
        queue = self._queue(eio_sid)
        if queue is None:
            await asyncio.sleep(0)
            return
        await queue.join()

    def discard_queued(self, eio_sid: str) -> None:
        """Drop the packets still queued for a client that is gone or being dropped.

        python-engineio keeps a closed socket, and its queue, until its next sweep (up to the
        ping timeout): a client dropped for not reading would pin a batch of events per client
        that long.
        """
        queue = self._queue(eio_sid)
        while queue is not None and not queue.empty():
            queue.get_nowait()
            queue.task_done()

    def release_poll(self, eio_sid: str) -> None:
        """End a pending long-poll GET of a client that is going away.

        python-engineio leaves it waiting for its full ping timeout (tens of seconds) after a
        disconnect, which holds the client's ``disconnect()`` and the server's shutdown; an empty
        packet list answers it at once (engine.io's own end-of-queue marker).
        """
        socket = self.sio.eio.sockets.get(eio_sid)
        queue = self._queue(eio_sid)
        if socket is not None and queue is not None and not getattr(socket, "upgraded", True):
            queue.put_nowait(None)

    # ------------------------------------------------------------------ transports

    def transport(self, eio_sid: str | None, environ: dict[str, Any] | None) -> asyncio.BaseTransport | None:
        """The TCP transport currently carrying this client's WebSocket, if it uses one."""
        if eio_sid is not None and eio_sid in self._upgrades:
            return self._upgrades[eio_sid]
        request = (environ or {}).get("aiohttp.request")
        if request is not None and request.headers.get(hdrs.UPGRADE, "").lower() == "websocket":
            return request.transport
        return None

    # ------------------------------------------------------------------ middleware

    async def _post(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """A polling POST over the buffer size is refused before a byte of it is read.

        engine.io answers it too, but leaves the body unread on a kept-alive connection: a client
        still writing 50 MB never sees the answer. 413 and the connection closed, as the HTTP routes do.
        """
        limit = int(getattr(self.sio.eio, "max_http_buffer_size", 0) or 0)
        length = request.content_length
        if limit and length is not None and length > limit:
            response = web.json_response(
                {"error": f"request body is larger than {limit} bytes", "code": "PAYLOAD_TOO_LARGE"},
                status=413,
                headers={hdrs.CONNECTION: "close"},
            )
            response.force_close()
            return response
        return await self._polling(request, handler)

    async def _polling(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except KeyError:
            # python-engineio's _get_socket raises KeyError("Session is disconnected") for a request
            # on a session closed a moment ago (e.g. one dropped for an undecodable packet): upstream
            # lets it out as a 500 with a traceback in the log.
            return web.json_response(
                {"error": "the Engine.IO session is closed", "code": "SESSION_CLOSED"}, status=400
            )

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(self.path):
            return await handler(request)
        if request.method == "POST":
            return await self._post(request, handler)
        if request.headers.get(hdrs.UPGRADE, "").lower() != "websocket":
            return await self._polling(request, handler)
        # No per-message deflate: without an offer from the client aiohttp cannot negotiate it.
        headers = request.headers.copy()
        headers.popall(hdrs.SEC_WEBSOCKET_EXTENSIONS, None)
        request = request.clone(headers=headers)
        sid = (parse_qs(request.query_string).get("sid") or [None])[0]
        if sid is None:
            return await handler(request)
        if request.transport is not None:
            self._upgrades[sid] = request.transport
        try:
            return await handler(request)
        finally:
            self._upgrades.pop(sid, None)


# ---------------------------------------------------------------------- undecodable packets


class UndecodablePacket(ValueError):
    """A Socket.IO packet whose header parsed but whose body did not (bad or too deeply nested JSON)."""

    def __init__(self, packet_type: Any, namespace: str | None, ack_id: int | None, reason: str) -> None:
        super().__init__(reason)
        self.packet_type = packet_type
        self.namespace = namespace
        self.ack_id = ack_id
        self.reason = reason


class GuardedPacket(socketio.packet.Packet):
    """python-socketio's packet, with decoding failures raised as one exception type that still
    knows the header (type, namespace, ack id): an EVENT with an ack id can then be answered."""

    def decode(self, encoded_packet: Any) -> int:
        try:
            return int(super().decode(encoded_packet) or 0)
        except RecursionError:
            raise UndecodablePacket(
                getattr(self, "packet_type", None),
                getattr(self, "namespace", None),
                getattr(self, "id", None),
                "payload nested too deeply",
            ) from None
        except (ValueError, TypeError) as exc:
            raise UndecodablePacket(
                getattr(self, "packet_type", None),
                getattr(self, "namespace", None),
                getattr(self, "id", None),
                f"undecodable packet ({type(exc).__name__})",
            ) from None


class LineLimiter:
    """At most ``lines`` log lines per ``window`` seconds across the server; the rest are counted
    and the count is said in the next line let through."""

    def __init__(self, lines: int = 20, window: float = 10.0) -> None:
        self.lines = lines
        self.window = window
        self._start = 0.0
        self._used = 0
        self.suppressed = 0

    def allow(self) -> bool:
        now = time.monotonic()
        if now - self._start >= self.window:
            self._start, self._used = now, 0
        if self._used < self.lines:
            self._used += 1
            return True
        self.suppressed += 1
        return False

    def take_suppressed(self) -> int:
        count, self.suppressed = self.suppressed, 0
        return count


#: An ack for a payload that could not be decoded (SPEC §4: every event with an id gets one).
def invalid_request_ack(reason: str) -> dict[str, Any]:
    return {"success": False, "error": f"invalid request: {reason}", "code": "INVALID_REQUEST"}


#: Most packets in one long-polling response. python-engineio's client refuses a payload of more
#: than 16 ("Too many packets in payload", python-socketio then drops the connection: every event
#: in it is lost); the JS client takes any number. The rest stays queued for the next poll.
MAX_POLL_PACKETS = 16
#: Most packets accepted in one polling POST. The JS client sends all it has buffered at once
#: (engine.io's server default of 16 would refuse a burst of 17 emits); the body is bounded by
#: ``max_http_buffer_size`` anyway.
MAX_POST_PACKETS = 10_000


class _PostPayload(engineio.payload.Payload):
    max_decode_packets = MAX_POST_PACKETS


def bound_polling(socket: Any) -> None:
    """Give one engine.io socket a ``poll`` that hands over at most ``MAX_POLL_PACKETS`` and a
    ``handle_post_request`` that decodes up to ``MAX_POST_PACKETS`` (instance attributes: python-
    engineio has no option for either). Same behaviour as upstream otherwise."""
    queue = getattr(socket, "queue", None)
    server = getattr(socket, "server", None)
    if not isinstance(queue, asyncio.Queue) or server is None:  # pragma: no cover - upgrade changed it
        log.error("python-engineio internals changed: polling responses are not bounded")
        return

    async def poll() -> list[Any]:
        try:
            first = await asyncio.wait_for(queue.get(), server.ping_interval + server.ping_timeout)
            queue.task_done()
        except (TimeoutError, asyncio.CancelledError):
            raise engineio.exceptions.QueueEmpty() from None
        if first is None:
            return []
        packets = [first]
        while len(packets) < MAX_POLL_PACKETS:
            try:
                pkt = queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            queue.task_done()
            if pkt is None:
                queue.put_nowait(None)
                break
            packets.append(pkt)
        return packets

    async def handle_post_request(environ: dict[str, Any]) -> None:
        length = int(environ.get("CONTENT_LENGTH", "0"))
        if length > server.max_http_buffer_size:
            raise engineio.exceptions.ContentTooLongError()
        body = (await environ["wsgi.input"].read(length)).decode("utf-8")
        for pkt in _PostPayload(encoded_payload=body).packets:
            await socket.receive(pkt)

    socket.poll = poll
    socket.handle_post_request = handle_post_request


class _ShortTracebacks(logging.Filter):
    """python-engineio / python-socketio log any exception in a handler as a full traceback, also
    for input a client sent before authenticating. One short line instead, rate limited."""

    def __init__(self, limiter: LineLimiter) -> None:
        super().__init__()
        self.limiter = limiter

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info:
            return True
        if not self.limiter.allow():
            return False
        exc = record.exc_info[1]
        message = record.getMessage()
        record.msg = "%s: %s: %s"
        record.args = (message, type(exc).__name__, str(exc)[:200])
        record.exc_info = None
        record.exc_text = None
        return True


_SHORT_TRACEBACKS = _ShortTracebacks(LineLimiter())


class GuardedServer(socketio.AsyncServer):
    """``socketio.AsyncServer`` that handles packets it cannot decode itself.

    Upstream logs each one as a full ERROR traceback (python-engineio's handler error), before any
    authentication: a client could write megabytes of log a second. Here an EVENT with an ack id on
    a connected namespace is answered ``INVALID_REQUEST`` (the connection stays: a 100,000-deep
    array is a bad request, not an attack on the transport); anything else gets one short line per
    connection (rate limited across the server) and the connection is dropped.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("serializer", GuardedPacket)
        super().__init__(*args, **kwargs)
        self.limiter = LineLimiter()
        for logger in (self.logger, self.eio.logger):
            # The loggers are module-wide (shared by every server in the process): one filter each.
            if isinstance(logger, logging.Logger) and _SHORT_TRACEBACKS not in logger.filters:
                logger.addFilter(_SHORT_TRACEBACKS)
        #: Engine.IO sessions being dropped: their further packets are ignored undecoded.
        self._dropping: set[str] = set()
        #: Set by the app: the TCP transport under a client's WebSocket (to abort, not close).
        self.transport_of: Callable[[str], asyncio.BaseTransport | None] = lambda _eio_sid: None

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        socket = self.eio.sockets.get(eio_sid)
        if socket is not None:
            bound_polling(socket)
        return await super()._handle_eio_connect(eio_sid, environ)

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        if eio_sid in self._dropping:
            return
        try:
            await super()._handle_eio_message(eio_sid, data)
        except UndecodablePacket as exc:
            await self._undecodable(eio_sid, exc)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any = None) -> None:
        self._dropping.discard(eio_sid)
        await super()._handle_eio_disconnect(eio_sid, reason)

    async def _undecodable(self, eio_sid: str, exc: UndecodablePacket) -> None:
        namespace = exc.namespace or "/"
        if (
            exc.packet_type == socketio.packet.EVENT
            and exc.ack_id is not None
            and self.manager.sid_from_eio_sid(eio_sid, namespace) is not None
        ):
            await self._send_packet(
                eio_sid,
                self.packet_class(
                    socketio.packet.ACK,
                    namespace=namespace,
                    data=[invalid_request_ack(exc.reason)],
                    id=exc.ack_id,
                ),
            )
            return
        self._dropping.add(eio_sid)
        if self.limiter.allow():
            more = self.limiter.take_suppressed()
            log.warning(
                "dropping Socket.IO connection %s: %s%s",
                eio_sid,
                exc.reason,
                f" ({more} more such connections not logged)" if more else "",
            )
        transport = self.transport_of(eio_sid)
        if transport is not None:
            transport.abort()
        else:
            self.start_background_task(self._disconnect_quietly, eio_sid)

    async def _disconnect_quietly(self, eio_sid: str) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.eio.disconnect(eio_sid), 5.0)
