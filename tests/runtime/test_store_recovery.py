"""StoreRecovery on a real SQLite store that refuses writes (``PRAGMA query_only``): the end of a
query the store failed to record stays pending while writes fail, then comes first in the log
with the open questions denied, exactly once."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest

from runtime import EventBus
from runtime.errors import StoreError
from runtime.models import AgentProfile
from runtime.reducer import SessionState, apply_event
from runtime.sessions.environment import ExecutionEnvironment
from runtime.sessions.permissions import RUNTIME_NAME, PermissionBroker
from runtime.sessions.store_recovery import StoreRecovery
from runtime.store.sqlite import SQLiteStore

SID = "s-recovery"


class _Rig:
    def __init__(self, store: SQLiteStore) -> None:
        self.store = store
        self.bus = EventBus(store)
        self.state = SessionState()
        self.recorded = 0

        async def publish(kind: str, payload: dict[str, Any]) -> None:
            await self.bus.publish_one(SID, kind, payload)

        environment = ExecutionEnvironment(
            SID,
            primitive_name="local",
            make_primitive=lambda: None,  # type: ignore[arg-type,return-value] - no sandbox is started here
            publish=publish,  # type: ignore[arg-type]
            store=store,
            architecture="shell",
            has_transcript=False,
            profile=AgentProfile(id="default", name="Default"),
            python=sys.executable,
            idle_timeout_s=60,
        )
        permissions = PermissionBroker(
            SID,
            bus=self.bus,
            state=lambda: self.state,
            process=lambda: None,
            agent_name="shell",
            timeout_s=lambda: None,
            expire=_no_expiry,
        )

        self.recovery = StoreRecovery(
            SID,
            bus=self.bus,
            state=lambda: self.state,
            environment=environment,
            permissions=permissions,
            on_recorded=self._on_recorded,
        )
        self.bus.add_listener(SID, lambda _sid, events: [apply_event(self.state, e) for e in events])

    def _on_recorded(self) -> None:
        self.recorded += 1

    async def writes(self, allowed: bool) -> None:
        await self.store.db.execute(f"PRAGMA query_only = {'OFF' if allowed else 'ON'}")

    async def types(self) -> list[str]:
        return [e.type for e in await self.store.load_events(SID)]


async def _no_expiry(*_args: Any) -> None:
    return None  # no timeout is set: never called


async def _failed_query(rig: _Rig) -> None:
    """A query that asked a question, then the store stopped taking writes."""
    await rig.bus.publish(
        SID,
        [
            {"type": "query:started", "payload": {"messageId": "m1", "content": "hi"}},
            {"type": "permission:requested", "payload": {"requestId": "r1", "toolName": "Bash"}},
        ],
    )
    await rig.writes(False)
    rig.recovery.failed("m1", StoreError("attempt to write a readonly database"))


async def test_the_failed_end_waits_while_writes_fail_and_is_recorded_once_they_work(store: SQLiteStore) -> None:
    rig = _Rig(store)
    await _failed_query(rig)
    assert rig.recovery.pending
    with pytest.raises(StoreError):
        await rig.recovery.record()
    assert rig.recovery.pending, "a failed attempt loses nothing"
    assert rig.recorded == 0
    await rig.writes(True)
    await rig.recovery.record()
    await rig.recovery.record()  # nothing left: writes nothing
    assert not rig.recovery.pending
    assert rig.recorded == 1
    assert await rig.types() == ["query:started", "permission:requested", "permission:resolved", "query:failed"]
    events = await store.load_events(SID)
    assert events[2].payload["by"] == RUNTIME_NAME and events[2].payload["decision"] == "deny"
    assert events[3].payload["code"] == "STORE_ERROR" and events[3].payload["messageId"] == "m1"


async def test_a_query_whose_end_is_already_in_the_log_leaves_nothing_to_record(store: SQLiteStore) -> None:
    rig = _Rig(store)
    await rig.bus.publish(
        SID,
        [
            {"type": "query:started", "payload": {"messageId": "m1", "content": "hi"}},
            {"type": "query:completed", "payload": {"messageId": "m1", "durationMs": 1}},
        ],
    )
    rig.recovery.failed("m1", StoreError("disk full"))
    assert not rig.recovery.pending


async def test_retry_records_once_writes_work_and_stop_ends_it(store: SQLiteStore) -> None:
    rig = _Rig(store)
    await _failed_query(rig)
    retry = asyncio.create_task(rig.recovery.retry())
    await rig.writes(True)
    await asyncio.wait_for(retry, 10)
    assert rig.recorded == 1 and (await rig.types())[-1] == "query:failed"

    await rig.bus.publish_one(SID, "query:started", {"messageId": "m2", "content": "again"})
    await rig.writes(False)
    rig.recovery.failed("m2", StoreError("disk full"))
    retry = asyncio.create_task(rig.recovery.retry())
    rig.recovery.stop()  # the session closes: start-up recovery ends the query instead
    await asyncio.wait_for(retry, 10)
    assert rig.recovery.pending and rig.recorded == 1
