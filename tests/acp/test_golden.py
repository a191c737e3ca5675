"""Recorded ACP streams -> committed expected events (see ``golden.py``)."""

from __future__ import annotations

import json

import pytest

from tests.acp.golden import convert, expected_path, names


def test_there_are_golden_streams_from_each_source() -> None:
    found = names()
    for prefix in ("gemini_", "claude_", "fake_"):
        assert any(name.startswith(prefix) for name in found), prefix


@pytest.mark.parametrize("name", names())
def test_golden_stream(name: str) -> None:
    expected = json.loads(expected_path(name).read_text(encoding="utf-8"))
    assert convert(name) == expected
