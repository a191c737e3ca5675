"""Golden tests: real ``opencode run --format json`` output and OpenCode databases (captured once
against the fake server, committed under tests/data/opencode/) convert to the committed expected
events, and the saved database parses into the same blocks as the live stream. Regenerate with
``.venv/bin/python -m tests.opencode.golden`` (see tests/opencode/golden.py)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from runtime.converters.opencode import OpenCodeConverter, transcript_events
from runtime.models import SessionEvent
from runtime.reducer import SessionState, apply_event
from tests.opencode.golden import DATA, GOLDEN
from tests.opencode.golden_tools import reduce_blocks, stream_files, without_timestamps

SCENARIOS = sorted(p.name for p in GOLDEN.folders())


def expected(folder: Path, name: str) -> object:
    return json.loads((folder / name).read_text(encoding="utf-8"))


def test_every_scenario_is_there() -> None:
    assert set(SCENARIOS) >= {"text", "tool_loop", "api_error", "subagent", "resume"}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_stream_converts_to_the_committed_events_and_blocks(scenario: str) -> None:
    folder = DATA / scenario
    events = GOLDEN.convert_streams(folder)
    assert without_timestamps(events) == expected(folder, "expected-events.json")
    assert reduce_blocks(events) == expected(folder, "expected-blocks.json")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_saved_database_gives_the_same_blocks_as_the_live_stream(scenario: str) -> None:
    folder = DATA / scenario
    assert GOLDEN.transcript_blocks(folder) == expected(folder, "expected-blocks.json")


def test_golden_behaviour_in_words() -> None:
    """What the expectation files say, spelled out for the main cases."""
    events = GOLDEN.convert_streams(DATA / "text")
    text = reduce_blocks(events)
    assert [b["type"] for b in text] == ["thinking", "assistant_text"]
    assert text[0]["content"] == "The user wants a greeting."
    assert text[1]["content"] == "Hello! This is the fake model, streaming in pieces."
    assert text[1]["id"].startswith("prt_")
    # Both stream: a pending block, deltas that add up to the text, then the finished block.
    for block in text:
        mine = [e for e in events if (e["type"] == "block:upsert" and e["payload"]["block"]["id"] == block["id"])
                or (e["type"] == "block:delta" and e["payload"]["blockId"] == block["id"])]
        assert mine[0]["type"] == "block:upsert" and mine[0]["payload"]["block"]["status"] == "pending"
        deltas = [e["payload"]["delta"] for e in mine if e["type"] == "block:delta"]
        assert len(deltas) >= 2 and mine[0]["payload"]["block"]["content"] + "".join(deltas) == block["content"]
        assert mine[-1]["payload"]["block"]["status"] == "complete"

    tools = reduce_blocks(GOLDEN.convert_streams(DATA / "tool_loop"))
    results = [b for b in tools if b["type"] == "tool_result"]
    assert [(r["output"], r["isError"]) for r in results] == [
        ("hi\n", False), ("Wrote file successfully.", False), ("oops\n", True)]
    assert results[2]["exitCode"] == 3 and results[2]["status"] == "error"
    assert all(b["status"] == "complete" for b in tools if b["type"] == "tool_use")
    # Each tool call showed as a pending card (with its input) before its result arrived.
    tool_events = GOLDEN.convert_streams(DATA / "tool_loop")
    for use in (b for b in tools if b["type"] == "tool_use"):
        first = next(i for i, e in enumerate(tool_events) if e["type"] == "block:upsert"
                     and e["payload"]["block"]["id"] == use["id"])
        result = next(i for i, e in enumerate(tool_events) if e["type"] == "block:upsert"
                      and e["payload"]["block"]["id"] == f"{use['id']}:result")
        assert tool_events[first]["payload"]["block"]["status"] == "pending" and first < result

    failed = GOLDEN.convert_streams(DATA / "api_error")
    assert failed[-1] == {"type": "query_result", "success": False,
                          "error": "API error 500: the fake model is on fire", "code": "API_ERROR"}
    assert [e["type"] for e in failed].count("error") == 1

    events = GOLDEN.convert_streams(DATA / "subagent")
    spawned = [e["payload"] for e in events if e["type"] == "subagent:spawned"]
    completed = [e["payload"] for e in events if e["type"] == "subagent:completed"]
    assert spawned[0]["prompt"] == "List the files in the workspace" and spawned[0]["agentId"].startswith("ses_")
    assert completed[0]["output"] == "The workspace is empty." and completed[0]["status"] == "completed"
    # The thread opened when the task started (one spawned event), and the subagent's own reply
    # streamed into it (conversationId = the task's call id), not into the main conversation.
    assert len(spawned) == 1
    state = SessionState()
    for seq, event in enumerate((e for e in events if e["type"] != "query_result"), 1):
        apply_event(state, SessionEvent(seq=seq, type=event["type"], payload=event["payload"],
                                        timestamp="2026-01-01T00:00:00.000Z",
                                        conversation_id=event.get("conversationId", "main")))
    [thread] = state.subagents.values()
    assert thread.agent_id == spawned[0]["agentId"] and thread.status == "completed"
    assert [(b["type"], b["content"]) for b in thread.blocks] == [("assistant_text", "The workspace is empty.")]
    assert "The workspace is empty." not in [b.get("content") for b in reduce_blocks(events)]

    usage = [e["payload"] for e in GOLDEN.convert_streams(DATA / "resume") if e["type"] == "metadata:update"]
    assert {"model": "agent-tui/fake-model"} in usage
    assert sum(u["usage"]["outputTokens"] for u in usage if "usage" in u) == 14  # one step per query


def test_saved_prompts_become_user_messages() -> None:
    transcript = expected(DATA / "resume", "transcript.json")
    blocks = [e["payload"]["block"] for e in transcript_events(transcript) if e["type"] == "block:upsert"]
    assert [b["content"] for b in blocks if b["type"] == "user_message"] == [
        "Remember the word 'teal'.", "Which word?"]


# --------------------------------------------------------------------------- robustness


def golden_lines() -> list[str]:
    return [line for scenario in SCENARIOS for path in stream_files(DATA / scenario)
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_malformed_lines_and_unknown_types_never_raise() -> None:
    converter = OpenCodeConverter({})
    converter.feed('{"type": "message.updated", "properties": {"info": {"id": "m", "role": "assistant"}}}')
    odd = ["not json", "[1, 2]", "{}", '{"type": 42}', '{"type": "from_the_future", "x": 1}',
           '{"type": "message.part.updated", "properties": "nope"}',
           '{"type": "message.part.updated", "properties": {"part": {"id": "p", "messageID": "m", "type": "text", '
           '"text": 5}}}',
           '{"type": "message.part.delta", "properties": {"partID": "p", "delta": ["x"]}}',
           '{"type": "message.part.updated", "properties": {"part": {"id": "t", "messageID": "m", "type": "tool", '
           '"state": "x"}}}',
           '{"type": "message.part.updated", "properties": {"part": {"id": "t", "messageID": "m", "type": "tool", '
           '"callID": "c", "state": {"status": "completed", "time": {"start": "a"}, "metadata": [], '
           '"output": {"x": 1}}}}}',
           '{"type": "message.part.updated", "properties": {"part": {"id": "s", "messageID": "m", '
           '"type": "step-finish", "tokens": "lots"}}}',
           '{"type": "permission.asked", "properties": {"id": 5}}',
           '{"type": "permission.asked", "properties": {"id": "per", "patterns": "x", "tool": []}}',
           '{"type": "session.status", "properties": {"status": {"type": "retry", "attempt": {}}}}',
           '{"type": "agent-tui.messages", "messages": [1, {"info": "x"}, {"info": {"role": "assistant"}, '
           '"parts": [null, {"id": 3}]}]}',
           '{"type": "session.error", "properties": {"error": "plain"}}', '{"type": "session.error"}',
           '{"type": "agent-tui.error"}', "\x00\xff garbage"]
    for line in odd:
        events = converter.feed(line)
        assert isinstance(events, list)
        assert all(isinstance(e, dict) and "type" in e for e in events)
        # feed() hides a converter exception as a warning; "did not raise" alone proves nothing.
        assert not [e for e in events if "could not convert" in str(e.get("payload", {}).get("message", ""))], line
    warnings = [e for line in odd[:2] for e in OpenCodeConverter({}).feed(line)]
    assert [e["payload"]["level"] for e in warnings] == ["warn", "warn"]


def test_every_line_cut_anywhere_is_survived() -> None:
    rng = random.Random(7)
    converter = OpenCodeConverter({})
    events = []
    for line in golden_lines():
        events += converter.feed(line[: rng.randrange(len(line) + 1)])
        events += converter.feed(line)
    converter.finish(1)
    # feed() turns a converter exception into a warning, so "did not raise" proves nothing.
    crashes = [e for e in events if "could not convert" in str(e.get("payload", {}).get("message", ""))]
    assert crashes == []


def test_a_cli_that_dies_without_output_fails_readably() -> None:
    converter = OpenCodeConverter({})
    converter.on_stderr("Error: Session not found")
    _events, failure = converter.finish(1)
    assert failure == {"error": "opencode exited with code 1: Error: Session not found", "code": "AGENT_EXITED"}
