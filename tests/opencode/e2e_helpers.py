"""Helpers shared by the OpenCode and Gemini CLI end-to-end tests."""

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


def session_processes(session_dir: Path) -> list[tuple[int, str]]:
    """Live processes whose working directory is in the session's folder (an agent, its tools)."""
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
        if state != "Z" and (cwd == folder or cwd.startswith(folder + os.sep)):
            found.append((int(entry.name), cmdline))
    return found


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


async def start_a_long_tool(runtime: Any, fake: Any, session_id: str, workspace: Path) -> str:
    """Send a message whose bash call tells the test it runs (through a FIFO: no polling), then
    sleeps 30 s; returns the message id once the command is running (for interrupt tests)."""
    from tests.fakes.openai_server import Text, ToolCall, Turn

    fifo = workspace / "started.fifo"
    os.mkfifo(fifo)
    fake.script(Turn(ToolCall("bash", {"command": "echo started > started.fifo; sleep 30",
                                       "description": "wait"})), Turn(Text("never")))
    message_id, _ = await runtime.send_message(session_id, "Wait a while")
    assert await wait_for_fifo(fifo, timeout=120) == "started\n"
    return message_id
