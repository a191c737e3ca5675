"""Fixtures for server tests: a real runtime (SQLite in tmp_path) served on 127.0.0.1, real clients."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
import socketio

from runtime import AgentRuntime
from runtime.server.app import AgentServer, start_server

TOKEN = "test-token-\u00e9-123"


def pytest_configure(config: pytest.Config) -> None:
    # Hypothesis settings are fixed at import time: pass --long on to them through the environment.
    if config.getoption("--long", default=False):
        os.environ["AGENT_TUI_LONG"] = "1"


@pytest.fixture
async def server(runtime: AgentRuntime) -> AsyncIterator[AgentServer]:
    srv = await start_server(runtime, host="127.0.0.1", port=0, token=TOKEN)
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def http(server: AgentServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(
        base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as session:
        yield session


ClientFactory = Callable[..., Awaitable[socketio.AsyncClient]]


@pytest.fixture
async def sio_client(server: AgentServer) -> AsyncIterator[ClientFactory]:
    """``await sio_client()`` -> a connected ``socketio.AsyncClient`` (disconnected at teardown)."""
    clients: list[socketio.AsyncClient] = []

    async def make(*, token: str | None = TOKEN, transports: list[str] | None = None) -> socketio.AsyncClient:
        client = socketio.AsyncClient(reconnection=False)
        clients.append(client)
        await client.connect(
            server.url,
            auth={"token": token} if token is not None else None,
            transports=transports,
            wait_timeout=10,
        )
        return client

    yield make
    for client in clients:
        if client.connected:
            await client.disconnect()
