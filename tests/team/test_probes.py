"""``/health/ready`` and ``/health/live``: the load balancer's probes (no token)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from runtime import AgentRuntime
from runtime.server.app import start_server
from tests.server.conftest import TOKEN
from tests.team.conftest import Team, until


async def _probe(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.json()


async def test_a_single_sqlite_server_is_live_and_ready_without_a_token(runtime: AgentRuntime) -> None:
    server = await start_server(runtime, host="127.0.0.1", port=0, token=TOKEN)
    try:
        assert await _probe(server.url + "/health/live") == (200, {"status": "live"})
        assert await _probe(server.url + "/api/health/ready") == (200, {"status": "ready"})
        status, _body = await _probe(server.url + "/sessions")
        assert status == 401  # the probes are open, nothing else is
    finally:
        await server.stop()


async def test_a_node_is_not_ready_while_postgres_is_down_and_ready_again_after(
    team: Team, postgres_cluster: Any
) -> None:
    node = team.nodes[0]
    assert await _probe(node.url + "/health/ready") == (200, {"status": "ready"})
    await asyncio.to_thread(postgres_cluster.stop)
    try:
        status, body = await _probe(node.url + "/health/ready")
        assert status == 503 and body["code"] == "NOT_READY", body
        assert "Postgres" in body["error"]
        assert await _probe(node.url + "/health/live") == (200, {"status": "live"})
    finally:
        await asyncio.to_thread(postgres_cluster.start)

    async def ready() -> bool:
        return (await _probe(node.url + "/health/ready"))[0] == 200

    await until(ready, timeout=20, interval=0.1)
