"""Issue 21 #6 and #8: packets python-socketio cannot decode, and an oversized polling POST."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from runtime.server.app import AgentServer
from tests.server.conftest import TOKEN


async def _open(ws: aiohttp.ClientWebSocketResponse) -> None:
    assert (await ws.receive_str()).startswith("0{")  # engine.io open
    await ws.send_str("40" + json.dumps({"token": TOKEN}))
    assert (await ws.receive_str()).startswith("40{")  # Socket.IO connect


async def _ack(ws: aiohttp.ClientWebSocketResponse, ack_id: int) -> object:
    async with asyncio.timeout(10):
        while True:
            text = await ws.receive_str()
            if text == "2":
                await ws.send_str("3")  # engine.io ping/pong
            elif text.startswith(f"43{ack_id}["):
                return json.loads(text[len(f"43{ack_id}") :])[0]


async def test_a_message_nested_100000_levels_gets_an_invalid_request_ack(server: AgentServer) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{server.url}/socket.io/?EIO=4&transport=websocket") as ws:
            await _open(ws)
            await ws.send_str(f'421["session:message",{{"sessionId":"x","content":{deep}}}]')
            ack = await _ack(ws, 1)
            assert isinstance(ack, dict) and ack["success"] is False and ack["code"] == "INVALID_REQUEST", ack
            assert "nested too deeply" in ack["error"]
            # The connection is still usable.
            await ws.send_str('422["sessions:list"]')
            assert await _ack(ws, 2) == {"success": True, "sessions": []}


async def test_a_50mb_polling_post_is_refused_at_once_with_413(server: AgentServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/socket.io/?EIO=4&transport=polling") as r:
            sid = json.loads((await r.text())[1:])["sid"]
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    started = time.monotonic()
    writer.write(
        (
            f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{server.port}\r\nContent-Type: text/plain;charset=UTF-8\r\n"
            f"Content-Length: {50 * 1024 * 1024}\r\n\r\n"
        ).encode()
        + b"4" * 65536
    )
    await writer.drain()
    try:
        async with asyncio.timeout(10):
            status = await reader.readline()
            head = await reader.readuntil(b"\r\n\r\n")
    finally:
        writer.close()
    assert status.startswith(b"HTTP/1.1 413"), status
    assert b"Connection: close" in head
    assert time.monotonic() - started < 5
    # A client that writes its whole body before reading (aiohttp, requests) gets the answer too.
    async with aiohttp.ClientSession() as http:
        started = time.monotonic()
        async with http.post(
            f"{server.url}/socket.io/?EIO=4&transport=polling&sid={sid}",
            data=b"4" * (50 * 1024 * 1024),
            timeout=aiohttp.ClientTimeout(total=30),
        ) as r:
            assert r.status == 413 and (await r.json())["code"] == "PAYLOAD_TOO_LARGE"
    assert time.monotonic() - started < 15
