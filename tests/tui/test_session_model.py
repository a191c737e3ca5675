"""SessionModel: the reducer's state plus unread counts, notices and a status at a glance."""

from __future__ import annotations

from agent_tui.demo import block, ev, ts
from agent_tui.session_model import SessionModel
from runtime.models import SessionEvent, SessionSummary


def events(drafts: list[dict], start: int = 1) -> list[SessionEvent]:
    return [SessionEvent(seq=start + i, type=d["type"], payload=d["payload"], timestamp=d["timestamp"],
                         conversation_id=d["conversationId"]) for i, d in enumerate(drafts)]


def model(last_seq: int = 0) -> SessionModel:
    """A followed session's model (the app follows a session's log while it is shown)."""
    followed = SessionModel(SessionSummary(session_id="s", name="demo", architecture="shell", created_at=0,
                                           last_activity=0, last_seq=last_seq))
    followed.follow()
    return followed


QUERY = [
    block(0, id="u", type="user_message", content="go", status="complete"),
    ev("query:started", 0, messageId="u", content="go"),
    block(1, id="t", type="tool_use", toolName="shell", toolUseId="t", input={"command": "ls"}, status="pending"),
    block(2, id="r", type="tool_result", toolUseId="t", output="a\n", isError=False, status="complete"),
    ev("query:completed", 3, messageId="u", durationMs=3000),
]


def test_history_is_not_news_but_live_events_are() -> None:
    replayed = model(last_seq=5)
    changes = replayed.apply(events(QUERY))
    assert replayed.loaded and changes.new_blocks == 0 and changes.notices == []
    live = model(last_seq=0)
    changes = live.apply(events(QUERY))
    assert changes.new_blocks == 2  # the tool call and its result; the user's own message is not news
    assert [(n.severity, n.title) for n in changes.notices] == [("information", "demo finished")]
    assert changes.dirty >= {"u", "t", "r"}


def test_status_follows_the_log() -> None:
    m = model()
    m.apply(events(QUERY[:2]))
    assert m.status() == "busy" and m.running_since_ms() is not None
    m.apply(events([ev("ee:creating", 0.5, statusMessage="Creating local sandbox (0.1s)")], start=3))
    assert m.status() == "starting"
    m.apply(events([ev("ee:ready", 0.8, eeId="x", primitive="local"),
                    ev("permission:requested", 1, requestId="p", toolName="Bash", input={})], start=4))
    assert m.status() == "needs-input"
    m.apply(events([ev("permission:resolved", 1.5, requestId="p", decision="deny"),
                    ev("query:failed", 2, messageId="u", error="boom", code="AGENT_FAILED")], start=6))
    assert m.status() == "error" and m.last_error == "boom"
    assert m.state.blocks[-1]["type"] == "error"
    m.apply(events([ev("ee:terminated", 3, reason="idle")], start=8))
    assert m.status() == "error"  # the failure stays visible until the next query starts
    m.apply(events([block(4, id="u2", type="user_message", content="again", status="complete"),
                    ev("query:started", 4, messageId="u2", content="again"),
                    ev("query:completed", 5, messageId="u2", durationMs=10)], start=9))
    assert m.status() == "terminated"


def test_replayed_events_are_applied_once() -> None:
    m = model()
    m.apply(events(QUERY))
    before = [dict(b) for b in m.state.blocks]
    m.apply(events(QUERY))  # a resubscription overlapping what was applied
    assert m.state.blocks == before and m.state.last_seq == len(QUERY)
    assert ts(0) == "2026-01-15T09:30:00.000Z"
