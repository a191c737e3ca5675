"""The runtime interface the UI talks to: in-process (``AgentRuntime`` itself) or remote.

``RemoteRuntime`` offers the methods of ``AgentRuntime`` that the UI uses, over HTTP (aiohttp) and
Socket.IO (python-socketio ``AsyncClient``) as SPEC §3/§4 define them, so the UI cannot tell the
difference. Each command is ``invoke(<operation>, **keywords)`` over the operation table
(``runtime/api.py``): path, body and query are made from it, and its ``decode`` turns the answer
back into what the runtime method returns. Events arrive per session: a ``session:join {afterSeq, batch: true}`` replays what the
client has not seen, then live events follow. When the server goes away the socket reconnects on
its own, and every session is joined again from the last seq received, so nothing is missed and
nothing is applied twice. A ``ConnectionChanged`` notice tells observers about the link.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from . import api
from . import errors as _errors
from .agent_runtime import SessionsChanged, SessionStatusChanged
from .errors import AgentTuiError
from .models import (
    ArchitectureInfo,
    CreateSessionArgs,
    FileInfo,
    ProfileInfo,
    RestoreResult,
    SessionDetail,
    SessionEvent,
    SessionRuntime,
    SessionSummary,
    WorkspaceChanges,
)

log = logging.getLogger(__name__)

_ERRORS: dict[str, type[AgentTuiError]] = {
    cls.code: cls
    for cls in (
        _errors.InvalidRequest, _errors.UnknownArchitecture, _errors.AgentLoadError, _errors.InvalidPath, _errors.NotFound,
        _errors.SessionNotFound, _errors.ProfileNotFound, _errors.FileNotFound, _errors.PermissionNotFound,
        _errors.AlreadyResolved, _errors.StoreError, _errors.SandboxError, _errors.RuntimeClosed,
        _errors.NotAGitRepository, _errors.NoWorkspace, _errors.CheckpointNotFound,
    )
}
_ERRORS.update(
    dict.fromkeys(
        ("WORKSPACE_BUSY", "NOTHING_TO_COMMIT", "NOTHING_TO_MERGE", "MERGE_CONFLICT", "TARGET_DIRTY", "TARGET_MOVED"),
        _errors.WorkspaceConflict,
    )
)
_EVENTS_PAGE = 2000


class RuntimeClient(Protocol):
    """What the UI needs from a runtime; ``AgentRuntime`` and ``RemoteRuntime`` both provide it."""

    async def start(self) -> None: ...
    async def shutdown(self) -> None: ...
    async def list_sessions(self) -> list[SessionSummary]: ...
    async def create_session(self, args: CreateSessionArgs | dict[str, Any]) -> SessionSummary: ...
    async def send_message(self, session_id: str, content: str) -> tuple[str, bool]: ...
    async def rename_session(self, session_id: str, name: str) -> SessionSummary: ...
    async def interrupt(self, session_id: str) -> bool: ...
    async def terminate_environment(self, session_id: str) -> SessionRuntime: ...
    def subscribe(self, session_id: str, after_seq: int = 0) -> Any: ...
    def add_observer(self, observer: Callable[[Any], None]) -> Callable[[], None]: ...
    # Workspaces (SPEC §10)
    async def get_changes(self, session_id: str) -> WorkspaceChanges: ...
    async def get_diff(self, session_id: str, path: str | None = None, context: int = 3) -> str: ...
    async def commit(self, session_id: str, message: str) -> str: ...
    async def merge(self, session_id: str, into: str | None = None, strategy: str = "merge") -> dict[str, Any]: ...
    async def discard(self, session_id: str, paths: list[str] | None = None) -> list[str]: ...
    async def restore_checkpoint(self, session_id: str, checkpoint: str | int) -> RestoreResult: ...
    async def fork_session(self, session_id: str, checkpoint: str | int, *, name: str | None = None,
                           branch: str | None = None) -> SessionSummary: ...


class ServerUnreachable(AgentTuiError):
    code = "SERVER_UNREACHABLE"
    status = 503


class Unauthorized(AgentTuiError):
    code = "UNAUTHORIZED"
    status = 401


@dataclass(frozen=True)
class ConnectionChanged:
    """A remote client lost or regained its server."""

    connected: bool
    message: str


def _error(body: Any, status: int) -> AgentTuiError:
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        code = str(body.get("code") or "INTERNAL_ERROR")
        cls = _ERRORS.get(code, AgentTuiError)
        exc = cls(body["error"], code=code, details=body.get("details"))
        exc.status = status
        return exc
    return AgentTuiError(f"server answered {status}", code="INTERNAL_ERROR")


class RemoteSubscription:
    """Events of one session after ``after_seq``: replayed, then live, each once, in order."""

    def __init__(self, remote: RemoteRuntime, session_id: str, after_seq: int) -> None:
        self.remote = remote
        self.session_id = session_id
        self.last_seq = after_seq
        self._buffer: deque[SessionEvent] = deque()
        self._wakeup = asyncio.Event()
        self._closed = False
        #: Up to this seq the events come over HTTP (the room was joined before this subscriber).
        self._replay_until: int | None = None
        self._started = False

    def _deliver(self, events: list[SessionEvent]) -> None:
        if not self._closed:
            self._buffer.extend(events)
            self._wakeup.set()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.remote._unsubscribe(self)
            self._wakeup.set()

    @property
    def closed(self) -> bool:
        return self._closed

    def __aiter__(self) -> RemoteSubscription:
        return self

    async def __anext__(self) -> SessionEvent:
        while True:
            batch = await self.next_batch(1)
            if batch:
                return batch[0]

    async def next_batch(self, limit: int = 10_000) -> list[SessionEvent]:
        if not self._started:
            self._started = True
            self._replay_until = await self.remote._attach(self)
        if self._replay_until is not None and self.last_seq < self._replay_until:
            events, _ = await self.remote.get_events(self.session_id, self.last_seq, min(limit, _EVENTS_PAGE))
            if events:
                self.last_seq = events[-1].seq
                return events
            self._replay_until = None
        while True:
            out: list[SessionEvent] = []
            while self._buffer and len(out) < limit:
                event = self._buffer.popleft()
                if event.seq > self.last_seq:
                    out.append(event)
                    self.last_seq = event.seq
            if out:
                return out
            if self._closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()

    async def aclose(self) -> None:
        self.close()


@dataclass
class _Room:
    last_seq: int
    subscribers: set[RemoteSubscription]
    joined: bool = False


class RemoteRuntime:
    """A remote agent-tui (``agent-tui serve`` or ``agent-tui --serve``) with ``AgentRuntime``'s interface."""

    def __init__(self, url: str, token: str | None = None, *, reconnection_delay: float = 0.5,
                 reconnection_delay_max: float = 3.0, request_timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.server = None  # a remote client serves nothing itself
        self._reconnection_delay = reconnection_delay
        self._reconnection_delay_max = reconnection_delay_max
        self._timeout = request_timeout
        self._observers: list[Callable[[Any], None]] = []
        self._rooms: dict[str, _Room] = {}
        self._http: Any = None
        self._sio: Any = None
        self._connected = False
        self._ever_connected = False
        self._closing = False
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        import aiohttp
        import socketio

        if self._http is None:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            self._http = aiohttp.ClientSession(
                headers=headers, timeout=aiohttp.ClientTimeout(total=self._timeout))
        if self._sio is None:
            sio = socketio.AsyncClient(reconnection=True, reconnection_attempts=0,
                                       reconnection_delay=self._reconnection_delay,
                                       reconnection_delay_max=self._reconnection_delay_max,
                                       randomization_factor=0.2)
            sio.on("connect", self._on_connect)
            sio.on("disconnect", self._on_disconnect)
            sio.on("stream:event", self._on_stream_event)
            sio.on("stream:events", self._on_stream_events)
            sio.on("session:status", self._on_status)
            sio.on("sessions:changed", self._on_sessions_changed)
            self._sio = sio
        # HTTP first: a wrong or missing token gets a clear answer here (Socket.IO only says that
        # the namespace refused the connection).
        try:
            await self._request("GET", "/sessions")
        except AgentTuiError as exc:
            if exc.status == 401:
                raise Unauthorized(f"{self.url} refused the token: {exc.message} "
                                   "(pass --token-file, set AGENT_TUI_TOKEN or pass --token)") from exc
            raise
        try:
            await self._sio.connect(self.url, auth={"token": self.token} if self.token else None,
                                    transports=["websocket"], socketio_path="socket.io", wait_timeout=10)
        except Exception as exc:
            raise ServerUnreachable(f"cannot connect to {self.url}: {_reason(exc)}") from exc

    async def shutdown(self) -> None:
        self._closing = True
        for room in list(self._rooms.values()):
            for sub in list(room.subscribers):
                sub._closed = True
                sub._wakeup.set()
        self._rooms.clear()
        if self._sio is not None:
            with contextlib.suppress(Exception):
                await self._sio.disconnect()
        for task in list(self._tasks):
            task.cancel()
        if self._http is not None:
            with contextlib.suppress(Exception):
                await self._http.close()
            self._http = None

    async def __aenter__(self) -> RemoteRuntime:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.shutdown()

    @property
    def connected(self) -> bool:
        return self._connected

    # ------------------------------------------------------------------ observers

    def add_observer(self, observer: Callable[[Any], None]) -> Callable[[], None]:
        self._observers.append(observer)
        return lambda: self._observers.remove(observer) if observer in self._observers else None

    def _notify(self, notice: Any) -> None:
        for observer in list(self._observers):
            try:
                observer(notice)
            except Exception:
                log.exception("observer failed")

    # ------------------------------------------------------------------ socket events

    async def _on_connect(self) -> None:
        self._connected = True
        again = self._ever_connected
        self._ever_connected = True
        # After a reconnect the server knows nothing of us: join every room again from its last seq.
        for session_id, room in list(self._rooms.items()):
            room.joined = False
            self._spawn(self._join(session_id, room.last_seq))
        if again:
            self._notify(ConnectionChanged(True, f"Reconnected to {self.url}"))

    async def _on_disconnect(self, *args: Any) -> None:
        was = self._connected
        self._connected = False
        for room in self._rooms.values():
            room.joined = False
        if was and not self._closing:
            self._notify(ConnectionChanged(False, f"Lost the connection to {self.url}; reconnecting…"))

    async def _on_stream_event(self, data: Any) -> None:
        if isinstance(data, dict) and isinstance(data.get("event"), dict):
            self._deliver(str(data.get("sessionId")), [data["event"]])

    async def _on_stream_events(self, data: Any) -> None:
        if isinstance(data, dict) and isinstance(data.get("events"), list):
            self._deliver(str(data.get("sessionId")), data["events"])

    def _deliver(self, session_id: str, raw: list[dict[str, Any]]) -> None:
        room = self._rooms.get(session_id)
        if room is None:
            return
        events: list[SessionEvent] = []
        for item in raw:
            try:
                event = SessionEvent.model_validate(item)
            except Exception:  # noqa: BLE001 - a malformed event from a newer server is skipped, loudly
                log.warning("ignored a malformed event for %s", session_id)
                continue
            if event.seq > room.last_seq:
                room.last_seq = event.seq
                events.append(event)
        if events:
            for sub in list(room.subscribers):
                sub._deliver(events)

    async def _on_status(self, data: Any) -> None:
        if isinstance(data, dict) and isinstance(data.get("runtime"), dict):
            try:
                runtime = SessionRuntime.model_validate(data["runtime"])
            except Exception:  # noqa: BLE001
                return
            self._notify(SessionStatusChanged(str(data.get("sessionId")), runtime))

    async def _on_sessions_changed(self, data: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("session"), dict):
            return
        try:
            summary = SessionSummary.model_validate(data["session"])
        except Exception:  # noqa: BLE001
            return
        action = data.get("action")
        if action == "deleted":
            room = self._rooms.pop(summary.session_id, None)
            for sub in list(room.subscribers if room else ()):
                sub._closed = True
                sub._wakeup.set()
        if action in ("created", "updated", "deleted"):
            self._notify(SessionsChanged(action, summary))

    # ------------------------------------------------------------------ rooms

    async def _attach(self, sub: RemoteSubscription) -> int | None:
        """Register ``sub``; join the room if new. Returns the seq up to which ``sub`` reads HTTP."""
        room = self._rooms.get(sub.session_id)
        if room is None:
            room = self._rooms[sub.session_id] = _Room(last_seq=sub.last_seq, subscribers={sub})
            await self._join(sub.session_id, sub.last_seq)
            return None
        room.subscribers.add(sub)
        # The room already streams from room.last_seq: what this subscriber misses before that is
        # in the server's store (persisted before it was ever sent), so it reads it over HTTP.
        return room.last_seq if sub.last_seq < room.last_seq else None

    async def _join(self, session_id: str, after_seq: int) -> None:
        if not self._connected:
            return  # joined on (re)connect
        try:
            ack = await self._call("session:join", {"sessionId": session_id, "afterSeq": after_seq, "batch": True})
        except _errors.SessionNotFound:
            room = self._rooms.pop(session_id, None)
            for sub in list(room.subscribers if room else ()):
                sub._closed = True
                sub._wakeup.set()
            return
        except AgentTuiError as exc:
            log.warning("joining %s failed: %s", session_id, exc.message)
            return
        room = self._rooms.get(session_id)
        if room is not None:
            room.joined = True
        runtime = ack.get("runtime")
        if isinstance(runtime, dict):
            with contextlib.suppress(Exception):
                self._notify(SessionStatusChanged(session_id, SessionRuntime.model_validate(runtime)))

    def _unsubscribe(self, sub: RemoteSubscription) -> None:
        room = self._rooms.get(sub.session_id)
        if room is None:
            return
        room.subscribers.discard(sub)
        if not room.subscribers:
            del self._rooms[sub.session_id]
            if self._connected and not self._closing:
                self._spawn(self._leave(sub.session_id))

    async def _leave(self, session_id: str) -> None:
        if session_id in self._rooms:
            return  # subscribed again meanwhile
        with contextlib.suppress(AgentTuiError):
            await self._call("session:leave", {"sessionId": session_id})

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call(self, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        if self._sio is None or not self._connected:
            raise ServerUnreachable(f"not connected to {self.url}")
        try:
            ack = await self._sio.call(event, payload, timeout=self._timeout)
        except Exception as exc:
            raise ServerUnreachable(f"{event} to {self.url} failed: {_reason(exc)}") from exc
        if not isinstance(ack, dict):
            raise AgentTuiError(f"unexpected answer to {event}")
        if not ack.get("success"):
            raise _error(ack, 400)
        return ack

    # ------------------------------------------------------------------ HTTP

    async def _request(self, method: str, path: str, body: Any = None, *, raw: bool = False,
                       params: dict[str, Any] | None = None) -> Any:
        if self._http is None:
            raise ServerUnreachable("the client is not started")
        try:
            async with self._http.request(method, self.url + path, json=body, params=params) as response:
                data = await response.read()
                if response.status >= 400:
                    try:
                        parsed = await response.json(content_type=None)
                    except Exception:  # noqa: BLE001
                        parsed = None
                    raise _error(parsed, response.status)
                if raw:
                    return data
                return await response.json(content_type=None)
        except AgentTuiError:
            raise
        except Exception as exc:
            raise ServerUnreachable(f"{method} {path} failed: {_reason(exc)}") from exc

    async def invoke(self, name: str, /, **call: Any) -> Any:
        """Run operation ``name`` of the table (``runtime/api.py``) on the server, with the runtime
        method's keywords (positional-only ``name``: ``fork_session`` has a ``name`` keyword);
        returns what the runtime method returns. The typed methods below call it."""
        op = api.operation(name)
        request = api.http_call(op, call)
        body = await self._request(
            request.method, request.path, request.body, raw=op.raw is not None, params=request.query
        )
        return op.decode(body)

    async def list_sessions(self) -> list[SessionSummary]:
        return await self.invoke("listSessions")

    async def create_session(self, args: CreateSessionArgs | dict[str, Any]) -> SessionSummary:
        if not isinstance(args, CreateSessionArgs):
            args = CreateSessionArgs.model_validate(args)
        return await self.invoke("createSession", args=args)

    async def get_session(self, session_id: str) -> SessionDetail:
        return await self.invoke("getSession", session_id=session_id)

    async def get_summary(self, session_id: str) -> SessionSummary:
        request = api.http_call(api.operation("getSession"), {"session_id": session_id})
        return SessionSummary.model_validate(await self._request(request.method, request.path))

    async def delete_session(self, session_id: str) -> dict[str, Any]:
        return await self.invoke("deleteSession", session_id=session_id)

    async def rename_session(self, session_id: str, name: str) -> SessionSummary:
        return await self.invoke("renameSession", session_id=session_id, name=name)

    async def send_message(self, session_id: str, content: str) -> tuple[str, bool]:
        return await self.invoke("sendMessage", session_id=session_id, content=content)

    async def interrupt(self, session_id: str) -> bool:
        return await self.invoke("interrupt", session_id=session_id)

    async def mark_read(self, session_id: str) -> SessionSummary:
        return await self.invoke("markRead", session_id=session_id)

    async def terminate_environment(self, session_id: str) -> SessionRuntime:
        return await self.invoke("terminateEnvironment", session_id=session_id)

    async def update_options(self, session_id: str, options: dict[str, Any]) -> dict[str, Any]:
        return await self.invoke("updateOptions", session_id=session_id, options=options)

    async def resolve_permission(self, session_id: str, request_id: str, decision: str,
                                 message: str | None = None, by: str | None = None) -> None:
        # ``by`` is the server's to say ("http client"); an empty message is no message.
        await self.invoke("resolvePermission", session_id=session_id, request_id=request_id,
                          decision=decision, message=message or None)

    async def get_events(self, session_id: str, after_seq: int = 0,
                         limit: int | None = None) -> tuple[list[SessionEvent], int]:
        return await self.invoke("listEvents", session_id=session_id, after_seq=max(after_seq, 0), limit=limit)

    async def list_files(self, session_id: str) -> list[FileInfo]:
        return await self.invoke("listFiles", session_id=session_id)

    async def read_file(self, session_id: str, path: str) -> bytes:
        return await self.invoke("readFile", session_id=session_id, path=path)

    # ------------------------------------------------------------------ workspaces (SPEC §10)

    async def get_changes(self, session_id: str) -> WorkspaceChanges:
        return await self.invoke("getChanges", session_id=session_id)

    async def get_diff(self, session_id: str, path: str | None = None, context: int = 3) -> str:
        return await self.invoke("getDiff", session_id=session_id, path=path, context=context)

    async def commit(self, session_id: str, message: str) -> str:
        return await self.invoke("commitChanges", session_id=session_id, message=message)

    async def merge(self, session_id: str, into: str | None = None, strategy: str = "merge") -> dict[str, Any]:
        return await self.invoke("mergeChanges", session_id=session_id, into=into, strategy=strategy)

    async def discard(self, session_id: str, paths: list[str] | None = None) -> list[str]:
        return await self.invoke("discardChanges", session_id=session_id, paths=paths)

    async def restore_checkpoint(self, session_id: str, checkpoint: str | int) -> RestoreResult:
        return await self.invoke("restoreCheckpoint", session_id=session_id, checkpoint=checkpoint)

    async def fork_session(self, session_id: str, checkpoint: str | int, *, name: str | None = None,
                           branch: str | None = None) -> SessionSummary:
        return await self.invoke("forkSession", session_id=session_id, checkpoint=checkpoint, name=name,
                                 branch=branch)

    async def list_profiles(self) -> list[ProfileInfo]:
        return await self.invoke("listProfiles")

    async def list_architectures(self) -> list[ArchitectureInfo]:
        return await self.invoke("listArchitectures")

    async def health(self) -> dict[str, Any]:
        return await self._request("GET", "/health")

    # ------------------------------------------------------------------ events

    def subscribe(self, session_id: str, after_seq: int = 0) -> RemoteSubscription:
        return RemoteSubscription(self, session_id, max(after_seq, 0))


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 300 else text[:300] + "…"
