"""What only Claude Code's golden files say (the shared golden tests are in
``tests/conformance/test_golden.py``): the expectation files spelled out in words, and a long Bash
call that the CLI reports as a task."""

from __future__ import annotations

import json

import pytest

from tests.conformance.golden import GOLDENS

GOLDEN = GOLDENS["claude-code"]
DATA = GOLDEN.data


def test_golden_behaviour_in_words() -> None:
    """What the expectation files say, spelled out for the main cases."""
    text = GOLDEN.reduce(GOLDEN.convert_streams(DATA / "text"))["main"]
    assert [b["type"] for b in text] == ["thinking", "assistant_text"]
    assert text[1]["content"] == "Hello! This is the fake model, streaming in pieces."
    assert text[1]["id"].endswith(":1") and text[0]["id"].endswith(":0")

    tools = GOLDEN.reduce(GOLDEN.convert_streams(DATA / "tool_loop"))["main"]
    results = [b for b in tools if b["type"] == "tool_result"]
    assert (results[0]["output"].strip(), results[0]["isError"]) == ("hi", False)
    assert results[1]["isError"] is True and results[1]["status"] == "error"
    assert all(b["status"] == "complete" for b in tools if b["type"] == "tool_use")

    failed = GOLDEN.convert_streams(DATA / "api_error")
    assert failed[-1]["type"] == "query_result" and failed[-1]["code"] == "API_ERROR"
    assert "500" in failed[-1]["error"] and "on fire" in failed[-1]["error"]
    assert [e["type"] for e in failed].count("error") == 1
    assert any(e["type"] == "log" and e["payload"]["level"] == "warn" for e in failed)

    sub = GOLDEN.reduce(GOLDEN.convert_streams(DATA / "subagent"))
    [(tool_id, thread)] = sub["subagents"].items()
    assert any(b["type"] == "subagent" and b["id"] == tool_id and b["output"] == "The workspace is empty."
               for b in sub["main"])
    assert [b["type"] for b in thread] == ["assistant_text", "tool_use", "tool_result", "assistant_text"]
    events = GOLDEN.convert_streams(DATA / "subagent")
    costs = [e["payload"]["costUsd"] for e in events if e["type"] == "metadata:update" and "costUsd" in e["payload"]]
    # Two results in one run, both with the run's running total: counted once.
    last_result = [json.loads(line) for line in (DATA / "subagent" / "stream-1.jsonl").read_text().splitlines()
                   if '"type":"result"' in line][-1]
    assert sum(costs) == pytest.approx(last_result["total_cost_usd"])


def test_long_bash_call_is_a_tool_card_with_its_output() -> None:
    """A Bash command that runs for seconds comes with `local_bash` task events (recorded from the
    real CLI): it stays a tool card whose result holds the command's output, live and stored."""
    folder = DATA / "long_bash"
    assert '"task_type":"local_bash"' in (folder / "stream-1.jsonl").read_text(encoding="utf-8")
    for blocks in (GOLDEN.reduce(GOLDEN.convert_streams(folder)), GOLDEN.transcript_blocks(folder)):
        main = blocks["main"]
        assert [b["type"] for b in main] == ["assistant_text", "tool_use", "tool_result", "assistant_text"]
        assert main[1]["toolName"] == "Bash" and main[1]["input"]["command"] == "sleep 3; echo done"
        assert (main[2]["output"], main[2]["isError"]) == ("done", False)
        assert blocks["subagents"] == {}
