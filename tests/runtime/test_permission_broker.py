"""PermissionBroker's state machine on a real bus and SQLite store: first answer wins, unknown ids,
runner withdrawals, closing what is open, and expiry."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from runtime import EventBus
from runtime.errors import AlreadyResolved, PermissionNotFound
from runtime.reducer import SessionState, apply_event
from runtime.sessions.permissions import RUNTIME_NAME, PermissionBroker
from runtime.store.sqlite import SQLiteStore

SID = "s-broker"


class _Process:
    """What the broker writes to the agent's stdin (the control lines)."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []

    async def write_stdin(self, data: bytes) -> None:
        self.lines.append(data)


class _Harness:
    def __init__(self, bus: EventBus, timeout_s: float | None) -> None:
        self.bus = bus
        self.state = SessionState()
        self.process = _Process()
        self.broker = PermissionBroker(
            SID,
            bus=bus,
            state=lambda: self.state,
            process=lambda: self.process,
            agent_name="claude-code",
            timeout_s=lambda: timeout_s,
            expire=self.broker_answer,
        )
        bus.add_listener(SID, self._on_events)

    async def broker_answer(self, request_id: str, decision: str, message: str | None, by: str | None) -> None:
        await self.broker.answer(request_id, decision, message, by)

    def _on_events(self, _sid: str, events: list[Any]) -> None:
        for event in events:
            apply_event(self.state, event)
            if event.type.startswith("permission:"):
                self.broker.observe(event.type, event.payload.get("requestId"))

    async def ask(self, request_id: str, tool: str = "Bash") -> None:
        await self.bus.publish_one(SID, "permission:requested", {"requestId": request_id, "toolName": tool})

    async def resolutions(self) -> list[dict[str, Any]]:
        events = await self.bus.store.load_events(SID)
        return [e.payload for e in events if e.type == "permission:resolved"]


async def _harness(store: SQLiteStore, timeout_s: float | None = None) -> _Harness:
    return _Harness(EventBus(store), timeout_s)


async def test_the_first_of_two_concurrent_answers_wins_and_the_second_is_already_resolved(
    store: SQLiteStore,
) -> None:
    h = await _harness(store)
    await h.ask("r1")
    results = await asyncio.gather(
        h.broker.answer("r1", "allow", None, "alice"),
        h.broker.answer("r1", "deny", None, "bob"),
        return_exceptions=True,
    )
    assert results[0]["tool_name"] == "Bash"
    assert isinstance(results[1], AlreadyResolved)
    with pytest.raises(AlreadyResolved):
        await h.broker.answer("r1", "deny")  # and later, from the log
    assert await h.resolutions() == [{"requestId": "r1", "decision": "allow", "by": "alice"}]
    assert h.state.pending_permissions == {}


async def test_an_unknown_request_is_not_found_and_writes_nothing(store: SQLiteStore) -> None:
    h = await _harness(store)
    with pytest.raises(PermissionNotFound):
        await h.broker.answer("nope", "allow")
    assert await h.resolutions() == []
    # A failed answer leaves no claim behind: the request, once asked, can be answered.
    await h.ask("nope")
    await h.broker.answer("nope", "allow")


async def test_a_runner_withdraws_only_its_open_questions_as_a_deny(store: SQLiteStore) -> None:
    h = await _harness(store)
    await h.ask("r1")
    claimed: list[str] = []
    draft = {"type": "permission:resolved", "payload": {"requestId": "r1", "decision": "allow"}}
    withdrawn = h.broker.withdrawal(draft, [], claimed)
    assert withdrawn is not None and withdrawn["payload"]["decision"] == "deny"
    assert withdrawn["payload"]["by"] == "claude-code"
    assert claimed == ["r1"]
    # Claimed until the batch is published: a user's answer meanwhile loses.
    with pytest.raises(AlreadyResolved):
        await h.broker.answer("r1", "allow")
    h.broker.release(claimed)
    unknown = {"type": "permission:resolved", "payload": {"requestId": "r9", "decision": "deny"}}
    assert h.broker.withdrawal(unknown, [], []) is None
    asked_now = [{"type": "permission:requested", "payload": {"requestId": "r9"}}]
    assert h.broker.withdrawal(unknown, asked_now, []) is not None


async def test_closing_denies_every_open_request_and_tells_the_agent(store: SQLiteStore) -> None:
    h = await _harness(store)
    await h.ask("r1")
    await h.ask("r2")
    await h.broker.close_pending("the query was interrupted", tell_runner=True)
    assert [(p["requestId"], p["decision"], p["by"]) for p in await h.resolutions()] == [
        ("r1", "deny", RUNTIME_NAME),
        ("r2", "deny", RUNTIME_NAME),
    ]
    assert [b'"requestId": "r1"' in line for line in h.process.lines] == [True, False]
    assert h.broker.unclaimed() == []
    await h.broker.close_pending("again")  # nothing open: nothing written
    assert len(await h.resolutions()) == 2


async def test_an_unanswered_request_expires_as_a_deny_and_an_answered_one_does_not(store: SQLiteStore) -> None:
    h = await _harness(store, timeout_s=0.05)
    await h.ask("late")
    await h.ask("answered")
    await h.broker.answer("answered", "allow", None, "alice")
    while "late" in h.state.pending_permissions:
        await asyncio.sleep(0.01)
    by_id = {p["requestId"]: p for p in await h.resolutions()}
    assert by_id["late"] == {
        "requestId": "late",
        "decision": "deny",
        "message": "no answer within 0.05 s",
        "by": RUNTIME_NAME,
    }
    assert by_id["answered"]["decision"] == "allow"
    assert len(await h.resolutions()) == 2
    h.broker.close()


async def test_closing_the_broker_cancels_the_timers(store: SQLiteStore) -> None:
    h = await _harness(store, timeout_s=0.05)
    await h.ask("r1")
    h.broker.close()
    await asyncio.sleep(0.2)  # longer than the timeout: an expiry would have been written by now
    assert await h.resolutions() == []
