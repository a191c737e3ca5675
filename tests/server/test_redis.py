"""Scale-out: two ``serve`` processes sharing a Redis (python-socketio's AsyncRedisManager). A client on
one process sees ``sessions:changed`` and the live events of a session owned by the other.

Runs only where a ``redis-server`` binary and the ``redis`` Python package exist."""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import socketio

from tests.server.clients import Collector
from tests.server.conftest import TOKEN
from tests.server.test_serve import serve

TOKEN_ENV = {"AGENT_TUI_TOKEN": TOKEN}

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None or importlib.util.find_spec("redis") is None,
    reason="needs a redis-server binary and the redis package",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
async def redis_url(tmp_path: Path) -> AsyncIterator[str]:
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(tmp_path),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with asyncio.timeout(15):
            while True:  # ready when it accepts a connection and answers PING
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.05)
                    continue
                writer.write(b"PING\r\n")
                if (await reader.readline()).startswith(b"+PONG"):
                    writer.close()
                    break
                writer.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        await process.wait()


async def test_two_processes_fan_events_out_through_redis(tmp_path: Path, redis_url: str) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with (
        serve(tmp_path / "a", "--redis-url", redis_url, env=TOKEN_ENV) as (proc_a, url_a, _),
        serve(tmp_path / "b", "--redis-url", redis_url, env=TOKEN_ENV) as (proc_b, url_b, _),
    ):
        owner = socketio.AsyncClient(reconnection=False)
        remote = socketio.AsyncClient(reconnection=False)
        await owner.connect(url_a, transports=["websocket"], auth={"token": TOKEN})
        await remote.connect(url_b, transports=["websocket"], auth={"token": TOKEN})
        owner_seen, remote_seen = Collector(owner), Collector(remote)
        try:
            created = await owner.call("session:create", {"architecture": "shell"}, timeout=10)
            sid = created["session"]["sessionId"]
            # sessions:changed reaches the client of the other process.
            await remote_seen.wait_for(
                lambda: any(c["session"]["sessionId"] == sid for c in remote_seen.changes)
            )
            joined = await remote.call("session:join", {"sessionId": sid}, timeout=10)
            assert joined == {"success": True, "runtime": None, "lastSeq": None, "remote": True}
            await owner.call(
                "session:message", {"sessionId": sid, "content": "echo across-processes"}, timeout=10
            )

            def done(seen: Collector) -> bool:
                return any(e["type"] == "query:completed" for e in seen.events.get(sid, []))

            await owner_seen.wait_for(lambda: done(owner_seen))
            await remote_seen.wait_for(lambda: done(remote_seen))
            # The remote watcher got the live stream exactly once, in order, identical to the owner's.
            assert remote_seen.events[sid] == owner_seen.events[sid]
            assert owner_seen.seqs(sid) == list(range(1, len(owner_seen.seqs(sid)) + 1))
            assert any(s["sessionId"] == sid for s in remote_seen.statuses)  # session:status via the room
            # Commands go to the owner: the other process does not have the session.
            ack = await remote.call("session:message", {"sessionId": sid, "content": "ls"}, timeout=10)
            assert ack["success"] is False and ack["code"] == "SESSION_NOT_FOUND"
        finally:
            await owner.disconnect()
            await remote.disconnect()
        for process in (proc_a, proc_b):
            process.terminate()
        assert [await p.wait() for p in (proc_a, proc_b)] == [0, 0]
