"""The reliability harness: ``agent-tui serve`` as a real subprocess, real Socket.IO and HTTP
clients that record what they received, and read-only looks at the SQLite file and at /proc.

Nothing here fakes a component: the server is ``python -m runtime.server`` (the same code as
``agent-tui serve``), the database is a real file, and the clients are python-socketio and aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import socketio

from tests.helpers import ROOT

TOKEN = "reliability-token"
QUERY_ENDS = frozenset({"query:completed", "query:failed", "query:interrupted"})


class ServeFailed(RuntimeError):
    """``agent-tui serve`` exited (or never said it was listening) when it should be serving."""


async def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.02
) -> None:
    """Wait for a condition nothing notifies us of (a process leaving /proc, a file appearing),
    with a deadline. Raises ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)


# --------------------------------------------------------------------------- the server process


@dataclass
class ServeProcess:
    """``python -m runtime.server`` on a given database; restartable on the same files."""

    db: Path
    data_dir: Path
    home: Path
    token: str | None = TOKEN
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    #: The module run with ``python -m`` (the load test runs a probe wrapper around the same serve).
    module: str = "runtime.server"
    #: Run in the child before exec (e.g. to lower RLIMIT_NOFILE).
    preexec: Callable[[], None] | None = None
    #: stderr of every run, appended (the server's log; read it for error messages).
    log_path: Path | None = None
    process: asyncio.subprocess.Process | None = None
    url: str = ""
    starts: int = 0

    def __post_init__(self) -> None:
        if self.log_path is None:
            self.log_path = self.db.parent / f"{self.db.name}.serve.log"

    def argv(self) -> list[str]:
        argv = [
            sys.executable,
            "-m",
            self.module,
            "--port",
            "0",
            "--db",
            str(self.db),
            "--data-dir",
            str(self.data_dir),
            *self.args,
        ]
        if self.token is not None:
            argv += ["--token", self.token]
        return argv

    def environ(self) -> dict[str, str]:
        self.home.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ("AGENT_TUI_DB", "AGENT_TUI_TOKEN")}
        env.update({"HOME": str(self.home), "PYTHONPATH": str(ROOT), **self.env})
        for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
            env[name] = str(self.home / name.lower())
        return env

    async def spawn(self) -> asyncio.subprocess.Process:
        assert self.log_path is not None
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start {self.starts + 1}\n".encode())
            log.flush()
            self.process = await asyncio.create_subprocess_exec(
                *self.argv(),
                cwd=ROOT,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env=self.environ(),
                preexec_fn=self.preexec,
            )
        self.starts += 1
        return self.process

    async def start(self, timeout: float = 60.0) -> str:
        """Spawn and wait for ``listening on <url>``; raises ``ServeFailed`` if it exits first."""
        process = await self.spawn()
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), timeout)
        except TimeoutError:
            self.kill_now()
            raise ServeFailed(f"serve did not listen within {timeout:g} s\n{self.log_tail()}") from None
        text = line.decode(errors="replace").strip()
        if not text.startswith("agent-tui server listening on "):
            await process.wait()
            raise ServeFailed(f"serve exited with {process.returncode}: {text!r}\n{self.log_tail()}")
        self.url = text.rsplit(" ", 1)[1]
        return self.url

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def kill_now(self) -> None:
        """SIGKILL, no questions asked (the crash under test)."""
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGKILL)

    async def kill(self) -> None:
        self.kill_now()
        if self.process is not None:
            await asyncio.wait_for(self.process.wait(), 30)

    async def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM (the clean shutdown) and wait; returns the exit code."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            await self.kill()
            raise

    async def run_to_exit(self, timeout: float = 60.0) -> tuple[int, str, str]:
        """Spawn and wait for the process to exit by itself: (code, stdout, this run's stderr)."""
        assert self.log_path is not None
        before = self.log_path.stat().st_size if self.log_path.exists() else 0
        process = await self.spawn()
        try:
            out, _ = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            await self.kill()
            raise
        err = self.log_path.read_bytes()[before:].decode(errors="replace")
        return process.returncode or 0, out.decode(errors="replace"), err

    def log_text(self) -> str:
        assert self.log_path is not None
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_text()[-chars:]

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def fd_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------- HTTP


class Http:
    """An aiohttp session on the server, with the bearer token."""

    def __init__(self, url: str, token: str | None = TOKEN) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.session = aiohttp.ClientSession(base_url=url, headers=headers)

    async def __aenter__(self) -> Http:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.session.close()

    async def call(self, method: str, path: str, body: Any = None, timeout: float = 30) -> tuple[int, Any]:
        async with self.session.request(
            method, path, json=body, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            raw = await response.read()
            try:
                return response.status, json.loads(raw) if raw else None
            except ValueError:
                return response.status, raw

    async def create(self, architecture: str, **extra: Any) -> str:
        status, body = await self.call("POST", "/sessions", {"architecture": architecture, **extra})
        assert status == 201, (status, body)
        return str(body["sessionId"])

    async def send(self, session_id: str, content: str) -> tuple[int, Any]:
        return await self.call("POST", f"/sessions/{session_id}/messages", {"content": content})

    async def events(self, session_id: str, after: int = 0) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            status, body = await self.call("GET", f"/sessions/{session_id}/events?after={after}")
            assert status == 200, (status, body)
            out.extend(body["events"])
            if not body.get("hasMore"):
                return out
            after = body["events"][-1]["seq"]

    async def summary(self, session_id: str) -> dict[str, Any]:
        status, body = await self.call("GET", f"/sessions/{session_id}")
        assert status == 200, (status, body)
        return dict(body)

    async def wait_for_event(
        self,
        session_id: str,
        predicate: Callable[[dict[str, Any]], bool],
        *,
        after: int = 0,
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        """The first stored event after ``after`` matching ``predicate`` (polls the events route:
        the store is what we want to see, not a live stream)."""
        deadline = time.monotonic() + timeout
        while True:
            for event in await self.events(session_id, after):
                if predicate(event):
                    return event
                after = event["seq"]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no matching event in session {session_id} within {timeout:g} s")
            await asyncio.sleep(0.1)


def ends_query(message_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["type"] in QUERY_ENDS and e["payload"].get("messageId") == message_id


# --------------------------------------------------------------------------- Socket.IO


class Watcher:
    """A Socket.IO client that records every event it receives, per session, in arrival order.

    What it records is what a client "acknowledged receiving": the crash test checks each of these
    against the store after the server is killed.
    """

    def __init__(self, name: str, *, keep_payloads: bool = True) -> None:
        self.name = name
        self.keep_payloads = keep_payloads
        self.client = socketio.AsyncClient(reconnection=False)
        #: session id -> events as received (full dicts when keep_payloads, else only seqs).
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.seqs: dict[str, list[int]] = {}
        #: session id -> message id -> the event that ended that query (kept even without payloads).
        self.ended: dict[str, dict[str, dict[str, Any]]] = {}
        self.statuses: list[dict[str, Any]] = []
        self.disconnected = asyncio.Event()
        self._changed = asyncio.Event()
        self.client.on("stream:event", self._on_event)
        self.client.on("stream:events", self._on_events)
        self.client.on("session:status", self._on_status)
        self.client.on("disconnect", self._on_disconnect)

    def _record(self, session_id: str, events: Iterable[dict[str, Any]]) -> None:
        seqs = self.seqs.setdefault(session_id, [])
        kept = self.events.setdefault(session_id, []) if self.keep_payloads else None
        for event in events:
            seqs.append(event["seq"])
            if kept is not None:
                kept.append(event)
            if event["type"] in QUERY_ENDS:
                self.ended.setdefault(session_id, {})[event["payload"].get("messageId")] = event
        self._changed.set()

    def _on_event(self, data: dict[str, Any]) -> None:
        self._record(data["sessionId"], (data["event"],))

    def _on_events(self, data: dict[str, Any]) -> None:
        self._record(data["sessionId"], data["events"])

    def _on_status(self, data: dict[str, Any]) -> None:
        self.statuses.append(data)
        self._changed.set()

    def _on_disconnect(self, *_args: Any) -> None:
        self.disconnected.set()
        self._changed.set()

    async def connect(self, url: str, token: str | None = TOKEN) -> None:
        await self.client.connect(
            url, auth={"token": token} if token else None, transports=["websocket"], wait_timeout=20
        )

    async def join(self, session_id: str, after_seq: int = 0, batch: bool = False) -> dict[str, Any]:
        ack = await self.client.call(
            "session:join", {"sessionId": session_id, "afterSeq": after_seq, "batch": batch}, timeout=30
        )
        assert ack.get("success"), ack
        return dict(ack)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.client.connected:
                await self.client.disconnect()

    def last_seq(self, session_id: str) -> int:
        seqs = self.seqs.get(session_id)
        return seqs[-1] if seqs else 0

    async def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        async def run() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(run(), timeout)
        except TimeoutError:
            raise TimeoutError(f"{self.name}: timed out after {timeout:g} s waiting for {what}") from None

    def has_event(self, session_id: str, predicate: Callable[[dict[str, Any]], bool]) -> bool:
        return any(predicate(e) for e in self.events.get(session_id, ()))


def seq_problems(seqs: list[int], first: int, last: int) -> str | None:
    """Why ``seqs`` is not exactly first..last once each, in order (None: it is)."""
    expected = list(range(first, last + 1))
    if seqs == expected:
        return None
    seen: set[int] = set()
    dups: set[int] = set()
    for seq in seqs:
        (dups if seq in seen else seen).add(seq)
    missing = sorted(set(expected) - seen)
    out_of_order = any(b <= a for a, b in itertools.pairwise(seqs))
    return (
        f"{len(seqs)} events for seqs {first}..{last}: {len(missing)} missing {missing[:10]}, "
        f"{len(dups)} duplicated {sorted(dups)[:10]}, out of order: {out_of_order}"
    )


# --------------------------------------------------------------------------- the SQLite file


@dataclass
class StoreSnapshot:
    integrity: str
    sessions: dict[str, dict[str, Any]]
    events: dict[str, dict[int, dict[str, Any]]]

    def last_seq(self, session_id: str) -> int:
        events = self.events.get(session_id) or {}
        return max(events) if events else 0

    def open_queries(self, session_id: str) -> set[str]:
        """Message ids a query was started or queued for and never ended (what recovery must close)."""
        open_ids: set[str] = set()
        for seq in sorted(self.events.get(session_id, {})):
            event = self.events[session_id][seq]
            payload = event["payload"]
            if event["type"] == "block:upsert":
                block = payload.get("block") or {}
                if block.get("type") == "user_message":
                    open_ids.add(block["id"])
            elif event["type"] in QUERY_ENDS:
                open_ids.discard(payload.get("messageId"))
        return open_ids


def read_store(db: Path) -> StoreSnapshot:
    """Integrity and contents of the database *as a crash left it*: read from a copy, so opening it
    here (which replays and checkpoints the WAL) does not do the restarted server's recovery for it."""
    with tempfile.TemporaryDirectory(prefix="store-copy-") as tmp:
        copy = Path(tmp) / db.name
        for suffix in ("", "-wal"):
            source = Path(str(db) + suffix)
            if source.exists():
                shutil.copyfile(source, str(copy) + suffix)
        connection = sqlite3.connect(copy)
        try:
            integrity = "\n".join(str(r[0]) for r in connection.execute("PRAGMA integrity_check"))
            sessions = {
                sid: json.loads(data)
                for sid, data in connection.execute("SELECT session_id, data FROM sessions")
            }
            events: dict[str, dict[int, dict[str, Any]]] = {}
            for sid, seq, kind, payload, timestamp, conversation, source in connection.execute(
                "SELECT session_id, seq, type, payload, timestamp, conversation_id, source FROM events"
            ):
                events.setdefault(sid, {})[seq] = {
                    "seq": seq,
                    "type": kind,
                    "payload": json.loads(payload),
                    "timestamp": timestamp,
                    "conversationId": conversation,
                    "source": source,
                }
        finally:
            connection.close()
    return StoreSnapshot(integrity, sessions, events)


# --------------------------------------------------------------------------- processes


def _cwd(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def processes_in(folder: Path) -> list[int]:
    """Live processes whose working directory is inside ``folder`` (a session's sandbox folder),
    or whose command line names it: what a leaked agent or tool looks like."""
    root = os.path.realpath(folder)
    # A path *inside* the folder (the server's own ``--data-dir <folder>`` does not count).
    needle = (root + os.sep).encode()
    found = []
    for pid in _pids():
        if pid == os.getpid() or not _alive(pid):
            continue
        cwd = _cwd(pid)
        # A deleted folder shows as "<path> (deleted)".
        cwd = cwd.removesuffix(" (deleted)") if cwd else cwd
        in_folder = cwd is not None and (cwd == root or cwd.startswith(root + os.sep))
        if not in_folder:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    in_folder = needle in handle.read()
            except OSError:
                continue
        if in_folder:
            found.append(pid)
    return found


def group_members(pgid: int) -> list[int]:
    """Live processes in process group ``pgid``."""
    members = []
    for pid in _pids():
        try:
            if os.getpgid(pid) == pgid and _alive(pid):
                members.append(pid)
        except ProcessLookupError:
            continue
    return members


def describe(pids: Iterable[int]) -> list[str]:
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode(errors="replace")
            out.append(f"{pid}: {command[:200]}")
        except OSError:
            out.append(f"{pid}: (gone)")
    return out


def kill_all(pids: Iterable[int]) -> None:
    """Test clean-up only: never leave what a failing test leaked running on a shared machine."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
