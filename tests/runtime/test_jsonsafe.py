"""One repair for what may go into the log: the runner-line gate and the event bus agree."""

from __future__ import annotations

import json
from pathlib import Path

import orjson

from runtime import EventBus, SQLiteStore
from runtime.jsonsafe import repair, repair_text
from runtime.sessions.runner_events import parse_runner_line

PAIR = "\ud83d\ude00"  # two surrogates that together encode U+1F600, as Python may hold them
LONE = "\ud800"


def test_a_lone_surrogate_becomes_a_replacement_character_and_a_split_pair_its_character() -> None:
    assert repair_text(f"a{PAIR}b") == "a\U0001f600b"
    assert repair_text(f"{LONE}x{LONE}") == "\ufffdx\ufffd"
    assert repair_text("plain ✓") == "plain ✓"


def test_integers_orjson_can_encode_stay_integers() -> None:
    for value in (2**63 + 5, 2**64 - 1, -(2**63)):
        assert repair(value) == value
        orjson.dumps(repair(value))
    assert repair(2**64) == str(2**64) and repair(-(2**63) - 1) == str(-(2**63) - 1)


def _runner_payload(payload: dict) -> dict:
    # json.dumps escapes the surrogates; json.loads (the gate's parser) gives them back unpaired.
    line = json.dumps({"type": "log", "payload": payload}).encode()
    draft = parse_runner_line(line, lambda _c, _b: None, {})
    assert draft["type"] == "log", draft
    return draft["payload"]


async def test_a_runner_line_and_a_published_payload_are_stored_alike(tmp_path: Path) -> None:
    payload = {"level": "info", "message": f"{PAIR} {LONE}", "n": 2**63 + 1, LONE: [f"{PAIR}"]}
    from_runner = _runner_payload(payload)
    store = SQLiteStore(tmp_path / "db.sqlite")
    await store.open()
    bus = EventBus(store)
    try:
        await bus.publish("s", [{"type": "log", "payload": payload}])
        [stored] = await store.load_events("s")
    finally:
        await bus.close()
        await store.close()
    expected = {"level": "info", "message": "\U0001f600 \ufffd", "n": 2**63 + 1, "\ufffd": ["\U0001f600"]}
    assert from_runner == expected
    assert stored.payload == expected
