"""The runner-line gate encodes each payload once and that text is what the store writes; what
the session rewrites after the gate (a runner's withdrawal) is encoded again; a payload no store can
hold is refused at ``publish`` without failing anyone else's events."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from runtime import EventBus
from runtime.errors import StoreError
from runtime.reducer import SessionState, apply_event
from runtime.sessions.permissions import PermissionBroker
from runtime.sessions.runner_events import parse_runner_line
from runtime.store.sqlite import SQLiteStore

SID = "s-gate"


def _no_block(_conversation: str, _block: str) -> None:
    return None


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    store = SQLiteStore(tmp_path / "gate.db")
    await store.open()
    yield store
    await store.close()


def _stored_text(path: Path, seq: int) -> str:
    with sqlite3.connect(path) as db:
        return str(db.execute("SELECT payload FROM events WHERE session_id = ? AND seq = ?", (SID, seq)).fetchone()[0])


async def test_the_store_writes_the_text_the_gate_encoded(store: SQLiteStore) -> None:
    draft = parse_runner_line(
        orjson.dumps({"type": "block:delta", "payload": {"blockId": "b1", "delta": "é 😀"}}), _no_block, {}
    )
    assert orjson.loads(draft["payloadJson"]) == draft["payload"]
    # A text that decodes to the same payload but that no encoder here would produce: if the bus
    # or the store encoded the payload again, the row would read differently.
    draft["payloadJson"] = '{ "blockId" : "b1",  "delta" : "\\u00e9 \\ud83d\\ude00" }'
    bus = EventBus(store)
    (event,) = await bus.publish(SID, [draft])
    assert _stored_text(store.path, event.seq) == draft["payloadJson"]
    assert (await store.load_events(SID))[0].payload == event.payload == {"blockId": "b1", "delta": "é 😀"}


async def test_a_withdrawal_is_stored_as_the_session_rewrote_it(store: SQLiteStore) -> None:
    bus = EventBus(store)
    state = SessionState()
    bus.add_listener(SID, lambda _sid, events: [apply_event(state, e) for e in events])
    broker = PermissionBroker(
        SID,
        bus=bus,
        state=lambda: state,
        process=lambda: None,
        agent_name="claude-code",
        timeout_s=lambda: None,
        expire=lambda *_: asyncio.sleep(0),
    )
    await bus.publish_one(SID, "permission:requested", {"requestId": "r1", "toolName": "Bash"})
    line = orjson.dumps({"type": "permission:resolved", "payload": {"requestId": "r1", "decision": "allow"}})
    claimed: list[str] = []
    draft = broker.withdrawal(parse_runner_line(line, _no_block, {}), [], claimed)
    assert draft is not None
    (event,) = await bus.publish(SID, [draft])
    broker.release(claimed)
    assert event.payload["decision"] == "deny"
    assert orjson.loads(_stored_text(store.path, event.seq)) == event.payload


async def test_a_payload_no_store_can_hold_is_refused_alone(store: SQLiteStore) -> None:
    bus = EventBus(store)
    deep: Any = "x"
    for _ in range(300):  # orjson encodes 254 levels at most
        deep = [deep]
    results = await asyncio.gather(
        bus.publish_one(SID, "log", {"level": "info", "message": "deep", "data": deep}),
        bus.publish_one("other", "log", {"level": "info", "message": "fine"}),
        return_exceptions=True,
    )
    assert isinstance(results[0], StoreError), results[0]
    assert [e.payload["message"] for e in await store.load_events("other")] == ["fine"]
    assert await store.load_events(SID) == []
    # The refused event took no seq: the session's next event is its first.
    assert (await bus.publish_one(SID, "log", {"level": "info", "message": "next"})).seq == 1


def test_integers_beyond_64_bits_from_a_runner_arrive_as_floats() -> None:
    line = b'{"type": "log", "payload": {"level": "info", "message": "m", "n": 123456789012345678901234567890}}'
    draft = parse_runner_line(line, _no_block, {})
    assert draft["type"] == "log" and draft["payload"]["n"] == pytest.approx(1.2345678901234568e29)


@pytest.mark.parametrize(
    "line",
    [b'{"type": "log", "payload": {"level": "info", "message": NaN}}', b'{"type": "log", "payload": {"n": 1e999}}'],
    ids=["nan", "infinity"],
)
def test_numbers_json_does_not_have_are_refused(line: bytes) -> None:
    draft = parse_runner_line(line, _no_block, {})
    assert draft["type"] == "log" and draft["payload"]["message"].startswith("unparseable runner output")
