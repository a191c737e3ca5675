"""Golden tests for every converter: real CLI output (captured once against the fake servers,
committed under tests/data/<agent>/ and tests/acp/golden/) converts to the committed expected
events, and each agent's saved conversation parses into the same blocks as the live stream.
Regenerate with ``.venv/bin/python -m tests.conformance.golden <agent>`` (see ``golden.py``) and
``python -m tests.acp.golden``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.acp import golden as acp_golden
from tests.conformance.golden import GOLDENS, Golden, without_timestamps

CASES = [(golden, folder) for golden in GOLDENS.values() for folder in golden.folders()]
IDS = [f"{golden.architecture_id}-{folder.name}" for golden, folder in CASES]


def expected(folder: Path, name: str) -> object:
    return json.loads((folder / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("golden", GOLDENS.values(), ids=list(GOLDENS))
def test_every_scenario_is_there(golden: Golden) -> None:
    assert {folder.name for folder in golden.folders()} >= golden.required


@pytest.mark.parametrize(("golden", "folder"), CASES, ids=IDS)
def test_stream_converts_to_the_committed_events_and_blocks(golden: Golden, folder: Path) -> None:
    events = golden.convert_streams(folder)
    assert without_timestamps(events) == expected(folder, "expected-events.json")
    assert golden.reduce(events) == expected(folder, "expected-blocks.json")


@pytest.mark.parametrize(("golden", "folder"), CASES, ids=IDS)
def test_saved_conversation_gives_the_same_blocks_as_the_live_stream(golden: Golden, folder: Path) -> None:
    live = golden.parity_view(expected(folder, "expected-blocks.json"))
    assert golden.transcript_blocks(folder) == live


@pytest.mark.parametrize("golden", GOLDENS.values(), ids=list(GOLDENS))
def test_saved_prompts_become_user_messages(golden: Golden) -> None:
    transcript = expected(golden.data / "resume", "transcript.json")
    blocks = [e["payload"]["block"] for e in golden.transcript_events(transcript) if e["type"] == "block:upsert"]
    assert [b["content"] for b in blocks if b["type"] == "user_message"] == [
        "Remember the word 'teal'.", "Which word?"]


# --------------------------------------------------------------------------- ACP


def test_there_are_acp_golden_streams_from_each_source() -> None:
    found = acp_golden.names()
    for prefix in ("gemini_", "claude_", "codex_", "fake_"):
        assert any(name.startswith(prefix) for name in found), prefix


@pytest.mark.parametrize("name", acp_golden.names())
def test_acp_golden_stream(name: str) -> None:
    assert acp_golden.convert(name) == json.loads(acp_golden.expected_path(name).read_text(encoding="utf-8"))
