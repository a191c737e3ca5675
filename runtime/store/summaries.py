"""Per-session summaries the stores keep beside the log, updated in the transaction of each append.

A session list (the TUI's, ``GET /sessions``) needs, per session, what is running, what waits, what
it cost and what the user has not read; reading every log at start-up to derive that grew with the
whole history (issue #17). A ``Digest`` is the reducer's state without blocks: folded from each
appended batch by the store (one UPDATE per session per batch, in the batch's transaction, so a
persisted event is always reflected in its summary) and read back by ``list_sessions``.

``unread`` is a server-side counter (docs/protocol.md, "Session summaries and unread"): the replies
(query ends) appended since a client last marked the session read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..models import SessionEvent
from ..reducer import RUNTIME_EVENT_TYPES, SessionState, _ms, apply_event, change_totals

#: Events that change a summary beyond last seq/activity. Block events are skipped (a summary
#: holds no blocks) except a main-conversation user message (it is queued or about to start).
_FOLDED = RUNTIME_EVENT_TYPES | {"metadata:update"}
_ENDS = frozenset({"query:completed", "query:failed", "query:interrupted"})


def counts_as_unread(event: SessionEvent) -> bool:
    """A reply the user has not seen: a query that ended, unless the user stopped it themselves."""
    if event.type not in _ENDS:
        return False
    return not (event.type == "query:interrupted" and event.payload.get("reason") == "user")


@dataclass
class Digest:
    state: SessionState = field(default_factory=SessionState)
    last_failed: bool = False
    #: ``(files, additions, deletions)`` of the last ``workspace:changes``: the list's ``+12 -3``
    #: for a session whose log is not in memory.
    change_totals: tuple[int, int, int] | None = None

    def fold(self, events: Iterable[SessionEvent]) -> int:
        """Fold ``events`` in; returns how many of them count as unread."""
        state = self.state
        unread = 0
        for event in events:
            kind = event.type
            if kind in _FOLDED:
                apply_event(state, event)
                if kind == "query:started":
                    self.last_failed = False
                elif kind == "query:failed":
                    self.last_failed = True
                if counts_as_unread(event):
                    unread += 1
            elif kind == "workspace:changes":
                self.change_totals = change_totals(event.payload)
            elif kind == "block:upsert" and event.conversation_id == "main":
                block = event.payload.get("block")
                if isinstance(block, dict) and block.get("type") == "user_message":
                    self._user_message(block, event)
            state.last_seq = event.seq
            state.last_timestamp = event.timestamp
        # A failure's error block and closed blocks: a summary keeps none.
        state.blocks.clear()
        state.index.clear()
        return unread

    def _user_message(self, block: dict[str, Any], event: SessionEvent) -> None:
        # As the reducer: only the runtime's own messages (source "server") are queued or awaited.
        message_id = block.get("id")
        state = self.state
        if event.source != "server" or not isinstance(message_id, str):
            return
        if block.get("queued"):
            if message_id not in state.queued:
                state.queued.append(message_id)
        elif block.get("status") == "pending" and message_id not in state.unstarted:
            state.unstarted.append(message_id)

    # ------------------------------------------------------------------ views

    @property
    def quiet(self) -> bool:
        """Nothing a restart must close: no query, queued message, pending request or live sandbox."""
        state = self.state
        env = (state.environment or {}).get("status")
        return (
            state.active_query is None
            and not state.queued
            and not state.unstarted
            and not state.pending_permissions
            and env not in ("starting", "ready")
        )

    def status(self) -> str:
        """The list's status word (the TUI's ``SessionModel.status`` for a session it has not loaded)."""
        state = self.state
        env = (state.environment or {}).get("status")
        if state.pending_permissions:
            return "needs-input"
        if env == "starting":
            return "starting"
        if state.active_query is not None:
            return "busy"
        if state.queued or state.unstarted:
            return "queued"
        if self.last_failed or env == "error":
            return "error"
        if env == "terminated":
            return "terminated"
        return "idle"

    def last_activity(self) -> int:
        return _ms(self.state.last_timestamp) if self.state.last_timestamp else 0

    def columns(self) -> tuple[str, float | None, int, int, int, str]:
        """``(status, cost_usd, last_activity, last_seq, needs_input, summary JSON)`` as stored."""
        import orjson

        return (
            self.status(),
            self.state.cost_usd,
            self.last_activity(),
            self.state.last_seq,
            len(self.state.pending_permissions),
            orjson.dumps(self.to_json()).decode(),
        )

    def to_json(self) -> dict[str, Any]:
        s = self.state
        return {
            "lastSeq": s.last_seq,
            "lastTimestamp": s.last_timestamp,
            "costUsd": s.cost_usd,
            "usage": s.usage,
            "model": s.model,
            "activeQuery": s.active_query,
            "queued": s.queued,
            "unstarted": s.unstarted,
            "pendingPermissions": list(s.pending_permissions.values()),
            "environment": s.environment,
            "lastFailed": self.last_failed,
            "changeTotals": list(self.change_totals) if self.change_totals is not None else None,
        }

    @classmethod
    def from_json(cls, data: Any) -> Digest:
        if not isinstance(data, dict):
            return cls()
        state = SessionState(
            last_seq=int(data.get("lastSeq") or 0),
            last_timestamp=data.get("lastTimestamp"),
            cost_usd=data.get("costUsd"),
            usage=data.get("usage"),
            model=data.get("model"),
            active_query=data.get("activeQuery"),
            queued=list(data.get("queued") or ()),
            unstarted=list(data.get("unstarted") or ()),
            pending_permissions={p["request_id"]: p for p in data.get("pendingPermissions") or ()},
            environment=data.get("environment"),
        )
        totals = data.get("changeTotals")
        valid = isinstance(totals, list) and len(totals) == 3 and all(isinstance(n, int) for n in totals)
        return cls(state, bool(data.get("lastFailed")), tuple(totals) if valid else None)

    @classmethod
    def of_state(cls, state: SessionState, last_failed: bool = False) -> Digest:
        """The digest of a fully reduced log (what folding that log would give)."""
        digest = cls.from_json(None)
        digest.state = SessionState(
            last_seq=state.last_seq, last_timestamp=state.last_timestamp, cost_usd=state.cost_usd,
            usage=dict(state.usage) if state.usage else None, model=state.model,
            active_query=state.active_query, queued=list(state.queued), unstarted=list(state.unstarted),
            pending_permissions=dict(state.pending_permissions), environment=state.environment,
        )
        digest.last_failed = last_failed
        if state.changes is not None:
            digest.change_totals = change_totals(state.changes)
        return digest

    def copy(self) -> Digest:
        return Digest.from_json(self.to_json())


_EMPTY = Digest()


class DigestCache:
    """The stores' in-memory copy of each session's digest, so an append folds without a read.

    ``fold`` computes the new digests of a batch without touching the cache; ``commit`` installs
    them once the transaction is in (a failed append leaves the cache as it was).
    """

    def __init__(self) -> None:
        self._digests: dict[str, Digest] = {}

    def __contains__(self, session_id: str) -> bool:
        return session_id in self._digests

    def get(self, session_id: str) -> Digest:
        return self._digests.get(session_id) or Digest()

    def put(self, session_id: str, digest: Digest) -> None:
        self._digests[session_id] = digest

    def put_new(self, session_id: str) -> None:
        """A session just created: its digest is the empty one. Digests in the cache are never
        changed in place (``fold`` works on copies), so every new session shares one: a server
        that creates 10,000 sessions and uses few keeps no ~1 KB digest for each
        (docs/reliability.md #9)."""
        self._digests[session_id] = _EMPTY

    def drop(self, session_id: str) -> None:
        self._digests.pop(session_id, None)

    def missing(self, batch: Sequence[tuple[str, SessionEvent]]) -> list[str]:
        return list({sid for sid, _ in batch if sid not in self._digests})

    def fold(self, batch: Sequence[tuple[str, SessionEvent]]) -> dict[str, tuple[Digest, int]]:
        """Per session of ``batch``: its digest after the batch and the batch's unread count."""
        grouped: dict[str, list[SessionEvent]] = {}
        for sid, event in batch:
            grouped.setdefault(sid, []).append(event)
        out: dict[str, tuple[Digest, int]] = {}
        for sid, events in grouped.items():
            previous = self._digests.get(sid)
            digest = previous.copy() if previous is not None else Digest()
            out[sid] = (digest, digest.fold(events))
        return out

    def commit(self, folded: dict[str, tuple[Digest, int]]) -> None:
        for sid, (digest, _) in folded.items():
            self._digests[sid] = digest


#: The events a backfill reads (the others cannot change a summary beyond its last seq).
BACKFILL_WHERE = (
    "type IN ('query:started', 'query:completed', 'query:failed', 'query:interrupted', "
    "'ee:creating', 'ee:ready', 'ee:terminated', 'ee:error', 'metadata:update', "
    "'permission:requested', 'permission:resolved') "
    "OR (type = 'block:upsert' AND conversation_id = 'main' AND payload LIKE '%user_message%')"
)


def backfill(rows: Iterable[Sequence[Any]], highs: Iterable[Sequence[Any]]) -> dict[str, tuple[Digest, int]]:
    """Summaries of existing logs, at a schema upgrade: ``rows`` are the ``BACKFILL_WHERE`` events
    ``(session_id, seq, type, payload JSON, timestamp, conversation_id, source)`` in log order,
    ``highs`` each session's ``(session_id, last seq, its timestamp)``. Nothing counts as unread
    (the old TUI's unread lived only in the running process)."""
    import orjson

    from ..models import make_event

    digests: dict[str, Digest] = {}
    for r in rows:
        digests.setdefault(r[0], Digest()).fold([make_event(r[1], r[2], orjson.loads(r[3]), r[4], r[5], r[6])])
    for session_id, seq, timestamp in highs:
        state = digests.setdefault(session_id, Digest()).state
        state.last_seq, state.last_timestamp = int(seq), timestamp
    return {sid: (d, 0) for sid, d in digests.items()}


#: Each session's last seq and its timestamp (for ``backfill``).
HIGHS_SQL = (
    "SELECT e.session_id, e.seq, e.timestamp FROM events e JOIN "
    "(SELECT session_id, MAX(seq) AS seq FROM events GROUP BY session_id) m "
    "ON e.session_id = m.session_id AND e.seq = m.seq"
)


def update_rows(folded: dict[str, tuple[Digest, int]]) -> list[tuple[Any, ...]]:
    """Parameters of the stores' summary UPDATE: ``(status, cost, activity, seq, needs_input,
    summary, unread_delta, session_id)``."""
    return [(*digest.columns(), unread, sid) for sid, (digest, unread) in folded.items()]


def summary_fields(summary_json: Any, unread: Any) -> dict[str, Any]:
    """The keys a store adds to a ``SessionRecord`` it read: ``summary`` and ``unread``."""
    return {"summary": summary_json, "unread": int(unread or 0)}
