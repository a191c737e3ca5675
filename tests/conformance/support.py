"""Helpers of the end-to-end agent tests (the conformance suite and the per-agent quirk tests)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from runtime.models import SessionEvent
from runtime.reducer import SessionState, apply_event


def block_events(events: list[SessionEvent], block_id: str) -> list[SessionEvent]:
    """The upserts and deltas of one block, in order."""
    return [e for e in events if (e.type == "block:upsert" and e.payload["block"]["id"] == block_id)
            or (e.type == "block:delta" and e.payload["blockId"] == block_id)]


def reduce_drafts(drafts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The main blocks the real reducer derives from runner-style event drafts."""
    state = SessionState()
    for seq, draft in enumerate(drafts, 1):
        apply_event(state, SessionEvent(seq=seq, type=draft["type"], payload=draft["payload"],
                                        timestamp=draft.get("timestamp") or "2026-01-01T00:00:00.000Z",
                                        conversation_id=draft.get("conversationId", "main")))
    return state.blocks


def comparable(blocks: list[Any]) -> list[dict[str, Any]]:
    """Blocks as plain dicts, without what only a live run or only the reducer adds (timestamps,
    queue markers, user messages the runtime itself wrote, ids of error blocks, which are
    named after the seq of their event)."""
    out = []
    for block in blocks:
        data = block if isinstance(block, dict) else block.model_dump(by_alias=True, exclude_none=True)
        data = {k: v for k, v in data.items() if k not in ("timestamp", "queued")}
        if data.get("type") == "user_message":
            continue
        if data.get("type") == "error":
            data.pop("id", None)
        out.append(data)
    return out


def session_processes(session_dir: Path, marker: str | None = None) -> list[tuple[int, str]]:
    """Live processes whose working directory is in the session's folder (an agent, its tools),
    or whose command line holds ``marker`` (an agent's own session id)."""
    found = []
    folder = os.path.realpath(session_dir)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().split(")")[-1].split()[0]
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        mine = cwd == folder or cwd.startswith(folder + os.sep) or (marker is not None and marker in cmdline)
        if state != "Z" and mine:
            found.append((int(entry.name), cmdline))
    return found


def session_dir(runtime: Any, session_id: str) -> Path:
    return Path(runtime.config.resolved_data_dir()) / session_id


def workspace(runtime: Any, session_id: str) -> Path:
    return session_dir(runtime, session_id) / "workspace"


async def wait_for_fifo(fifo: Path, timeout: float) -> str:
    """Block (in a thread) until a writer opens ``fifo`` and closes it; returns what it wrote.
    On timeout the reader is released by opening the FIFO for writing ourselves."""
    def read() -> str:
        with open(fifo, encoding="utf-8") as handle:
            return handle.read()

    reader = asyncio.ensure_future(asyncio.to_thread(read))
    try:
        return await asyncio.wait_for(asyncio.shield(reader), timeout)
    except TimeoutError:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        await reader
        raise


#: A command that tells the test it runs (its shell's pid, through the FIFO ``started.fifo``
#: the test makes once the workspace exists: no polling by the test), then sleeps.
LONG_COMMAND = "until [ -p started.fifo ]; do sleep 0.05; done; echo $$ > started.fifo; sleep 30"


async def start_a_long_tool(runtime: Any, session_id: str, send: Any,
                            folder: Path | None = None) -> tuple[str, int | None]:
    """Send a message (``send()``, after which the fake answers with ``LONG_COMMAND``) and wait
    until the command runs; returns the message id and the host pid of the command's shell
    (None: not found). ``folder``: the session's folder, when not in the runtime's data dir."""
    from tests.helpers import collect_until, sandbox_pid

    after = (await runtime.get_summary(session_id)).last_seq
    message_id = await send()
    folder = folder or session_dir(runtime, session_id)
    if not (folder / "workspace").is_dir():
        await collect_until(runtime, session_id, lambda e: e.type == "ee:ready", after_seq=after, timeout=120)
    fifo = folder / "workspace" / "started.fifo"
    os.mkfifo(fifo)
    return message_id, sandbox_pid(int(await wait_for_fifo(fifo, timeout=120)), folder)
