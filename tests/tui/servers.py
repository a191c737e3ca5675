"""A real ``agent-tui serve`` process for the remote-mode tests (temp HOME, temp database)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import sys
from pathlib import Path

AGENT_TUI = Path(sys.executable).parent / "agent-tui"


def child_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_TUI_", "PYTEST_"))}
    env.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
                "XDG_CACHE_HOME": str(home / "cache"), "XDG_STATE_HOME": str(home / "state")})
    return env


class ServeProcess:
    """``agent-tui serve`` on 127.0.0.1; ``start()`` again after ``stop()`` reuses the port, db and token.

    The token goes in through ``AGENT_TUI_TOKEN`` (never argv, where ``ps`` shows it) unless
    ``extra`` gives one; the server writes its token file under this test's ``XDG_STATE_HOME``, so an
    in-process ``agent-tui --connect`` finds it like a local user's would.
    """

    def __init__(self, tmp: Path, port: int = 0, extra: tuple[str, ...] = (), token: str | None = None) -> None:
        self.tmp = tmp
        self.extra = extra
        self.token = token or secrets.token_urlsafe(24)
        if "--token" in extra:
            self.token = extra[extra.index("--token") + 1]
        self.headers = {"Authorization": f"Bearer {self.token}"}
        self.port = port
        self.url = ""
        self.process: asyncio.subprocess.Process | None = None
        self.output: list[str] = []

    async def start(self) -> str:
        (self.tmp / "home").mkdir(exist_ok=True)
        self.process = await asyncio.create_subprocess_exec(
            str(AGENT_TUI), "serve", "--port", str(self.port), "--db", str(self.tmp / "server.db"),
            "--log-level", "WARNING", *self.extra,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=self.env(),
        )
        assert self.process.stdout is not None
        while True:
            line = (await asyncio.wait_for(self.process.stdout.readline(), 30)).decode()
            if not line:
                raise AssertionError("agent-tui serve exited:\n" + "".join(self.output))
            self.output.append(line)
            match = re.search(r"listening on (http://\S+)", line)
            if match:
                self.url = match.group(1)
                self.port = int(self.url.rsplit(":", 1)[1].strip("/"))
                break
        asyncio.get_running_loop().create_task(self._drain())
        return self.url

    def env(self) -> dict[str, str]:
        env = child_env(self.tmp / "home")
        if "--no-auth" not in self.extra:
            env["AGENT_TUI_TOKEN"] = self.token
        if os.environ.get("XDG_STATE_HOME"):
            env["XDG_STATE_HOME"] = os.environ["XDG_STATE_HOME"]
        return env

    async def _drain(self) -> None:
        process = self.process
        assert process is not None and process.stdout is not None
        while line := await process.stdout.readline():
            self.output.append(line.decode(errors="replace"))

    async def stop(self) -> int:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return process.returncode if process else 0
        process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            return await process.wait()
