"""Hostile output from inside the sandbox: the runner's stdout is untrusted (an agent can rewrite the
runner it runs beside). Generated event lines with the right types and junk payloads (wrong field
types, unknown block types, lone surrogates, 100-digit integers, NaN, deep nesting) go through the
real runner process into a real runtime and server. Whatever they contain:

- the query ends and the session takes the next message;
- every route that shows the session (``GET /sessions``, ``/sessions/{id}``, ``/events``) answers
  200 with strict JSON (no NaN), and the summary and detail validate against the wire models;
- what a live subscriber received equals what the store holds (nothing altered on the way in);
- another session writing at the same time is never affected.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime import AgentRuntime
from runtime.models import SessionDetail, SessionSummary
from runtime.runner import protocol
from runtime.server.app import AgentServer, start_server
from runtime.sessions.runner_events import RUNNER_EVENT_TYPES
from tests.helpers import make_config, query_end

LONG = os.environ.get("AGENT_TUI_LONG") == "1"
EXAMPLES = int(os.environ.get("RUNNER_FUZZ_EXAMPLES", 1000 if LONG else 40))

#: The sandbox's runner entry point, replaced: prints the lines the test wrote, then a success.
REPLAY_RUNNER = r"""
import json, os, sys
request = json.loads(sys.stdin.readline())
path = os.path.join(request["baseWorkspacePath"], "lines.jsonl")
out = sys.stdout.buffer
with open(path, "rb") as handle:
    lines = handle.readlines()
for line in lines:
    out.write(line)
if not any(b"query_result" in line for line in lines):
    out.write(b'{"type": "query_result", "success": true}\n')
out.flush()
"""

surrogates = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3)
texts = st.text(max_size=20) | surrogates | st.sampled_from(["", "x" * 5000, "tool_use", "pending"])
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([10**30, -(2**63) - 1, 2**63])
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
junk = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
BLOCK_TYPES = [*protocol.BLOCK_TYPES, "image", ""]
BLOCK_FIELDS = [
    "id",
    "type",
    "status",
    "content",
    "toolName",
    "toolUseId",
    "input",
    "output",
    "isError",
    "durationMs",
    "name",
    "model",
    "message",
    "code",
    "subtype",
    "timestamp",
    "tool_name",
    "duration_ms",
    "queued",
]
PAYLOAD_FIELDS = [
    "block",
    "blockId",
    "delta",
    "usage",
    "costUsd",
    "model",
    "toolUseId",
    "agentId",
    "prompt",
    "status",
    "output",
    "durationMs",
    "path",
    "size",
    "requestId",
    "toolName",
    "input",
    "title",
    "decision",
    "level",
    "message",
    "code",
    "data",
]
ids = st.sampled_from(["b1", "b2", "tool-1", ""]) | junk
blocks = st.fixed_dictionaries(
    {"id": ids}, optional={"type": st.sampled_from(BLOCK_TYPES) | junk}
) | st.dictionaries(st.sampled_from(BLOCK_FIELDS), junk, max_size=6)
block_fields = st.dictionaries(
    st.sampled_from(BLOCK_FIELDS), st.sampled_from(["b1", "tool_use", "pending", "error"]) | junk, max_size=5
)
payloads = st.one_of(
    st.builds(lambda b, extra: {"block": {**b, **extra}}, blocks, block_fields),
    st.dictionaries(
        st.sampled_from(PAYLOAD_FIELDS),
        st.sampled_from(["b1", "tool-1", "x", "info", "warn", "failed"]) | junk,
        max_size=6,
    ),
    junk,
)
events = st.builds(
    lambda kind, payload, conversation: {"type": kind, "payload": payload, **conversation},
    st.sampled_from(sorted(RUNNER_EVENT_TYPES))
    | st.sampled_from(["query:completed", "ee:ready", "block:upsert"]),
    payloads,
    st.just({})
    | st.fixed_dictionaries({"conversationId": st.sampled_from(["main", "tool-1", "agent-x", ""]) | junk}),
)
RAW_LINES = [
    b'{"type": "metadata:update", "payload": {"costUsd": NaN, "usage": {"inputTokens": Infinity}}}',
    b'{"type": "log", "payload": {"level": "info", "message": "big", "data": 1' + b"0" * 100 + b"}}",
    b'{"type": "block:delta", "payload": {"blockId": "b1", "delta": "\\ud800 half a pair"}}',
    b'{"type": "block:upsert", "payload": {"block": {"id": "deep", "type": "assistant_text", "content": "x", "extra": '
    + b"[" * 200
    + b"]" * 200
    + b"}}}",]


def _encode(doc: Any) -> bytes:
    # As a broken runner would print it: escapes for lone surrogates, any integer size.
    return json.dumps(doc, ensure_ascii=True).encode()


def _strict_json(raw: bytes) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(raw, parse_constant=refuse)


class Rig:
    def __init__(self, runtime: AgentRuntime, server: AgentServer, http: aiohttp.ClientSession) -> None:
        self.runtime = runtime
        self.server = server
        self.http = http
        self.session_id = ""
        self.workspace = Path()
        self.examples = 0


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    runtime = AgentRuntime(make_config(tmp_path))
    await runtime.start()
    server = await start_server(runtime, host="127.0.0.1", port=0)
    try:
        headers = {"Authorization": f"Bearer {server.token}"}  # generated: every bind requires one
        async with aiohttp.ClientSession(base_url=server.url, headers=headers) as http:
            rig = Rig(runtime, server, http)
            rig.session_id = (await runtime.create_session({"architecture": "shell"})).session_id
            message_id, _ = await runtime.send_message(rig.session_id, "echo setup")
            from tests.helpers import collect_until

            await collect_until(runtime, rig.session_id, query_end(message_id))
            folder = runtime.config.resolved_data_dir() / rig.session_id
            (folder / "app" / "agent_runner" / "__main__.py").write_text(REPLAY_RUNNER)
            rig.workspace = folder / "workspace"
            yield rig
    finally:
        await server.stop()
        await runtime.shutdown()


async def _run(rig: Rig, lines: list[bytes]) -> None:
    (rig.workspace / "lines.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    sid = rig.session_id
    start = (await rig.runtime.get_summary(sid)).last_seq
    sub = rig.runtime.subscribe(sid, start)
    live: list[dict[str, Any]] = []
    message_id, _ = await rig.runtime.send_message(sid, "replay")

    async def follow() -> None:
        async for event in sub:
            live.append(json.loads(json.dumps(event.wire())))
            if query_end(message_id)(event):
                return

    try:
        await asyncio.wait_for(follow(), 60)
    finally:
        sub.close()
    rig.examples += 1
    assert live[-1]["type"] in ("query:completed", "query:failed"), live[-1]
    # The views answer, in strict JSON, and validate.
    for path in ("/sessions", f"/sessions/{sid}", f"/sessions/{sid}/events?after={start}"):
        async with rig.http.get(path) as response:
            raw = await response.read()
            assert response.status == 200, (path, response.status, raw[:300])
            body = _strict_json(raw)
    SessionDetail.model_validate(
        _strict_json(json.dumps((await rig.runtime.get_session(sid)).wire()).encode())
    )
    for summary in await rig.runtime.list_sessions():
        SessionSummary.model_validate(summary.wire())
    # Stored exactly as delivered.
    stored = body["events"]
    assert stored == live, "the store holds something else than what subscribers were sent"
    for event in stored:
        for value in _numbers(event["payload"]):
            assert math.isfinite(value)


def _numbers(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return []


async def test_fixed_hostile_lines_are_refused_or_repaired_never_stored_differently(rig: Rig) -> None:
    await _run(rig, RAW_LINES)
    events, _ = await rig.runtime.get_events(rig.session_id)
    warnings = [e.payload["message"] for e in events if e.type == "log" and e.payload.get("level") == "warn"]
    assert any("unparseable" in w or "malformed" in w for w in warnings), warnings
    deltas = [e.payload["delta"] for e in events if e.type == "block:delta"]
    assert "\ufffd half a pair" in deltas  # the text survives, the lone surrogate does not
    # A failure whose error and code are not strings: the query fails with strings all the same.
    await _run(rig, [b'{"type": "query_result", "success": false, "error": {"not": "text"}, "code": 5}'])
    events, _ = await rig.runtime.get_events(rig.session_id)
    assert (events[-1].type, events[-1].payload["code"]) == ("query:failed", "AGENT_FAILED")
    assert isinstance(events[-1].payload["error"], str)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not LONG,
    suppress_health_check=list(HealthCheck),
)
@given(docs=st.lists(events, min_size=1, max_size=8))
async def test_generated_runner_output_never_breaks_a_session(rig: Rig, docs: list[dict[str, Any]]) -> None:
    await _run(rig, [_encode(d) for d in docs])
