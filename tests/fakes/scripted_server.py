"""What the fake model APIs (``anthropic_server``, ``openai_server``, ``gemini_server``) share: a
real aiohttp server on 127.0.0.1 (an ephemeral port by default) that records every request and
answers the conversation's requests from a script of steps.

A subclass says what a request record is (``_record``), which recorded requests are turns of the
conversation (``conversation_requests``) and how to answer one (``_answer``, which takes steps
with ``_take``). A step is a reply (``Turn``) or an error (``ErrorReply`` with ``times``: the
same error that many times in a row); either may have a ``match`` that limits which requests it
answers.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from typing import Any, Self

from aiohttp import web


def id_maker() -> Callable[[str], str]:
    """A fresh ``prefix -> "<prefix>_fake000001"`` numbering (one per fake)."""
    ids = itertools.count(1)

    def next_id(prefix: str) -> str:
        return f"{prefix}_fake{next(ids):06d}"

    return next_id


def chunks(text: str, size: int) -> list[str]:
    """``text`` in pieces of ``size`` characters (at least one piece, maybe empty)."""
    size = max(1, size)
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


class ScriptedServer:
    #: Notify ``wait_for_requests`` only once a request is answered (its ``side`` flag is set by
    #: then); otherwise as soon as it is recorded.
    notify_when_answered = False

    def __init__(self, *steps: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.steps: list[Any] = list(steps)
        self._used: dict[int, int] = {}
        self._done: set[int] = set()
        self.requests: list[Any] = []
        self.unscripted = 0
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Condition()
        #: Streams still open (``hang`` turns), ended on stop so the server shuts down promptly.
        self._open: set[asyncio.Future[None]] = set()

    # -- script ------------------------------------------------------------------------------
    def script(self, *steps: Any) -> None:
        """Replace what is left of the script (earlier requests stay recorded)."""
        self.steps = list(steps)
        self._used = {}
        self._done = set()

    def add(self, *steps: Any) -> None:
        self.steps.extend(steps)

    @property
    def remaining(self) -> int:
        return len(self.steps) - len(self._done)

    def conversation_requests(self) -> list[Any]:
        raise NotImplementedError

    async def wait_for_requests(self, count: int) -> list[Any]:
        """Wait until at least ``count`` conversation requests arrived (no polling)."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.conversation_requests()) >= count)
        return self.conversation_requests()

    def _take(self, record: Any) -> tuple[int | None, Any]:
        """The first step left that accepts this request (steps without ``match`` accept any)."""
        for index, step in enumerate(self.steps):
            if index in self._done or (step.match is not None and not step.match(record)):
                continue
            self._used[index] = self._used.get(index, 0) + 1
            if self._used[index] >= getattr(step, "times", 1):
                self._done.add(index)
            return index, step
        return None, None

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> Self:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = getattr(site, "_server", None)
        if self.port == 0 and server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for waiter in list(self._open):
            if not waiter.done():
                waiter.set_result(None)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def hold_open(self) -> None:
        """Keep a streamed reply open until the server stops (or the client goes away)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._open.add(waiter)
        try:
            await waiter  # ended by stop(), or cancelled when the client disconnects
        finally:
            self._open.discard(waiter)

    # -- handlers ----------------------------------------------------------------------------
    def _record(self, request: web.Request, body: Any, at: float, wall: float) -> Any:
        raise NotImplementedError

    async def _answer(self, request: web.Request, record: Any, body: Any) -> web.StreamResponse:
        raise NotImplementedError

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        at, wall = time.monotonic(), time.time()
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        record = self._record(request, body, at, wall)
        self.requests.append(record)
        if self.notify_when_answered:
            try:
                return await self._answer(request, record, body)
            finally:
                await self._notify()
        await self._notify()
        return await self._answer(request, record, body)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()
