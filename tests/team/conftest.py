"""A three-node team server: real Postgres (tests/pg_cluster.py), a real redis-server, three
``agent-tui serve --database-url ... --redis-url ...`` subprocesses, all on this machine."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import socketio

from tests.helpers import ROOT
from tests.server.clients import Collector
from tests.server.conftest import TOKEN

#: Short, so a failover fits the test's 5 s bound with room for a loaded machine.
LEASE_TTL = "2"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def redis_url(tmp_path: Path) -> AsyncIterator[str]:
    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("needs redis-server")
        pytest.skip("needs redis-server")
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
            while True:  # ready when it answers PING
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.05)
                    continue
                writer.write(b"PING\r\n")
                ok = (await reader.readline()).startswith(b"+PONG")
                writer.close()
                if ok:
                    break
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        await process.wait()


class Node:
    def __init__(self, name: str, process: asyncio.subprocess.Process, url: str) -> None:
        self.name = name
        self.process = process
        self.url = url
        self.stderr = b""
        self.killed = False

    def kill(self) -> None:
        self.killed = True
        self.process.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                _out, self.stderr = await asyncio.wait_for(self.process.communicate(), 30)
            except TimeoutError:
                # Its threads' stacks into stderr (serve registers SIGUSR1), for the failure message.
                self.process.send_signal(signal.SIGUSR1)
                await asyncio.sleep(1)
                self.process.kill()
                _out, self.stderr = await self.process.communicate()


class Team:
    def __init__(self, root: Path, database_url: str, redis_url: str) -> None:
        self.root = root
        self.database_url = database_url
        self.redis_url = redis_url
        self.nodes: list[Node] = []
        self._started = 0
        self.clients: list[socketio.AsyncClient] = []
        self.http = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        )

    async def start_node(self, extra_args: tuple[str, ...] = (), profiles: dict[str, str] | None = None) -> Node:
        """``profiles``: profile id -> TOML text, written into the node's own config dir."""
        name = f"node{self._started}"
        self._started += 1
        data = self.root / name
        data.mkdir()
        config = data / ".config"
        for profile_id, text in (profiles or {}).items():
            folder = config / "agent-tui" / "profiles"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{profile_id}.toml").write_text(text, encoding="utf-8")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "runtime.server",
            "--port",
            "0",
            "--database-url",
            self.database_url,
            "--redis-url",
            self.redis_url,
            "--data-dir",
            str(data / "sandboxes"),
            "--lease-ttl",
            LEASE_TTL,
            *extra_args,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "HOME": str(data), "XDG_CONFIG_HOME": str(config), "AGENT_TUI_TOKEN": TOKEN},
        )
        assert process.stdout is not None and process.stderr is not None
        first = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        if not first.startswith("agent-tui server listening on "):
            err = await process.stderr.read()
            raise AssertionError(f"{name} did not start: {first!r} {err.decode()[-3000:]}")
        node = Node(name, process, first.split(" on ", 1)[1].strip())
        self.nodes.append(node)
        return node

    async def client(self, node: Node) -> tuple[socketio.AsyncClient, Collector]:
        client = socketio.AsyncClient(reconnection=False)
        seen = Collector(client)
        await client.connect(node.url, auth={"token": TOKEN}, transports=["websocket"], wait_timeout=10)
        self.clients.append(client)
        return client, seen

    async def get(self, node: Node, path: str) -> Any:
        async with self.http.get(node.url + path) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def post(self, node: Node, path: str, body: Any, status: int = 200) -> Any:
        async with self.http.post(node.url + path, json=body) as response:
            assert response.status == status, await response.text()
            return await response.json()

    async def db(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.database_url)

    async def owner(self, session_id: str) -> str | None:
        """URL of the node holding a live lease on the session."""
        conn = await self.db()
        try:
            return await conn.fetchval(
                "SELECT node_url FROM session_leases WHERE session_id = $1 AND expires_at > now()", session_id
            )
        finally:
            await conn.close()

    def node_at(self, url: str | None) -> Node:
        return next(n for n in self.nodes if n.url == url)

    async def close(self) -> None:
        for client in self.clients:
            if client.connected:
                await client.disconnect()
        await self.http.close()
        await asyncio.gather(*(node.stop() for node in self.nodes))
        for node in self.nodes:
            assert b"Traceback" not in node.stderr, node.stderr.decode()[-3000:]
            # A clean SIGTERM shutdown (closing queries, handing leases back), not the kill
            # that follows a hang.
            assert node.killed or node.process.returncode == 0, (node.name, node.stderr.decode()[-3000:])


@pytest.fixture
async def team(tmp_path: Path, postgres_url: str, redis_url: str) -> AsyncIterator[Team]:
    team = Team(tmp_path, postgres_url, redis_url)
    try:
        for _ in range(3):  # in order: nodes[i] is node<i>
            await team.start_node()
        yield team
    finally:
        await team.close()


async def until(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll a condition nothing notifies the test of (a row in another process's database)."""
    async with asyncio.timeout(timeout):
        while True:
            value = predicate()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(interval)
