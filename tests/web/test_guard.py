"""The web front's gate over real HTTP: token → cookie, Host and Origin checks, the websocket refused
without the cookie. The server runs in-process; a tab's app process is a real ``agent-tui --connect``."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest

from agent_tui import web_guard
from agent_tui.web import WebConfig, WebServer

TOKEN = "guard-token-\u00e9"


@pytest.fixture
async def front() -> AsyncIterator[WebServer]:
    # Nothing listens on port 9: a tab's app starts and shows its connection error, which is all the
    # websocket tests need.
    config = WebConfig(token=TOKEN, host="127.0.0.1", port=0,
                       app_argv=[sys.executable, "-m", "agent_tui", "--connect", "http://127.0.0.1:9"])
    server = WebServer(config)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def cookie(front: WebServer) -> dict[str, str]:
    return {"Cookie": f"{front.cookie_name}={web_guard.cookie_value(TOKEN)}"}


async def test_nothing_is_reachable_without_the_token(front: WebServer, http: aiohttp.ClientSession) -> None:
    async with http.get(front.url) as response:
        assert response.status == 401
        page = await response.text()
    assert 'name="token"' in page and "textual.js" not in page and "/ws" not in page
    for path in ("ws", "static/js/textual.js", "static/css/xterm.css", "download/abc"):
        async with http.get(front.url + path) as response:
            assert response.status == 401, path
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await http.ws_connect(front.url + "ws")
    assert info.value.status == 401
    # A cookie that is not the one this token makes, or the raw token as a cookie, is no good either.
    for value in ("x", TOKEN, web_guard.cookie_value(TOKEN + "x")):
        async with http.get(front.url, headers={"Cookie": f"{front.cookie_name}={value}"}) as response:
            assert response.status == 401
    assert front.tabs == set()


async def test_token_in_the_url_becomes_a_strict_httponly_cookie(front: WebServer,
                                                                  http: aiohttp.ClientSession) -> None:
    async with http.get(front.url, params={"token": "wrong"}, allow_redirects=False) as response:
        assert response.status == 401
        assert "Set-Cookie" not in response.headers
    async with http.get(front.url, params={"token": TOKEN, "fontsize": "20"}, allow_redirects=False) as response:
        assert response.status == 303
        assert response.headers["Location"] == "/?fontsize=20"  # the token is dropped from the URL
        set_cookie = response.headers["Set-Cookie"]
    assert set_cookie.startswith(f"{front.cookie_name}={web_guard.cookie_value(TOKEN)};")
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie and "Path=/" in set_cookie
    assert "token" not in set_cookie.split(";", 1)[0].lower()
    async with http.get(front.url + "?fontsize=20", headers=cookie(front)) as response:
        assert response.status == 200
        page = await response.text()
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert f'data-session-websocket-url="ws://127.0.0.1:{front.port}/ws"' in page
    assert 'data-font-size="20"' in page
    assert "googleapis" not in page  # no third-party request from the page


async def test_login_form(front: WebServer, http: aiohttp.ClientSession) -> None:
    origin = {"Origin": f"http://127.0.0.1:{front.port}"}
    async with http.post(front.url + "login", data={"token": "nope"}, headers=origin,
                         allow_redirects=False) as response:
        assert response.status == 401
        assert "not right" in await response.text()
    async with http.post(front.url + "login", data={"token": TOKEN}, headers=origin,
                         allow_redirects=False) as response:
        assert response.status == 303 and response.headers["Location"] == "/"
        assert web_guard.cookie_value(TOKEN) in response.headers["Set-Cookie"]
    # Another site's page posting the form (login CSRF) is refused.
    async with http.post(front.url + "login", data={"token": TOKEN}, headers={"Origin": "http://evil.example"},
                         allow_redirects=False) as response:
        assert response.status == 403


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1.nip.io", ""])
async def test_foreign_host_is_refused_even_with_the_cookie(front: WebServer, http: aiohttp.ClientSession,
                                                            host: str) -> None:
    async with http.get(front.url, headers={**cookie(front), "Host": host}) as response:
        assert response.status == 403
    async with http.get(front.url, params={"token": TOKEN}, headers={"Host": host},
                        allow_redirects=False) as response:
        assert response.status == 403


async def test_websocket_needs_the_cookie_and_the_own_origin(front: WebServer, http: aiohttp.ClientSession) -> None:
    for origin in ("http://evil.example", f"http://localhost.evil.example:{front.port}", "null",
                   f"https://127.0.0.1:{front.port}", f"http://127.0.0.1:{front.port + 1}"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(front.url + "ws", headers={**cookie(front), "Origin": origin})
        assert info.value.status == 403, origin
    assert front.tabs == set()
    ws = await http.ws_connect(front.url + "ws?width=100&height=30",
                               headers={**cookie(front), "Origin": f"http://127.0.0.1:{front.port}"})
    try:
        # The tab's app process draws its first frame (it cannot reach port 9, and says so on screen).
        message = await ws.receive(timeout=60)
        assert message.type == aiohttp.WSMsgType.BINARY and message.data
        await ws.send_str("not json")  # ignored, not fatal
        await ws.send_str('["ping", "1"]')
        while True:
            message = await ws.receive(timeout=30)
            if message.type == aiohttp.WSMsgType.TEXT:
                assert message.json() == ["pong", "1"]
                break
            assert message.type == aiohttp.WSMsgType.BINARY
    finally:
        await ws.close()


def test_host_and_origin_rules() -> None:
    assert web_guard.split_host("[::1]:8788") == ("::1", 8788)
    assert web_guard.split_host("LocalHost:80") == ("localhost", 80)
    assert web_guard.split_host("::1") == ("::1", None)
    allowed = web_guard.host_allowed
    assert allowed("127.0.0.1:1", "127.0.0.1") and allowed("[::1]:1", "127.0.0.1") and allowed("localhost", "::1")
    assert allowed("127.5.0.1:1", "127.0.0.1")
    assert not allowed("evil.example", "127.0.0.1") and not allowed(None, "127.0.0.1")
    assert allowed("10.1.2.3:8788", "10.1.2.3") and not allowed("10.1.2.4:8788", "10.1.2.3")
    assert not allowed("evil.example", "0.0.0.0")  # the any-address names nothing
    assert allowed("team.example:443", "0.0.0.0", ["team.example"])
    origin = web_guard.origin_allowed
    assert origin(None, "127.0.0.1:5")
    assert origin("http://127.0.0.1:5", "127.0.0.1:5")
    assert not origin("http://127.0.0.1:6", "127.0.0.1:5")
    assert not origin("http://localhost:5", "127.0.0.1:5")  # another origin, even if the same machine
    assert not origin("null", "127.0.0.1:5") and not origin("https://127.0.0.1:5", "127.0.0.1:5")
    assert origin("https://proxy.example", "127.0.0.1:5", allowed_origins=["https://proxy.example/"])
    assert web_guard.cookie_matches(TOKEN, web_guard.cookie_value(TOKEN))
    assert not web_guard.cookie_matches(TOKEN, None) and not web_guard.token_matches(TOKEN, "")
