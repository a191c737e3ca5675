"""Issue 21: the server under hostile load, as a subprocess (``python -m runtime.server``).

Figures are recorded with ``record_property`` for docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio

from runtime import AgentRuntime
from tests.helpers import ROOT, make_config
from tests.reliability.harness import TOKEN, ServeProcess

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[ServeProcess]:
    server = ServeProcess(
        db=tmp_path / "agent-tui.db", data_dir=tmp_path / "sandboxes", home=tmp_path / "home"
    )
    await server.start()
    try:
        yield server
    finally:
        await server.kill()


async def _health_ms(url: str) -> float:
    async with aiohttp.ClientSession() as http:
        started = time.monotonic()
        async with http.get(f"{url}/health", timeout=aiohttp.ClientTimeout(total=10)) as r:
            assert r.status == 200
        return (time.monotonic() - started) * 1000


# --------------------------------------------------------------------------- #7 undecodable packets


async def _ws_flood(url: str, until: float) -> int:
    sent = 0
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < until:
            try:
                async with http.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket") as ws:
                    await ws.receive_str()
                    while time.monotonic() < until:
                        await ws.send_str('42["x",{"a":')  # never authenticated, never decodable
                        sent += 1
                        if sent % 50 == 0:
                            await asyncio.sleep(0)
            except (aiohttp.ClientError, ConnectionError):
                pass
    return sent


async def _polling_flood(url: str, until: float) -> int:
    sent = 0
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < until:
            try:
                async with http.get(f"{url}/socket.io/?EIO=4&transport=polling") as r:
                    sid = json.loads((await r.text())[1:])["sid"]
                while time.monotonic() < until:
                    body = "\x1e".join(['42["x",[[[' for _ in range(50)])
                    async with http.post(
                        f"{url}/socket.io/?EIO=4&transport=polling&sid={sid}", data=body
                    ) as r:
                        sent += 50
                        if r.status != 200:
                            break
            except (aiohttp.ClientError, ConnectionError, ValueError):
                pass
    return sent


async def test_a_flood_of_undecodable_packets_before_auth_keeps_the_log_small(
    served: ServeProcess, record_property: pytest.RecordProperty
) -> None:
    assert served.log_path is not None
    log_before = served.log_path.stat().st_size
    until = time.monotonic() + 10
    sent = await asyncio.gather(
        _ws_flood(served.url, until), _ws_flood(served.url, until), _polling_flood(served.url, until)
    )
    grown = served.log_path.stat().st_size - log_before
    health = await _health_ms(served.url)
    total = sum(sent)
    assert total > 1000, sent
    assert grown < 1024 * 1024, served.log_tail()
    assert "Traceback" not in served.log_text()
    assert "dropping Socket.IO connection" in served.log_text()
    record_property("undecodable_packets_sent", total)
    record_property("log_growth_bytes", grown)
    record_property("health_after_ms", round(health, 1))


# --------------------------------------------------------------------------- #3 polling-only clients

NODE_DIR = ROOT / "tests" / "node"
STREAM_EVENTS = 5_000


async def _seed_stream(tmp_path: Path, count: int) -> str:
    """A session whose log holds ``count`` events, written before the server starts."""
    async with AgentRuntime(make_config(tmp_path, data_dir=tmp_path / "sandboxes")) as runtime:
        session = await runtime.create_session({"architecture": "shell"})
        sid = session.session_id
        for start in range(0, count, 500):
            await runtime.bus.publish(
                sid,
                [
                    {"type": "log", "payload": {"level": "info", "message": f"line {n}"}}
                    for n in range(start, min(count, start + 500))
                ],
            )
        assert (await runtime.get_summary(sid)).last_seq == count
    return sid


class _Pause:
    """SIGSTOP the server once, when the first client passed ``at`` events; SIGCONT 3 s later."""

    def __init__(self, pid: int, at: int) -> None:
        self.pid, self.at = pid, at
        self.resumed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def seen(self, count: int) -> None:
        if self.task is None and count >= self.at:
            os.kill(self.pid, signal.SIGSTOP)
            self.task = asyncio.ensure_future(self._resume())

    async def _resume(self) -> None:
        try:
            await asyncio.sleep(3)  # the fault's duration, not a wait for a condition
        finally:
            os.kill(self.pid, signal.SIGCONT)
            self.resumed.set()


async def _python_polling_client(url: str, sid: str, last_seq: int, pause: _Pause | None) -> list[int]:
    client = socketio.AsyncClient(reconnection=False)
    seqs: list[int] = []
    done = asyncio.Event()
    lost = asyncio.Event()

    @client.on("stream:event")
    async def _event(data: dict[str, Any]) -> None:
        seqs.append(int(data["event"]["seq"]))
        if pause is not None:
            pause.seen(len(seqs))
        if seqs[-1] == last_seq:
            done.set()

    @client.on("disconnect")
    async def _gone(*_args: Any) -> None:
        lost.set()

    await client.connect(url, auth={"token": TOKEN}, transports=["polling"], wait_timeout=20)
    try:
        ack = await client.call("session:join", {"sessionId": sid, "afterSeq": 0, "batch": False}, timeout=30)
        assert ack["success"], ack
        waiters = [asyncio.ensure_future(done.wait()), asyncio.ensure_future(lost.wait())]
        await asyncio.wait(waiters, timeout=120, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        assert done.is_set(), f"python client: {len(seqs)} of {last_seq} events, disconnected={lost.is_set()}"
    finally:
        await client.disconnect()
    return seqs


async def _js_polling_client(url: str, sid: str, last_seq: int, pause: _Pause | None) -> list[int]:
    process = await asyncio.create_subprocess_exec(
        "node",
        str(NODE_DIR / "polling_join.mjs"),
        url,
        TOKEN,
        sid,
        str(last_seq),
        cwd=NODE_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=16 * 1024 * 1024,
    )
    assert process.stdout is not None
    result: dict[str, Any] = {}
    async for raw in process.stdout:
        line = json.loads(raw)
        if line["kind"] == "count" and pause is not None:
            pause.seen(int(line["n"]))
        elif line["kind"] in ("done", "error"):
            result = line
    await process.wait()
    assert result.get("kind") == "done", result
    return [int(seq) for seq in result["seqs"]]


@pytest.mark.skipif(
    shutil.which("node") is None or not (NODE_DIR / "node_modules" / "socket.io-client").is_dir(),
    reason="node and tests/node/node_modules are needed",
)
@pytest.mark.parametrize("fault", ["none", "sigstop"])
async def test_polling_only_clients_receive_every_event_of_a_5000_event_stream(
    tmp_path: Path, fault: str, record_property: pytest.RecordProperty
) -> None:
    sid = await _seed_stream(tmp_path, STREAM_EVENTS)
    server = ServeProcess(
        db=tmp_path / "agent-tui.db", data_dir=tmp_path / "sandboxes", home=tmp_path / "home"
    )
    url = await server.start()
    pause = _Pause(server.pid, at=1_000) if fault == "sigstop" else None
    started = time.monotonic()
    try:
        py_seqs, js_seqs = await asyncio.gather(
            _python_polling_client(url, sid, STREAM_EVENTS, pause),
            _js_polling_client(url, sid, STREAM_EVENTS, pause),
        )
    finally:
        if pause is not None and pause.task is not None:
            await pause.resumed.wait()
        await server.kill()
    expected = list(range(1, STREAM_EVENTS + 1))
    assert py_seqs == expected
    assert js_seqs == expected
    if pause is not None:
        assert pause.task is not None, "the server was never paused mid-stream"
    record_property("polling_stream_seconds", round(time.monotonic() - started, 1))


# --------------------------------------------------------------------------- #1 idle connections


def _nofile_1024() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


async def _idle(port: int, count: int) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    async def one() -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
        except (OSError, TimeoutError):
            return None  # refused or never accepted under load: what the server may do

    return [c for c in await asyncio.gather(*(one() for _ in range(count))) if c is not None]


async def _slow_headers(conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]], until: float) -> None:
    """Slowloris: a request line, then one header byte a second, never a blank line."""
    for _reader, writer in conns:
        writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    while time.monotonic() < until:
        for _reader, writer in conns:
            if not writer.is_closing():
                writer.write(b"a")
        await asyncio.sleep(1)


async def test_idle_and_slow_header_connections_cannot_take_the_server_down(
    tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    server = ServeProcess(
        db=tmp_path / "agent-tui.db",
        data_dir=tmp_path / "sandboxes",
        home=tmp_path / "home",
        preexec=_nofile_1024,
    )
    url = await server.start()
    port = int(url.rsplit(":", 1)[1])
    assert server.log_path is not None
    log_before = server.log_path.stat().st_size
    idle = await _idle(port, 1_100)
    slow = await _idle(port, 200)
    slow_task = asyncio.ensure_future(_slow_headers(slow, time.monotonic() + 20))
    try:
        # Under the flood: /health answers quickly, and the server holds far fewer than 1,024 files.
        timings = sorted([await _health_ms(url) for _ in range(9)])
        fds = server.fd_count()
        assert timings[len(timings) // 2] < 100, timings
        assert fds < 1000, fds
        # A Socket.IO client still connects and gets answers.
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(url, auth={"token": TOKEN}, wait_timeout=20)
        assert (await client.call("sessions:list", {}, timeout=20))["success"]
        await client.disconnect()

        # Connections that sent no complete request are closed by the server (header timeout).
        async def closed_by_server(reader: asyncio.StreamReader) -> bool:
            try:
                return await asyncio.wait_for(reader.read(), 30) == b""
            except (ConnectionError, TimeoutError):
                return True

        results = await asyncio.gather(*(closed_by_server(r) for r, _w in idle + slow))
        assert all(results), f"{results.count(False)} connections still open"
        grown = server.log_path.stat().st_size - log_before
        assert grown < 64 * 1024, server.log_tail()
        assert "Traceback" not in server.log_text()
    finally:
        slow_task.cancel()
        for _reader, writer in idle + slow:
            writer.close()
        await server.kill()
    record_property("health_median_ms", round(timings[len(timings) // 2], 1))
    record_property("health_max_ms", round(timings[-1], 1))
    record_property("server_fds_under_flood", fds)
    record_property("log_growth_bytes", grown)
