"""SessionManager: creates, loads, recovers and deletes sessions; owns the AgentSession objects."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

from ..architectures import canonical_id, get_architecture
from ..config import RuntimeConfig
from ..errors import InvalidRequest, SessionNotFound, StoreError
from ..events import EventBus
from ..jsonsafe import require_storable
from ..models import CreateSessionArgs, now_ms
from ..primitives import registry as primitives
from ..primitives.registry import DEFAULT_PRIMITIVE, PrimitiveContext
from ..profiles import ProfileRegistry
from ..reducer import SessionState, reduce_events
from ..store.base import SessionRecord, SessionStore
from ..store.summaries import Digest
from ..workspaces import Workspace, resolve_workspace
from .environment import ExecutionEnvironment
from .session import AgentSession

log = logging.getLogger(__name__)

_LOAD_PAGE = 5000


class SessionManager:
    def __init__(
        self,
        config: RuntimeConfig,
        store: SessionStore,
        bus: EventBus,
        profiles: ProfileRegistry,
        primitive_context: PrimitiveContext,
        on_runtime_change: Callable[[AgentSession], None],
        on_query_end: Callable[[AgentSession], None],
    ) -> None:
        self.config = config
        self._last_created = 0
        self.store = store
        self.bus = bus
        self.profiles = profiles
        self.primitive_context = primitive_context
        self._on_runtime_change = on_runtime_change
        self._on_query_end = on_query_end
        self.sessions: dict[str, AgentSession] = {}

    # ------------------------------------------------------------------ build

    def _build(
        self, record: SessionRecord, state: SessionState | None, *, digest: Digest | None = None, unread: int = 0,
        loaded: bool = True,
    ) -> AgentSession:
        architecture = get_architecture(record["architecture"])
        try:
            profile = self.profiles.get(record.get("agentProfileRef", "default"))
        except Exception:  # noqa: BLE001 - a profile file removed since; keep the session usable
            profile = self.profiles.get("default")
        primitive_name = record.get("primitive", DEFAULT_PRIMITIVE)
        kind = primitives.get(primitive_name)
        session_id = record["sessionId"]
        env = ExecutionEnvironment(
            session_id,
            primitive_name=primitive_name,
            # partials, not closures: ~200 bytes less for each live session (docs/reliability.md #9)
            make_primitive=partial(kind.create, session_id, self.primitive_context),
            publish=partial(self.bus.publish_one, session_id),
            store=self.store,
            architecture=architecture.id,
            has_transcript=architecture.has_transcript,
            profile=profile,
            python=self.config.runner_python if kind.capabilities.on_host else "python3",
            idle_timeout_s=self.config.idle_timeout_ms / 1000,
        )
        session = AgentSession(
            record,
            bus=self.bus,
            architecture=architecture,
            profile=profile,
            environment=env,
            state=state,
            config=self.config,
            host_env=self.config.host_env,
            on_runtime_change=self._on_runtime_change,
            on_query_end=self._on_query_end,
            digest=digest,
            unread=unread,
            loaded=loaded,
        )
        if record.get("workspace"):
            session.workspace = self._workspace(session_id, record["workspace"])
            session.workspace.agent_busy = lambda: session.busy
            env.prepare = session.workspace.prepare_sandbox
            env.after_start = session.workspace.sync_up
            env.before_drop = session.workspace.save_from
            env.setup = session.workspace.run_setup
        return session

    def _workspace(self, session_id: str, entry: dict[str, Any]) -> Workspace:
        async def persist(updated: dict[str, Any]) -> None:
            await self.store.update_session(session_id, {"workspace": updated})

        return Workspace(
            session_id,
            entry,
            publish=lambda kind, payload: self.bus.publish_one(session_id, kind, payload),
            persist=persist,
        )

    # ------------------------------------------------------------------ start-up

    async def load_all(self) -> None:
        """Every session from its stored summary; only one a restart must close reads its log."""
        records = await self.store.list_sessions()
        for record in records:
            # A store without summaries (an embedder's own adapter) gets every log read, as before.
            if "summary" in record and Digest.from_json(record["summary"]).quiet:
                await self.install(record)
            else:
                await self.load(record)
        in_use = {self.config.primitive, *(r.get("primitive", DEFAULT_PRIMITIVE) for r in records)}
        for name in primitives.names():
            if name in in_use and primitives.capabilities(name).orphan_sweep:
                await self._sweep_orphans(name)

    async def _sweep_orphans(self, name: str) -> None:
        """End the sandboxes of backend ``name`` that no session owns (no leaked cost)."""
        owned = {
            s.environment.primitive.environment_id
            for s in self.sessions.values()
            if s.environment.primitive_name == name
            and s.environment.primitive is not None
            and s.environment.primitive.environment_id
        }
        try:
            await primitives.get(name).sweep_orphans(self.primitive_context, {i for i in owned if i})
        except Exception:
            log.exception("sweeping orphaned %s sandboxes failed", name)

    async def install(self, record: SessionRecord) -> AgentSession | None:
        """A quiet session from its summary alone: its log is read when it is opened."""
        record = dict(record)
        digest = Digest.from_json(record.pop("summary", None))
        unread = int(record.pop("unread", 0) or 0)
        try:
            session = self._build(record, None, digest=digest, unread=unread, loaded=False)
        except Exception:
            log.exception("session %s could not be loaded; it is kept in the store untouched", record["sessionId"])
            return None
        self.sessions[session.id] = session
        if session.workspace is not None:
            try:
                await session.workspace.check_on_load()
            except Exception:
                log.exception("session %s: checking its worktree failed", session.id)
        return session

    async def open(self, session_id: str) -> AgentSession:
        """The session with its log in memory (read now if it was not)."""
        session = self.get(session_id)
        session.touched = time.monotonic()
        if not session.loaded:
            async with session.load_lock:
                if not session.loaded:
                    session.load_buffer = []
                    try:
                        state = await self._read_damaged_safe(session_id)
                        # Delivered while the pages were read: applied once, by seq.
                        reduce_events([e for e in session.load_buffer if e.seq > state.last_seq], state)
                    finally:
                        session.load_buffer = None
                    session.install_state(state)
        return session

    def evict_idle(self, idle_s: float, now: float | None = None) -> list[str]:
        """Drop the reduced log of sessions nobody looked at for ``idle_s``: nothing running, queued
        or asked, no subscriber. Their summary stays; the next ``open`` reads the log again."""
        now = time.monotonic() if now is None else now
        evicted = []
        for session in self.sessions.values():
            if (
                session.loaded
                and now - session.touched >= idle_s
                and not session.busy
                and not session.state.pending_permissions
                and not session.state.queued
                and not session.state.unstarted
                and self.bus.subscriber_count(session.id) == 0
                and not session.loading
            ):
                session.unload()
                evicted.append(session.id)
        return evicted

    async def _read_damaged_safe(self, session_id: str) -> SessionState:
        try:
            return await self._read_log(session_id)
        except StoreError:
            raise
        except Exception as exc:  # a damaged row: say so, keep it in the file, keep serving
            log.error("session %s could not be loaded (its log is damaged: %s); it is kept in the store untouched",
                      session_id, exc)
            raise StoreError(f"session {session_id} could not be loaded: its log is damaged ({exc}); "
                             "it is kept in the store untouched") from exc

    async def _read_log(self, session_id: str) -> SessionState:
        state = SessionState()
        after = 0
        while True:
            page = await self.store.load_events(session_id, after, _LOAD_PAGE)
            reduce_events(page, state)
            if len(page) < _LOAD_PAGE:
                return state
            after = page[-1].seq

    async def load(self, record: SessionRecord, *, rerun_queued: bool = False) -> AgentSession | None:
        """Load one stored session and recover it (``rerun_queued``: a cluster node taking over a
        dead node's session runs its queued messages instead of closing them)."""
        session_id = record["sessionId"]
        record = dict(record)
        digest = Digest.from_json(record.pop("summary", None))
        unread = int(record.pop("unread", 0) or 0)
        try:
            state = await self._read_log(session_id)
            await self.bus.open_session(session_id)
            # The log just read is the truth (a store without summaries has none to give).
            stored_failed = digest.last_failed and digest.state.last_seq == state.last_seq
            digest = Digest.of_state(state, stored_failed)
            session = self._build(record, state, digest=digest, unread=unread)
        except Exception:
            log.exception("session %s could not be loaded; it is kept in the store untouched", session_id)
            return None
        self.sessions[session_id] = session
        await self._recover(session, rerun_queued=rerun_queued)
        if session.workspace is not None:
            try:
                await session.workspace.check_on_load()
            except Exception:
                log.exception("session %s: checking its worktree failed", session_id)
        return session

    async def _recover(self, session: AgentSession, *, rerun_queued: bool = False) -> None:
        """Close what a dead process left open: a running query, queued messages, pending requests."""
        state = session.state
        rerun = [*state.unstarted, *state.queued] if rerun_queued else []
        drafts: list[dict[str, Any]] = []
        for request_id in list(state.pending_permissions):
            drafts.append(
                {
                    "type": "permission:resolved",
                    "payload": {
                        "requestId": request_id,
                        "decision": "deny",
                        "by": "agent-tui",
                        "message": "agent-tui restarted while this request was pending",
                    },
                }
            )
        if state.active_query is not None:
            drafts.append(
                {
                    "type": "query:failed",
                    "payload": {
                        "messageId": state.active_query["message_id"],
                        "code": "INTERRUPTED_BY_RESTART",
                        "error": "agent-tui stopped while this query was running",
                    },
                }
            )
        # A message accepted while idle whose query had not started yet, and queued messages.
        for message_id in [*state.unstarted, *state.queued]:
            if message_id in rerun:
                continue
            drafts.append(
                {
                    "type": "query:failed",
                    "payload": {
                        "messageId": message_id,
                        "code": "INTERRUPTED_BY_RESTART",
                        "error": "agent-tui stopped before this "
                        + ("queued message" if message_id in state.queued else "message")
                        + " ran",
                    },
                }
            )
        env = state.environment or {}
        environment_id = session.record.get("environmentId")
        reattached = False
        if environment_id and env.get("status") == "ready":
            reattached = await session.environment.reattach(environment_id)
        if env.get("status") in ("starting", "ready") and not reattached:
            drafts.append({"type": "ee:terminated", "payload": {"reason": "shutdown"}})
        if drafts:
            await self.bus.publish(session.id, drafts)
        if rerun:
            session.resume_queued(rerun)
        if session.environment.capabilities.session_sweep:
            kind = primitives.get(session.environment.primitive_name)
            await kind.sweep_session(self.primitive_context, session.id)

    # ------------------------------------------------------------------ operations

    def get(self, session_id: str) -> AgentSession:
        if not isinstance(session_id, str):
            raise SessionNotFound(f"session {session_id!r} not found")
        session = self.sessions.get(session_id)
        if session is None:
            raise SessionNotFound(f"session {session_id!r} not found")
        return session

    async def create(self, args: CreateSessionArgs, *, session_id: str | None = None) -> AgentSession:
        architecture = get_architecture(args.architecture)
        profile = self.profiles.get(args.agent_profile_ref)
        primitive = args.primitive or self.config.primitive
        kind = primitives.get(primitive)  # unknown: INVALID_REQUEST naming the known ones
        require_storable(args.session_options, "sessionOptions")
        require_storable(args.name, "name")
        session_id = session_id or new_session_id()
        # Strictly increasing: the list is ordered by creation time, and sessions created within
        # one millisecond would otherwise come back in id order after a restart.
        created = self._last_created = max(now_ms(), self._last_created + 1)
        record: SessionRecord = {
            "sessionId": session_id,
            "name": (args.name or "").strip() or f"{canonical_id(args.architecture)} {session_id[4:10]}",
            "architecture": architecture.id,
            "agentProfileRef": profile.id,
            "sessionOptions": args.session_options,
            "primitive": primitive,
            "createdAt": created,
            "lastActivity": created,
        }
        if args.workspace is not None:
            if args.workspace.mode == "in-place" and not kind.capabilities.in_place:
                raise InvalidRequest(
                    f'mode "in-place" runs the agent in the folder itself: primitive {primitive!r} cannot'
                )
            if not (kind.capabilities.on_host or kind.capabilities.file_sync):
                raise InvalidRequest(f"primitive {primitive!r} cannot hold a workspace (it has no file sync)")
            record["workspace"] = await resolve_workspace(
                args.workspace, record["name"], self.config.resolved_data_dir() / session_id
            )
        await self.store.create_session(record)
        await self.bus.open_session(session_id)
        # Its log is empty: nothing to hold until it is opened (a message, a client's view).
        session = self._build(record, None, loaded=False)
        self.sessions[session_id] = session
        return session

    async def delete(self, session_id: str) -> dict[str, Any]:
        """Returns what was kept of its workspace (``{branch, branchKept}``; empty without one)."""
        session = self.get(session_id)
        del self.sessions[session_id]
        await session.close("shutdown")
        await session.environment.terminate("manual")
        kept: dict[str, Any] = {}
        if session.workspace is not None:
            try:
                kept = await session.workspace.remove(session.record["name"])
            except Exception:
                log.exception("session %s: removing its worktree failed", session_id)
        await self.bus.flush()
        self.bus.forget_session(session_id)
        await self.store.delete_session(session_id)
        await primitives.get(session.environment.primitive_name).delete_session(self.primitive_context, session_id)
        return kept

    async def shutdown(self) -> None:
        sessions = list(self.sessions.values())
        await asyncio.gather(*(s.close("shutdown") for s in sessions), return_exceptions=True)
        await asyncio.gather(*(s.environment.terminate("shutdown") for s in sessions), return_exceptions=True)


def new_session_id() -> str:
    return f"ses-{uuid.uuid4().hex[:20]}"
