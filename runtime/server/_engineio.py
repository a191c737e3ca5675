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
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

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

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(self.path):
            return await handler(request)
        if request.headers.get(hdrs.UPGRADE, "").lower() != "websocket":
            return await handler(request)
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
