"""Golden tests: real ``gemini -o stream-json`` output and chat files (captured once against the
fake server, committed under tests/data/gemini_cli/) convert to the committed expected events,
and the saved chat file parses into the same blocks as the live stream. Regenerate with
``.venv/bin/python -m tests.gemini.golden`` (see tests/gemini/golden.py)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from runtime.converters.gemini_cli import GeminiCliConverter, error_text, transcript_events
from tests.gemini.golden import DATA, GOLDEN
from tests.opencode.golden_tools import reduce_blocks, stream_files, without_timestamps

SCENARIOS = sorted(p.name for p in GOLDEN.folders())


def expected(folder: Path, name: str) -> object:
    return json.loads((folder / name).read_text(encoding="utf-8"))


def test_every_scenario_is_there() -> None:
    assert set(SCENARIOS) >= {"text", "tool_loop", "api_error", "resume"}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_stream_converts_to_the_committed_events_and_blocks(scenario: str) -> None:
    folder = DATA / scenario
    events = GOLDEN.convert_streams(folder)
    assert without_timestamps(events) == expected(folder, "expected-events.json")
    assert reduce_blocks(events) == expected(folder, "expected-blocks.json")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_saved_chat_file_gives_the_same_blocks_as_the_live_stream(scenario: str) -> None:
    folder = DATA / scenario
    live = GOLDEN.parity_view(expected(folder, "expected-blocks.json"))  # type: ignore[arg-type]
    assert GOLDEN.transcript_blocks(folder) == live


def test_golden_behaviour_in_words() -> None:
    """What the expectation files say, spelled out for the main cases."""
    events = GOLDEN.convert_streams(DATA / "text")
    text = reduce_blocks(events)
    assert [b["type"] for b in text] == ["assistant_text"]  # thoughts are not in stream-json
    assert text[0]["content"] == "Hello! This is the fake model, streaming in pieces."
    deltas = [e for e in events if e["type"] == "block:delta"]
    assert len(deltas) > 3 and "".join(e["payload"]["delta"] for e in deltas) == text[0]["content"]

    tools = reduce_blocks(GOLDEN.convert_streams(DATA / "tool_loop"))
    results = [b for b in tools if b["type"] == "tool_result"]
    # Gemini CLI calls a shell command that exits 3 a success; only the model hears the code.
    assert [(r["output"], r["isError"]) for r in results] == [("hi", False), ("", False), ("oops", False)]
    assert all(b["status"] == "complete" for b in tools if b["type"] == "tool_use")
    assert [b["id"].rsplit(":", 1)[1] for b in tools if b["type"] == "assistant_text"] == ["r1", "r4"]

    failed = GOLDEN.convert_streams(DATA / "api_error")
    message = "API error 400 INVALID_ARGUMENT: API key not valid. Please pass a valid API key."
    assert failed[-1] == {"type": "query_result", "success": False, "error": message, "code": "API_ERROR"}
    assert [e["type"] for e in failed].count("error") == 1

    resumed = reduce_blocks(GOLDEN.convert_streams(DATA / "resume"))
    assert [(b["id"].rsplit(":", 1)[1], b["content"]) for b in resumed] == [
        ("r1", "Noted: teal."), ("r2", "The word was teal.")]
    usage = [e["payload"] for e in GOLDEN.convert_streams(DATA / "resume") if e["type"] == "metadata:update"]
    assert {"model": "gemini-2.5-flash"} in usage


def test_saved_prompts_become_user_messages() -> None:
    transcript = expected(DATA / "resume", "transcript.json")
    blocks = [e["payload"]["block"] for e in transcript_events(transcript) if e["type"] == "block:upsert"]
    assert [b["content"] for b in blocks if b["type"] == "user_message"] == [
        "Remember the word 'teal'.", "Which word?"]


def test_error_text_reads_the_api_error_inside_the_cli_message() -> None:
    wrapped = '[API Error: {"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}]'
    assert error_text(wrapped) == ("API error 503 UNAVAILABLE: overloaded", "API_ERROR")
    assert error_text("Operation cancelled.") == ("Operation cancelled.", "AGENT_ERROR")


# --------------------------------------------------------------------------- robustness


def golden_lines() -> list[str]:
    return [line for scenario in SCENARIOS for path in stream_files(DATA / scenario)
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_malformed_lines_and_unknown_types_never_raise() -> None:
    converter = GeminiCliConverter({})
    odd = ["not json", "[1, 2]", "{}", '{"type": 42}', '{"type": "from_the_future", "x": 1}',
           '{"type": "message", "role": "assistant", "content": 5}', '{"type": "tool_use"}',
           '{"type": "tool_result", "tool_id": "x", "output": {"fileDiff": 3}}',
           '{"type": "result", "stats": "lots", "status": "error"}', '{"type": "error", "severity": "error"}',
           '{"type": "result", "stats": {"models": {"m": null}}}', "\x00\xff garbage"]
    for line in odd:
        events = converter.feed(line)
        assert isinstance(events, list)
        assert all(isinstance(e, dict) and "type" in e for e in events)
    warnings = [e for line in odd[:2] for e in GeminiCliConverter({}).feed(line)]
    assert [e["payload"]["level"] for e in warnings] == ["warn", "warn"]


def test_truncated_streams_never_raise_and_fail_readably() -> None:
    for scenario in SCENARIOS:
        for path in stream_files(DATA / scenario):
            lines = path.read_text(encoding="utf-8").splitlines()
            cut = next(i for i, line in enumerate(lines) if '"type":"result"' in line)
            converter = GeminiCliConverter({})
            for line in lines[:cut]:
                converter.feed(line)
            converter.feed(lines[cut][: len(lines[cut]) // 2])
            _events, failure = converter.finish(0)
            assert failure is not None and failure["code"] == "AGENT_NO_RESULT" and failure["error"]


def test_every_line_cut_anywhere_is_survived() -> None:
    rng = random.Random(11)
    converter = GeminiCliConverter({})
    for line in golden_lines():
        converter.feed(line[: rng.randrange(len(line) + 1)])
        converter.feed(line)
    converter.finish(1)
