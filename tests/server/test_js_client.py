"""The real JavaScript client (socket.io-client@4 under tests/node) against the server."""

from __future__ import annotations

import asyncio
import json
import shutil
from typing import Any

import pytest

from runtime import AgentRuntime
from runtime.server.app import AgentServer
from tests.helpers import ROOT
from tests.server.conftest import TOKEN

NODE_DIR = ROOT / "tests" / "node"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (NODE_DIR / "node_modules" / "socket.io-client").is_dir(),
    reason="node and tests/node/node_modules (npm ci) are needed",
)


async def run_node(script: str, *args: str, timeout: float = 60) -> tuple[int, list[dict[str, Any]], str]:
    process = await asyncio.create_subprocess_exec(
        "node",
        str(NODE_DIR / script),
        *args,
        cwd=NODE_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    return process.returncode or 0, lines, err.decode()


async def test_js_client_creates_a_shell_session_and_streams_it(
    server: AgentServer, runtime: AgentRuntime
) -> None:
    code, lines, err = await run_node(
        "client_smoke.mjs", server.url, TOKEN, "echo hello-from-js; echo sécond 😀"
    )
    assert code == 0, (lines[-5:], err)
    acks = {line["event"]: line["ack"] for line in lines if line["kind"] == "ack"}
    created = acks["session:create"]
    assert created["success"] and created["session"]["name"] == "from-js"
    sid = created["session"]["sessionId"]
    assert acks["session:message"]["success"] and acks["session:message"]["queued"] is False
    bad = acks["session:message(bad)"]
    assert bad["success"] is False and bad["code"] == "INVALID_REQUEST"

    events = [line["event"] for line in lines if line["kind"] == "stream:event" and line["sessionId"] == sid]
    stored, last_seq = await runtime.get_events(sid)
    assert events == [e.wire() for e in stored]  # every event from seq 1, in order, exactly as stored
    assert [e["seq"] for e in events] == list(range(1, last_seq + 1))
    assert events[-1]["type"] == "query:completed"
    output = "".join(e["payload"].get("delta", "") for e in events if e["type"] == "block:delta")
    assert output == "hello-from-js\nsécond 😀\n"

    statuses = [line for line in lines if line["kind"] == "session:status" and line["sessionId"] == sid]
    assert statuses and statuses[-1]["runtime"]["activeQuery"] is None
    changes = [
        line["action"] for line in lines if line["kind"] == "sessions:changed" and line["sessionId"] == sid
    ]
    assert changes[0] == "created"

    assert acks["session:join"]["success"] and acks["session:join"]["lastSeq"] == last_seq
    batched = [seq for line in lines if line["kind"] == "stream:events" for seq in line["seqs"]]
    assert batched == list(range(1, last_seq + 1))
    done = lines[-1]
    assert (
        done["kind"] == "done"
        and done["transport"] == "websocket"
        and done["batchedTransport"] == "websocket"
    )


async def test_js_client_with_a_wrong_token_is_refused(server: AgentServer) -> None:
    code, lines, _err = await run_node("client_smoke.mjs", server.url, "wrong-token")
    assert code == 1
    assert lines[-1]["kind"] == "error" and "unauthorized" in lines[-1]["message"]
    assert server.client_count == 0
