"""Issue 21 #2, live events: clients each under their own budget but together over the server's
are dropped, slowest first, while a reading client keeps everything; the server's count of what
clients hold stays exact and goes back to zero. (The replay case, as a subprocess with RSS, is
tests/reliability/test_memory_load.py.)"""

from __future__ import annotations

import logging

import pytest
import socketio

from runtime import AgentRuntime
from runtime.server.app import start_server
from tests.server.clients import Collector, RawSocketIO
from tests.server.conftest import TOKEN

TOTAL_BUDGET = 8 * 1024 * 1024  # a reader in this process (same event loop) may hold ~4 MB at times
EVENT_BYTES = 4096
CHUNK = 100
TOTAL = 4_000  # ~16 MB: each non-reader alone stays under its own (64 MiB) budget
NON_READERS = 5


def _log_events(first: int, count: int) -> list[dict[str, object]]:
    """``count`` log events of about EVENT_BYTES each, numbered from ``first``."""
    text = "x" * (EVENT_BYTES - 120)
    return [
        {"type": "log", "payload": {"level": "info", "message": f"{first + i} {text}"}} for i in range(count)
    ]


async def test_clients_that_stop_reading_share_one_server_budget(
    runtime: AgentRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="runtime.server.sockets")
    server = await start_server(
        runtime, port=0, token=TOKEN, send_budget=64 * 1024 * 1024, total_budget=TOTAL_BUDGET
    )
    hub = server.hub
    fast = socketio.AsyncClient(reconnection=False)
    slow: list[RawSocketIO] = []
    try:
        sid = (await runtime.create_session({"architecture": "shell"})).session_id
        await fast.connect(server.url, auth={"token": TOKEN}, transports=["websocket"])
        fast_seen = Collector(fast, keep_payloads=False)
        assert (await fast.call("session:join", {"sessionId": sid, "batch": True}, timeout=10))["success"]
        for _ in range(NON_READERS):
            client = await RawSocketIO.open(server.port, rcvbuf=4096, offer_deflate=False)
            slow.append(client)
            await client.handshake(TOKEN)
            await client.emit("session:join", {"sessionId": sid}, ack_id=1)
            while not (await client.read_text()).startswith("431"):
                pass
            client.writer.transport.pause_reading()  # from here on it reads nothing
        assert server.client_count == 1 + NON_READERS

        assert runtime.bus is not None
        highest = 0
        for published in range(CHUNK, TOTAL + 1, CHUNK):
            await runtime.bus.publish(sid, _log_events(published - CHUNK, CHUNK))
            # The reader keeps up (it shares this event loop: it is paced, not raced).
            await fast_seen.wait_for(lambda n=published: fast_seen.count(sid) >= n, timeout=30)
            highest = max(highest, hub.total_held)
            assert hub.total_held == sum(c.held for c in hub.connections.values())

        await fast_seen.wait_for(lambda: fast_seen.count(sid) == TOTAL, timeout=60)
        assert fast_seen.seqs(sid) == list(range(1, TOTAL + 1))
        assert server.client_count == 1, "every non-reader is over the server budget together"
        reasons = [
            r.getMessage() for r in caplog.records if "disconnecting Socket.IO client" in r.getMessage()
        ]
        assert len(reasons) == NON_READERS, reasons
        assert all(f"(server budget {TOTAL_BUDGET})" in r and "resume with afterSeq" in r for r in reasons)
        # Over the budget only by what arrives between two checks (one publish: ~1 MB per client).
        assert highest <= TOTAL_BUDGET + NON_READERS * CHUNK * EVENT_BYTES * 2, highest
        assert hub.shed_count == NON_READERS
    finally:
        for client in slow:
            client.close()
        if fast.connected:
            await fast.disconnect()
        await server.stop()
    assert hub.total_held == 0
