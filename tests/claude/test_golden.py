"""Golden tests: real Claude Code stream-json and session files (captured once against the fake
server, committed under tests/data/claude_code/) convert to the committed expected events, and
the stored transcript parses into the same blocks as the live stream. Regenerate with
``.venv/bin/python -m tests.claude.golden`` (see tests/claude/golden.py)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from runtime.converters.claude_code import ClaudeCodeConverter
from runtime.converters.claude_transcript import transcript_events
from tests.claude.golden import (
    DATA,
    convert_streams,
    reduce_blocks,
    stream_files,
    transcript_blocks,
    without_timestamps,
)

SCENARIOS = sorted(p.name for p in DATA.iterdir() if p.is_dir())


def expected(folder: Path, name: str) -> object:
    return json.loads((folder / name).read_text(encoding="utf-8"))


def test_every_scenario_is_there() -> None:
    assert set(SCENARIOS) >= {"text", "tool_loop", "api_error", "subagent", "resume"}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_stream_converts_to_the_committed_events_and_blocks(scenario: str) -> None:
    folder = DATA / scenario
    events = convert_streams(folder)
    assert without_timestamps(events) == expected(folder, "expected-events.json")
    assert reduce_blocks(events) == expected(folder, "expected-blocks.json")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_transcript_gives_the_same_blocks_as_the_live_stream(scenario: str) -> None:
    folder = DATA / scenario
    assert transcript_blocks(folder) == expected(folder, "expected-blocks.json")


def test_golden_behaviour_in_words() -> None:
    """What the expectation files say, spelled out for the main cases."""
    text = reduce_blocks(convert_streams(DATA / "text"))["main"]
    assert [b["type"] for b in text] == ["thinking", "assistant_text"]
    assert text[1]["content"] == "Hello! This is the fake model, streaming in pieces."
    assert text[1]["id"].endswith(":1") and text[0]["id"].endswith(":0")

    tools = reduce_blocks(convert_streams(DATA / "tool_loop"))["main"]
    results = [b for b in tools if b["type"] == "tool_result"]
    assert (results[0]["output"].strip(), results[0]["isError"]) == ("hi", False)
    assert results[1]["isError"] is True and results[1]["status"] == "error"
    assert all(b["status"] == "complete" for b in tools if b["type"] == "tool_use")

    failed = convert_streams(DATA / "api_error")
    assert failed[-1]["type"] == "query_result" and failed[-1]["code"] == "API_ERROR"
    assert "500" in failed[-1]["error"] and "on fire" in failed[-1]["error"]
    assert [e["type"] for e in failed].count("error") == 1
    assert any(e["type"] == "log" and e["payload"]["level"] == "warn" for e in failed)

    sub = reduce_blocks(convert_streams(DATA / "subagent"))
    [(tool_id, thread)] = sub["subagents"].items()
    assert any(b["type"] == "subagent" and b["id"] == tool_id and b["output"] == "The workspace is empty."
               for b in sub["main"])
    assert [b["type"] for b in thread] == ["assistant_text", "tool_use", "tool_result", "assistant_text"]
    events = convert_streams(DATA / "subagent")
    costs = [e["payload"]["costUsd"] for e in events if e["type"] == "metadata:update" and "costUsd" in e["payload"]]
    # Two results in one run, both with the run's running total: counted once.
    last_result = [json.loads(line) for line in (DATA / "subagent" / "stream-1.jsonl").read_text().splitlines()
                   if '"type":"result"' in line][-1]
    assert sum(costs) == pytest.approx(last_result["total_cost_usd"])


def test_transcript_prompts_become_user_messages() -> None:
    transcript = expected(DATA / "resume", "transcript.json")
    blocks = [e["payload"]["block"] for e in transcript_events(transcript) if e["type"] == "block:upsert"]
    assert [b["content"] for b in blocks if b["type"] == "user_message"] == [
        "Remember the word 'teal'.", "Which word?"]


# --------------------------------------------------------------------------- robustness


def golden_lines() -> list[str]:
    return [line for scenario in SCENARIOS for path in stream_files(DATA / scenario)
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_malformed_lines_and_unknown_types_never_raise() -> None:
    converter = ClaudeCodeConverter({})
    odd = ["not json", "[1, 2]", "{}", '{"type": 42}', '{"type": "from_the_future", "x": 1}',
           '{"type": "assistant", "message": "nope"}', '{"type": "assistant", "message": {"content": [1, null]}}',
           '{"type": "user", "message": {"content": [{"type": "tool_result"}]}}',
           '{"type": "stream_event", "event": {"type": "content_block_delta", "index": "x"}}',
           '{"type": "system", "subtype": "api_retry"}', '{"type": "result", "usage": "lots"}',
           '{"type": "system", "subtype": "task_notification", "tool_use_id": 7}', "\x00\xff garbage"]
    for line in odd:
        events = converter.feed(line)
        assert isinstance(events, list)
        assert all(isinstance(e, dict) and "type" in e for e in events)
        # feed() hides a converter exception as a warning; "did not raise" alone proves nothing.
        assert not [e for e in events if "could not convert" in str(e.get("payload", {}).get("message", ""))], line
    warnings = [e for line in odd[:2] for e in ClaudeCodeConverter({}).feed(line)]
    assert [e["payload"]["level"] for e in warnings] == ["warn", "warn"]


def test_truncated_streams_never_raise_and_fail_readably() -> None:
    for scenario in SCENARIOS:
        for path in stream_files(DATA / scenario):
            lines = path.read_text(encoding="utf-8").splitlines()
            # Cut before the result line and mid-line: the query fails, with a reason.
            cut = next(i for i, line in enumerate(lines) if '"type":"result"' in line)
            converter = ClaudeCodeConverter({})
            for line in lines[:cut]:
                converter.feed(line)
            converter.feed(lines[cut][: len(lines[cut]) // 2])
            _events, failure = converter.finish(0)
            assert failure is not None and failure["code"] in ("AGENT_NO_RESULT", "API_ERROR")
            assert failure["error"]


def test_every_line_cut_anywhere_is_survived() -> None:
    rng = random.Random(3)
    converter = ClaudeCodeConverter({})
    events = []
    for line in golden_lines():
        events += converter.feed(line[: rng.randrange(len(line) + 1)])
        events += converter.feed(line)
    converter.finish(1)
    # feed() turns a converter exception into a warning, so "did not raise" proves nothing.
    crashes = [e for e in events if "could not convert" in str(e.get("payload", {}).get("message", ""))]
    assert crashes == []


def test_long_bash_call_is_a_tool_card_with_its_output() -> None:
    """A Bash command that runs for seconds comes with `local_bash` task events (recorded from the
    real CLI): it stays a tool card whose result holds the command's output, live and stored."""
    folder = DATA / "long_bash"
    assert '"task_type":"local_bash"' in (folder / "stream-1.jsonl").read_text(encoding="utf-8")
    for blocks in (reduce_blocks(convert_streams(folder)), transcript_blocks(folder)):
        main = blocks["main"]
        assert [b["type"] for b in main] == ["assistant_text", "tool_use", "tool_result", "assistant_text"]
        assert main[1]["toolName"] == "Bash" and main[1]["input"]["command"] == "sleep 3; echo done"
        assert (main[2]["output"], main[2]["isError"]) == ("done", False)
        assert blocks["subagents"] == {}
