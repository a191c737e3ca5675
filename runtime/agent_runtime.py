"""AgentRuntime: the public API (SPEC §9). The TUI, the server and library users call only this."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from .architectures import ARCHITECTURES, npm_pins
from .config import RuntimeConfig
from .errors import FileNotFound, InvalidRequest, NoWorkspace, RuntimeClosed, StoreError, WorkspaceConflict
from .events import EventBus, Subscription
from .jsonsafe import require_storable
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
from .primitives import registry as primitives
from .primitives.base import EnvironmentPrimitive
from .primitives.isolation import IsolationState, SandboxPolicy
from .private_paths import make_private_dir
from .profiles import ProfileRegistry
from .sessions.manager import SessionManager
from .sessions.session import AgentSession
from .store.base import SessionStore
from .workspaces import Workspace

log = logging.getLogger(__name__)

VERSION = "0.1.0"


@dataclass(frozen=True)
class SessionsChanged:
    """A session was created, updated (name, options, a query ended) or deleted."""

    action: Literal["created", "updated", "deleted"]
    session: SessionSummary


@dataclass(frozen=True)
class SessionStatusChanged:
    """A session's ``SessionRuntime`` changed (sandbox status, active query, queue, permissions)."""

    session_id: str
    runtime: SessionRuntime


RuntimeNotice = SessionsChanged | SessionStatusChanged
Observer = Callable[[RuntimeNotice], None]


#: Starts the HTTP + Socket.IO server for ``RuntimeConfig.websocket_port``; set by runtime.server.
_server_starter: Callable[[AgentRuntime], Awaitable[Any]] | None = None


def register_server_starter(starter: Callable[[AgentRuntime], Awaitable[Any]]) -> None:
    """Called by runtime.server on import, so the core can honour ``websocket_port`` without importing it."""
    global _server_starter
    _server_starter = starter


class AgentRuntime:
    def __init__(self, config: RuntimeConfig | None = None) -> None:
        self.config = config or RuntimeConfig()
        self.store: SessionStore = self.config.persistence or self._sqlite_store()
        self.bus: EventBus | None = None
        self.profiles = ProfileRegistry(self.config.resolved_config_dir())
        self.sessions: SessionManager | None = None
        self.server: Any = None
        self.started_at = time.monotonic()
        self._observers: list[Observer] = []
        self._started = False
        self._closed = False
        self._isolation: IsolationState | None = None
        self._policy: SandboxPolicy | None = None
        self._evictor: asyncio.Task[None] | None = None

    @property
    def isolation(self) -> IsolationState:
        """Whether local sandboxes run isolated (bubblewrap), and why not (docs/isolation.md)."""
        if self._isolation is None:
            self._detect_isolation()
        assert self._isolation is not None
        return self._isolation

    def _detect_isolation(self) -> None:
        from .primitives.isolation import build_policy, detect

        state, bwrap = detect(self.config.isolation)
        policy = None
        if bwrap is not None:
            binaries = [getattr(arch, "binary", lambda _c: None)(self.config) for arch in ARCHITECTURES.values()]
            policy = build_policy(
                bwrap,
                data_dir=self.config.resolved_data_dir(),
                db_path=self.config.resolved_db_path(),
                config_dir=self.config.resolved_config_dir(),
                python=self.config.runner_python,
                binaries=binaries,
                bin_dirs=[*self.config.agent_bin_dirs, *os.environ.get("PATH", "").split(os.pathsep)],
            )
        self._policy, self._isolation = policy, state

    def _sqlite_store(self) -> SessionStore:
        if self.config.database_url:
            from .store.postgres import PostgresStore

            return PostgresStore(self.config.database_url)
        from .store.sqlite import SQLiteStore

        return SQLiteStore(self.config.resolved_db_path())

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._started:
            return
        primitives.get(self.config.primitive)  # an unknown default backend fails here, by name
        try:
            make_private_dir(self.config.resolved_data_dir())
        except OSError as exc:
            raise StoreError(
                f"cannot create the data folder {self.config.resolved_data_dir()}: {exc.strerror or exc}"
            ) from exc
        await self.store.open()
        if self._isolation is None:  # a modal runtime may still start local sessions
            await asyncio.to_thread(self._detect_isolation)
        self.bus = EventBus(self.store)
        self.profiles.load(await self.store.list_agent_profiles())
        self.sessions = SessionManager(
            self.config,
            self.store,
            self.bus,
            self.profiles,
            self.primitive_context,
            on_runtime_change=self._runtime_changed,
            on_query_end=self._query_ended,
        )
        await self._load_sessions()
        self._started = True
        if self.config.evict_after_s > 0:
            self._evictor = asyncio.get_running_loop().create_task(self._evict_loop(), name="evict-sessions")
        if self.config.websocket_port is not None:
            # The server registers itself (runtime/__init__ imports runtime.server): the core never
            # imports the server, so the dependency points one way (docs/architecture.md, Layers).
            if _server_starter is None:
                raise RuntimeError("RuntimeConfig.websocket_port needs the server: import runtime.server first")
            self.server = await _server_starter(self)

    async def _evict_loop(self) -> None:
        idle = self.config.evict_after_s
        while True:
            await asyncio.sleep(max(idle / 4, 1.0))
            if self.sessions is not None:
                self.sessions.evict_idle(idle)

    def record_server_url(self, url: str | None) -> None:
        """Tell a second agent-tui started on this database where to attach (the instance lock)."""
        lock = getattr(self.store, "instance_lock", None)
        if lock is not None:
            lock.record_url(url)

    async def _load_sessions(self) -> None:
        # A cluster node (runtime/cluster) loads only the sessions it holds a lease on.
        assert self.sessions is not None
        await self.sessions.load_all()

    async def shutdown(self) -> None:
        """Close running queries (``query:interrupted {reason: "shutdown"}``), end sandboxes, close the store."""
        if self._closed or not self._started:
            self._closed = True
            return
        self._closed = True
        if self._evictor is not None:
            self._evictor.cancel()
        if self.server is not None:
            with contextlib.suppress(Exception):
                await self.server.stop()
        assert self.sessions is not None and self.bus is not None
        await self.sessions.shutdown()
        await self.bus.close()
        await self.store.close()

    async def __aenter__(self) -> AgentRuntime:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.shutdown()

    @property
    def primitive_context(self) -> primitives.PrimitiveContext:
        """What backends make sandboxes from: the config, and the isolation policy detected once."""
        return primitives.PrimitiveContext(self.config, self._isolation_policy, npm_pins)

    def _isolation_policy(self) -> SandboxPolicy | None:
        if self._isolation is None:
            self._detect_isolation()
        return self._policy

    def _make_primitive(self, name: str, session_id: str) -> EnvironmentPrimitive:
        return primitives.get(name).create(session_id, self.primitive_context)

    def _manager(self) -> SessionManager:
        if self._closed:
            raise RuntimeClosed("the runtime is shut down")
        if self.sessions is None:
            raise RuntimeClosed("the runtime is not started (call await runtime.start())")
        return self.sessions

    # ------------------------------------------------------------------ observers

    def add_observer(self, observer: Observer) -> Callable[[], None]:
        """Call ``observer(notice)`` on every ``SessionsChanged`` / ``SessionStatusChanged``."""
        self._observers.append(observer)
        return lambda: self._observers.remove(observer) if observer in self._observers else None

    def _notify(self, notice: RuntimeNotice) -> None:
        for observer in list(self._observers):
            try:
                observer(notice)
            except Exception:
                log.exception("runtime observer failed")

    def _runtime_changed(self, session: AgentSession) -> None:
        self._notify(SessionStatusChanged(session.id, session.view.runtime()))

    def _query_ended(self, session: AgentSession) -> None:
        if session.id in (self.sessions.sessions if self.sessions else {}):
            self._notify(SessionsChanged("updated", session.summary()))

    # ------------------------------------------------------------------ sessions

    async def create_session(self, args: CreateSessionArgs | dict[str, Any]) -> SessionSummary:
        if not isinstance(args, CreateSessionArgs):
            args = CreateSessionArgs.model_validate(args)
        session = await self._manager().create(args)
        summary = session.summary()
        self._notify(SessionsChanged("created", summary))
        return summary

    async def list_sessions(self) -> list[SessionSummary]:
        return [s.summary() for s in self._manager().sessions.values()]

    async def get_session(self, session_id: str) -> SessionDetail:
        return (await self._manager().open(session_id)).detail()

    async def get_summary(self, session_id: str) -> SessionSummary:
        return self._manager().get(session_id).summary()

    async def delete_session(self, session_id: str) -> dict[str, Any]:
        """Delete the session; returns what was kept of its workspace: ``{branch, branchKept}`` (a
        branch with unmerged work stays in the repository), empty for a session without one."""
        manager = self._manager()
        summary = manager.get(session_id).summary()
        kept = await manager.delete(session_id)
        if summary.workspace is not None and kept:
            summary.workspace.branch_kept = bool(kept.get("branchKept"))
        self._notify(SessionsChanged("deleted", summary))
        return kept

    async def rename_session(self, session_id: str, name: str) -> SessionSummary:
        session = self._manager().get(session_id)
        name = name.strip() if isinstance(name, str) else ""
        require_storable(name, "name")
        if not name or len(name) > 200:
            raise InvalidRequest("name must be 1 to 200 characters")
        await session.rename(name)
        summary = session.summary()
        self._notify(SessionsChanged("updated", summary))
        return summary

    async def send_message(self, session_id: str, content: str) -> tuple[str, bool]:
        """Queue ``content``; returns ``(message_id, queued)`` (queued: it waits for a running query)."""
        return await (await self._manager().open(session_id)).send(content)

    async def interrupt(self, session_id: str) -> bool:
        return await (await self._manager().open(session_id)).interrupt("user")

    async def mark_read(self, session_id: str) -> SessionSummary:
        """Zero the session's unread count, for every client (docs/protocol.md, "Session summaries
        and unread"); observers get ``SessionsChanged("updated")`` when it was not zero."""
        session = self._manager().get(session_id)
        if session.unread:
            session.unread = 0
            mark = getattr(self.store, "mark_read", None)
            if mark is not None:
                await mark(session_id)
            self._notify(SessionsChanged("updated", session.summary()))
        return session.summary()

    async def terminate_environment(self, session_id: str) -> SessionRuntime:
        session = await self._manager().open(session_id)
        if session.state.active_query is not None:
            await session.interrupt("user")
        await session.environment.terminate("manual")
        return session.state.runtime()

    async def update_options(self, session_id: str, options: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(options, dict):
            raise InvalidRequest("sessionOptions must be an object")
        require_storable(options, "sessionOptions")
        session = self._manager().get(session_id)
        merged = await session.set_options(options)
        self._notify(SessionsChanged("updated", session.summary()))
        return merged

    async def resolve_permission(
        self,
        session_id: str,
        request_id: str,
        decision: str,
        message: str | None = None,
        by: str | None = None,
    ) -> None:
        if decision not in ("allow", "deny", "allow_always"):
            raise InvalidRequest("decision must be allow, deny or allow_always")
        session = await self._manager().open(session_id)
        await session.resolve_permission(request_id, decision, message, by)

    # ------------------------------------------------------------------ events

    def subscribe(self, session_id: str, after_seq: int = 0) -> Subscription:
        """Every event with ``seq > after_seq``, stored then live, exactly once, in order.

        The result is an async iterator of ``SessionEvent`` that also has ``next_batch()``;
        a subscriber that falls too far behind gets ``SubscriberLagged`` and resubscribes.
        """
        self._manager().get(session_id).touched = time.monotonic()
        assert self.bus is not None
        return self.bus.subscribe(session_id, after_seq)

    async def get_events(
        self, session_id: str, after_seq: int = 0, limit: int | None = None
    ) -> tuple[list[SessionEvent], int]:
        session = self._manager().get(session_id)
        # Read before the store: everything up to it is committed, so an unlimited read returns it
        # all; events committed while the read ran may come too, and the seq returned covers them.
        last = session.view.last_seq
        events = await self.store.load_events(session_id, max(after_seq, 0), limit)
        if events:
            last = max(last, events[-1].seq)
        return events, last

    # ------------------------------------------------------------------ files

    async def list_files(self, session_id: str) -> list[FileInfo]:
        primitive = self._files_primitive(session_id)
        if primitive is None:
            return []
        files = await primitive.list_files("workspace", recursive=True)
        return [FileInfo(path=f.path, size=f.size, modified_at=f.modified_at) for f in files]

    async def read_file(self, session_id: str, path: str) -> bytes:
        from .primitives.paths import clean_relative

        relative = clean_relative(path)
        primitive = self._files_primitive(session_id)
        if primitive is None:
            raise FileNotFound(f"no such file: {path}")
        return await primitive.read_file(f"workspace/{relative}")

    def _files_primitive(self, session_id: str) -> EnvironmentPrimitive | None:
        session = self._manager().get(session_id)
        if session.environment.primitive is not None:
            return session.environment.primitive
        if session.environment.capabilities.on_host:
            # No sandbox running: its session folder is still there to read.
            return self._make_primitive(session.environment.primitive_name, session_id)
        return None

    # ------------------------------------------------------------------ workspaces (SPEC §10)

    def _workspace(self, session_id: str, *, write: bool = False) -> Workspace:
        session = self._manager().get(session_id)
        if session.workspace is None:
            raise NoWorkspace("this session has no workspace (it was created without one)")
        if write and session.busy:
            raise WorkspaceConflict(
                "the agent is working in this workspace; wait for the query to end (or interrupt it)",
                code="WORKSPACE_BUSY",
            )
        return session.workspace

    async def get_changes(self, session_id: str) -> WorkspaceChanges:
        """The session's whole change set against its base commit, computed now."""
        return await self._workspace(session_id).changes()

    async def get_diff(self, session_id: str, path: str | None = None, context: int = 3) -> str:
        """Unified diff (git's format) of the change set, or of one path, uncommitted changes included."""
        return await self._workspace(session_id).diff(path, context)

    async def commit(self, session_id: str, message: str) -> str:
        """Commit every change on the session branch; returns the commit id."""
        return await self._workspace(session_id, write=True).commit(message)

    async def merge(
        self, session_id: str, into: str | None = None, strategy: str = "merge"
    ) -> dict[str, Any]:
        """Merge the session branch into ``into`` (default: the branch baseRef named); ``{commit, into}``."""
        session = self._manager().get(session_id)
        result = await self._workspace(session_id, write=True).merge(session.record["name"], into, strategy)
        self._notify(SessionsChanged("updated", session.summary()))
        return result

    async def discard(self, session_id: str, paths: list[str] | None = None) -> list[str]:
        """Put ``paths`` (all changes when ``None``) back to the base commit; returns the paths."""
        return await self._workspace(session_id, write=True).discard(paths)

    async def restore_checkpoint(self, session_id: str, checkpoint: str | int) -> RestoreResult:
        """Put the worktree back to a checkpoint (a query's seq, its ref, or ``"base"``: undo
        every query); the session branch and the user's checkout do not move."""
        workspace = self._workspace(session_id, write=True)
        environment = self._manager().get(session_id).environment
        if environment.primitive_name != "local" and environment.is_active:
            # A remote sandbox has its own copy of the files, which the next query's sync back
            # would bring over the restored ones: end it (its changes come back first), so the
            # next query starts a sandbox from the restored worktree.
            await environment.terminate("manual")
        result = await workspace.restore(checkpoint)
        return RestoreResult.model_validate(result)

    async def fork_session(
        self, session_id: str, checkpoint: str | int, *, name: str | None = None, branch: str | None = None
    ) -> SessionSummary:
        """A new session on its own branch and worktree holding a checkpoint's files, with the
        conversation up to there (docs/workspaces.md "Fork"). The source is not touched."""
        from .sessions.fork import fork_session

        manager = self._manager()
        if name is not None:
            require_storable(name, "name")
        # Opened: the fork copies the source's log up to the checkpoint (``state.last_seq``).
        source = await manager.open(session_id)
        fork = await fork_session(manager, source, checkpoint, name=name, branch=branch)
        summary = fork.summary()
        self._notify(SessionsChanged("created", summary))
        return summary

    # ------------------------------------------------------------------ catalogue

    async def list_profiles(self) -> list[ProfileInfo]:
        self._manager()
        return self.profiles.infos()

    def profile_errors(self) -> dict[str, str]:
        """Profile files that were ignored at start: path -> why (one line each)."""
        return dict(self.profiles.errors)

    async def list_architectures(self) -> list[ArchitectureInfo]:
        infos = await asyncio.to_thread(
            lambda: [a.info(self.config, self.config.primitive) for a in ARCHITECTURES.values()]
        )
        # Every agent needs the sandbox first: say so now rather than fail at the first message.
        available, reason = primitives.get(self.config.primitive).available(self.config)
        if not available:
            infos = [i.model_copy(update={"available": False, "reason": reason}) for i in infos]
        return infos

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "version": VERSION,
            "uptimeS": round(time.monotonic() - self.started_at, 3),
            "sessionsLoaded": len(self.sessions.sessions) if self.sessions else 0,
        }
