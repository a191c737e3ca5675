"""A real browser attacks a running ``agent-tui serve``: headless Chromium loads a page from another
origin on this machine (or, by DNS rebinding, the server's own) that tries every way a web page has
to make the server run a command. Nothing may be created or run, and the user's own client, in the
same test, still works.

Each attack is run against a server with a token (the attacker does not know it) and, the harder
case, one started with ``--no-auth``: there only the Host, Origin and content-type guards stand in
the way, so these runs fail if any guard breaks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.browser import WITHOUT_LOCAL_NETWORK_CHECKS, chromium, host_resolver_rules, needs_chromium
from tests.helpers import ROOT
from tests.tui.servers import ServeProcess

pytestmark = needs_chromium

SOCKETIO_JS = ROOT / "tests" / "node" / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
PAGE = "<!doctype html><html><head><script src='/socket.io.min.js'></script></head><body>attacker</body></html>"

#: Every attack a cross-origin page can make. ``target`` is the server; the session id is assumed known
#: (the worst case). Returns what the page could observe of each attempt.
CROSS_ORIGIN_ATTACKS = r"""
async ({target, sessionId, command}) => {
  const results = {};
  const message = JSON.stringify({content: command});
  const settle = (promise, ms) => Promise.race([promise, new Promise(r => setTimeout(() => r("timeout"), ms))]);

  // 1. "Simple" requests: no preflight, the response is opaque, but the request is sent.
  for (const [name, path, body] of [["textPlainCreate", "/sessions", '{"architecture":"shell"}'],
                                    ["textPlainMessage", `/sessions/${sessionId}/messages`, message]]) {
    try {
      await fetch(target + path, {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body});
      results[name] = "sent";
    } catch (e) { results[name] = "error: " + e.name; }
  }

  // 2. A JSON fetch: preflighted; a guessed token rides along.
  try {
    const r = await fetch(`${target}/sessions/${sessionId}/messages`, {method: "POST", body: message,
      headers: {"Content-Type": "application/json", "Authorization": "Bearer guessed"}});
    results.jsonFetch = "status " + r.status;
  } catch (e) { results.jsonFetch = "blocked: " + e.name; }

  // 3. Form POSTs into a hidden frame: text/plain carrying JSON, and urlencoded.
  for (const [name, enctype, path, field, value] of [
      ["formTextPlain", "text/plain", `/sessions/${sessionId}/messages`, `{"content":"${command}","x":"`, '"}'],
      ["formUrlencoded", "application/x-www-form-urlencoded", "/sessions", "architecture", "shell"]]) {
    results[name] = await settle(new Promise(resolve => {
      const frame = document.createElement("iframe");
      frame.name = name;
      frame.onload = () => resolve("submitted");
      document.body.appendChild(frame);
      const form = document.createElement("form");
      Object.assign(form, {method: "POST", enctype, target: name, action: target + path});
      const input = document.createElement("input");
      Object.assign(input, {type: "hidden", name: field, value});
      form.appendChild(input);
      document.body.appendChild(form);
      form.submit();
    }), 10000);
  }

  // 4. A raw WebSocket speaking Engine.IO/Socket.IO by hand.
  results.websocket = await settle(new Promise(resolve => {
    const ws = new WebSocket(target.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket");
    let state = "connecting";
    ws.onopen = () => { state = "opened"; ws.send('40{"token":"guessed"}'); };
    ws.onmessage = (e) => {
      if (String(e.data).startsWith("40")) {
        state = "socket.io connected";
        ws.send('420["session:message",' + JSON.stringify({sessionId, content: command}) + ']');
      } else if (String(e.data).startsWith("430")) { state = "message acked " + e.data; ws.close(); }
    };
    ws.onerror = () => resolve(state + ", error");
    ws.onclose = (e) => resolve(state + ", closed " + e.code);
  }), 10000);

  // 5. The Socket.IO client library, polling first then upgrading (its default).
  results.socketio = await settle(new Promise(resolve => {
    const socket = io(target, {auth: {token: "guessed"}, reconnection: false, timeout: 8000});
    socket.on("connect", () => socket.emit("session:message", {sessionId, content: command},
                                           (ack) => resolve("connected, ack " + JSON.stringify(ack))));
    socket.on("connect_error", (e) => { resolve("connect_error: " + e.message); socket.close(); });
  }), 10000);
  return results;
}
"""

#: The rebound page is same-origin with the server (from the browser's view): it can read every response.
REBOUND_ATTACKS = r"""
async ({sessionId, command}) => {
  const results = {};
  const read = async (r) => r.status + " " + (await r.text());
  results.create = await read(await fetch("/sessions", {method: "POST",
    headers: {"Content-Type": "application/json"}, body: '{"architecture":"shell"}'}));
  results.message = await read(await fetch(`/sessions/${sessionId}/messages`, {method: "POST",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify({content: command})}));
  results.list = await read(await fetch("/sessions"));
  results.health = await read(await fetch("/health"));
  results.socketio = await Promise.race([new Promise(resolve => {
    const socket = io({reconnection: false, timeout: 8000});
    socket.on("connect", () => socket.emit("session:message", {sessionId, content: command},
                                           (ack) => resolve("connected, ack " + JSON.stringify(ack))));
    socket.on("connect_error", (e) => { resolve("connect_error: " + e.message); socket.close(); });
  }), new Promise(r => setTimeout(() => r("timeout"), 10000))]);
  return results;
}
"""


class Victim:
    """A running ``agent-tui serve`` with one session, and the user's own (legitimate) client."""

    def __init__(self, server: ServeProcess, http: aiohttp.ClientSession, session_id: str, tmp: Path) -> None:
        self.server = server
        self.http = http
        self.session_id = session_id
        self.attack_marker = tmp / "attacked"
        self.legit_marker = tmp / "legit"

    @property
    def port(self) -> int:
        return self.server.port

    async def sessions(self) -> list[str]:
        async with self.http.get("/sessions") as r:
            assert r.status == 200
            return [s["sessionId"] for s in (await r.json())["sessions"]]

    async def user_messages(self) -> list[str]:
        async with self.http.get(f"/sessions/{self.session_id}") as r:
            blocks = (await r.json())["blocks"]
        return [b.get("content", "") for b in blocks if b["type"] == "user_message"]

    async def assert_untouched_and_still_usable(self) -> None:
        """Nothing the attacker sent exists; then the user's client runs a command, which also proves
        that a command accepted earlier would have run by now (one session runs messages in order)."""
        assert await self.sessions() == [self.session_id]
        assert await self.user_messages() == []
        async with self.http.post(f"/sessions/{self.session_id}/messages",
                                  json={"content": f"touch {self.legit_marker}"}) as r:
            assert r.status == 202, await r.text()
        deadline = time.monotonic() + 30
        while not self.legit_marker.exists():
            assert time.monotonic() < deadline, "the legitimate command never ran"
            await asyncio.sleep(0.05)
        assert await self.user_messages() == [f"touch {self.legit_marker}"]
        assert not self.attack_marker.exists()
        assert await self.sessions() == [self.session_id]


@pytest.fixture(params=["token", "no-auth"])
async def victim(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Victim]:
    extra = ("--no-auth",) if request.param == "no-auth" else ()
    server = ServeProcess(tmp_path, extra=extra)
    url = await server.start()
    headers = server.headers if request.param == "token" else {}
    try:
        async with aiohttp.ClientSession(url, headers=headers) as http:
            async with http.post("/sessions", json={"architecture": "shell", "name": "victim"}) as r:
                assert r.status == 201
                session_id = (await r.json())["sessionId"]
            yield Victim(server, http, session_id, tmp_path)
    finally:
        assert await server.stop() == 0


@pytest.fixture
async def attacker_origin() -> AsyncIterator[str]:
    """The attacker's web server: another origin on this machine (another loopback port)."""
    app = web.Application()

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def script(_: web.Request) -> web.FileResponse:
        return web.FileResponse(SOCKETIO_JS)

    app.router.add_get("/", page)
    app.router.add_get("/socket.io.min.js", script)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_a_cross_origin_page_cannot_create_or_run_anything(victim: Victim, attacker_origin: str) -> None:
    async with chromium([WITHOUT_LOCAL_NETWORK_CHECKS]) as browser:
        page = await browser.new_page()
        await page.goto(attacker_origin + "/")
        results: dict[str, Any] = await page.evaluate(CROSS_ORIGIN_ATTACKS, {
            "target": f"http://127.0.0.1:{victim.port}", "sessionId": victim.session_id,
            "command": f"touch {victim.attack_marker}"})
    assert results["textPlainCreate"] == results["textPlainMessage"] == "sent"  # sent: the server refused them
    assert results["jsonFetch"].startswith("blocked"), results
    assert results["formTextPlain"] == results["formUrlencoded"] == "submitted", results
    assert "opened" not in results["websocket"] and "connected" not in results["websocket"], results
    assert results["socketio"].startswith("connect_error"), results
    await victim.assert_untouched_and_still_usable()


async def test_a_dns_rebound_page_is_refused_by_the_host_check(victim: Victim) -> None:
    """``evil.example`` resolves to 127.0.0.1: the page is same-origin with the server, so CORS and the
    Origin check cannot tell it apart; the Host header (``evil.example:P``) can."""
    origin = f"http://evil.example:{victim.port}"
    # As Firefox or Safari would: Chromium alone refuses a public page's requests to loopback.
    async with chromium([host_resolver_rules("evil.example"), WITHOUT_LOCAL_NETWORK_CHECKS]) as browser:
        page = await browser.new_page()
        # The attacker's page as first served by evil.example's real address (before the DNS switch);
        # every later request from it goes to 127.0.0.1 through the resolver rule.
        await page.route(f"{origin}/attack.html", lambda route: route.fulfill(body=PAGE, content_type="text/html"))
        await page.route(f"{origin}/socket.io.min.js", lambda route: route.fulfill(path=SOCKETIO_JS))
        await page.goto(f"{origin}/attack.html")
        results: dict[str, Any] = await page.evaluate(REBOUND_ATTACKS, {
            "sessionId": victim.session_id, "command": f"touch {victim.attack_marker}"})
    for name in ("create", "message", "list", "health"):
        # A JSON answer from our server: the request got there, and the Host check refused it.
        assert results[name].startswith("403 ") and '"FORBIDDEN_HOST"' in results[name], (name, results)
    assert results["socketio"].startswith("connect_error"), results
    await victim.assert_untouched_and_still_usable()
