"""Auth: Bearer token for HTTP, ``auth: {token}`` for Socket.IO; /health and /openapi.json stay open."""

from __future__ import annotations

import json

import aiohttp
import pytest
import socketio

from runtime import AgentRuntime
from runtime.server import auth
from runtime.server.app import AgentServer, start_server
from tests.server.clients import RawSocketIO
from tests.server.conftest import TOKEN


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer"},
        {"Authorization": f"Bearer {TOKEN}x"},
    ],
)
async def test_http_without_the_right_bearer_token_is_401(
    server: AgentServer, headers: dict[str, str]
) -> None:
    async with aiohttp.ClientSession(base_url=server.url) as http:
        for method, path in (
            ("GET", "/sessions"),
            ("POST", "/api/sessions"),
            ("GET", "/profiles"),
            ("DELETE", "/sessions/x"),
            ("GET", "/nope"),
        ):
            async with http.request(method, path, headers=headers, json={"architecture": "shell"}) as r:
                assert r.status == 401, (method, path)
                assert await r.json() == {"error": "missing or wrong bearer token", "code": "UNAUTHORIZED"}
                assert r.headers["WWW-Authenticate"] == "Bearer"
        # The token in the query string is not accepted.
        async with http.get("/sessions", params={"token": TOKEN, "access_token": TOKEN}) as r:
            assert r.status == 401
        for path in ("/health", "/api/health", "/openapi.json", "/api/openapi.json"):
            async with http.get(path) as r:
                assert r.status == 200, path
        async with http.get("/sessions", headers={"Authorization": f"bearer {TOKEN}"}) as r:
            assert r.status == 200


@pytest.mark.parametrize(
    "auth_payload", [None, {"token": "wrong"}, {"tok": TOKEN}, {"token": 5}, "just-a-string"]
)
async def test_socketio_without_the_right_token_is_refused(
    server: AgentServer, runtime: AgentRuntime, auth_payload: object
) -> None:
    client = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(server.url, auth=auth_payload, wait_timeout=5)  # type: ignore[arg-type]
    assert server.client_count == 0
    # The raw protocol sees a CONNECT_ERROR with a reason, and no events ever.
    raw = await RawSocketIO.open(server.port)
    try:
        await raw.read_text()
        await raw.send_text("40" + ("" if auth_payload is None else json.dumps(auth_payload)))
        reply = await raw.read_text()
        assert reply.startswith("44") and "unauthorized" in reply and TOKEN not in reply
    finally:
        raw.close()
    # A token in the URL is not accepted either.
    client = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(f"{server.url}?token={TOKEN}", wait_timeout=5)
    ok = socketio.AsyncClient(reconnection=False)
    await ok.connect(server.url, auth={"token": TOKEN}, wait_timeout=5)
    assert server.client_count == 1
    await ok.disconnect()


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
async def test_without_a_token_one_is_generated_on_every_bind(runtime: AgentRuntime, host: str) -> None:
    """SPEC §11: loopback too: other local users and web pages reach 127.0.0.1."""
    server = await start_server(runtime, host=host, port=0)
    try:
        assert server.token_generated and server.token and len(server.token) >= 32
        assert server.token_file is None  # the Python API writes no file unless asked
        url = f"http://127.0.0.1:{server.port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/sessions") as r:
                assert r.status == 401
            async with http.get(f"{url}/sessions", headers={"Authorization": f"Bearer {server.token}"}) as r:
                assert r.status == 200
        refused = socketio.AsyncClient(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await refused.connect(url, wait_timeout=5)
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(url, auth={"token": server.token}, wait_timeout=5)
        assert (await client.call("sessions:list", timeout=5))["success"]
        await client.disconnect()
    finally:
        await server.stop()


def test_resolve_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(auth.TOKEN_ENV, "from-env")
    assert auth.resolve_token("0.0.0.0", None) == ("from-env", False)
    assert auth.resolve_token("127.0.0.1", "explicit") == ("explicit", False)
    monkeypatch.delenv(auth.TOKEN_ENV)
    for host in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "::", "", "192.168.1.5", "example.com"):
        token, generated = auth.resolve_token(host, None)
        assert generated and token and len(token) >= 32
    assert auth.resolve_token("::1", "ignored", no_auth=True) == (None, False)
    for host in ("0.0.0.0", "::", "", "192.168.1.5", "example.com"):
        with pytest.raises(auth.NoAuthRefused, match="loopback"):
            auth.resolve_token(host, None, no_auth=True)


async def test_no_auth_on_loopback_means_open_and_is_refused_elsewhere(runtime: AgentRuntime) -> None:
    server = await start_server(runtime, host="127.0.0.1", port=0, no_auth=True)
    try:
        assert server.token is None and not server.token_generated
        async with aiohttp.ClientSession() as http, http.get(f"{server.url}/sessions") as r:
            assert r.status == 200
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(server.url, wait_timeout=5)
        assert (await client.call("sessions:list", timeout=5))["success"]
        await client.disconnect()
    finally:
        await server.stop()
    with pytest.raises(auth.NoAuthRefused):
        await start_server(runtime, host="0.0.0.0", port=0, no_auth=True)


async def test_the_token_is_never_logged(runtime: AgentRuntime, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    server = await start_server(runtime, host="127.0.0.1", port=0, token="sekrit-value-42")
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{server.url}/sessions", headers={"Authorization": "Bearer sekrit-value-wrong"}) as r,
        ):
            assert r.status == 401
        client = socketio.AsyncClient(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(server.url, auth={"token": "sekrit-value-wrong"}, wait_timeout=5)
    finally:
        await server.stop()
    assert "sekrit-value" not in caplog.text


async def test_cors_is_off_by_default_and_opens_to_the_configured_origins(runtime: AgentRuntime) -> None:
    closed = await start_server(runtime, port=0, token=TOKEN)
    opened = await start_server(runtime, port=0, token=TOKEN, cors_origins=["https://app.example"])
    try:
        async with aiohttp.ClientSession() as http:
            headers = {"Origin": "https://app.example", "Authorization": f"Bearer {TOKEN}"}
            async with http.get(f"{closed.url}/sessions", headers=headers) as r:
                assert r.status == 403 and "Access-Control-Allow-Origin" not in r.headers
                assert (await r.json())["code"] == "FORBIDDEN_ORIGIN"
            async with http.get(f"{opened.url}/sessions", headers=headers) as r:
                assert r.status == 200 and r.headers["Access-Control-Allow-Origin"] == "https://app.example"
            async with http.options(
                f"{opened.url}/api/sessions",
                headers={
                    "Origin": "https://app.example",
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization, content-type",
                },
            ) as r:
                assert r.status == 204 and "Authorization" in r.headers["Access-Control-Allow-Headers"]
            async with http.get(f"{opened.url}/sessions", headers={"Origin": "https://app.example"}) as r:
                assert r.status == 401 and r.headers["Access-Control-Allow-Origin"] == "https://app.example"
            async with http.get(
                f"{opened.url}/sessions", headers={**headers, "Origin": "https://evil.example"}
            ) as r:
                assert r.status == 403 and "Access-Control-Allow-Origin" not in r.headers
            # Socket.IO: a browser on another origin is refused unless configured.
            for server, ok in ((closed, False), (opened, True)):
                async with http.get(
                    f"{server.url}/socket.io/?EIO=4&transport=polling",
                    headers={"Origin": "https://app.example"},
                ) as r:
                    assert (r.status == 200) is ok
    finally:
        await closed.stop()
        await opened.stop()
