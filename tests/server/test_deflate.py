"""Per-message deflate stays off: the server never negotiates it, and no frame is compressed (RSV1 clear)."""

from __future__ import annotations

import json

import aiohttp
import pytest
import socketio
from aiohttp import web

from runtime import AgentRuntime
from runtime.server.app import AgentServer
from tests.server.clients import RawSocketIO
from tests.server.conftest import TOKEN


async def test_no_deflate_is_negotiated_and_no_frame_is_compressed(
    server: AgentServer, runtime: AgentRuntime
) -> None:
    raw = await RawSocketIO.open(server.port, offer_deflate=True)
    try:
        assert "sec-websocket-extensions" not in raw.response_headers
        await raw.handshake(TOKEN)
        session = await runtime.create_session({"architecture": "shell"})
        assert runtime.bus is not None
        # Large and small events: Node's ws would deflate anything >= 1 KiB if it were negotiated.
        await runtime.bus.publish(
            session.session_id,
            [
                {"type": "log", "payload": {"level": "info", "message": "y" * size}}
                for size in (10, 5000, 70000)
            ],
        )
        await raw.emit("session:join", {"sessionId": session.session_id, "batch": False}, ack_id=1)
        frames = []
        seqs = []
        while len(seqs) < 3:
            rsv1, opcode, payload = await raw.read_frame()
            frames.append((rsv1, opcode))
            text = payload.decode()
            if text.startswith('42["stream:event"'):
                seqs.append(json.loads(text[2:])[1]["event"]["seq"])
        assert seqs == [1, 2, 3]
        assert frames and not any(rsv1 for rsv1, _ in frames)
    finally:
        raw.close()

    # The same through aiohttp's client, which offers deflate by default when asked to.
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{server.url}/socket.io/?EIO=4&transport=websocket", compress=15) as ws,
    ):
        assert ws.compress == 0
        assert (await ws.receive_str()).startswith("0{")


async def test_a_bare_python_socketio_server_would_deflate() -> None:
    """Control: without our middleware python-engineio's aiohttp driver negotiates deflate, so the test
    above is meaningful. If an upgrade stops that, this is skipped rather than failed."""
    sio = socketio.AsyncServer(async_mode="aiohttp")
    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        raw = await RawSocketIO.open(port, offer_deflate=True)
        negotiated = "permessage-deflate" in raw.response_headers.get("sec-websocket-extensions", "")
        raw.close()
    finally:
        await runner.cleanup()
    if not negotiated:
        pytest.skip("python-engineio no longer negotiates per-message deflate by itself")
    assert negotiated
