"""The one place session state is derived from the event log.

``apply_event(state, event)`` folds one event into a ``SessionState``. It reads nothing but its
arguments and does no I/O, so the server, the TUI and a Python client that replay the same log
get the same state. It updates ``state`` in place (copying the block list per event would make a
long stream quadratic); use ``reduce_events`` to build a fresh state from a log.

Decisions the spec leaves open (also in docs/protocol.md):
- ``metadata:update`` usage and ``costUsd`` are per-query increments and are summed; ``model`` replaces,
  and so do ``commands``, ``mode``, ``modes``, ``models`` (kept in ``agent_offers`` for pickers).
- ``query:failed`` and ``error`` events also add an ``error`` block, so failures are part of the
  conversation in every view.
- When a query ends, blocks of that query still ``pending`` are closed (``complete``, or ``error``
  when the query failed), so no view shows an eternal spinner.
- A ``user_message`` upserted with ``queued: true`` counts in ``queuedMessages`` until its
  ``query:started`` (or a ``query:failed`` for it) arrives.
- A ``user_message`` upserted without ``queued`` (sent while idle) is ``unstarted`` until its
  ``query:started`` (or an end for it) arrives: not shown as queued, but start-up recovery closes it
  when agent-tui died in between, so an accepted message never just vanishes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .models import (
    DELTA_FIELD,
    EVENT_TYPES,
    ActiveQuery,
    EnvironmentState,
    PendingPermission,
    SessionEvent,
    SessionMetadata,
    SessionRuntime,
    Usage,
)

_OFFER_KEYS = ("commands", "mode", "modes", "models")
_USAGE_FIELDS = ("inputTokens", "outputTokens", "cacheReadTokens", "cacheWriteTokens", "totalTokens")


#: Event types that can change ``SessionRuntime`` (so observers get ``session:status``): a query's
#: lifecycle, the sandbox's, and the questions waiting for an answer.
RUNTIME_EVENT_TYPES = frozenset(t for t in EVENT_TYPES if t.split(":")[0] in ("query", "ee", "permission"))


@dataclass
class SubagentThread:
    tool_use_id: str
    agent_id: str | None = None
    status: str = "running"
    prompt: str | None = None
    output: Any = None
    duration_ms: int | None = None
    blocks: list[dict[str, Any]] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)

    def wire(self) -> dict[str, Any]:
        data: dict[str, Any] = {"toolUseId": self.tool_use_id, "status": self.status, "blocks": self.blocks}
        if self.agent_id is not None:
            data["agentId"] = self.agent_id
        if self.prompt is not None:
            data["prompt"] = self.prompt
        if self.output is not None:
            data["output"] = self.output
        if self.duration_ms is not None:
            data["durationMs"] = self.duration_ms
        return data


@dataclass
class SessionState:
    """Everything a view needs about one session, derived from its log."""

    blocks: list[dict[str, Any]] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    subagents: dict[str, SubagentThread] = field(default_factory=dict)
    environment: dict[str, Any] | None = None
    active_query: dict[str, Any] | None = None
    queued: list[str] = field(default_factory=list)
    #: Messages accepted while idle whose query has not started yet (normally for a few ms).
    unstarted: list[str] = field(default_factory=list)
    pending_permissions: dict[str, dict[str, Any]] = field(default_factory=dict)
    resolved_permissions: set[str] = field(default_factory=set)
    usage: dict[str, int] | None = None
    cost_usd: float | None = None
    model: str | None = None
    #: What the agent advertised for a client's pickers (ACP: ``commands``, ``mode``, ``modes``,
    #: ``models``), each the last ``metadata:update`` value.
    agent_offers: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] | None = None
    last_seq: int = 0
    last_timestamp: str | None = None
    #: The workspace change set (``workspace:changes`` payload, wire form), kept current between
    #: those by the ``file:*`` events; ``None`` until the first of either.
    changes: dict[str, Any] | None = None
    changes_index: dict[str, int] = field(default_factory=dict)
    #: The last ``workspace:committed/merged/conflict/discarded`` as ``{type, payload}``.
    workspace_event: dict[str, Any] | None = None
    #: ``workspace:checkpoint`` payloads (``{ref, commit, messageId}``), oldest first.
    checkpoints: list[dict[str, Any]] = field(default_factory=list)

    # ------------------------------------------------------------------ views

    def runtime(self, *, is_loaded: bool = True) -> SessionRuntime:
        return SessionRuntime(
            is_loaded=is_loaded,
            execution_environment=EnvironmentState(**self.environment) if self.environment else None,
            active_query=ActiveQuery(**self.active_query) if self.active_query else None,
            queued_messages=len(self.queued),
            pending_permissions=[PendingPermission(**p) for p in self.pending_permissions.values()],
        )

    def metadata(self) -> SessionMetadata:
        usage = None
        if self.usage is not None:
            usage = Usage.model_validate(self.usage)
        return SessionMetadata(usage=usage, cost_usd=self.cost_usd, model=self.model)

    def subagent_list(self) -> list[dict[str, Any]]:
        return [s.wire() for s in self.subagents.values()]


def reduce_events(events: list[SessionEvent], state: SessionState | None = None) -> SessionState:
    state = state if state is not None else SessionState()
    for event in events:
        apply_event(state, event)
    return state


def _ms(timestamp: str) -> int:
    try:
        return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return 0


def _thread(state: SessionState, conversation_id: str) -> SubagentThread:
    thread = state.subagents.get(conversation_id)
    if thread is None:
        for candidate in state.subagents.values():
            if candidate.agent_id == conversation_id:
                return candidate
        thread = state.subagents[conversation_id] = SubagentThread(tool_use_id=conversation_id)
    return thread


def _container(state: SessionState, conversation_id: str) -> tuple[list[dict[str, Any]], dict[str, int]]:
    if conversation_id == "main":
        return state.blocks, state.index
    thread = _thread(state, conversation_id)
    return thread.blocks, thread.index


def _upsert(blocks: list[dict[str, Any]], index: dict[str, int], block: dict[str, Any]) -> dict[str, Any]:
    position = index.get(block["id"])
    if position is None:
        index[block["id"]] = len(blocks)
        stored = dict(block)
        blocks.append(stored)
        return stored
    stored = blocks[position]
    stored.update(block)
    return stored


def _close_pending(blocks: list[dict[str, Any]], status: str) -> None:
    # Only the tail can still be pending: earlier queries closed theirs when they ended.
    for block in reversed(blocks):
        if block.get("status") == "pending":
            if block.get("type") == "user_message":
                continue
            block["status"] = status
        elif block.get("type") == "user_message":
            break


def _add_error_block(state: SessionState, event: SessionEvent, message: str, code: Any) -> None:
    # An agent that reports its error (``error`` event) and then fails the query with the same
    # message would show it twice; the conversation needs it once.
    for previous in reversed(state.blocks[-3:]):
        if previous.get("type") == "user_message" and previous.get("id") not in state.queued:
            break  # an earlier query's failure: this one is a failure of its own
        if previous.get("type") == "error" and previous.get("message") == message:
            return
    block = {
        "id": f"error-{event.seq}",
        "type": "error",
        "status": "error",
        "message": message,
        "timestamp": event.timestamp,
    }
    if code:
        block["code"] = code
    _upsert(state.blocks, state.index, block)


def apply_event(state: SessionState, event: SessionEvent) -> SessionState:  # noqa: C901 - one dispatch table
    """Fold one event into ``state`` (in place) and return it."""
    state.last_seq = event.seq
    state.last_timestamp = event.timestamp
    payload = event.payload
    kind = event.type
    match kind:
        case "block:upsert":
            block = payload.get("block")
            if not isinstance(block, dict) or not isinstance(block.get("id"), str):
                return state
            blocks, index = _container(state, event.conversation_id)
            new = block["id"] not in index
            if new:
                block = {"status": "complete", "timestamp": event.timestamp, **block}
            stored = _upsert(blocks, index, block)
            # Only the runtime's own user messages (source "server") are queued or awaited.
            if stored.get("type") == "user_message" and event.conversation_id == "main":
                if stored.pop("queued", False):
                    if stored["id"] not in state.queued and event.source == "server":
                        state.queued.append(stored["id"])
                elif new and stored.get("status") == "pending" and event.source == "server":
                    state.unstarted.append(stored["id"])
        case "block:delta":
            block_id, delta = payload.get("blockId"), payload.get("delta")
            if not isinstance(block_id, str) or not isinstance(delta, str):
                return state
            blocks, index = _container(state, event.conversation_id)
            position = index.get(block_id)
            if position is None:
                stored = _upsert(
                    blocks,
                    index,
                    {
                        "id": block_id,
                        "type": "assistant_text",
                        "status": "pending",
                        "content": "",
                        "timestamp": event.timestamp,
                    },
                )
            else:
                stored = blocks[position]
            name = DELTA_FIELD.get(stored.get("type", ""), "content")
            current = stored.get(name)
            if isinstance(current, str):
                # Drop the block's reference first: with ``current`` the string's only owner,
                # CPython grows it in place instead of copying it (a reply of 100,000 small
                # deltas: 11 ms instead of 850; bench/reducer_deltas.py).
                stored[name] = None
                current += delta
            else:
                current = ("" if current is None else str(current)) + delta
            stored[name] = current
        case "query:started":
            message_id = payload.get("messageId")
            state.active_query = {"message_id": message_id, "started_at": _ms(event.timestamp)}
            if message_id in state.queued:
                state.queued.remove(message_id)
            if message_id in state.unstarted:
                state.unstarted.remove(message_id)
            position = state.index.get(message_id) if isinstance(message_id, str) else None
            if position is not None:
                state.blocks[position]["status"] = "complete"
        case "query:completed" | "query:failed" | "query:interrupted":
            message_id = payload.get("messageId")
            failed = kind == "query:failed"
            if state.active_query and state.active_query.get("message_id") == message_id:
                state.active_query = None
                _close_pending(state.blocks, "error" if failed else "complete")
                for thread in state.subagents.values():
                    if thread.status == "running":
                        thread.status = "failed" if failed else "completed"
                        _close_pending(thread.blocks, "error" if failed else "complete")
            elif message_id in state.queued or message_id in state.unstarted:
                (state.queued if message_id in state.queued else state.unstarted).remove(message_id)
                position = state.index.get(message_id)
                if position is not None:
                    state.blocks[position]["status"] = "error" if failed else "complete"
            if failed:
                _add_error_block(
                    state, event, str(payload.get("error") or "query failed"), payload.get("code")
                )
        case "ee:creating":
            env = state.environment or {}
            state.environment = {
                **env,
                "status": "starting",
                "status_message": payload.get("statusMessage"),
                "primitive": payload.get("primitive", env.get("primitive", "local")),
            }
        case "ee:ready":
            state.environment = {
                "id": payload.get("eeId"),
                "status": "ready",
                "primitive": payload.get("primitive", "local"),
                "status_message": None,
            }
        case "ee:terminated":
            env = state.environment or {}
            state.environment = {
                **env,
                "status": "terminated",
                "status_message": f"terminated ({payload.get('reason', 'unknown')})",
            }
        case "ee:error":
            env = state.environment or {}
            state.environment = {
                **env,
                "status": "error",
                "last_error": payload.get("message"),
                "status_message": None,
            }
        case "metadata:update":
            usage = payload.get("usage")
            if isinstance(usage, dict):
                total = state.usage or {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}
                for name in _USAGE_FIELDS:
                    value = usage.get(name)
                    if isinstance(value, int | float):
                        total[name] = int(total.get(name, 0) or 0) + int(value)
                state.usage = total
            cost = payload.get("costUsd")
            if isinstance(cost, int | float):
                state.cost_usd = round((state.cost_usd or 0.0) + float(cost), 10)
            if isinstance(payload.get("model"), str):
                state.model = payload["model"]
            for key in _OFFER_KEYS:
                if key in payload:
                    state.agent_offers[key] = payload[key]
        case "subagent:spawned":
            tool_use_id = payload.get("toolUseId")
            if isinstance(tool_use_id, str):
                thread = state.subagents.get(tool_use_id) or SubagentThread(tool_use_id=tool_use_id)
                thread.agent_id = payload.get("agentId") or thread.agent_id
                thread.prompt = payload.get("prompt")
                thread.status = "running"
                state.subagents[tool_use_id] = thread
        case "subagent:completed":
            tool_use_id = payload.get("toolUseId")
            if isinstance(tool_use_id, str):
                thread = _thread(state, tool_use_id)
                thread.status = "failed" if payload.get("status") == "failed" else "completed"
                thread.output = payload.get("output")
                thread.duration_ms = payload.get("durationMs")
                thread.agent_id = payload.get("agentId") or thread.agent_id
        case "options:update":
            if isinstance(payload.get("options"), dict):
                state.options = payload["options"]
        case "permission:requested":
            request_id = payload.get("requestId")
            if isinstance(request_id, str):
                state.pending_permissions[request_id] = {
                    "request_id": request_id,
                    "tool_name": str(payload.get("toolName", "")),
                    "input": payload.get("input") if isinstance(payload.get("input"), dict) else {},
                    "tool_use_id": payload.get("toolUseId"),
                    "title": payload.get("title"),
                    **{key: payload[key] for key in ("kind", "command", "path", "diff")
                       if isinstance(payload.get(key), str)},
                }
        case "permission:resolved":
            request_id = payload.get("requestId")
            if isinstance(request_id, str):
                state.pending_permissions.pop(request_id, None)
                state.resolved_permissions.add(request_id)
        case "error":
            _add_error_block(state, event, str(payload.get("message") or "error"), payload.get("code"))
        case "workspace:changes":
            files = payload.get("files")
            files = [dict(f) for f in files if isinstance(f, dict) and isinstance(f.get("path"), str)] \
                if isinstance(files, list) else []
            state.changes = {
                "baseCommit": str(payload.get("baseCommit") or ""),
                "head": str(payload.get("head") or ""),
                "files": files,
            }
            state.changes_index = {f["path"]: i for i, f in enumerate(files)}
        case "file:created" | "file:modified" | "file:deleted":
            _fold_file(state, event.type, payload)
        case ("workspace:committed" | "workspace:merged" | "workspace:conflict" | "workspace:discarded"
              | "workspace:restored" | "workspace:forked"):
            state.workspace_event = {"type": event.type, "payload": payload}
        case "workspace:checkpoint":
            state.checkpoints.append(dict(payload))
        case _:
            # log and unknown types stay in the log; they do not change derived state.
            pass
    return state


def _fold_file(state: SessionState, kind: str, payload: dict[str, Any]) -> None:
    """A live file event updates the change set until the next ``workspace:changes`` replaces it
    (line counts are only known then; a file seen only live shows 0/0)."""
    path = payload.get("path")
    if not isinstance(path, str) or not path:
        return
    if state.changes is None:
        state.changes = {"baseCommit": "", "head": "", "files": []}
        state.changes_index = {}
    files: list[dict[str, Any]] = state.changes["files"]
    position = state.changes_index.get(path)
    entry = files[position] if position is not None else None
    if kind == "file:deleted":
        if entry is None:
            state.changes_index[path] = len(files)
            files.append({"path": path, "status": "deleted", "additions": 0, "deletions": 0})
        elif entry.get("status") == "added":
            files.pop(position)  # type: ignore[arg-type]
            state.changes_index = {f["path"]: i for i, f in enumerate(files)}
        else:
            entry["status"] = "deleted"
    elif entry is None:
        state.changes_index[path] = len(files)
        status = "added" if kind == "file:created" else "modified"
        files.append({"path": path, "status": status, "additions": 0, "deletions": 0})
    elif entry.get("status") == "deleted":
        entry["status"] = "modified"


def change_totals(changes: dict[str, Any] | None) -> tuple[int, int, int]:
    """``(files, additions, deletions)`` of a folded change set (``SessionState.changes``): what a
    session list shows as ``+12 -3``. Binary files count as files with no lines."""
    files = (changes or {}).get("files") or []
    additions = deletions = 0
    for entry in files:
        added, removed = entry.get("additions"), entry.get("deletions")
        additions += added if isinstance(added, int) else 0
        deletions += removed if isinstance(removed, int) else 0
    return len(files), additions, deletions
