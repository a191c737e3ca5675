"""AgentSession: one session's queue of messages, its running query and its derived state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from ..architectures import Architecture, LaunchContext
from ..config import RuntimeConfig
from ..errors import AlreadyResolved, InvalidRequest, PermissionNotFound, SandboxError, StoreError
from ..events import EventBus
from ..jsonsafe import require_storable
from ..models import (
    AgentProfile,
    SessionDetail,
    SessionEvent,
    SessionSummary,
    WorkspaceInfo,
    lenient_block,
)
from ..reducer import RUNTIME_EVENT_TYPES, SessionState, apply_event, change_totals
from ..store.base import SessionRecord
from ..store.summaries import Digest
from ..workspaces import Workspace
from .environment import ExecutionEnvironment
from .permissions import RUNTIME_NAME, PermissionBroker
from .query_run import QueryOutcome, QueryRun
from .queue import MessageQueue
from .store_recovery import StoreRecovery

log = logging.getLogger(__name__)

MAX_CONTENT = 1024 * 1024

#: What a session without a digest of its own reads (one with no events since it was created):
#: never folded into, so sessions share it instead of holding ~1 KB of empty containers each.
_EMPTY_DIGEST = Digest()
#: ``_signature()`` of a session with nothing running, queued or asked (most of them).
_IDLE_SIGNATURE: tuple[Any, ...] = (None, None, None, None, 0, ())


class AgentSession:
    def __init__(
        self,
        record: SessionRecord,
        *,
        bus: EventBus,
        architecture: Architecture,
        profile: AgentProfile,
        environment: ExecutionEnvironment,
        state: SessionState | None,
        config: RuntimeConfig,
        host_env: dict[str, str] | None,
        on_runtime_change: Callable[[AgentSession], None],
        on_query_end: Callable[[AgentSession], None],
        digest: Digest | None = None,
        unread: int = 0,
        loaded: bool = True,
    ) -> None:
        self.record = record
        self.id: str = record["sessionId"]
        self.bus = bus
        self.architecture = architecture
        self.profile = profile
        self.environment = environment
        #: The reduced log while ``loaded`` (None otherwise: see ``state``).
        self._state = state if loaded else None
        #: The store's summary of the log (no blocks), kept current from every batch: what the
        #: list shows while the log itself is not in memory (issue #17: cost follows the screen).
        #: None until the first event: a session nobody used holds no summary of its own.
        self._digest = digest
        #: Replies since a client last marked the session read (the store keeps the same count).
        self.unread = unread
        #: Whether ``state`` holds the reduced log; a quiet (or new) session starts without it
        #: and is loaded when opened (``SessionManager.open``), then unloaded after a while
        #: unlooked-at.
        self.loaded = loaded and state is not None
        #: Events delivered while the log is being read (applied after it, by seq).
        self.load_buffer: list[SessionEvent] | None = None
        self._load_lock: asyncio.Lock | None = None
        self.touched = time.monotonic()
        self.config = config
        self.tool_output_limit = config.tool_output_limit
        self.interrupt_grace_s = config.interrupt_grace_s
        #: None: the process's environment as it is when a query starts (not a copy per session:
        #: ~4 KB each, most of what an idle session weighs, issue 21 #9).
        self.host_env = host_env
        self._on_runtime_change = on_runtime_change
        self._on_query_end = on_query_end
        # The helpers below are made when first needed (a message, a tool request, a store
        # failure): an idle session holds none of them (issue 21 #9: every small object a live
        # session keeps is one more that can pin an allocator arena after it is deleted).
        self._queue: MessageQueue | None = None
        #: The query's agent run, once it has started (the last one, after it ended).
        self._run: QueryRun | None = None
        self._interrupt_reason: str | None = None
        self._closed = False
        self._permissions: PermissionBroker | None = None
        self._store_recovery: StoreRecovery | None = None
        signature = self._signature()
        self._runtime_signature: tuple[Any, ...] = _IDLE_SIGNATURE if signature == _IDLE_SIGNATURE else signature
        #: The session's git worktree or project folder (SPEC §10), when it has one.
        self.workspace: Workspace | None = None
        bus.add_listener(self.id, self._on_events)

    # ------------------------------------------------------------------ helpers

    @property
    def queue(self) -> MessageQueue:
        if self._queue is None:
            self._queue = MessageQueue(f"session-{self.id}", self._run_message)
        return self._queue

    @property
    def permissions(self) -> PermissionBroker:
        if self._permissions is None:
            self._permissions = PermissionBroker(
                self.id,
                bus=self.bus,
                state=lambda: self.state,
                process=lambda: self._process,
                agent_name=self.architecture.id,
                timeout_s=lambda: self.config.permission_timeout_s,
                expire=self.resolve_permission,
            )
        return self._permissions

    @property
    def store_recovery(self) -> StoreRecovery:
        if self._store_recovery is None:
            self._store_recovery = StoreRecovery(
                self.id,
                bus=self.bus,
                state=lambda: self.state,
                environment=self.environment,
                permissions=self.permissions,
                on_recorded=lambda: self._on_query_end(self),
            )
        return self._store_recovery

    @property
    def load_lock(self) -> asyncio.Lock:
        if self._load_lock is None:
            self._load_lock = asyncio.Lock()
        return self._load_lock

    @property
    def loading(self) -> bool:
        """Its log is being read (``SessionManager.open``)."""
        return self._load_lock is not None and self._load_lock.locked()

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> SessionState:
        """The reduced log; empty while not ``loaded`` (a new one each time: nothing written to
        it is kept, as nothing written to an unloaded session's state ever was)."""
        state = self._state
        return state if state is not None else SessionState()

    def install_state(self, state: SessionState) -> None:
        """The log was read (``SessionManager.open``): keep it up to date from now on."""
        self._state, self.loaded = state, True

    def unload(self) -> None:
        """Drop the reduced log (``SessionManager.evict_idle``); the summary stays."""
        self._state, self.loaded = None, False

    @property
    def digest(self) -> Digest:
        """The summary of the log (read only here: ``_on_events`` folds into the session's own)."""
        return self._digest if self._digest is not None else _EMPTY_DIGEST

    @property
    def view(self) -> SessionState:
        """The reduced log when loaded, else the summary's state (everything but blocks)."""
        state = self._state
        return state if self.loaded and state is not None else self.digest.state

    def _on_events(self, _session_id: str, events: list[SessionEvent]) -> None:
        listed = self._listed()
        if self._digest is None:
            self._digest = Digest()
        self.unread += self._digest.fold(events)
        if self._listed() != listed:
            # What only the summary tells a client that follows no log (session:status does not).
            self._on_query_end(self)
        state = self._state
        if not self.loaded or state is None:
            if self.load_buffer is not None:
                self.load_buffer.extend(events)
            self._check_runtime_change(events)
            return
        for event in events:
            if event.seq <= state.last_seq:
                continue  # read by the page that loaded the log, delivered after it
            apply_event(state, event)
            if event.type.startswith("permission:"):
                self.permissions.observe(event.type, event.payload.get("requestId"))
        self._check_runtime_change(events)

    def _listed(self) -> tuple[int, str | None]:
        status = self.digest.status()
        return self.unread, status if status in ("error", "terminated") else None

    def _check_runtime_change(self, events: list[SessionEvent]) -> None:
        runtime_changed = any(
            event.type in RUNTIME_EVENT_TYPES
            or (event.type == "block:upsert" and event.payload.get("block", {}).get("queued"))
            for event in events
        )
        if runtime_changed:
            signature = self._signature()
            if signature != self._runtime_signature:
                self._runtime_signature = signature
                self._on_runtime_change(self)

    def _signature(self) -> tuple[Any, ...]:
        state = self.view
        env = state.environment or {}
        return (
            env.get("status"),
            env.get("status_message"),
            env.get("id"),
            (state.active_query or {}).get("message_id"),
            len(state.queued),
            tuple(state.pending_permissions),
        )

    @property
    def busy(self) -> bool:
        queue = self._queue
        return self.view.active_query is not None or (queue is not None and (bool(queue) or queue.working))

    def summary(self) -> SessionSummary:
        state = self.view
        return SessionSummary(
            session_id=self.id,
            name=self.record["name"],
            architecture=self.record["architecture"],
            agent_profile_ref=self.record.get("agentProfileRef", "default"),
            session_options=self.record.get("sessionOptions") or {},
            primitive=self.environment.primitive_name,
            created_at=self.record["createdAt"],
            last_activity=self.last_activity(),
            runtime=state.runtime(),
            metadata=state.metadata(),
            last_seq=state.last_seq,
            unread=self.unread,
            status=self.digest.status(),
            workspace=self._workspace_info(),
        )

    def _workspace_info(self) -> WorkspaceInfo | None:
        if self.workspace is None:
            return None
        info = self.workspace.info()
        if self.loaded and self.state.changes is not None:
            info.changed_files, info.additions, info.deletions = change_totals(self.state.changes)
        elif not self.loaded and self.digest.change_totals is not None:
            info.changed_files, info.additions, info.deletions = self.digest.change_totals
        return info

    def detail(self) -> SessionDetail:
        """Needs the log in memory: callers open the session first (``SessionManager.open``)."""
        summary = self.summary()
        # Blocks are validated one by one, leniently: a block a converter got wrong shows as an
        # UnknownBlock instead of making the whole session unreadable.
        subagents = []
        for thread in self.state.subagent_list():
            subagents.append({**thread, "blocks": [lenient_block(b) for b in thread["blocks"]]})
        return SessionDetail.model_validate(
            {
                **summary.model_dump(by_alias=True),
                "blocks": [lenient_block(b) for b in self.state.blocks],
                "subagents": subagents,
                "changes": self.state.changes,
            }
        )

    def last_activity(self) -> int:
        from ..reducer import _ms

        state = self.view
        if state.last_timestamp:
            return max(_ms(state.last_timestamp), self.record["createdAt"])
        return int(self.record.get("lastActivity") or self.record["createdAt"])

    async def publish(self, kind: str, payload: dict[str, Any], **fields: Any) -> SessionEvent:
        return await self.bus.publish_one(self.id, kind, payload, **fields)

    # ------------------------------------------------------------------ record

    async def rename(self, name: str) -> None:
        """Set the (already validated) name, in memory and in the store."""
        self.record["name"] = name
        await self.bus.store.update_session(self.id, {"name": name})

    async def set_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """Merge ``options`` into the session's options (a None value removes a key), store and
        announce them (``options:update``); returns the merged options."""
        merged = {**(self.record.get("sessionOptions") or {}), **options}
        merged = {k: v for k, v in merged.items() if v is not None}
        self.record["sessionOptions"] = merged
        await self.bus.store.update_session(self.id, {"sessionOptions": merged})
        await self.publish("options:update", {"options": merged})
        return merged

    # ------------------------------------------------------------------ messages

    async def send(self, content: str) -> tuple[str, bool]:
        if self._closed:
            raise InvalidRequest("session is being deleted")
        if not isinstance(content, str) or not content.strip():
            raise InvalidRequest("message content must be a non-empty string")
        require_storable(content, "message content")
        if len(content.encode("utf-8", "surrogatepass")) > MAX_CONTENT:
            raise InvalidRequest(f"message content is larger than {MAX_CONTENT} bytes")
        if self._store_recovery is not None and self._store_recovery.pending:
            # The end of a query the store failed during comes first in the log; while it cannot
            # be written the store is still failing, and this message could not be either.
            await self.store_recovery.record()
        message_id = f"msg-{uuid.uuid4().hex[:16]}"
        queued = self.busy
        block: dict[str, Any] = {
            "id": message_id,
            "type": "user_message",
            "content": content,
            "status": "pending",
        }
        if queued:
            block["queued"] = True
        # Queued synchronously (before any await) so concurrent sends keep their call order and
        # each sees the ones before it as busy; the bus assigns seqs in the same order.
        entry = (message_id, content)
        self.queue.push(entry)
        try:
            await self.publish("block:upsert", {"block": block})
        except BaseException:
            self.queue.withdraw(entry)
            raise
        self.queue.start()
        return message_id, queued

    def resume_queued(self, message_ids: list[str]) -> None:
        """Run messages accepted (and stored) by a node that died before running them, in order."""
        contents = {b.get("id"): b.get("content") for b in self.state.blocks if b.get("type") == "user_message"}
        for message_id in message_ids:
            content = contents.get(message_id)
            if isinstance(content, str):
                self.queue.push((message_id, content))
        self.queue.start()

    async def _run_message(self, message_id: str, content: str) -> None:
        """The queue's worker runs each message through this: a failure ends its query, not the worker."""
        try:
            await self._run_query(message_id, content)
        except StoreError as exc:
            self.store_recovery.failed(message_id, exc)
            # Nothing else of this session may be written before that end: the next queued
            # message runs once it is (and if the store is still failing then, it fails too).
            await self.store_recovery.retry()
        except Exception:
            log.exception("session %s: query %s crashed", self.id, message_id)
            with contextlib.suppress(Exception):
                await self.publish(
                    "query:failed",
                    {"messageId": message_id, "error": "internal error", "code": "INTERNAL_ERROR"},
                )
        finally:
            self._on_query_end(self)

    async def _run_query(self, message_id: str, content: str) -> None:
        started = time.monotonic()
        self._interrupt_reason = None
        started_event = await self.publish("query:started", {"messageId": message_id, "content": content})
        env = self.environment
        env.query_started()
        try:
            if self.workspace is not None:
                # A restore/discard/commit/merge under way finishes before the agent starts.
                await self.workspace.settled()
            try:
                await env.ensure_ready()
            except SandboxError as exc:
                await self.publish(
                    "query:failed", {"messageId": message_id, "error": exc.message, "code": exc.code}
                )
                return
            if self._interrupt_reason:
                await self.publish(
                    "query:interrupted", {"messageId": message_id, "reason": self._interrupt_reason}
                )
                return
            outcome: QueryOutcome | None = None
            try:
                async with self._watch_workspace():
                    outcome = await self._execute(message_id, content)
            finally:
                # The agent is gone, so nobody waits for these answers any more: close them
                # before the end of the query is announced.
                await self.permissions.close_pending(self._end_reason(outcome))
            if self.workspace is not None:
                if env.primitive is not None:
                    await self.workspace.sync_back(env.primitive_name, env.primitive)
                await self.workspace.checkpoint(started_event.seq, message_id)
                # Before the end of the query: a client reacting to that end sees the change set.
                await self.workspace.publish_changes()
            duration_ms = int((time.monotonic() - started) * 1000)
            # Saved before the end of the query is announced: a client reacting to that end (by
            # terminating the sandbox, say) must not race the save and lose this query's turns.
            if env.is_active and self.architecture.has_transcript:
                try:
                    await env.save_transcript()
                except SandboxError as exc:
                    await self.publish(
                        "log", {"level": "warn", "message": f"transcript not saved: {exc.message}"}
                    )
            if self._interrupt_reason and not outcome.sandbox_lost:
                await self.publish(
                    "query:interrupted", {"messageId": message_id, "reason": self._interrupt_reason}
                )
                if outcome.crashed and self._interrupt_reason != "shutdown":
                    await env.terminate("unhealthy")
            elif outcome.success:
                await self._forked_conversation_taken()
                await self.publish("query:completed", {"messageId": message_id, "durationMs": duration_ms})
            else:
                await self.publish(
                    "query:failed",
                    {
                        "messageId": message_id,
                        "error": outcome.error or "agent failed",
                        "code": outcome.code or "AGENT_FAILED",
                    },
                )
                if outcome.crashed:
                    await env.terminate("unhealthy")
        finally:
            env.query_ended()

    async def _forked_conversation_taken(self) -> None:
        """A fork's first query went through: its agent has the conversation (or the note) now."""
        taken = [key for key in ("forkOf", "forkNote") if self.record.pop(key, None) is not None]
        if taken:
            await self.bus.store.update_session(self.id, dict.fromkeys(taken))

    def _watch_workspace(self) -> contextlib.AbstractAsyncContextManager[None]:
        """``file:*`` events while the agent works in a local worktree (SPEC §10)."""
        workspace = self.workspace
        if workspace is None or not self.environment.capabilities.on_host:
            return contextlib.nullcontext()
        from ..workspaces.watcher import watch_files

        async def emit(drafts: list[dict[str, Any]]) -> None:
            await self.bus.publish(self.id, drafts)

        return watch_files(workspace.path, emit)

    def _launch_context(self, message_id: str, content: str) -> LaunchContext:
        return LaunchContext(
            session_id=self.id,
            message_id=message_id,
            # A fork whose agent cannot resume the source's conversation is told what it holds.
            prompt=f"{self.record['forkNote']}\n\n{content}" if self.record.get("forkNote") else content,
            session_dir=self.environment.session_dir,
            profile=self.profile,
            session_options=self.record.get("sessionOptions") or {},
            resume=self.record.get("hasQueried", False),
            host_env=self.host_env if self.host_env is not None else dict(os.environ),
            extra_allowed_tools=list(self.record.get("allowedTools") or []),
            config=self.config,
            primitive=self.environment.primitive_name,
            fork_of=self.record.get("forkOf"),
        )

    async def _execute(self, message_id: str, content: str) -> QueryOutcome:
        """Run the agent through the runner; publish its events; return how it ended."""
        env = self.environment
        ctx = self._launch_context(message_id, content)
        launch = self.architecture.launch(ctx)
        request: dict[str, Any] = {
            "prompt": ctx.prompt,
            "messageId": message_id,
            "sessionId": self.id,
            "architecture": self.architecture.id,
            "baseWorkspacePath": env.workspace,
            "sessionOptions": ctx.session_options,
            "toolOutputLimit": self.tool_output_limit,
            "permissionMode": self.profile.permission_mode,
            "resume": ctx.resume,
        }
        if launch is not None:
            request["launch"] = launch.wire()
        if not self.record.get("hasQueried"):
            self.record["hasQueried"] = True
            await self.bus.store.update_session(self.id, {"hasQueried": True})
        run = QueryRun(
            self.id,
            bus=self.bus,
            environment=env,
            permissions=self.permissions,
            state=lambda: self.state,
            interrupted=lambda: self._interrupt_reason,
        )
        self._run = run
        return await run.execute(request)

    @property
    def _process(self) -> Any:
        """The running agent's runner process, if any."""
        run = self._run
        return run.process if run is not None else None

    # ------------------------------------------------------------------ control

    async def interrupt(self, reason: str = "user") -> bool:
        run = self._run
        process = run.process if run is not None else None
        if self.state.active_query is None and process is None:
            return False
        self._interrupt_reason = reason
        if run is None or process is None:
            return True  # still creating the sandbox; the query ends as interrupted once it is up
        await process.write_stdin(b'{"type": "interrupt"}\n')
        # Open questions close now, not when the agent has finally stopped.
        await self.permissions.close_pending(self._end_reason())
        try:
            await asyncio.wait_for(run.done.wait(), self.interrupt_grace_s)
        except TimeoutError:
            await process.kill()
            await run.done.wait()
        return True

    async def resolve_permission(
        self, request_id: str, decision: str, message: str | None = None, by: str | None = None
    ) -> None:
        """Answer a pending tool request. The first answer wins; later ones get ``AlreadyResolved``."""
        pending = await self.permissions.answer(request_id, decision, message, by)
        tool = pending["tool_name"]
        allowed = list(self.record.get("allowedTools") or [])
        remember = decision == "allow_always" and bool(tool) and tool not in allowed
        if remember:
            # In the record before the agent hears the answer: a next query launched at once
            # must already pass the tool as allowed.
            allowed.append(tool)
            self.record["allowedTools"] = allowed
        await self.permissions.tell_runner(request_id, decision, message)
        if remember:
            await self.bus.store.update_session(self.id, {"allowedTools": allowed})
        if decision == "allow_always" and tool:
            # Questions about the same tool that are already open are answered by this one too.
            for other_id, other in list(self.state.pending_permissions.items()):
                if other["tool_name"] == tool:
                    with contextlib.suppress(AlreadyResolved, PermissionNotFound):
                        await self.resolve_permission(
                            other_id, "allow", f"{tool} is allowed always in this session", RUNTIME_NAME
                        )

    def _end_reason(self, outcome: QueryOutcome | None = None) -> str:
        """Why open requests are being closed (the ``message`` of their deny)."""
        if self._interrupt_reason == "shutdown":
            return "agent-tui shut down while this request was pending"
        if self._interrupt_reason:
            return "the query was interrupted"
        if not self.environment.is_active:
            return "the sandbox ended before this request was answered"
        if outcome is None or outcome.crashed:
            return "the agent or its sandbox stopped unexpectedly before this request was answered"
        return "the query ended before this request was answered"

    async def close(self, reason: str) -> None:
        """Stop the worker and the running query (shutdown or delete)."""
        self._closed = True
        if self._queue is not None:
            self._queue.close()
        if self._store_recovery is not None:
            self._store_recovery.stop()
        if self._process is not None or self.view.active_query is not None:
            await self.interrupt(reason)
        if self._queue is not None:
            await self._queue.join(5)
        if self._permissions is not None:
            self._permissions.close()
        self.bus.remove_listener(self.id, self._on_events)

