"""What only OpenCode's golden files say (the shared golden tests are in
``tests/conformance/test_golden.py``): the expectation files in words, and a CLI that dies
without output."""

from __future__ import annotations

from runtime.models import SessionEvent
from runtime.reducer import SessionState, apply_event
from runtime.runner.converters.opencode import OpenCodeConverter
from tests.conformance.golden import GOLDENS, reduce_blocks

GOLDEN = GOLDENS["opencode"]
DATA = GOLDEN.data


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


def test_a_cli_that_dies_without_output_fails_readably() -> None:
    converter = OpenCodeConverter({})
    converter.on_stderr("Error: Session not found")
    _events, failure = converter.finish(1)
    assert failure == {"error": "opencode exited with code 1: Error: Session not found", "code": "AGENT_EXITED"}
