"""Issue 21: the server under hostile load, as a subprocess (``python -m runtime.server``).

Figures are recorded with ``record_property`` for docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.reliability.harness import ServeProcess, TOKEN

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[ServeProcess]:
    server = ServeProcess(db=tmp_path / "agent-tui.db", data_dir=tmp_path / "sandboxes", home=tmp_path / "home")
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
                    async with http.post(f"{url}/socket.io/?EIO=4&transport=polling&sid={sid}", data=body) as r:
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
