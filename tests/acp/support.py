"""What the ACP tests share: answering a permission request from a real Socket.IO client."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import socketio

from runtime import AgentRuntime
from runtime.runner.converters.acp import RECORD_ENV
from runtime.server.app import start_server

TOKEN = "acp-test-token"
#: ``ACP_RECORD=<file> pytest tests/conformance -k acp-gemini``: the ACP client's lines of every query
#: are appended to ``<file>`` (how ``golden/*.jsonl`` were recorded).
RECORD_VARIABLE = "ACP_RECORD"


def recording() -> dict[str, str]:
    """Host variables that make the runner record the ACP stream, when ``ACP_RECORD`` is set."""
    target = os.environ.get(RECORD_VARIABLE)
    return {RECORD_ENV: os.path.abspath(target)} if target else {}


@asynccontextmanager
async def socket_client(runtime: AgentRuntime) -> AsyncIterator[socketio.AsyncClient]:
    """A real server on 127.0.0.1 (token required) and a python-socketio client connected to it."""
    server = await start_server(runtime, host="127.0.0.1", port=0, token=TOKEN)
    client = socketio.AsyncClient(reconnection=False)
    try:
        await client.connect(server.url, auth={"token": TOKEN}, wait_timeout=10)
        yield client
    finally:
        if client.connected:
            await client.disconnect()
        await server.stop()


async def answer(client: socketio.AsyncClient, session_id: str, request_id: str, decision: str) -> object:
    return await client.call("session:permission",
                             {"sessionId": session_id, "requestId": request_id, "decision": decision}, timeout=10)
