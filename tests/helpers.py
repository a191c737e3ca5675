"""Helpers shared by tests (import as ``from tests.helpers import ...``)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

from runtime import AgentRuntime, RuntimeConfig, SessionEvent

ROOT = Path(__file__).resolve().parent.parent
NODE_BIN = ROOT / "tests" / "node" / "node_modules" / ".bin"


def make_config(tmp_path: Path, **overrides: object) -> RuntimeConfig:
    values: dict[str, object] = {
        "db_path": tmp_path / "agent-tui.db",
        "data_dir": tmp_path / "sandboxes",
        "config_dir": tmp_path / "config",
    }
    values.update(overrides)
    return RuntimeConfig(**values)  # type: ignore[arg-type]


async def collect_until(
    runtime: AgentRuntime,
    session_id: str,
    predicate: Callable[[SessionEvent], bool],
    *,
    after_seq: int = 0,
    timeout: float = 30.0,
) -> list[SessionEvent]:
    """Subscribe and collect events until one matches ``predicate`` (included)."""
    events: list[SessionEvent] = []
    sub = runtime.subscribe(session_id, after_seq)

    async def run() -> None:
        async for event in sub:
            events.append(event)
            if predicate(event):
                return

    try:
        await asyncio.wait_for(run(), timeout)
    finally:
        sub.close()
    return events


def query_end(message_id: str | None = None) -> Callable[[SessionEvent], bool]:
    ends = {"query:completed", "query:failed", "query:interrupted"}

    def match(event: SessionEvent) -> bool:
        return event.type in ends and (message_id is None or event.payload.get("messageId") == message_id)

    return match


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def sandbox_pid(pid: int, folder: Path) -> int | None:
    """The pid, as this test sees it, of the process a sandbox numbered ``pid`` (``echo $$`` in
    a shell session): under bubblewrap the sandbox has its own PID namespace, so the number is
    looked up by ``NSpid`` among the processes of the sandbox at ``folder`` (``HOME`` in its
    ``home/``, or working inside it); without isolation it is the same number. None: no such
    process (any more) in that sandbox."""
    root = os.path.realpath(folder)
    home = f"HOME={root}/home".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        nspid = next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), [])
        if not nspid or int(nspid[-1]) != pid:
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if home in environ or cwd == root or cwd.startswith(root + os.sep):
            return int(entry)
    return None


def store_record(session_id: str, created: int = 1000, **extra: object) -> dict:
    """A session record as the stores take it (what ``create_session`` writes)."""
    return {
        "sessionId": session_id,
        "name": f"name {session_id}",
        "architecture": "shell",
        "agentProfileRef": "default",
        "sessionOptions": {},
        "primitive": "local",
        "createdAt": created,
        "lastActivity": created,
        **extra,
    }
