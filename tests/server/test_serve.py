"""``agent-tui serve`` / ``python -m runtime.server`` as a real process: URL and token printing, clean
shutdown on SIGTERM/SIGINT (running query closed, sandbox processes gone, store closed), no Textual."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
import socketio

from runtime import SQLiteStore
from tests.helpers import ROOT
from tests.server.clients import Collector


@asynccontextmanager
async def serve(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str, list[str]]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "runtime.server",
        "--port",
        "0",
        "--db",
        str(tmp_path / "serve.db"),
        "--data-dir",
        str(tmp_path / "sandboxes"),
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "HOME": str(tmp_path / "home"), **(env or {})},
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        first = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        lines.append(first)
        assert first.startswith("agent-tui server listening on http://"), first
        url = first.split(" on ", 1)[1].strip().replace("0.0.0.0", "127.0.0.1")
        yield process, url, lines
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _stop(process: asyncio.subprocess.Process, sig: int, lines: list[str]) -> int:
    process.send_signal(sig)
    out, err = await asyncio.wait_for(process.communicate(), 30)
    lines.extend(out.decode().splitlines())
    assert b"Traceback" not in err, err.decode()[-3000:]
    return process.returncode or 0


async def _until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    """Wait for a condition nothing notifies us of (a process appearing in /proc)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


async def test_sigterm_closes_the_running_query_and_the_sandbox_then_exits_0(tmp_path: Path) -> None:
    marker = f"3{uuid.uuid4().int % 1000}.{uuid.uuid4().int % 1000:03d}"
    async with serve(tmp_path, "--token", "tok") as (process, url, lines):
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(url, auth={"token": "tok"}, transports=["websocket"])
        seen = Collector(client)
        created = await client.call("session:create", {"architecture": "shell"}, timeout=10)
        sid = created["session"]["sessionId"]
        await client.call("session:message", {"sessionId": sid, "content": f"sleep {marker}"}, timeout=10)
        await seen.wait_for(
            lambda: any(
                e["type"] == "block:upsert" and e["payload"]["block"]["type"] == "tool_use"
                for e in seen.events.get(sid, [])
            )
        )
        await _until(lambda: bool(_processes_with(marker)))  # the runner starts bash right after that block
        disconnected = asyncio.Event()
        client.on("disconnect", lambda *_: disconnected.set())
        assert await _stop(process, signal.SIGTERM, lines) == 0
        await asyncio.wait_for(disconnected.wait(), 10)
    assert lines[-1] == "agent-tui server shutting down"
    assert not _processes_with(marker)
    # The store was closed cleanly, with the query and the sandbox closed in the log.
    store = SQLiteStore(tmp_path / "serve.db")
    await store.open()
    try:
        events = await store.load_events(sid)
    finally:
        await store.close()
    kinds = [(e.type, e.payload.get("reason")) for e in events]
    assert ("query:interrupted", "shutdown") in kinds and kinds[-1] == ("ee:terminated", "shutdown")


async def test_sigint_exits_0_and_a_token_from_the_environment_is_required(tmp_path: Path) -> None:
    async with serve(tmp_path, env={"AGENT_TUI_TOKEN": "env-token"}) as (process, url, lines):
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/sessions") as r:
                assert r.status == 401
            async with http.get(f"{url}/sessions", headers={"Authorization": "Bearer env-token"}) as r:
                assert r.status == 200
            async with http.get(f"{url}/health") as r:
                assert r.status == 200
        assert await _stop(process, signal.SIGINT, lines) == 0
    assert not any("token" in line.lower() and "env-token" in line for line in lines)


async def test_a_non_loopback_bind_without_a_token_prints_a_generated_one_once(tmp_path: Path) -> None:
    async with serve(tmp_path, "--host", "0.0.0.0") as (process, url, lines):
        assert process.stdout is not None
        second = (await asyncio.wait_for(process.stdout.readline(), 10)).decode().strip()
        token = second.rsplit(": ", 1)[1]
        assert second.startswith("token (generated") and len(token) >= 32
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/sessions") as r:
                assert r.status == 401
            async with http.get(f"{url}/sessions", headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 200
        assert await _stop(process, signal.SIGTERM, lines) == 0
    assert sum(token in line for line in lines) == 0  # printed once: only the line read above


async def test_a_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "runtime.server",
            "--port",
            str(port),
            "--db",
            str(tmp_path / "x.db"),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "HOME": str(tmp_path)},
        )
        _out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in err.decode()


@pytest.mark.parametrize("module", ["runtime.server.serve", "runtime.server.app"])
async def test_serve_imports_neither_textual_nor_modal(module: str) -> None:
    code = (
        f"import sys, {module}; from runtime.server.serve import main; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'modal', 'agent_tui'}))"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(process.communicate(), 30)
    assert out.decode().strip() == "[]"
