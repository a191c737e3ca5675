"""MessageQueue: a session's accepted messages, in order, and the worker that runs them one by one."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable

#: A queued message: ``(message_id, content)``.
Message = tuple[str, str]


class MessageQueue:
    def __init__(self, name: str, run: Callable[[str, str], Awaitable[None]]) -> None:
        self._name = name
        #: Runs one message to its end; never raises for a failed query (the worker would stop).
        self._run = run
        self._messages: deque[Message] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._closed = False

    def __len__(self) -> int:
        return len(self._messages)

    @property
    def working(self) -> bool:
        """A message is being run (or the worker is about to take the next one)."""
        return self._worker is not None and not self._worker.done()

    @property
    def worker(self) -> asyncio.Task[None] | None:
        return self._worker

    def push(self, message: Message) -> None:
        """Queue synchronously (callers rely on it: concurrent sends keep their call order)."""
        self._messages.append(message)

    def withdraw(self, message: Message) -> None:
        """Take back a message that could not be announced (its ``block:upsert`` failed)."""
        with contextlib.suppress(ValueError):
            self._messages.remove(message)

    def start(self) -> None:
        """Start the worker if there is work and none runs."""
        if self._messages and not self.working and not self._closed:
            self._worker = asyncio.get_running_loop().create_task(self._work(), name=self._name)

    async def _work(self) -> None:
        while self._messages and not self._closed:
            message_id, content = self._messages.popleft()
            await self._run(message_id, content)

    def close(self) -> None:
        """Drop what waits; the message being run finishes (see ``join``)."""
        self._closed = True
        self._messages.clear()

    async def join(self, within_s: float) -> None:
        """Wait up to ``within_s`` for the running message to end (errors are the runner's business)."""
        if self._worker is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self._worker), within_s)
