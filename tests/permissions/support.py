"""Helpers for the tool-approval tests (import as ``from tests.permissions.support import ...``)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from runtime import AgentRuntime, SessionEvent
from tests.fakes.anthropic_server import Text, ToolUse, Turn

Predicate = Callable[[SessionEvent], bool]
QUERY_ENDS = ("query:completed", "query:failed", "query:interrupted")


class Watcher:
    """Every event of one session from ``after_seq`` on, collected in the background, so a test
    can act (answer, interrupt) while the stream goes on and then wait for what follows."""

    def __init__(self, runtime: AgentRuntime, session_id: str, after_seq: int = 0) -> None:
        self.events: list[SessionEvent] = []
        self._changed = asyncio.Condition()
        self._sub = runtime.subscribe(session_id, after_seq)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        async for event in self._sub:
            async with self._changed:
                self.events.append(event)
                self._changed.notify_all()

    def find(self, predicate: Predicate, start: int = 0) -> SessionEvent | None:
        return next((e for e in self.events[start:] if predicate(e)), None)

    async def wait_for(self, predicate: Predicate, *, start: int = 0, timeout: float = 60.0) -> SessionEvent:
        """The first event (from index ``start``) that matches, waiting for it if need be."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: self.find(predicate, start) is not None), timeout
            )
        event = self.find(predicate, start)
        assert event is not None
        return event

    def of_type(self, kind: str) -> list[SessionEvent]:
        return [e for e in self.events if e.type == kind]

    def close(self) -> None:
        self._sub.close()
        self._task.cancel()


def is_type(*kinds: str) -> Predicate:
    return lambda event: event.type in kinds


def query_end(message_id: str) -> Predicate:
    return lambda event: event.type in QUERY_ENDS and event.payload.get("messageId") == message_id


def resolved(request_id: str) -> Predicate:
    return lambda event: event.type == "permission:resolved" and event.payload.get("requestId") == request_id


def bash(command: str, description: str) -> ToolUse:
    return ToolUse("Bash", {"command": command, "description": description})


def tool_then_text(tool: ToolUse, text: str) -> list[Turn]:
    """The model asks for ``tool``, then says ``text`` once it has the result (or the refusal)."""
    return [Turn(Text("On it."), tool), Turn(Text(text))]


def workspace(runtime: AgentRuntime, session_id: str) -> Path:
    return Path(runtime.config.resolved_data_dir()) / session_id / "workspace"


def session_processes(runtime: AgentRuntime, session_id: str) -> list[int]:
    """Live processes whose working directory is inside the session's folder (runner, CLI, tools)."""
    folder = os.path.realpath(Path(runtime.config.resolved_data_dir()) / session_id)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X") and (cwd == folder or cwd.startswith(folder + os.sep)):
            found.append(int(entry.name))
    return found


async def answer_over_http(
    http: aiohttp.ClientSession, session_id: str, request_id: str, decision: str, message: str | None = None
) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"decision": decision}
    if message is not None:
        body["message"] = message
    async with http.post(f"/sessions/{session_id}/permissions/{request_id}", json=body) as response:
        return response.status, await response.json()


def closed_by_us(watcher: Watcher, request_id: str, end: SessionEvent) -> dict[str, Any]:
    """What closed ``request_id``: agent-tui's own deny, sent before the query's ``end``."""
    answer = watcher.find(resolved(request_id))
    assert answer is not None and answer.seq < end.seq
    assert answer.payload["decision"] == "deny" and answer.payload["by"] == "agent-tui"
    return answer.payload


def interrupted(request_id: str) -> dict[str, Any]:
    """The answer agent-tui gives a request still open when its query is interrupted."""
    return {"requestId": request_id, "decision": "deny", "by": "agent-tui", "message": "the query was interrupted"}
