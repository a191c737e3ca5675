"""What the app knows about one session: the reducer's state plus what only a view needs.

No Textual here. ``SessionModel.apply`` folds a batch of events through ``runtime.reducer`` (the
same reducer the server and Python clients use, so a live view and a reloaded view are identical)
and reports, per batch, what changed: which blocks to redraw, how many new blocks a reader has not
seen, and what deserves a notification. Widgets derive everything they draw from ``state``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from runtime.models import SessionEvent, SessionSummary
from runtime.reducer import SessionState, apply_event

#: Log events kept per session for the "show logs" view (the store keeps all of them).
MAX_LOGS = 2000

Status = Literal["idle", "busy", "queued", "starting", "needs-input", "error", "terminated", "loading"]

STATUS_ICONS: dict[str, str] = {
    "loading": "…",
    "idle": "○",
    "busy": "●",
    "queued": "◔",
    "starting": "◌",
    "needs-input": "?",
    "error": "✗",
    "terminated": "■",
}


@dataclass
class Notice:
    """Something a user not looking at this session should hear about."""

    severity: Literal["information", "warning", "error"]
    title: str
    message: str


@dataclass
class BatchChanges:
    #: Main-conversation block ids created or changed by this batch.
    dirty: set[str] = field(default_factory=set)
    #: Subagent threads (by tool use id) whose blocks or status changed.
    dirty_threads: set[str] = field(default_factory=set)
    #: How many new main-conversation blocks a reader would want to see (not their own messages).
    new_blocks: int = 0
    #: The session's state icon, running query or queue may have changed.
    status_changed: bool = False
    #: Log events appended to ``SessionModel.logs``.
    new_logs: int = 0
    notices: list[Notice] = field(default_factory=list)


@dataclass
class LogEntry:
    #: How many main blocks existed when the log arrived: it is drawn after block ``position - 1``.
    position: int
    event: SessionEvent


class SessionModel:
    def __init__(self, summary: SessionSummary) -> None:
        self.summary = summary
        self.session_id = summary.session_id
        self._reset()

    def _reset(self) -> None:
        self.state = SessionState()
        #: Open permission requests -> the tool call they are about (to redraw its card).
        self._asking: dict[str, str] = {}
        #: How each answered request went, by the tool call it was about (shown on its card).
        self.decisions: dict[str, dict[str, str]] = {}
        #: Events up to this seq existed when the app began following the session: history, not news.
        self.baseline_seq = self.summary.last_seq
        #: Whether the app follows this session's log (it is on screen, or was lately); the list
        #: shows the others from their summaries alone.
        self.followed = False
        self.logs: deque[LogEntry] = deque(maxlen=MAX_LOGS)
        self.log_count = 0  # total ever appended, so views can tell what is new after the deque drops some
        self.last_failed = False
        self.last_error: str | None = None
        #: Blocks (and tool calls, by tool use id) an interrupt cut short: drawn as interrupted,
        #: not as finished. The reducer closes them as "complete"; only this view tells them apart.
        self.interrupted: set[str] = set()

    # ------------------------------------------------------------------ derived

    @property
    def name(self) -> str:
        return self.summary.name

    @property
    def unread(self) -> int:
        """Replies not read yet: the server's count, for every client (docs/protocol.md)."""
        return self.summary.unread

    @unread.setter
    def unread(self, value: int) -> None:
        self.summary = self.summary.model_copy(update={"unread": value})

    @property
    def loaded(self) -> bool:
        """Whether the log has been replayed up to where it stood when the app began following it."""
        return self.followed and self.state.last_seq >= self.baseline_seq

    def follow(self) -> None:
        self.followed = True
        self.baseline_seq = self.summary.last_seq

    def unfollow(self) -> None:
        """Forget the replayed log (the summary stays): memory follows what is on screen."""
        self._reset()

    def status(self) -> Status:
        if not self.loaded:
            runtime = self.summary.runtime
            if runtime.pending_permissions:
                return "needs-input"
            env = runtime.execution_environment
            if env is not None and env.status == "starting":
                return "starting"
            if runtime.active_query is not None:
                return "busy"
            if runtime.queued_messages:
                return "queued"
            if self.followed:
                return "loading"
            status = self.summary.status
            return status if status in ("error", "terminated", "idle") else "idle"  # type: ignore[return-value]
        state = self.state
        env = state.environment or {}
        if state.pending_permissions:
            return "needs-input"
        if env.get("status") == "starting":
            return "starting"
        if state.active_query is not None:
            return "busy"
        if state.queued:
            return "queued"
        if self.last_failed or env.get("status") == "error":
            return "error"
        if env.get("status") == "terminated":
            return "terminated"
        return "idle"

    def running_since_ms(self) -> int | None:
        query = self.state.active_query if self.loaded else None
        if query is None and not self.loaded and self.summary.runtime.active_query is not None:
            return self.summary.runtime.active_query.started_at
        return int(query["started_at"]) if query else None

    @property
    def cost_usd(self) -> float | None:
        if self.loaded:
            return self.state.cost_usd
        return self.summary.metadata.cost_usd

    # ------------------------------------------------------------------ events

    def apply(self, events: list[SessionEvent]) -> BatchChanges:
        changes = BatchChanges()
        state = self.state
        for event in events:
            if event.seq <= state.last_seq:
                continue  # already applied (a resubscription overlaps)
            live = event.seq > self.baseline_seq
            before = len(state.blocks)
            kind = event.type
            if kind == "query:interrupted":
                self._note_interrupted(_query_tail(state.blocks), pending_only=True)
            apply_event(state, event)
            if kind == "query:interrupted":
                self._note_interrupted(_query_tail(state.blocks), pending_only=False)
            payload = event.payload
            if kind in ("block:upsert", "block:delta"):
                block_id = payload.get("blockId") if kind == "block:delta" else (payload.get("block") or {}).get("id")
                if event.conversation_id == "main":
                    if isinstance(block_id, str):
                        changes.dirty.add(block_id)
                    if live and len(state.blocks) > before and state.blocks[-1].get("type") != "user_message":
                        changes.new_blocks += 1
                else:
                    changes.dirty_threads.add(self._thread_key(event.conversation_id))
                if kind == "block:upsert" and (payload.get("block") or {}).get("queued"):
                    changes.status_changed = True
            elif kind.startswith("query:"):
                changes.status_changed = True
                message_id = payload.get("messageId")
                if isinstance(message_id, str):
                    changes.dirty.add(message_id)  # its "queued" tag
                if len(state.blocks) > before:
                    changes.dirty.add(state.blocks[-1]["id"])  # the error block of a failure
                    if live:
                        changes.new_blocks += 1
                # Closing a query closes its pending blocks: redraw the tail.
                if kind != "query:started":
                    changes.dirty.update(_pending_tail(state.blocks, before))
                    changes.dirty_threads.update(state.subagents)
                self._query_event(event, live, changes)
            elif kind.startswith("ee:"):
                changes.status_changed = True
                if kind == "ee:error":
                    self.last_error = str(payload.get("message") or "sandbox error")
            elif kind.startswith("subagent:"):
                tool_use_id = payload.get("toolUseId")
                if isinstance(tool_use_id, str):
                    changes.dirty_threads.add(tool_use_id)
            elif kind.startswith("permission:"):
                changes.status_changed = True
                # The tool card the request is about shows it is waiting: redraw it both ways.
                request_id = payload.get("requestId")
                if kind == "permission:requested" and isinstance(payload.get("toolUseId"), str):
                    if isinstance(request_id, str):
                        self._asking[request_id] = payload["toolUseId"]
                    changes.dirty.add(payload["toolUseId"])
                elif isinstance(request_id, str) and request_id in self._asking:
                    tool_use_id = self._asking.pop(request_id)
                    self.decisions[tool_use_id] = {k: payload[k] for k in ("decision", "by", "message")
                                                   if isinstance(payload.get(k), str)}
                    changes.dirty.add(tool_use_id)
                if kind == "permission:requested" and live:
                    tool = payload.get("title") or payload.get("toolName") or "a tool"
                    changes.notices.append(Notice("warning", f"{self.name} needs input",
                                                  f"Allow {tool}?"))
            elif kind == "metadata:update":
                changes.status_changed = True
            elif kind == "error":
                changes.dirty.add(f"error-{event.seq}")
                if live:
                    changes.new_blocks += 1
            if kind == "log" or kind.startswith("file:"):
                self.logs.append(LogEntry(len(state.blocks), event))
                self.log_count += 1
                changes.new_logs += 1
        return changes

    def _query_event(self, event: SessionEvent, live: bool, changes: BatchChanges) -> None:
        payload = event.payload
        if event.type == "query:started":
            self.last_failed = False
            self.last_error = None
        elif event.type == "query:failed":
            self.last_failed = True
            self.last_error = str(payload.get("error") or "query failed")
            if live:
                changes.notices.append(Notice("error", f"{self.name} failed", self.last_error))
        elif event.type == "query:completed" and live:
            changes.notices.append(Notice("information", f"{self.name} finished",
                                          f"in {format_duration(payload.get('durationMs'))}"))
        elif event.type == "query:interrupted" and live and payload.get("reason") != "user":
            changes.notices.append(Notice("warning", f"{self.name} stopped", str(payload.get("reason"))))

    def _note_interrupted(self, tail: list[dict[str, Any]], *, pending_only: bool) -> None:
        """Before the reducer closes an interrupted query: what was still pending; after: tool
        results the interrupt killed (a negative exit code is a signal)."""
        for block in tail:
            if pending_only:
                cut = block.get("status") == "pending" and block.get("type") != "user_message"
            else:
                code = block.get("exitCode")
                cut = block.get("type") == "tool_result" and isinstance(code, int) and code < 0
            if cut:
                self.interrupted.add(block["id"])
                if isinstance(block.get("toolUseId"), str):
                    self.interrupted.add(block["toolUseId"])

    def _thread_key(self, conversation_id: str) -> str:
        thread = self.state.subagents.get(conversation_id)
        if thread is None:
            for candidate in self.state.subagents.values():
                if candidate.agent_id == conversation_id:
                    return candidate.tool_use_id
        return conversation_id


def _query_tail(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The blocks of the last query (after its user message; queued messages are skipped)."""
    tail: list[dict[str, Any]] = []
    for block in reversed(blocks):
        if block.get("type") == "user_message":
            if block.get("status") == "pending":
                continue
            break
        tail.append(block)
    return tail


def _pending_tail(blocks: list[dict[str, Any]], count: int) -> list[str]:
    """Ids of the blocks of the last query (closing a query may have changed their status)."""
    ids: list[str] = []
    for block in reversed(blocks[:count]):
        ids.append(block["id"])
        if block.get("type") == "user_message":
            break
    return ids


def format_duration(ms: Any) -> str:
    if not isinstance(ms, int | float) or ms < 0:
        return "?"
    seconds = ms / 1000
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_cost(cost: float | None) -> str:
    if cost is None:
        return ""
    if cost < 0.01:
        return f"${cost:.3f}"
    return f"${cost:.2f}"
