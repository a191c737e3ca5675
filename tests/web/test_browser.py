"""``agent-tui web`` in headless Chromium: the real app per tab, attached to the same sessions."""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import socketio
from playwright.sync_api import sync_playwright

from tests.web.browser import AGENT_TUI, TOKEN, WebProcess, child_env, focus, launch, open_app, wait_for_text

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def web(tmp_path: Path) -> Iterator[WebProcess]:
    proc = WebProcess(tmp_path).start()
    try:
        yield proc
    finally:
        assert proc.stop() == 0, "".join(proc.output)[-3000:]


class Watcher:
    """A python-socketio client on the embedded server: records every session's events."""

    def __init__(self, url: str, token: str) -> None:
        self.client = socketio.Client(reconnection=False)
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.created: list[dict[str, Any]] = []
        self.changed = threading.Condition()
        self.client.on("sessions:changed", self._on_changed)
        self.client.on("stream:event", self._on_event)
        self.client.connect(url, auth={"token": token}, wait_timeout=10)

    def _on_changed(self, data: dict[str, Any]) -> None:
        with self.changed:
            if data.get("action") == "created":
                self.created.append(data["session"])
                self.client.start_background_task(self._join, data["session"]["sessionId"])
            self.changed.notify_all()

    def _join(self, session_id: str) -> None:
        ack = self.client.call("session:join", {"sessionId": session_id}, timeout=10)
        assert ack["success"], ack

    def _on_event(self, data: dict[str, Any]) -> None:
        with self.changed:
            self.events.setdefault(data["sessionId"], []).append(data["event"])
            self.changed.notify_all()

    def wait(self, predicate: Any, timeout: float = 30) -> None:
        with self.changed:
            assert self.changed.wait_for(predicate, timeout), (self.created, self.events)


def tool_output(events: list[dict[str, Any]]) -> str:
    out = []
    for event in events:
        payload = event["payload"]
        if event["type"] == "block:upsert" and payload["block"].get("type") == "tool_result":
            out.append(str(payload["block"].get("output", "")))
        elif event["type"] == "block:delta":
            out.append(str(payload.get("delta", "")))
    return "".join(out)


def create_shell_session(page: Any, watcher: Watcher) -> str:
    """ctrl+n, enter on the first available architecture (shell here): created with the defaults, all
    by keys. Returns the new session's name, as the Socket.IO watcher saw it created."""
    before = len(watcher.created)
    focus(page)
    page.keyboard.press("Control+n")
    wait_for_text(page, "New session")
    wait_for_text(page, "Shell")
    page.keyboard.press("Enter")  # enter on the architecture creates the session
    wait_for_text(page, "shell · local")
    watcher.wait(lambda: len(watcher.created) > before)
    return str(watcher.created[-1]["name"])


def test_browser_tabs_drive_the_same_sessions_as_a_socketio_client(web: WebProcess) -> None:
    watcher = Watcher(web.server_url, TOKEN)
    try:
        with sync_playwright() as p:
            browser = launch(p)
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            tab1 = open_app(context, web.url + f"?token={TOKEN}")
            assert "token" not in tab1.url  # redirected: the token is not left in the address bar
            wait_for_text(tab1, "SESSIONS")
            wait_for_text(tab1, "0 sessions")
            tab2 = open_app(context, web.url)  # the cookie from tab 1 lets it in
            wait_for_text(tab2, "0 sessions")

            name = create_shell_session(tab1, watcher)
            # The other tab's own app process sees the session appear, live.
            wait_for_text(tab2, name)
            session_id = next(s["sessionId"] for s in watcher.created if s["name"] == name)

            # The quotes keep "hello" out of the echoed command: only the output can show it whole.
            tab1.keyboard.type("echo hel''lo")
            tab1.keyboard.press("Enter")
            wait_for_text(tab1, "hello")
            watcher.wait(lambda: "hello" in tool_output(watcher.events.get(session_id, [])))
            types = [e["type"] for e in watcher.events[session_id]]
            assert "query:started" in types
            watcher.wait(lambda: "query:completed" in [e["type"] for e in watcher.events[session_id]])
            # screenshots/web.png is regenerated from here on request only: a test run leaves the
            # checkout as it found it.
            if os.environ.get("AGENT_TUI_WRITE_SCREENSHOTS") == "1":
                tab1.screenshot(path=str(ROOT / "screenshots" / "web.png"))

            # And the other way round: a session made in tab 2 shows up in tab 1.
            other = create_shell_session(tab2, watcher)
            tab1.bring_to_front()
            wait_for_text(tab1, other)
            wait_for_text(tab1, "2 sessions")
            assert len(web.app_processes()) == 2  # one app process per tab
            browser.close()
        # Closing the tabs quits their app processes.
        deadline = time.monotonic() + 30
        while web.app_processes() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert web.app_processes() == []
    finally:
        watcher.client.disconnect()


def argv_of_all_processes() -> list[str]:
    out = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            out.append(cmdline.read_bytes().decode(errors="replace"))
        except OSError:
            pass
    return out


def test_without_the_token_the_page_shows_nothing_of_the_sessions(tmp_path: Path) -> None:
    # No --token and no AGENT_TUI_TOKEN: one is generated, printed once as a link, and reaches the
    # tabs' app processes through their environment only.
    web = WebProcess(tmp_path, token=None).start()
    token = parse_qs(urlsplit(web.open_url).query)["token"][0]
    assert len(token) >= 32
    watcher = Watcher(web.server_url, token)
    try:
        # A session exists, so there is something to leak.
        ack = watcher.client.call("session:create", {"architecture": "shell", "name": "secret-session"}, timeout=10)
        assert ack["success"], ack
        with sync_playwright() as p:
            browser = launch(p)
            context = browser.new_context()
            page = open_app(context, web.url)
            assert "Token" in page.inner_text("body")
            assert page.evaluate("window.__textualTabs.length") == 0  # no terminal was even built
            html = page.content()
            assert "secret-session" not in html and "textual.js" not in html
            # The app websocket and the statics are refused outright from this page too.
            refused = page.evaluate("""() => new Promise((resolve) => {
                const ws = new WebSocket(location.origin.replace('http', 'ws') + '/ws');
                ws.onopen = () => resolve('open'); ws.onerror = () => resolve('refused'); })""")
            assert refused == "refused"
            status = page.evaluate("() => fetch('/static/js/textual.js').then(r => r.status)")
            assert status == 401
            # A wrong token is rejected; the right one typed into the form opens the app.
            page.fill("#token", "not-the-token")
            page.press("#token", "Enter")
            page.wait_for_load_state()
            assert "not right" in page.inner_text("body")
            page.fill("#token", token)
            page.press("#token", "Enter")
            wait_for_text(page, "secret-session")  # the tab's app process attached with the token
            cookies = context.cookies()
            assert len(cookies) == 1
            assert cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Strict"
            assert token not in cookies[0]["value"]
            assert not [argv for argv in argv_of_all_processes() if token in argv]
            browser.close()
        # Without a cookie, plain HTTP gets nothing either.
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(web.url + "ws", timeout=10)
        assert info.value.code == 401
    finally:
        watcher.client.disconnect()
        assert web.stop() == 0, "".join(web.output)[-3000:]
    assert token not in "".join(web.output[1:]).replace(web.open_url, "")  # printed once, in the link


def test_connect_mode_attaches_tabs_to_a_team_server(tmp_path: Path) -> None:
    (tmp_path / "serve-home").mkdir()
    serve = subprocess.Popen([str(AGENT_TUI), "serve", "--port", "0", "--db", str(tmp_path / "team.db"),
                              "--log-level", "WARNING"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=child_env(tmp_path / "serve-home", TOKEN))
    try:
        assert serve.stdout is not None
        url = ""
        while not url:
            line = serve.stdout.readline()
            assert line, "agent-tui serve exited"
            if match := re.search(r"listening on (http://\S+)", line):
                url = match.group(1)
        client = socketio.Client(reconnection=False)
        client.connect(url, auth={"token": TOKEN}, wait_timeout=10)
        ack = client.call("session:create", {"architecture": "shell", "name": "team-session"}, timeout=10)
        client.disconnect()
        assert ack["success"], ack
        web = WebProcess(tmp_path / "web", connect=url).start()
        try:
            assert web.server_url == url
            with sync_playwright() as p:
                browser = launch(p)
                page = open_app(browser.new_context(), web.url + f"?token={TOKEN}")
                wait_for_text(page, "team-session")
                assert url in wait_for_text(page, "remote")
                tabs = web.app_processes()
                assert len(tabs) == 1
                # Stopping agent-tui web with a tab open ends the tab's app process and tells the page.
                assert web.stop() == 0, "".join(web.output)[-3000:]
                assert not [pid for pid in tabs if Path(f"/proc/{pid}").exists()
                            and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
                page.wait_for_function("() => document.body.classList.contains('-closed')", timeout=10_000)
                assert "Session ended" in page.inner_text("body")
                browser.close()
        finally:
            assert web.stop() == 0, "".join(web.output)[-3000:]
    finally:
        serve.terminate()
        serve.wait(30)
