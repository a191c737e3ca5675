"""Socket.IO surface (SPEC §4): client events with acknowledgements, per-socket exact replay,
batched delivery and per-connection backpressure.

Delivery path of a session's events to one socket (one ``Forwarder`` per (socket, session)):

    runtime.subscribe(session, afterSeq) ── forwarder task ──► connection outbox (bytes counted)
                                                                     │ sent at once if engine.io's writer
                                                                     │ is idle, else by the flusher once
                                                                     ▼ the writer took the previous send
                                         engine.io queue ──► WebSocket / polling ──► client

The subscription replays the store and goes live with no gap and no duplicate; the forwarder
drains it eagerly into the connection's outbox, so a slow client's backlog is counted in bytes
in one place. When it exceeds the connection's budget the client is disconnected (with a
logged reason), never sent a partial stream; it resumes with ``session:join {afterSeq}``.

Memory across clients (issue 21 #2):

- While a subscription still replays the store, the forwarder reads small pages and stops
  reading while more than ``replay_window`` bytes wait for the client's writer: a client that
  joins a large log and stops reading holds at most about one window plus two pages (one in its
  TCP buffer, one queued), not the whole log.
- All connections together may hold ``total_budget`` bytes (what waits in the forwarders, in
  engine.io's queues and in the WebSocket transports' buffers). Past it the slowest readers
  are dropped first (a WebSocket whose transport still holds what it was given, then the longest
  since its writer last took anything, then the most bytes), down to 90% of it, each with a
  logged reason; they resume by seq like any dropped client.
- When a client that held much goes, ``memory.MemoryReleaser`` gives the memory back to the system.

Each event is JSON-encoded once (cached by session and seq) and spliced into the packets of
every socket that receives it, instead of once per socket by ``sio.emit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import socketio
from pydantic import BaseModel, ValidationError

from .. import api
from ..agent_runtime import AgentRuntime, RuntimeNotice, SessionsChanged, SessionStatusChanged
from ..errors import AgentTuiError, SubscriberLagged
from ..events import Subscription
from ..models import SessionEvent
from ..wire import EmptyRequest, JoinRequest, SessionRef, SocketCreateRequest
from . import auth
from ._engineio import EngineBridge
from .memory import MemoryReleaser

log = logging.getLogger(__name__)

#: Default bytes of events one connection may have waiting before it is disconnected as too slow.
DEFAULT_SEND_BUDGET = 16 * 1024 * 1024
#: Default bytes of events all connections together may hold before the slowest are dropped.
DEFAULT_TOTAL_BUDGET = 256 * 1024 * 1024
#: Default bytes a replaying forwarder lets wait for its client's writer before it stops reading.
DEFAULT_REPLAY_WINDOW = 256 * 1024
#: Rough bytes of buffers one connection holds besides events (for the memory releaser).
_CONNECTION_BYTES = 64 * 1024
#: Rough bytes of a session's in-memory state (for the memory releaser, after deletes).
_SESSION_BYTES = 16 * 1024
#: Encoded bytes a replaying forwarder aims to read from the store at once. A page is held as
#: models until it is encoded, so with many clients joining at once the page size is what sets the
#: server's peak: 200 events of 2 KB per page took 200 joining clients to +65-87 MiB RSS over a
#: 16 MiB budget, pages sized to this to +30-43 MiB (tests/reliability/test_memory_load.py).
_REPLAY_PAGE_BYTES = 64 * 1024
#: Events in a forwarder's first replay page, before it knows how large this session's events are.
_REPLAY_FIRST = 50
#: Bounds on the events of one replay page.
_REPLAY_MIN, _REPLAY_MAX = 8, 1_000
#: Most events a forwarder takes from its subscription at once.
_FORWARD_LIMIT = 5_000
#: Bytes of encoded events kept for re-use by the other sockets on the same session (per server).
_ENCODE_CACHE_BYTES = 4 * 1024 * 1024
#: Seconds a server-side disconnect may take before the client is simply dropped.
_DISCONNECT_TIMEOUT = 5.0

_dumps = json.JSONEncoder(separators=(",", ":")).encode


def encode_event(event: SessionEvent) -> str:
    """One event's JSON. orjson is ~5x faster than json here (it is the hot path of delivery), and
    whatever the store persisted (with orjson) it can encode; json is the fallback all the same."""
    wire = event.wire()
    try:
        return orjson.dumps(wire).decode()
    except TypeError:
        return _dumps(wire)


Ack = dict[str, Any]


def room(session_id: str) -> str:
    return f"session:{session_id}"


def _fail(error: str, code: str, details: Any = None) -> Ack:
    ack: Ack = {"success": False, "error": error, "code": code}
    if details is not None:
        ack["details"] = details
    return ack


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """JSON-safe validation errors (no echoed input: it may be huge or not serializable)."""
    out = []
    for error in exc.errors(include_url=False, include_context=False, include_input=False)[:20]:
        out.append(
            {
                "loc": [part if isinstance(part, int) else str(part) for part in error.get("loc", ())],
                "msg": str(error.get("msg", "")),
                "type": str(error.get("type", "")),
            }
        )
    return out


@dataclass(eq=False)
class Forwarder:
    """One socket's subscription to one session."""

    session_id: str
    batch: bool
    sub: Subscription
    task: asyncio.Task[None] | None = None
    pending: list[str] = field(default_factory=list)
    pending_bytes: int = 0
    #: Highest seq handed to engine.io (for logs: where a dropped client must resume).
    sent_seq: int = 0
    queued_seq: int = 0

    def stop(self) -> None:
        self.sub.close()
        if self.task is not None and not self.task.done():
            self.task.cancel()


class Connection:
    """State of one connected (authenticated) Socket.IO client."""

    def __init__(self, hub: SocketHub, sid: str, eio_sid: str, environ: dict[str, Any]) -> None:
        self.hub = hub
        self.sid = sid
        self.eio_sid = eio_sid
        self.environ = environ
        self.forwarders: dict[str, Forwarder] = {}
        #: Bytes waiting in forwarders plus bytes handed to engine.io that its writer has not taken.
        self._unsent = 0
        self._in_engine = 0
        #: Bytes the writer took last (a WebSocket's): they may still sit in the TCP transport's buffer.
        self._written = 0
        #: Since when the client has been waited for: its writer last took something, or events
        #: started to wait while there were none (how slow a reader is, for the server budget).
        self.taken_at = time.monotonic()
        self._wakeup = asyncio.Event()
        self._handed = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._send_lock = asyncio.Lock()
        self.closed = False

    @property
    def unsent(self) -> int:
        return self._unsent

    @unsent.setter
    def unsent(self, value: int) -> None:
        # Kept in step with the hub's total, which the server-wide budget is checked against.
        self.hub.total_held += value - self._unsent
        if not self._unsent and not self._written and value:
            self.taken_at = time.monotonic()
        self._unsent = value

    @property
    def written(self) -> int:
        return self._written

    def set_written(self, value: int) -> None:
        self.hub.total_held += value - self._written
        self._written = value

    @property
    def held(self) -> int:
        return self._unsent + self._written

    def refresh_written(self) -> None:
        """Replace the estimate of what sits in the transport's buffer by its real size."""
        transport = self.hub.bridge.transport(self.eio_sid, self.environ)
        size = transport.get_write_buffer_size() if isinstance(transport, asyncio.WriteTransport) else 0
        self.set_written(min(self._written, size))

    # ------------------------------------------------------------------ subscriptions

    def join(self, session_id: str, sub: Subscription, batch: bool) -> Forwarder:
        self.leave(session_id)
        fw = Forwarder(session_id, batch, sub, sent_seq=sub.last_seq, queued_seq=sub.last_seq)
        self.forwarders[session_id] = fw
        fw.task = asyncio.get_running_loop().create_task(self._forward(fw), name=f"sio-forward-{self.sid}")
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(
                self._flush_loop(), name=f"sio-flush-{self.sid}"
            )
        return fw

    def leave(self, session_id: str) -> bool:
        fw = self.forwarders.pop(session_id, None)
        if fw is None:
            return False
        fw.stop()
        self.unsent -= fw.pending_bytes
        fw.pending.clear()
        fw.pending_bytes = 0
        return True

    async def _forward(self, fw: Forwarder) -> None:
        hub = self.hub
        try:
            summary = await hub.runtime.get_summary(fw.session_id)
            await hub.sio.emit(
                "session:status", {"sessionId": fw.session_id, "runtime": summary.runtime.wire()}, to=self.sid
            )
            replay_limit = _REPLAY_FIRST
            while True:
                replaying = fw.sub.replaying
                events = await fw.sub.next_batch(replay_limit if replaying else _FORWARD_LIMIT)
                if self.closed or self.forwarders.get(fw.session_id) is not fw:
                    return
                encoded = hub.encode_events(fw.session_id, events)
                fw.queued_seq = events[-1].seq
                del events  # the models weigh more than their JSON: not kept while waiting below
                size = sum(map(len, encoded))
                if replaying:
                    per_event = size // len(encoded) + 1
                    replay_limit = max(_REPLAY_MIN, min(_REPLAY_MAX, _REPLAY_PAGE_BYTES // per_event))
                fw.pending.extend(encoded)
                fw.pending_bytes += size
                self.unsent += size
                if self.unsent > hub.send_budget:
                    self.drop(
                        f"too slow: {self.unsent} bytes of events waiting (budget {hub.send_budget}); "
                        f"session {fw.session_id} delivered up to seq {fw.sent_seq}"
                    )
                    return
                if hub.total_held > hub.total_budget:
                    hub.shed()
                    if self.closed:
                        return
                await self._push()
                if replaying:
                    await self._replay_room()
        except StopAsyncIteration:
            pass  # the session was deleted or the subscription closed
        except SubscriberLagged as exc:
            self.drop(f"fell behind the event bus: {exc.message}")
        except AgentTuiError as exc:
            log.info("forwarder of %s for session %s ended: %s", self.sid, fw.session_id, exc.message)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("forwarder of %s for session %s failed", self.sid, fw.session_id)
            self.drop("internal error while forwarding events")

    async def _flush_loop(self) -> None:
        bridge = self.hub.bridge
        try:
            while not self.closed:
                await self._wakeup.wait()
                self._wakeup.clear()
                # Flow control: the next send waits until the writer took the previous one.
                await bridge.wait_taken(self.eio_sid)
                if self.closed or not bridge.connected(self.eio_sid):
                    return
                await self._send_pending()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sending to Socket.IO client %s failed", self.sid)
            self.drop("internal error while sending events")

    async def _replay_room(self) -> None:
        """Wait until no more than the replay window waits for the writer (the rest of the replay
        stays in the store meanwhile). The flusher hands over as the writer takes."""
        while not self.closed and self.unsent > self.hub.replay_window:
            self._handed.clear()
            self._wakeup.set()
            await self._handed.wait()

    async def _push(self) -> None:
        """Send now if the client's writer is idle (the common, keeping-up case: no task switch),
        else leave it to the flusher, which waits until the writer took what is queued."""
        if not self._send_lock.locked() and self.hub.bridge.idle(self.eio_sid):
            await self._send_pending()
        else:
            self._wakeup.set()

    async def _send_pending(self) -> None:
        """Hand every pending event to engine.io. Only called when the writer took what came before."""
        async with self._send_lock:
            await self._hand_over()

    async def _hand_over(self) -> None:
        bridge = self.hub.bridge
        # What was handed over before has been taken by the writer: it no longer waits, but a
        # WebSocket's may still sit in its transport's buffer (a client that stopped reading).
        websocket = bridge.transport(self.eio_sid, self.environ) is not None
        if self._in_engine or not websocket:
            self.set_written(self._in_engine if websocket else 0)
            self.unsent -= self._in_engine
            self._in_engine = 0
            self.taken_at = time.monotonic()
        for fw in list(self.forwarders.values()):
            if not fw.pending:
                continue
            chunks, fw.pending = fw.pending, []
            self._in_engine += fw.pending_bytes
            fw.pending_bytes = 0
            fw.sent_seq = fw.queued_seq
            sid_json = _dumps(fw.session_id)
            if fw.batch:
                await bridge.send_text(
                    self.eio_sid,
                    f'2["stream:events",{{"sessionId":{sid_json},"events":[{",".join(chunks)}]}}]',
                )
            else:
                prefix = f'2["stream:event",{{"sessionId":{sid_json},"event":'
                for chunk in chunks:
                    await bridge.send_text(self.eio_sid, f"{prefix}{chunk}}}]")
        self._handed.set()

    # ------------------------------------------------------------------ teardown

    def close(self) -> None:
        """Forget everything held for this client (idempotent)."""
        if self.closed:
            return
        self.closed = True
        for session_id in list(self.forwarders):
            self.leave(session_id)
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
        self._wakeup.set()
        self._handed.set()
        self.hub.bridge.discard_queued(self.eio_sid)
        # Its buffers (held events, the transport's, the reader's) are freed as it goes.
        self.hub.releaser.note(self.held + _CONNECTION_BYTES)
        self.unsent = 0
        self.set_written(0)

    def drop(self, reason: str) -> None:
        """Disconnect a client the server gives up on, with a logged reason."""
        if self.closed:
            return
        log.warning("disconnecting Socket.IO client %s: %s", self.sid, reason)
        self.close()
        self.hub.forget(self)
        transport = self.hub.bridge.transport(self.eio_sid, self.environ)
        if transport is not None:
            # A WebSocket client that stopped reading would never take a close frame: cut the TCP
            # connection; engine.io then ends the session and python-socketio forgets the sid.
            if not transport.is_closing():
                transport.abort()
        else:
            self.hub.spawn(self.hub.disconnect(self.sid))


class SocketHub:
    """Binds a ``socketio.AsyncServer`` to an ``AgentRuntime``."""

    def __init__(
        self,
        runtime: AgentRuntime,
        sio: socketio.AsyncServer,
        *,
        token: str | None,
        send_budget: int = DEFAULT_SEND_BUDGET,
        total_budget: int = DEFAULT_TOTAL_BUDGET,
        replay_window: int = DEFAULT_REPLAY_WINDOW,
        redis: bool = False,
    ) -> None:
        self.runtime = runtime
        self.sio = sio
        self.token = token
        self.send_budget = send_budget
        self.total_budget = total_budget
        self.replay_window = replay_window
        #: Sum of every connection's ``held`` (what the server-wide budget is checked against).
        self.total_held = 0
        self.shed_count = 0
        self.releaser = MemoryReleaser(drop_caches=self._drop_encode_cache)
        self.redis = redis
        self.bridge = EngineBridge(sio)
        self.connections: dict[str, Connection] = {}
        self._encoded: OrderedDict[tuple[str, int], str] = OrderedDict()
        self._encoded_bytes = 0
        self._notices: asyncio.Queue[RuntimeNotice | None] = asyncio.Queue()
        self._notifier: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unobserve: Callable[[], None] | None = None
        self._mirrors: dict[str, Subscription] = {}
        self._register()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._unobserve = self.runtime.add_observer(self._observe)
        self._notifier = asyncio.get_running_loop().create_task(self._notify_loop(), name="sio-notifier")
        if self.redis:
            for summary in await self.runtime.list_sessions():
                self._mirror(summary.session_id, summary.last_seq)

    async def stop(self) -> None:
        if self._unobserve is not None:
            self._unobserve()
            self._unobserve = None
        for sub in self._mirrors.values():
            sub.close()
        self._mirrors.clear()
        for conn in list(self.connections.values()):
            conn.close()
            transport = self.bridge.transport(conn.eio_sid, conn.environ)
            if transport is not None:
                if not transport.is_closing():
                    transport.close()
            else:
                self.bridge.release_poll(conn.eio_sid)
        self.connections.clear()
        self.releaser.close()
        if self._notifier is not None:
            self._notifier.cancel()
            # Bounded all the same: a shutdown must end even if a library swallows the cancel.
            with contextlib.suppress(asyncio.CancelledError, TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(self._notifier), 5)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def disconnect(self, sid: str) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.sio.disconnect(sid), _DISCONNECT_TIMEOUT)

    def shed(self) -> None:
        """Over the server-wide budget: drop the slowest readers first, down to 90% of it."""
        for conn in self.connections.values():
            conn.refresh_written()  # a reader's transport has sent what it was given
        if self.total_held <= self.total_budget:
            return
        target = self.total_budget * 9 // 10
        holding = [c for c in self.connections.values() if c.held]
        # Slowest first: a WebSocket whose transport still holds what it was given (its client
        # reads nothing: a reader's buffer drains), then the longest waited for, then the largest.
        for conn in sorted(holding, key=lambda c: (not c.written, c.taken_at, -c.held)):
            if self.total_held <= target:
                break
            self.shed_count += 1
            conn.drop(
                f"too slow: holds {conn.held} bytes of events, its writer took nothing for "
                f"{time.monotonic() - conn.taken_at:.1f} s, and all clients together hold "
                f"{self.total_held} (server budget {self.total_budget}); resume with afterSeq"
            )

    def forget(self, conn: Connection) -> None:
        if self.connections.get(conn.sid) is conn:
            del self.connections[conn.sid]

    @property
    def client_count(self) -> int:
        return len(self.connections)

    # ------------------------------------------------------------------ encoding

    def encode_events(self, session_id: str, events: list[SessionEvent]) -> list[str]:
        """Each event's JSON, encoded once for all the sockets that receive it."""
        cache = self._encoded
        out = []
        for event in events:
            key = (session_id, event.seq)
            text = cache.get(key)
            if text is None:
                text = encode_event(event)
                cache[key] = text
                self._encoded_bytes += len(text)
                if self._encoded_bytes > _ENCODE_CACHE_BYTES:
                    self._trim_cache()
            out.append(text)
        return out

    def _drop_encode_cache(self) -> None:
        # After a burst of releases: re-encoding what the next clients need is cheap, and its
        # 4 MiB of large strings would otherwise stay through the memory release.
        self._encoded.clear()
        self._encoded_bytes = 0

    def _trim_cache(self) -> None:
        # Oldest first: a FIFO down to half the budget.
        cache = self._encoded
        while cache and self._encoded_bytes > _ENCODE_CACHE_BYTES // 2:
            self._encoded_bytes -= len(cache.popitem(last=False)[1])

    # ------------------------------------------------------------------ runtime notices

    def _observe(self, notice: RuntimeNotice) -> None:
        self._notices.put_nowait(notice)

    async def _notify_loop(self) -> None:
        me = asyncio.current_task()
        while True:
            # A cancel that arrives while ``sio.emit`` waits on the Redis manager can be swallowed
            # inside it (Python 3.11's ``wait_for`` loses a cancel that races the inner result), and
            # the loop would then wait on the queue forever: a SIGTERM shutdown hung 1 time in ~15.
            if me is not None and me.cancelling():
                raise asyncio.CancelledError
            notice = await self._notices.get()
            try:
                if isinstance(notice, SessionStatusChanged):
                    await self.sio.emit(
                        "session:status",
                        {"sessionId": notice.session_id, "runtime": notice.runtime.wire()},
                        room=room(notice.session_id),
                    )
                elif isinstance(notice, SessionsChanged):
                    session_id = notice.session.session_id
                    await self.sio.emit(
                        "sessions:changed", {"action": notice.action, "session": notice.session.wire()}
                    )
                    if notice.action == "deleted":
                        # A deleted session's state is let go (much of it in reference cycles).
                        self.releaser.note(_SESSION_BYTES)
                        for key in [k for k in self._encoded if k[0] == session_id]:
                            self._encoded_bytes -= len(self._encoded.pop(key))
                        mirror = self._mirrors.pop(session_id, None)
                        if mirror is not None:
                            mirror.close()
                        await self.sio.close_room(room(session_id))
                    elif notice.action == "created" and self.redis:
                        self._mirror(session_id, 0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not emit a runtime notice")

    # ------------------------------------------------------------------ scale-out (Redis)

    def _mirror(self, session_id: str, after_seq: int) -> None:
        """Publish this process's session live to its room through the client manager (Redis), for
        sockets that joined it on *other* server processes. Local sockets get their own forwarder."""
        if session_id in self._mirrors:
            return
        try:
            sub = self.runtime.subscribe(session_id, after_seq)
        except AgentTuiError:
            return
        self._mirrors[session_id] = sub
        self.spawn(self._mirror_loop(session_id, sub))

    async def _mirror_loop(self, session_id: str, sub: Subscription) -> None:
        try:
            while True:
                events = await sub.next_batch(_FORWARD_LIMIT)
                local = [sid for sid in self.sio.manager.get_participants("/", room(session_id))]
                skip = [sid if isinstance(sid, str) else sid[0] for sid in local]
                for event in events:
                    await self.sio.emit(
                        "stream:event",
                        {"sessionId": session_id, "event": event.wire()},
                        room=room(session_id),
                        skip_sid=skip or None,
                    )
        except (StopAsyncIteration, asyncio.CancelledError):
            pass
        except SubscriberLagged:
            log.warning("Redis mirror of session %s fell behind; remote watchers must rejoin", session_id)
            self._mirrors.pop(session_id, None)
        except Exception:
            log.exception("Redis mirror of session %s failed", session_id)
            self._mirrors.pop(session_id, None)

    # ------------------------------------------------------------------ handlers

    def _register(self) -> None:
        sio = self.sio
        sio.on("connect", self._on_connect)
        sio.on("disconnect", self._on_disconnect)
        events: dict[str, tuple[type[BaseModel], Callable[[Connection, Any], Awaitable[Ack]]]] = {}
        for op in api.OPERATIONS:
            if op.event is not None and op.event_model is not None:
                events[op.event] = (op.event_model, self._operation(op))
        # By hand: these subscribe the socket to a session's stream (create: before its first event).
        events["session:create"] = (SocketCreateRequest, self._create)
        events["session:join"] = (JoinRequest, self._join)
        events["session:leave"] = (SessionRef, self._leave)
        for name, (model, fn) in events.items():
            sio.on(name, self._handler(name, model, fn))
        self.client_events = tuple(events)

    def _operation(self, op: api.Operation) -> Callable[[Connection, Any], Awaitable[Ack]]:
        async def call(_conn: Connection, request: BaseModel) -> Ack:
            return api.ack(op, await api.run(self.runtime, op, api.bind(op, request, caller="socket.io client")))

        return call

    def _handler(
        self, name: str, model: type[BaseModel], fn: Callable[[Connection, Any], Awaitable[Ack]]
    ) -> Callable[..., Awaitable[Ack]]:
        async def handle(sid: str, *args: Any) -> Ack:
            # *args: a client may send any number of arguments; a wrong arity is a failed ack, not a
            # TypeError in python-socketio (which would send no ack at all).
            conn = self.connections.get(sid)
            if conn is None:
                return _fail("not connected", "NOT_CONNECTED")
            if len(args) > 1:
                return _fail(f"{name} takes one payload argument, got {len(args)}", "INVALID_REQUEST")
            payload = args[0] if args else None
            if payload is None and model is EmptyRequest:
                payload = {}
            if name == "session:join" and isinstance(payload, str):
                payload = {"sessionId": payload}
            try:
                request = model.model_validate(payload)
            except ValidationError as exc:
                return _fail(f"invalid {name} payload", "INVALID_REQUEST", validation_details(exc))
            try:
                return await fn(conn, request)
            except AgentTuiError as exc:
                return {"success": False, **exc.to_wire()}
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Socket.IO handler %s failed", name)
                return _fail("internal error", "INTERNAL_ERROR")

        return handle

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth_payload: Any = None) -> bool:
        if self.token is not None and not auth.token_matches(self.token, auth.socket_token(auth_payload)):
            raise socketio.exceptions.ConnectionRefusedError("unauthorized", {"code": "UNAUTHORIZED"})
        eio_sid = self.bridge.eio_sid(sid)
        if eio_sid is None:  # pragma: no cover - see EngineBridge
            raise socketio.exceptions.ConnectionRefusedError("internal error", {"code": "INTERNAL_ERROR"})
        self.connections[sid] = Connection(self, sid, eio_sid, environ)
        return True

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        conn = self.connections.pop(sid, None)
        if conn is not None:
            conn.close()
            self.bridge.release_poll(conn.eio_sid)

    # ------------------------------------------------------------------ client events

    async def _subscribe(self, conn: Connection, session_id: str, after_seq: int, batch: bool) -> None:
        sub = self.runtime.subscribe(session_id, after_seq)
        conn.join(session_id, sub, batch)
        await self.sio.enter_room(conn.sid, room(session_id))

    async def _create(self, conn: Connection, req: SocketCreateRequest) -> Ack:
        summary = await self.runtime.create_session(req)
        # A new session has no events until its first message: subscribing now sees seq 1.
        await self._subscribe(conn, summary.session_id, 0, req.batch)
        return {"success": True, "session": summary.wire()}

    async def _join(self, conn: Connection, req: JoinRequest) -> Ack:
        try:
            summary = await self.runtime.get_summary(req.session_id)
        except AgentTuiError:
            if self.redis:
                # Owned by another server process: live events arrive through the room (Redis).
                await self.sio.enter_room(conn.sid, room(req.session_id))
                return {"success": True, "runtime": None, "lastSeq": None, "remote": True}
            raise
        await self._subscribe(conn, req.session_id, req.after_seq, req.batch)
        return {
            "success": True,
            "sessionId": req.session_id,
            "runtime": summary.runtime.wire(),
            "lastSeq": summary.last_seq,
        }

    async def _leave(self, conn: Connection, req: SessionRef) -> Ack:
        conn.leave(req.session_id)
        await self.sio.leave_room(conn.sid, room(req.session_id))
        return {"success": True}
