"""ClusterRuntime: an ``AgentRuntime`` that is one node of a multi-node team server.

- It runs (holds an ``AgentSession`` for) only the sessions it has a lease on (leases.py).
- Any node answers lists, details and event pages from Postgres, and streams a session another
  node owns by tailing Postgres (tail.py), woken through Redis by the owner's commits.
- Commands on a session another node owns (the operations ``runtime/api.py`` marks ``forwarded``:
  message, interrupt, permission answers, options, rename, terminate, delete, files, and the
  workspace's changes, diff, commit, merge and discard) are forwarded to the owner over its HTTP
  API, with the shared token; the methods are made from the table below the class. If the owner does not answer, the lease runs out within ``ttl`` and a node takes the
  session over: its running query is closed as ``INTERRUPTED_BY_RESTART`` and its queued
  messages run; the forwarded command then runs there.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, TypeVar

import aiohttp

from .. import api
from ..agent_runtime import AgentRuntime, SessionsChanged
from ..config import RuntimeConfig
from ..errors import AgentTuiError, InvalidRequest, SessionNotFound, StoreError
from ..models import (
    CreateSessionArgs,
    SessionDetail,
    SessionEvent,
    SessionSummary,
    WorkspaceInfo,
)
from ..reducer import SessionState, reduce_events
from ..sessions.manager import new_session_id
from ..sessions.session import AgentSession
from ..store.postgres import PostgresStore
from ..store.summaries import Digest
from .leases import LeaseTable
from .tail import TailSubscription, Wakeups

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Redis channel the owner of a session announces its commits on ("<sessionId>").
COMMITS_CHANNEL = "agent-tui:commits"
#: Most orphaned sessions one node takes per tick (the others get theirs on the same tick).
_CLAIM_BATCH = 25
_FORWARD_TIMEOUT = 30.0


class _RemoteView:
    """A session another node runs, as this node sees it in Postgres (for summaries and details)."""

    summary = AgentSession.summary
    detail = AgentSession.detail
    last_activity = AgentSession.last_activity
    _workspace_info = AgentSession._workspace_info
    view = AgentSession.view

    def __init__(self, record: dict[str, Any]) -> None:
        self.id: str = record["sessionId"]
        # ``view`` (borrowed from AgentSession) reads ``_state``: the same object, reduced in place.
        self.state = self._state = SessionState()
        # What ``summary()`` reads of the sandbox: its backend's name, as stored.
        self.environment = SimpleNamespace(primitive_name=record.get("primitive", "local"))
        #: Whether ``state`` holds the reduced log; a list needs only the stored summary.
        self.loaded = False
        self.set_record(record)

    def set_record(self, record: dict[str, Any]) -> None:
        self.record = record
        self.digest = Digest.from_json(record.get("summary"))
        self.unread = int(record.get("unread") or 0)

    @property
    def workspace(self) -> _StoredWorkspace | None:
        """What ``summary()`` reads of the session's workspace: the stored record only (the worktree
        itself is on the owner's machine)."""
        entry = self.record.get("workspace")
        return _StoredWorkspace(entry) if entry else None


class _StoredWorkspace:
    def __init__(self, entry: dict[str, Any]) -> None:
        self.entry = entry

    def info(self) -> WorkspaceInfo:
        return WorkspaceInfo.model_validate(self.entry)


class ClusterRuntime(AgentRuntime):
    def __init__(
        self,
        config: RuntimeConfig,
        *,
        redis_url: str | None = None,
        lease_ttl_s: float = 3.0,
        node_id: str | None = None,
    ) -> None:
        super().__init__(config)
        if not isinstance(self.store, PostgresStore):
            raise InvalidRequest("a cluster node needs the Postgres store (--database-url postgresql://...)")
        self.node_id = node_id or f"node-{uuid.uuid4().hex[:12]}"
        self.pg.fence_node_id = self.node_id
        self.node_url: str | None = None
        self.redis_url = redis_url
        self.lease_ttl_s = lease_ttl_s
        self.leases: LeaseTable | None = None
        self.wakeups = Wakeups()
        self._views: dict[str, _RemoteView] = {}
        self._http: aiohttp.ClientSession | None = None
        self._redis: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._last_tick = 0.0
        self._owning = asyncio.Lock()

    @property
    def pg(self) -> PostgresStore:
        assert isinstance(self.store, PostgresStore)
        return self.store

    # ------------------------------------------------------------------ lifecycle

    async def _load_sessions(self) -> None:
        """Nothing yet: sessions are taken by lease once the node knows its URL (``join_cluster``)."""

    async def join_cluster(self, node_url: str) -> None:
        """Start owning sessions; ``node_url`` is where the other nodes forward commands to."""
        self.node_url = node_url.rstrip("/")
        self.leases = LeaseTable(self.pg, self.node_id, self.node_url, self.lease_ttl_s)
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=_FORWARD_TIMEOUT))
        assert self.bus is not None
        self.bus.add_listener(None, self._committed)
        if self.redis_url:
            import redis.asyncio as aioredis

            self._redis = aioredis.from_url(self.redis_url)
            self._tasks.append(asyncio.get_running_loop().create_task(self._listen(), name="cluster-wakeups"))
        await self._tick()
        self._tasks.append(asyncio.get_running_loop().create_task(self._lease_loop(), name="cluster-leases"))
        log.info("cluster node %s at %s joined", self.node_id, self.node_url)

    async def shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # Bounded: a library that swallows a cancel (seen with Python 3.11's wait_for) must
            # not keep the node from handing its leases back.
            _done, stuck = await asyncio.wait(self._tasks, timeout=5)
            for task in stuck:
                log.warning("cluster task %s did not stop when cancelled", task.get_name())
        # Close queries and sandboxes first (the store is still open), then hand the leases back
        # so another node takes the sessions at once instead of after ``ttl``.
        if self._started and not self._closed:
            await self._shutdown_sessions()
            if self.leases is not None:
                with contextlib.suppress(Exception):
                    await self.leases.release_all()
        await super().shutdown()
        if self._http is not None:
            await self._http.close()
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._redis.aclose(), 2)

    async def _shutdown_sessions(self) -> None:
        assert self.sessions is not None and self.bus is not None
        if self.server is not None:
            with contextlib.suppress(Exception):
                await self.server.stop()
            self.server = None
        await self.sessions.shutdown()
        await self.bus.flush()
        self.sessions.sessions.clear()

    # ------------------------------------------------------------------ leases

    def health_ready(self) -> tuple[bool, str]:
        if not self._started or self._closed or self.leases is None:
            return False, "not started"
        age = time.monotonic() - self._last_tick
        if age > self.lease_ttl_s:
            return False, f"leases not renewed for {age:.1f} s (Postgres unreachable?)"
        return True, "ok"

    async def _lease_loop(self) -> None:
        interval = self.lease_ttl_s / 4
        while True:
            await asyncio.sleep(interval)
            try:
                await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Postgres restarting: try again next tick
                log.warning("cluster node %s: lease renewal failed: %s", self.node_id, exc)

    async def _tick(self) -> None:
        assert self.leases is not None and self.sessions is not None
        async with self._owning:
            owned = await self.leases.renew()
            for session_id in [s for s in self.sessions.sessions if s not in owned]:
                self._lost(session_id)
            renewed = time.monotonic()
            claimed = await self.leases.claim(_CLAIM_BATCH)
            for session_id in claimed:
                await self._take_over(session_id)
                if time.monotonic() - renewed > self.lease_ttl_s / 4:
                    # Loading many sessions takes a while: keep every lease (new ones too) alive.
                    await self.leases.renew()
                    renewed = time.monotonic()
        self._last_tick = time.monotonic()

    def _lost(self, session_id: str) -> None:
        """Another node owns it now (this one missed its renewals): stop running it here."""
        assert self.sessions is not None and self.bus is not None
        session = self.sessions.sessions.pop(session_id, None)
        log.warning("cluster node %s lost the lease on session %s", self.node_id, session_id)
        self.bus.forget_session(session_id)
        if session is not None:
            # Its writes would be refused by the store's high-water check anyway.
            task = asyncio.get_running_loop().create_task(session.close("shutdown"))
            task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    async def _take_over(self, session_id: str) -> None:
        assert self.sessions is not None and self.bus is not None
        if self._is_local(session_id):
            return
        record = await self.store.load_session(session_id)
        if record is None:
            return
        self.bus.forget_session(session_id)  # a high-water mark from an earlier ownership is stale
        session = await self.sessions.load(record, rerun_queued=True)
        if session is not None:
            self._views.pop(session_id, None)
            log.info("cluster node %s took over session %s", self.node_id, session_id)
            self._notify(SessionsChanged("updated", session.summary()))

    async def _own(self, session_id: str) -> bool:
        """Take ``session_id`` now if nobody holds a live lease on it."""
        assert self.leases is not None
        async with self._owning:
            if self._is_local(session_id):
                return True
            claimed = await self.leases.claim(1, only=session_id)
            for sid in claimed:
                await self._take_over(sid)
        return self._is_local(session_id)

    # ------------------------------------------------------------------ wake-ups

    def _committed(self, session_id: str, events: list[SessionEvent]) -> None:
        self.wakeups.signal(session_id)
        if self._redis is not None:
            task = asyncio.get_running_loop().create_task(self._announce(session_id))
            task.add_done_callback(lambda t: None if t.cancelled() else t.exception())

    async def _announce(self, session_id: str) -> None:
        with contextlib.suppress(Exception):  # a lost wake-up costs latency (tails poll), not events
            await self._redis.publish(COMMITS_CHANNEL, session_id)

    async def _listen(self) -> None:
        while True:
            try:
                pubsub = self._redis.pubsub()
                await pubsub.subscribe(COMMITS_CHANNEL)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        data = message["data"]
                        self.wakeups.signal(data.decode() if isinstance(data, bytes) else str(data))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis restarting
                log.warning("cluster wake-ups from Redis interrupted: %s", exc)
                await asyncio.sleep(1.0)

    # ------------------------------------------------------------------ where a session lives

    def _is_local(self, session_id: str) -> bool:
        return self.sessions is not None and session_id in self.sessions.sessions

    async def _view(self, session_id: str, record: dict[str, Any] | None = None) -> _RemoteView:
        """The session as stored, reduced up to its latest event (incrementally, cached)."""
        view = self._views.get(session_id)
        if record is None and isinstance(session_id, str):
            record = await self.store.load_session(session_id)
        if record is None:
            self._views.pop(session_id, None)
            raise SessionNotFound(f"session {session_id!r} not found")
        if view is None:
            view = self._views[session_id] = _RemoteView(record)
        view.set_record(record)
        while True:
            page = await self.store.load_events(session_id, view.state.last_seq, 5000)
            reduce_events(page, view.state)
            if len(page) < 5000:
                view.loaded = True
                return view

    async def _on_owner(
        self, session_id: str, local: Callable[[], Awaitable[T]], op: api.Operation, call: dict[str, Any]
    ) -> T:
        """Run a command where the session lives: here, or on its owner over HTTP."""
        self._manager()
        deadline = time.monotonic() + self.lease_ttl_s * 3 + 2
        while True:
            if self._is_local(session_id):
                return await local()
            assert self.leases is not None
            lease = await self.leases.owner(session_id)
            if lease is None or not lease.live:
                await self._view(session_id)  # SessionNotFound for an unknown id
                if await self._own(session_id):
                    continue
            elif lease.node_id == self.node_id:
                # Ours in the table but not loaded (a renewal raced a take-over): load it.
                if await self._own(session_id):
                    continue
            else:
                try:
                    return op.decode(await self._forward(lease.node_url, op, call))
                except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                    log.info(
                        "owner %s of %s did not answer (%s); waiting for its lease",
                        lease.node_url,
                        session_id,
                        exc,
                    )
                except AgentTuiError as exc:
                    if exc.code not in ("RUNTIME_CLOSED", "SESSION_NOT_FOUND"):
                        raise
                    # The owner is shutting down, or handed the session on since we looked: ask
                    # again where it lives (a deleted session ends as SESSION_NOT_FOUND above).
            if time.monotonic() > deadline:
                raise StoreError(f"the node owning session {session_id} does not answer; try again")
            await asyncio.sleep(self.lease_ttl_s / 6)

    async def _forward(self, node_url: str, op: api.Operation, call: dict[str, Any]) -> Any:
        assert self._http is not None
        request = api.http_call(op, call)
        headers = {"Content-Type": "application/json"}
        if self.config.token:
            headers["Authorization"] = f"Bearer {self.config.token}"
        async with self._http.request(
            request.method, node_url + request.path, json=request.body, params=request.query, headers=headers
        ) as response:
            # A raw body (file bytes, a diff) is bytes whatever its type: a .json file is served as JSON.
            if response.status < 400 and op.raw is not None:
                return await response.read()
            if response.content_type != "application/json":
                data = await response.read()
                if response.status >= 400:
                    raise AgentTuiError(f"owner node answered {response.status}")
                return data
            payload = await response.json()
            if response.status >= 400:
                error = AgentTuiError(
                    str(payload.get("error", "error")), code=str(payload.get("code", "ERROR"))
                )
                error.status = response.status
                raise error
            return payload

    # ------------------------------------------------------------------ reads (from Postgres)

    async def list_sessions(self) -> list[SessionSummary]:
        manager = self._manager()
        out: list[SessionSummary] = []
        for record in await self.store.list_sessions():
            session_id = record["sessionId"]
            local = manager.sessions.get(session_id)
            if local is not None:
                out.append(local.summary())
                continue
            # From the stored summary: listing never reads another node's session logs.
            out.append(self._remote_summary(_RemoteView(record)))
        return out

    def _remote_summary(self, view: _RemoteView) -> SessionSummary:
        summary = view.summary()
        return summary.model_copy(update={"runtime": view.view.runtime(is_loaded=False)})

    async def get_session(self, session_id: str) -> SessionDetail:
        if self._is_local(session_id):
            return await super().get_session(session_id)
        self._manager()
        view = await self._view(session_id)
        detail = view.detail()
        return detail.model_copy(update={"runtime": view.state.runtime(is_loaded=False)})

    async def get_summary(self, session_id: str) -> SessionSummary:
        if self._is_local(session_id):
            return await super().get_summary(session_id)
        self._manager()
        return self._remote_summary(await self._view(session_id))

    async def get_events(
        self, session_id: str, after_seq: int = 0, limit: int | None = None
    ) -> tuple[list[SessionEvent], int]:
        if self._is_local(session_id):
            return await super().get_events(session_id, after_seq, limit)
        self._manager()
        await self._view(session_id)
        events = await self.store.load_events(session_id, max(after_seq, 0), limit)
        return events, await self.store.last_seq(session_id)

    def subscribe(self, session_id: str, after_seq: int = 0) -> Any:
        if self._is_local(session_id):
            return super().subscribe(session_id, after_seq)
        self._manager()
        if session_id not in self._views:
            # Callers look the session up first (get_summary), which caches its view.
            raise SessionNotFound(f"session {session_id!r} not found")
        return TailSubscription(self.store, self.wakeups, session_id, after_seq)

    # ------------------------------------------------------------------ commands (on the owner)

    async def create_session(self, args: Any) -> SessionSummary:
        if not isinstance(args, CreateSessionArgs):
            args = CreateSessionArgs.model_validate(args)
        manager = self._manager()
        assert self.leases is not None
        # The lease first: a session row without one would be claimed by any node's next tick.
        session_id = new_session_id()
        await self.leases.take_new(session_id)
        try:
            session = await manager.create(args, session_id=session_id)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.leases.release(session_id)
            raise
        summary = session.summary()
        self._notify(SessionsChanged("created", summary))
        return summary

    async def delete_session(self, session_id: str) -> dict[str, Any]:
        kept = await self.on_owner("deleteSession", session_id=session_id)
        self._views.pop(session_id, None)
        return kept

    async def on_owner(self, name: str, /, **call: Any) -> Any:
        """Run operation ``name`` of the table (runtime/api.py) where the session lives."""
        op = api.operation(name)
        local = getattr(AgentRuntime, op.method)
        return await self._on_owner(call["session_id"], lambda: local(self, **call), op, call)


def _forwarding(op: api.Operation) -> Callable[..., Awaitable[Any]]:
    """``ClusterRuntime.<op.method>``: the runtime method, run on the node owning the session."""
    base = getattr(AgentRuntime, op.method)
    signature = inspect.signature(base)

    @functools.wraps(base)
    async def forwarded(self: ClusterRuntime, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        call = dict(bound.arguments)
        del call["self"]
        return await self.on_owner(op.name, **call)

    return forwarded


# The commands the table marks ``forwarded`` (those written above by hand excepted), installed
# when this module is imported.
for _op in api.OPERATIONS:
    if _op.forwarded and _op.method not in vars(ClusterRuntime):
        setattr(ClusterRuntime, _op.method, _forwarding(_op))
