"""Every converter against bad input: malformed lines and unknown types, streams cut short, and
every line cut anywhere. ``Converter.feed`` turns a converter exception into a "could not
convert" warning, so "did not raise" alone proves nothing: each test asserts that no such
warning was produced. One case per line, so the first failure does not hide the rest."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from runtime.runner.converters.acp import AcpConverter
from runtime.runner.converters.base import Converter
from runtime.runner.converters.claude_code import ClaudeCodeConverter
from runtime.runner.converters.gemini_cli import GeminiCliConverter
from runtime.runner.converters.opencode import OpenCodeConverter
from tests.acp import golden as acp_golden
from tests.conformance.golden import GOLDENS, stream_files

COMMON = ["not json", "[1, 2]", "{}", '{"type": 42}', '{"type": "from_the_future", "x": 1}', "\x00\xff garbage"]


@dataclass(frozen=True)
class Subject:
    name: str
    make: Callable[[], Converter]
    #: Lines of the agent's own shapes, each wrong in some way.
    odd: list[str]
    #: Lines fed first (what the odd lines then refer to).
    prime: list[str] = field(default_factory=list)
    #: Every line the agent was recorded writing.
    lines: Callable[[], list[str]] = list
    seed: int = 1
    #: The line that ends a query (cut before it: the query fails), and the codes it may then fail with.
    result_marker: str | None = None
    truncated_codes: tuple[str, ...] = ()
    streams: Callable[[], list[Path]] = list


def _acp_lines() -> list[str]:
    return [line for name in acp_golden.names()
            for line in (acp_golden.FOLDER / f"{name}.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]


def _streams(agent: str) -> Callable[[], list[Path]]:
    return lambda: [path for folder in GOLDENS[agent].folders() for path in stream_files(folder)]


SUBJECTS = [
    Subject("claude-code", lambda: ClaudeCodeConverter({}), [
        '{"type": "assistant", "message": "nope"}', '{"type": "assistant", "message": {"content": [1, null]}}',
        '{"type": "user", "message": {"content": [{"type": "tool_result"}]}}',
        '{"type": "stream_event", "event": {"type": "content_block_delta", "index": "x"}}',
        '{"type": "system", "subtype": "api_retry"}', '{"type": "result", "usage": "lots"}',
        '{"type": "system", "subtype": "task_notification", "tool_use_id": 7}'],
        lines=GOLDENS["claude-code"].lines, seed=3, result_marker='"type":"result"',
        truncated_codes=("AGENT_NO_RESULT", "API_ERROR"), streams=_streams("claude-code")),
    Subject("opencode", lambda: OpenCodeConverter({}), [
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
        '{"type": "agent-tui.error"}'],
        prime=['{"type": "message.updated", "properties": {"info": {"id": "m", "role": "assistant"}}}'],
        lines=GOLDENS["opencode"].lines, seed=7),
    Subject("gemini-cli", lambda: GeminiCliConverter({}), [
        '{"type": "message", "role": "assistant", "content": 5}', '{"type": "tool_use"}',
        '{"type": "tool_result", "tool_id": "x", "output": {"fileDiff": 3}}',
        '{"type": "result", "stats": "lots", "status": "error"}', '{"type": "error", "severity": "error"}',
        '{"type": "result", "stats": {"models": {"m": null}}}'],
        lines=GOLDENS["gemini-cli"].lines, seed=11, result_marker='"type":"result"',
        truncated_codes=("AGENT_NO_RESULT",), streams=_streams("gemini-cli")),
    Subject("acp", lambda: AcpConverter({"messageId": "msg-odd", "architecture": "acp"}), [
        '{"type": "acp.update", "update": "nope"}', '{"type": "acp.update", "update": {"sessionUpdate": 5}}',
        '{"type": "acp.update", "update": {"sessionUpdate": "tool_call"}}',
        '{"type": "acp.update", "update": {"sessionUpdate": "tool_call_update", "toolCallId": 3, '
        '"content": "x"}}',
        '{"type": "acp.update", "update": {"sessionUpdate": "agent_message_chunk", "content": [1]}}',
        '{"type": "acp.terminal", "terminalId": 5, "output": null}', '{"type": "acp.session", "sessionId": []}',
        '{"type": "acp.result", "stopReason": {"x": 1}}'],
        lines=_acp_lines, seed=5),
]


def crashes(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if "could not convert" in str(e.get("payload", {}).get("message", ""))]


ODD = [(s, line) for s in SUBJECTS for line in COMMON + s.odd]


@pytest.mark.parametrize(("subject", "line"), ODD, ids=[f"{s.name}-{i}" for i, (s, _) in enumerate(ODD)])
def test_a_malformed_line_or_unknown_type_never_raises(subject: Subject, line: str) -> None:
    converter = subject.make()
    for primer in subject.prime:
        converter.feed(primer)
    events = converter.feed(line)
    assert isinstance(events, list)
    assert all(isinstance(e, dict) and "type" in e for e in events)
    assert crashes(events) == []


@pytest.mark.parametrize("subject", SUBJECTS, ids=[s.name for s in SUBJECTS])
def test_lines_that_are_not_json_objects_are_warnings(subject: Subject) -> None:
    warnings = [e for line in COMMON[:2] for e in subject.make().feed(line)]
    assert [e["payload"]["level"] for e in warnings] == ["warn", "warn"]


@pytest.mark.parametrize("subject", SUBJECTS, ids=[s.name for s in SUBJECTS])
def test_every_line_cut_anywhere_is_survived(subject: Subject) -> None:
    rng = random.Random(subject.seed)
    converter = subject.make()
    events: list[dict[str, Any]] = []
    lines = subject.lines()
    assert lines
    for line in lines:
        events += converter.feed(line[: rng.randrange(len(line) + 1)])
        events += converter.feed(line)
    converter.finish(1)
    assert crashes(events) == []


TRUNCATED = [(s, path) for s in SUBJECTS if s.result_marker for path in s.streams()]


@pytest.mark.parametrize(("subject", "path"), TRUNCATED,
                         ids=[f"{s.name}-{p.parent.name}-{p.stem}" for s, p in TRUNCATED])
def test_a_stream_cut_before_its_result_fails_readably(subject: Subject, path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert subject.result_marker is not None
    cut = next(i for i, line in enumerate(lines) if subject.result_marker in line)
    converter = subject.make()
    events = [e for line in lines[:cut] for e in converter.feed(line)]
    events += converter.feed(lines[cut][: len(lines[cut]) // 2])
    _closing, failure = converter.finish(0)
    assert failure is not None and failure["code"] in subject.truncated_codes and failure["error"]
    assert crashes(events) == []

