"""A real ``agent-tui web`` process and headless Chromium pages on it (shared by tests and bench).

Reading the screen: textual-serve draws with xterm.js on a canvas, so the terminal's DOM rows are
empty and its accessibility tree is off. ``HOOK`` (a Playwright init script, test-only) catches
textual.js's terminal object as it is built, and ``SCREEN_JS`` reads the rows of the buffer that
the page is displaying.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

AGENT_TUI = Path(sys.executable).parent / "agent-tui"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
TOKEN = "web-test-token-\u00e9-42"

# textual.js's terminal wrapper sets ``websocket_url`` first thing in its constructor: a setter on
# Object.prototype sees that ``this`` and keeps it (the property then becomes a plain own one).
HOOK = """
window.__textualTabs = [];
Object.defineProperty(Object.prototype, 'websocket_url', {
  configurable: true,
  set(v) {
    Object.defineProperty(this, 'websocket_url', {value: v, writable: true, configurable: true, enumerable: true});
    window.__textualTabs.push(this);
  },
});
"""

SCREEN_JS = """() => {
  const tab = window.__textualTabs && window.__textualTabs[0];
  const t = tab && tab.terminal;
  if (!t) return '';
  const b = t.buffer.active, out = [];
  for (let i = 0; i < t.rows; i++) { const l = b.getLine(b.viewportY + i); out.push(l ? l.translateToString(true) : ''); }
  return out.join('\\n');
}"""


def child_env(home: Path, token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_TUI_", "PYTEST_"))}
    env.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
                "XDG_CACHE_HOME": str(home / "cache"), "XDG_STATE_HOME": str(home / "state")})
    if token is not None:
        env["AGENT_TUI_TOKEN"] = token
    return env


class WebProcess:
    """``agent-tui web --port 0`` with the embedded runtime (temp HOME, temp db)."""

    def __init__(self, tmp: Path, token: str | None = TOKEN, extra: tuple[str, ...] = (),
                 connect: str | None = None) -> None:
        self.tmp = tmp
        self.connect = connect
        self.token = token
        self.extra = extra
        self.url = ""  # the page, ends with "/"
        self.server_url = ""  # the embedded runtime's HTTP + Socket.IO server
        self.open_url = ""  # printed only when the token was generated
        self.output: list[str] = []
        self.process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 60) -> WebProcess:
        home = self.tmp / "home"
        home.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [str(AGENT_TUI), "web", "--port", "0",
             *(["--connect", self.connect] if self.connect else ["--db", str(self.tmp / "web.db")]), *self.extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=child_env(home, self.token),
            cwd=self.tmp, start_new_session=True,
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while not (self.url and self.server_url) and time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise AssertionError("agent-tui web exited:\n" + "".join(self.output))
            self.output.append(line)
            if match := re.search(r"agent-tui web on (http://\S+)", line):
                self.url = match.group(1)
            elif match := re.search(r"tabs attach to (http://\S+)", line):
                self.server_url = match.group(1)
        if not (self.url and self.server_url):
            raise AssertionError("agent-tui web did not start:\n" + "".join(self.output))
        if self.token is None:
            line = self.process.stdout.readline()
            self.output.append(line)
            match = re.search(r"open (http://\S+)", line)
            assert match, line
            self.open_url = match.group(1)
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self) -> None:
        process = self.process
        assert process is not None and process.stdout is not None
        for line in process.stdout:
            self.output.append(line)

    def app_processes(self) -> list[int]:
        """The tabs' app processes (children of ``agent-tui web``)."""
        if self.process is None:
            return []
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == self.process.pid and fields[0] != "Z":
                children.append(int(stat.parent.name))
        return children

    def stop(self) -> int:
        process, self.process = self.process, None
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                return process.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                return process.wait()
        return process.returncode


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def open_app(context: Any, url: str) -> Any:
    """A new page on the app, its screen hook installed before any script runs."""
    page = context.new_page()
    page.add_init_script(HOOK)
    page.goto(url)
    return page


def focus(page: Any) -> None:
    """Give the terminal the keyboard (what clicking into it does, without sending the app a click)."""
    page.bring_to_front()
    page.focus(".xterm-helper-textarea")


def screen(page: Any) -> str:
    return str(page.evaluate(SCREEN_JS))


def wait_for_text(page: Any, text: str, timeout_s: float = 30) -> str:
    """Wait until ``text`` is on the page's terminal; returns the screen. Fails with the screen shown."""
    try:
        page.wait_for_function(f"(t) => ({SCREEN_JS})().includes(t)", arg=text, timeout=timeout_s * 1000)
    except Exception as exc:
        raise AssertionError(f"{text!r} never appeared; screen:\n{screen(page)}") from exc
    return screen(page)
