"""The few python-socketio / python-engineio internals the server relies on (runtime/server/_engineio.py)
are still there: if an upgrade changes them, this fails here, by name."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from runtime import AgentRuntime
from runtime.server.app import AgentServer, start_server
from tests.server.conftest import TOKEN, ClientFactory


async def test_flow_control_hooks_exist(server: AgentServer, sio_client: ClientFactory) -> None:
    bridge = server.hub.bridge
    assert bridge.flow_control
    client = await sio_client(transports=["websocket"])
    sid = client.get_sid()
    assert sid is not None
    eio_sid = bridge.eio_sid(sid)
    assert eio_sid is not None and bridge.connected(eio_sid)
    assert isinstance(bridge._queue(eio_sid), asyncio.Queue)
    assert bridge.idle(eio_sid)
    await asyncio.wait_for(bridge.wait_taken(eio_sid), 5)
    conn = server.hub.connections[sid]
    transport = bridge.transport(eio_sid, conn.environ)
    assert transport is not None and not transport.is_closing()


async def test_a_polling_client_that_stops_polling_is_dropped(
    runtime: AgentRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server(runtime, port=0, token=TOKEN, send_budget=256 * 1024)
    try:
        session = await runtime.create_session({"architecture": "shell"})
        sid = session.session_id
        base = f"{server.url}/socket.io/?EIO=4&transport=polling"
        async with aiohttp.ClientSession() as http:
            async with http.get(base) as r:
                opened = await r.text()
            eio_sid = opened[opened.index('"sid":"') + 7 :].split('"', 1)[0]
            url = f"{base}&sid={eio_sid}"
            async with http.post(url, data=f'40{{"token":"{TOKEN}"}}') as r:
                assert r.status == 200
            async with http.get(url) as r:
                assert (await r.text()).startswith("40")
            async with http.post(url, data=f'420["session:join",{{"sessionId":"{sid}"}}]') as r:
                assert r.status == 200
            async with http.get(url) as r:  # the ack (and maybe the status); then it never polls again
                assert "430" in await r.text()
            assert server.client_count == 1
            assert runtime.bus is not None
            for i in range(40):
                await runtime.bus.publish(
                    sid,
                    [
                        {"type": "log", "payload": {"level": "info", "message": f"{i}" + "z" * 2000}}
                        for _ in range(50)
                    ],
                )
                if server.client_count == 0:
                    break
            assert server.client_count == 0
        assert any("too slow" in r.getMessage() for r in caplog.records)
    finally:
        await server.stop()
