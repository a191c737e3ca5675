"""Hostile input against a real ``agent-tui serve`` with a token: path traversal and symlink escapes
on the file routes (including an agent racing symlinks against the server's check), oversized
bodies and files, connections opened and abandoned by the hundred, and unauthenticated attempts on
every route and every Socket.IO event.

(Generated bad input for every route and event is in ``tests/server/test_fuzz.py`` and the
schemathesis run in ``tests/server/test_openapi.py``; their long mode runs >= 10,000 examples.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import socketio

from runtime.server.http import routes
from tests.reliability.harness import (
    TOKEN,
    Http,
    ServeProcess,
    ends_query,
    kill_all,
    processes_in,
    wait_until,
)
from tests.server.clients import RawSocketIO

SECRET = "TOP-SECRET-OUTSIDE-THE-WORKSPACE"


@dataclass
class Target:
    server: ServeProcess
    http: Http
    port: int
    data_dir: Path
    secret: Path


@pytest.fixture
async def target(tmp_path: Path) -> AsyncIterator[Target]:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET + "\n")
    data_dir = tmp_path / "sandboxes"
    server = ServeProcess(db=tmp_path / "agent-tui.db", data_dir=data_dir, home=tmp_path / "home")
    url = await server.start()
    try:
        async with Http(url) as http:
            yield Target(server, http, int(url.rsplit(":", 1)[1]), data_dir, secret)
    finally:
        await server.kill()
        kill_all(processes_in(data_dir))


async def raw_request(
    port: int, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> tuple[int, bytes]:
    """One HTTP/1.1 request with the path exactly as given (no client-side normalizing or quoting)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    head, _, rest = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        rest = _dechunk(rest)
    return status, rest


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2 :]
    return out


AUTH = {"Authorization": f"Bearer {TOKEN}"}


# --------------------------------------------------------------------------- file routes


async def _session_with_files(target: Target) -> tuple[str, Path]:
    sid = await target.http.create("shell")
    secret = target.secret
    status, body = await target.http.send(
        sid,
        "echo ok > ok.txt; mkdir -p sub; echo deep > sub/deep.txt; "
        f"ln -s {secret} abs-link; ln -s ../../../secret.txt rel-link; ln -s / root-link; "
        "ln -s ../home home-link; ln -s ../app app-link; ln -s sub sub-link; ln -s ok.txt ok-link; "
        "ln -s loop-b loop-a; ln -s loop-a loop-b; echo PRIVATE-HOME-FILE > ../home/private.txt; mkfifo fifo; "
        "truncate -s 3G huge.bin",
    )
    assert status == 202, body
    done = await target.http.wait_for_event(sid, ends_query(body["messageId"]))
    assert done["type"] == "query:completed", done
    return sid, target.data_dir / sid / "workspace"


TRAVERSALS = [
    "../secret.txt",
    "..%2fsecret.txt",
    "..%2F..%2F..%2Fsecret.txt",
    "%2e%2e/%2e%2e/%2e%2e/secret.txt",
    "%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.txt",
    "..%5c..%5c..%5csecret.txt",
    "..\\..\\..\\secret.txt",
    "%252e%252e%252f%252e%252e%252fsecret.txt",
    "sub/../../../../secret.txt",
    "sub/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "//etc/passwd",
    "ok.txt%00.png",
    "%c0%ae%c0%ae/%c0%ae%c0%ae/secret.txt",
    "....//....//secret.txt",
    "abs-link",
    "rel-link",
    "root-link/etc/passwd",
    "home-link/private.txt",
    "../home/private.txt",
    "app-link/agent_runner/__main__.py",
    "loop-a",
    "fifo",
    "..",
    ".",
    "x" * 10_000,
]


async def test_file_routes_refuse_traversal_and_symlink_escapes(target: Target, record_property: Any) -> None:
    sid, _workspace = await _session_with_files(target)
    outside = [SECRET.encode(), b"root:x:0:0", b"PRIVATE-HOME-FILE", b"import "]
    results: dict[str, int] = {}
    for prefix in ("", "/api"):
        for raw in TRAVERSALS:
            started = time.monotonic()
            status, body = await raw_request(target.port, "GET", f"{prefix}/sessions/{sid}/files/{raw}", AUTH)
            results[raw] = status
            assert status in (400, 404, 414, 431), (raw, status, body[:200])
            assert not any(marker in body for marker in outside), (raw, body[:200])
            assert time.monotonic() - started < 10, raw  # the FIFO must not hang a request
    for inside, content in (
        ("ok.txt", b"ok\n"),
        ("sub/deep.txt", b"deep\n"),
        ("sub-link/deep.txt", b"deep\n"),
        ("ok-link", b"ok\n"),
    ):
        status, body = await raw_request(target.port, "GET", f"/sessions/{sid}/files/{inside}", AUTH)
        assert (status, body) == (200, content), (inside, status, body[:200])
    # A 3 GB (sparse) file is refused, not read into the server's memory.
    rss_before = target.server.rss_kib()
    status, body = await raw_request(target.port, "GET", f"/sessions/{sid}/files/huge.bin", AUTH)
    assert status == 413 and json.loads(body)["code"] == "FILE_TOO_LARGE", (status, body[:200])
    assert target.server.rss_kib() - rss_before < 64 * 1024
    # The listing shows what is inside, and follows no link out.
    status, listing = await target.http.call("GET", f"/sessions/{sid}/files")
    paths = {f["path"] for f in listing["files"]}
    assert {"ok.txt", "sub/deep.txt", "huge.bin"} <= paths and not any(
        "private" in p or "passwd" in p for p in paths
    )
    record_property("paths_tried", 2 * len(TRAVERSALS))


async def test_a_symlink_raced_against_the_check_never_leaks_a_file(
    target: Target, record_property: Any
) -> None:
    """The agent swaps ``race.txt`` between a harmless file and a symlink to a secret outside, as
    fast as it can, while a client reads it: the check and the read must see the same file."""
    sid = await target.http.create("shell")
    status, body = await target.http.send(
        sid,
        "echo harmless > race.txt; while true; do "
        f"ln -sf {target.secret} race.tmp && mv -f race.tmp race.txt; "
        "echo harmless > plain.tmp && mv -f plain.tmp race.txt; "
        "mkdir -p d && echo harmless > d/f; rm -rf d2; ln -s " + str(target.secret.parent) + " d2; "
        "mv -T d2 d 2>/dev/null || true; done",
    )
    assert status == 202, body
    workspace = target.data_dir / sid / "workspace"
    await wait_until(lambda: (workspace / "race.txt").exists(), 30, "the racing agent")
    served = {"200": 0, "refused": 0}
    attempts = 1500
    for i in range(attempts):
        path = "race.txt" if i % 2 else "d/secret.txt"
        status, body = await raw_request(target.port, "GET", f"/sessions/{sid}/files/{path}", AUTH)
        assert SECRET.encode() not in body, (path, status)
        assert status in (200, 400, 404), (path, status, body[:200])
        served["200" if status == 200 else "refused"] += 1
    assert served["200"] > 0  # the race was real: the harmless file was served sometimes
    status, body = await target.http.call("POST", f"/sessions/{sid}/interrupt")
    assert status == 200
    record_property("reads_while_racing", attempts)


async def test_oversized_and_slow_bodies_are_refused_without_buffering(target: Target) -> None:
    sid = await target.http.create("shell")
    rss_before = target.server.rss_kib()
    big = b"x" * (8 * 1024 * 1024)
    for method, path in (
        ("PUT", f"/sessions/{sid}/files/upload.bin"),
        ("POST", f"/sessions/{sid}/files/upload.bin"),
        ("POST", f"/sessions/{sid}/messages"),
        ("POST", "/sessions"),
        ("PATCH", f"/sessions/{sid}/options"),
    ):
        status, body = await raw_request(
            target.port, method, path, {**AUTH, "Content-Type": "application/json"}, big
        )
        assert status in (405, 413), (method, path, status, body[:200])
        assert json.loads(body)["code"] in ("PAYLOAD_TOO_LARGE", "METHOD_NOT_ALLOWED")
    # A Content-Length promising 10 GB, then nothing: refused at once, not waited for.
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    writer.write(
        (
            f"POST /sessions/{sid}/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
            "Content-Type: application/json\r\nContent-Length: 10737418240\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert b" 413 " in head.split(b"\r\n", 1)[0], head
    writer.close()
    # Chunked, without end: cut off after the limit.
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    writer.write(
        (
            f"POST /sessions/{sid}/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        ).encode()
    )
    status_line = b""
    with contextlib.suppress(ConnectionError):
        for _ in range(64):  # up to 64 MiB offered
            writer.write(b"100000\r\n" + b"y" * 0x100000 + b"\r\n")
            await writer.drain()
            if reader.at_eof() or len(reader._buffer) > 0:  # noqa: SLF001 - the server answered early
                break
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        status_line = (await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)).strip()
    writer.close()
    assert b" 413 " in status_line, status_line
    # Huge headers.
    status, _ = await raw_request(target.port, "GET", "/sessions", {**AUTH, "X-Junk": "j" * 200_000})
    assert status in (400, 431)
    assert target.server.rss_kib() - rss_before < 64 * 1024
    status, body = await target.http.call("GET", "/health")
    assert status == 200


# --------------------------------------------------------------------------- abandoned connections


async def _abandon(port: int, style: int, session_id: str) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError, ConnectionError, TimeoutError):
        if style == 0:  # connect, go away
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.transport.abort()
        elif style == 1:  # half a request line, then vanish
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthoriz")
            await writer.drain()
            writer.transport.abort()
        elif style == 2:  # an Engine.IO polling handshake that never polls again
            status, _ = await raw_request(port, "GET", "/socket.io/?EIO=4&transport=polling")
            assert status == 200
        elif style == 3:  # a WebSocket Socket.IO client that joins a session and drops dead
            raw = await RawSocketIO.open(port)
            await raw.handshake(TOKEN)
            await raw.emit("session:join", {"sessionId": session_id}, ack_id=1)
            raw.close()
        else:  # connected and then silent, dropped later
            raw = await RawSocketIO.open(port)
            await raw.read_text()
            raw.close()


async def test_many_connections_opened_and_abandoned_leave_nothing_behind(
    target: Target, long_mode: bool, record_property: Any
) -> None:
    sid = await target.http.create("shell")
    status, body = await target.http.send(sid, "for i in $(seq 1 200); do echo line $i; done")
    await target.http.wait_for_event(sid, ends_query(body["messageId"]))
    fds_before = target.server.fd_count()
    rss_before = target.server.rss_kib()
    total = 5000 if long_mode else 600
    started = time.monotonic()
    for batch in range(0, total, 100):
        await asyncio.gather(*(_abandon(target.port, i % 5, sid) for i in range(batch, batch + 100)))
        # The server keeps answering in the middle of it.
        t = time.monotonic()
        status, _ = await target.http.call("GET", "/health")
        assert status == 200 and time.monotonic() - t < 5
    elapsed = time.monotonic() - started
    # A real client still connects, joins and gets the whole log.
    client = socketio.AsyncClient(reconnection=False)
    seen: list[int] = []
    client.on("stream:event", lambda data: seen.append(data["event"]["seq"]))
    await client.connect(target.server.url, auth={"token": TOKEN}, transports=["websocket"], wait_timeout=20)
    ack = await client.call("session:join", {"sessionId": sid}, timeout=20)
    await wait_until(lambda: len(seen) >= ack["lastSeq"], 30, "the replay")
    assert seen == list(range(1, ack["lastSeq"] + 1))
    await client.disconnect()
    # Every abandoned TCP connection is closed by the server (RST seen), so its descriptors go back
    # to where they were; memory does not keep the abandoned clients.
    await wait_until(lambda: target.server.fd_count() <= fds_before + 5, 30, "descriptors to be released")
    grown = target.server.rss_kib() - rss_before
    assert grown < 48 * 1024, grown
    record_property("connections_abandoned", total)
    record_property("abandon_rate_per_s", round(total / elapsed))
    record_property("rss_growth_mib", round(grown / 1024, 1))


# --------------------------------------------------------------------------- unauthenticated


BAD_AUTH: list[dict[str, str]] = [
    {},
    {"Authorization": "Bearer wrong"},
    {"Authorization": f"Basic {TOKEN}"},
    {"Authorization": f"Bearer {TOKEN[:-1]}"},
    {"Authorization": f"Bearer {TOKEN}x"},
    {"Authorization": f"Bearer {TOKEN.upper()}"},
    {"Cookie": f"token={TOKEN}"},
    {"X-Token": TOKEN},
]


async def test_every_route_and_event_refuses_a_missing_or_wrong_token(
    target: Target, record_property: Any
) -> None:
    sid = await target.http.create("shell", name="guarded")
    before_sessions = await target.http.call("GET", "/sessions")
    before_events = await target.http.events(sid)
    attempts = 0
    for route in routes():
        for prefix in ("", "/api"):
            path = prefix + route.path.replace("{id}", sid).replace("{requestId}", "r1").replace(
                "{path}", "x.txt"
            )
            for headers in BAD_AUTH:
                for query in ("", f"?token={TOKEN}&access_token={TOKEN}"):
                    status, body = await raw_request(
                        target.port,
                        route.method,
                        path + query,
                        {**headers, "Content-Type": "application/json"},
                        b'{"architecture": "shell", "content": "echo pwned", "name": "x", "sessionOptions": {}}',
                    )
                    attempts += 1
                    if route.open:
                        assert status == 200, (route.method, path, status)
                    else:
                        assert status == 401, (route.method, path, headers, status, body[:200])
                        assert json.loads(body)["code"] == "UNAUTHORIZED"
    # Paths that try to borrow an open prefix.
    for path in (
        f"/socket.io/../sessions/{sid}",
        f"/socket.io/%2e%2e/sessions/{sid}",
        f"/health/../sessions/{sid}",
        f"/openapi.json/../sessions/{sid}",
        f"/api/health/%2e%2e/sessions/{sid}",
        f"//sessions/{sid}",
    ):
        status, body = await raw_request(target.port, "DELETE", path)
        attempts += 1
        assert status in (400, 401, 404), (path, status, body[:200])
        assert sid.encode() not in body or status == 404, (path, status, body[:200])
    # Socket.IO: no token, a wrong one, a token in the URL: refused at CONNECT; events sent anyway
    # on the refused connection are never processed.
    from tests.server.test_fuzz import EVENT_MODELS

    for auth in (None, {"token": "wrong"}, {"token": TOKEN[:-1]}, {"tok": TOKEN}, {"token": None}):
        raw = await RawSocketIO.open(target.port, path=f"/socket.io/?EIO=4&transport=websocket&token={TOKEN}")
        try:
            await raw.read_text()
            await raw.send_text("40" + ("" if auth is None else json.dumps(auth)))
            reply = await raw.read_text()
            assert reply.startswith("44") and "unauthorized" in reply, reply
            for ack_id, event in enumerate(EVENT_MODELS, start=1):
                await raw.emit(
                    event,
                    {"sessionId": sid, "content": "echo pwned", "architecture": "shell", "name": "x"},
                    ack_id,
                )
                attempts += 1
            # Nothing answers them: the next thing the server would say is a ping, not an ack.
            with contextlib.suppress(TimeoutError, ConnectionError, asyncio.IncompleteReadError):
                extra = await asyncio.wait_for(raw.read_text(), 1.0)
                assert not extra.startswith("43"), extra
        finally:
            raw.close()
    client = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(f"{target.server.url}?token={TOKEN}", transports=["websocket"], wait_timeout=10)
    # Nothing changed.
    assert await target.http.call("GET", "/sessions") == before_sessions
    assert await target.http.events(sid) == before_events
    assert not (target.data_dir / sid).exists()  # no message ever ran: no sandbox was made
    record_property("attempts", attempts)
