"""Host, Origin and content-type guards (SPEC §11) over raw HTTP and Socket.IO, token or not.

Every refusal is checked to reach nothing: the store stays empty.
"""

from __future__ import annotations

import asyncio
import json
import socket

import aiohttp
import pytest
import socketio

from runtime import AgentRuntime
from runtime.server import guards
from runtime.server.app import AgentServer, start_server
from tests.server.conftest import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON_BODY = json.dumps({"architecture": "shell"})


async def raw_request(port: int, head: list[str], body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request with exactly these headers (aiohttp would add or fix some)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()
        raw_head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        lines = raw_head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        length = int(headers.get("content-length", "0"))
        payload = await asyncio.wait_for(reader.readexactly(length), 10) if length else b""
        return status, headers, payload
    finally:
        writer.close()


async def no_sessions(runtime: AgentRuntime) -> bool:
    return await runtime.list_sessions() == []


# --------------------------------------------------------------------------- Host


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "localhost.evil.example:{port}",
                                  "127.0.0.1.evil.example", "", "127.0.0.1@evil.example"])
async def test_a_foreign_host_is_403_even_with_the_right_token(
    server: AgentServer, runtime: AgentRuntime, host: str
) -> None:
    port = server.port
    host = host.format(port=port)
    for method, path, body in (("POST", "/sessions", JSON_BODY), ("GET", "/sessions", ""), ("GET", "/health", ""),
                               ("GET", "/socket.io/?EIO=4&transport=polling", "")):
        head = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Authorization: Bearer {TOKEN}",
                "Content-Type: application/json", f"Content-Length: {len(body)}"]
        if not host:
            head.remove("Host: ")
        status, _, payload = await raw_request(port, head, body.encode())
        if not host:  # aiohttp's parser refuses it before the guard sees it
            assert status == 400, (method, path, payload)
            continue
        assert status == 403, (method, path, payload)
        assert json.loads(payload)["code"] == "FORBIDDEN_HOST"
    assert await no_sessions(runtime)
    assert server.client_count == 0


async def test_the_socketio_websocket_handshake_checks_host(server: AgentServer) -> None:
    head = ["GET /socket.io/?EIO=4&transport=websocket HTTP/1.1", f"Host: evil.example:{server.port}",
            "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13"]
    status, _, payload = await raw_request(server.port, head)
    assert status == 403 and json.loads(payload)["code"] == "FORBIDDEN_HOST"
    head[1] = f"Host: 127.0.0.1:{server.port}"
    status, _, _ = await raw_request(server.port, head)
    assert status == 101


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]", "LOCALHOST", "127.1.2.3", "localhost."])
async def test_loopback_hosts_are_accepted(server: AgentServer, host: str) -> None:
    for name in (host, f"{host}:{server.port}"):
        head = ["GET /sessions HTTP/1.1", f"Host: {name}", f"Authorization: Bearer {TOKEN}"]
        status, _, payload = await raw_request(server.port, head)
        assert status == 200, (name, payload)


async def test_allowed_hosts_and_the_trusted_proxy(runtime: AgentRuntime) -> None:
    server = await start_server(runtime, port=0, token=TOKEN, allowed_hosts=["agents.example", ".team.example"])
    proxied = await start_server(runtime, port=0, token=TOKEN, trust_proxy=True)
    try:
        async with aiohttp.ClientSession(headers=AUTH) as http:
            for host, status in (("agents.example", 200), ("box.team.example:8787", 200), ("team.example", 403),
                                 ("agents.example.evil", 403)):
                async with http.get(f"{server.url}/sessions", headers={"Host": host}) as r:
                    assert r.status == status, host
            # Not trusted by default: X-Forwarded-Host cannot launder a foreign Host or Origin...
            spoof = {"Host": "evil.example", "X-Forwarded-Host": "127.0.0.1"}
            async with http.get(f"{server.url}/sessions", headers=spoof) as r:
                assert r.status == 403
            spoof = {"Origin": "http://evil.example", "X-Forwarded-Host": "evil.example"}
            for url in (f"{server.url}/sessions", f"{server.url}/socket.io/?EIO=4&transport=polling"):
                async with http.get(url, headers=spoof) as r:
                    assert r.status == 403 and (await r.json())["code"] == "FORBIDDEN_ORIGIN", url
            # ...and behind a proxy that is trusted, the forwarded names are what is checked.
            async with http.get(f"{proxied.url}/sessions", headers={"X-Forwarded-Host": "evil.example"}) as r:
                assert r.status == 403 and (await r.json())["code"] == "FORBIDDEN_HOST"
            own = {"X-Forwarded-Host": "localhost:443", "X-Forwarded-Proto": "https", "Origin": "https://localhost"}
            async with http.get(f"{proxied.url}/socket.io/?EIO=4&transport=polling", headers=own) as r:
                assert r.status == 200
    finally:
        await server.stop()
        await proxied.stop()


async def test_an_ipv6_loopback_bind_answers_at_its_address(runtime: AgentRuntime) -> None:
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    server = await start_server(runtime, host="::1", port=0, token=TOKEN)
    try:
        assert server.url.startswith("http://[::1]:")
        async with aiohttp.ClientSession(headers=AUTH) as http, http.get(f"{server.url}/sessions") as r:
            assert r.status == 200
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(server.url, auth={"token": TOKEN}, wait_timeout=10)
        await client.disconnect()
    finally:
        await server.stop()


# --------------------------------------------------------------------------- Origin


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1", "https://127.0.0.1:{port}",
                                    "http://localhost:{port}", "file://", "garbage"])
async def test_a_foreign_origin_is_403_for_http_and_socketio(
    server: AgentServer, runtime: AgentRuntime, origin: str
) -> None:
    origin = origin.format(port=server.port)
    async with aiohttp.ClientSession(base_url=server.url, headers={**AUTH, "Origin": origin}) as http:
        async with http.post("/sessions", json={"architecture": "shell"}) as r:
            assert r.status == 403 and (await r.json())["code"] == "FORBIDDEN_ORIGIN"
        async with http.options("/sessions", headers={"Access-Control-Request-Method": "POST"}) as r:
            assert r.status == 403 and "Access-Control-Allow-Origin" not in r.headers
        async with http.get("/socket.io/?EIO=4&transport=polling") as r:
            assert r.status == 403 and (await r.json())["code"] == "FORBIDDEN_ORIGIN"
    client = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(server.url, auth={"token": TOKEN}, headers={"Origin": origin}, wait_timeout=5,
                             transports=["websocket"])
    assert await no_sessions(runtime) and server.client_count == 0


async def test_the_servers_own_origin_is_accepted(server: AgentServer) -> None:
    own = f"http://127.0.0.1:{server.port}"
    async with aiohttp.ClientSession(base_url=server.url, headers={**AUTH, "Origin": own}) as http:
        async with http.post("/sessions", json={"architecture": "shell"}) as r:
            assert r.status == 201
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(server.url, auth={"token": TOKEN}, headers={"Origin": own}, wait_timeout=10)
    assert (await client.call("sessions:list", timeout=5))["success"]
    await client.disconnect()


# --------------------------------------------------------------------------- content type


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
     "application/jsonx", "", None],
)
async def test_a_body_that_is_not_json_is_415(
    server: AgentServer, runtime: AgentRuntime, content_type: str | None
) -> None:
    for path in ("/sessions", "/api/sessions"):
        head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}", f"Authorization: Bearer {TOKEN}",
                f"Content-Length: {len(JSON_BODY)}"]
        if content_type is not None:
            head.append(f"Content-Type: {content_type}")
        status, _, payload = await raw_request(server.port, head, JSON_BODY.encode())
        assert status == 415, (content_type, payload)
        assert json.loads(payload) == {"error": "request bodies must be application/json",
                                       "code": "UNSUPPORTED_MEDIA_TYPE"}
    assert await no_sessions(runtime)
    # The same body as JSON (any case, with a charset) is accepted.
    head = ["POST /sessions HTTP/1.1", f"Host: 127.0.0.1:{server.port}", f"Authorization: Bearer {TOKEN}",
            f"Content-Length: {len(JSON_BODY)}", "Content-Type: Application/JSON; charset=utf-8"]
    status, _, _ = await raw_request(server.port, head, JSON_BODY.encode())
    assert status == 201


async def test_a_form_post_to_a_bodyless_route_is_refused(server: AgentServer, runtime: AgentRuntime) -> None:
    session_id = (await runtime.create_session({"architecture": "shell"})).session_id
    head = [f"POST /sessions/{session_id}/interrupt HTTP/1.1", f"Host: 127.0.0.1:{server.port}",
            f"Authorization: Bearer {TOKEN}", "Content-Type: application/x-www-form-urlencoded", "Content-Length: 0"]
    status, _, payload = await raw_request(server.port, head)
    assert status == 415, payload


# --------------------------------------------------------------------------- the pure functions


def test_pure_guards() -> None:
    assert guards.split_host("[::1]:80") == ("::1", 80)
    assert guards.split_host("Example.COM") == ("example.com", None)
    assert guards.host_allowed("10.0.0.5:8787", "0.0.0.0")  # an IP literal cannot be rebound
    assert not guards.host_allowed("10.0.0.5:8787", "127.0.0.1")
    assert not guards.host_allowed("box.lan", "0.0.0.0")
    assert guards.host_allowed("box.lan", "box.lan")
    assert guards.host_allowed("anything", "127.0.0.1", ["*"])
    assert guards.origin_allowed(None, "127.0.0.1:1", "http")
    assert guards.origin_allowed("http://127.0.0.1:80", "127.0.0.1", "http")
    assert not guards.origin_allowed("http://127.0.0.1:80", "127.0.0.1", "https")
    assert guards.origin_allowed("https://app.example", "127.0.0.1:1", "http", ["https://app.example:443"])
    assert guards.origin_allowed("https://x", "h", "http", "*")
    assert guards.content_type_allowed(None, has_body=False)
    assert not guards.content_type_allowed(None, has_body=True)
    assert not guards.content_type_allowed("text/plain", has_body=False)
    assert guards.content_type_allowed("application/octet-stream", has_body=False)
    assert not guards.content_type_allowed("application/octet-stream", has_body=True)


async def test_an_all_interfaces_bind_answers_to_ip_literals_and_its_own_host_name(runtime: AgentRuntime) -> None:
    server = await start_server(runtime, host="0.0.0.0", port=0, token=TOKEN)
    try:
        async with aiohttp.ClientSession(headers=AUTH) as http:
            url = f"http://127.0.0.1:{server.port}/sessions"
            for host, status in ((f"{socket.gethostname()}:{server.port}", 200), ("10.1.2.3", 200),
                                 ("[fe80::1]:1", 200), ("evil.example", 403)):
                async with http.get(url, headers={"Host": host}) as r:
                    assert r.status == status, host
                    if status == 403:
                        body = await r.json()
                        assert body["code"] == "FORBIDDEN_HOST" and "'evil.example'" in body["error"]
    finally:
        await server.stop()
