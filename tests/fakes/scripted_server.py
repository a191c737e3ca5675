"""The scripted fake-provider base that every fake model API builds on (``anthropic_server``,
``openai_server``, ``gemini_server``, ``responses_server``): a real aiohttp server on 127.0.0.1
(an ephemeral port by default) that records every request and answers the conversation's
requests from a script of steps.

The script vocabulary is the same for every provider, so a test (or the conformance suite) can
write one script and hand it to any fake:

- ``Text``: assistant text, streamed in ``chunk``-character pieces;
- ``Thinking``: reasoning text (Anthropic ``thinking``, OpenAI ``reasoning_content``, Gemini
  ``thought`` parts);
- ``ToolCall``: a tool call the model makes (name, arguments, id);
- ``Turn``: one reply made of those parts; ``ErrorReply``: an HTTP error, ``times`` times in a row.

Either step may have a ``match`` that limits which requests it answers. A provider subclass says
which requests are turns of the conversation (``conversation_requests``), answers everything
else (``_route``: side requests, model lists, token counts), and says how a turn streams
(``_reply``) and how an error looks (``_error_body``). When the script runs out the fake answers
a visible "no scripted turn left" text (counted in ``unscripted``) rather than an error, which a
CLI would retry.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from aiohttp import web

UNSCRIPTED_TEXT = "[fake server: no scripted turn left]"


def id_maker() -> Callable[[str], str]:
    """A fresh ``prefix -> "<prefix>_fake000001"`` numbering (one per fake)."""
    ids = itertools.count(1)

    def next_id(prefix: str) -> str:
        return f"{prefix}_fake{next(ids):06d}"

    return next_id


_next_id = id_maker()


def chunks(text: str, size: int) -> list[str]:
    """``text`` in pieces of ``size`` characters (at least one piece, maybe empty)."""
    size = max(1, size)
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


# --------------------------------------------------------------------------- script


@dataclass
class Text:
    text: str
    #: Characters per streamed delta (so one reply streams as several deltas).
    chunk: int = 8


@dataclass
class Thinking:
    """Reasoning text, in the provider's own form."""

    text: str
    chunk: int = 16
    signature: str = "fake-signature"


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]
    id: str = ""
    #: How this provider's call ids start (``toolu_`` for Anthropic, ...).
    prefix: ClassVar[str] = "call"

    def __post_init__(self) -> None:
        if not self.id:
            self.id = _next_id(self.prefix)

    @property
    def input(self) -> dict[str, Any]:
        return self.arguments


Part = Text | Thinking | ToolCall


class Turn:
    """One assistant reply. ``stop`` is the provider's finish reason (None: what the provider
    sends for these parts); ``hang`` keeps the stream open after the last part until the client
    goes away or the server stops (the model is "still thinking", for interrupt tests)."""

    def __init__(self, *parts: Part, stop: str | None = None, model: str | None = None,
                 input_tokens: int = 12, output_tokens: int = 7, cached_tokens: int = 0,
                 thoughts_tokens: int = 0, delay_s: float = 0.0, hang: bool = False,
                 match: Callable[[Recorded], bool] | None = None) -> None:
        self.parts = list(parts)
        self.stop = stop
        self.model = model
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cached_tokens = cached_tokens
        self.thoughts_tokens = thoughts_tokens
        #: Seconds to wait between streamed events (0: as fast as possible).
        self.delay_s = delay_s
        self.hang = hang
        #: Only requests for which this returns True take this turn (default: any).
        self.match = match

    @property
    def calls(self) -> list[ToolCall]:
        return [p for p in self.parts if isinstance(p, ToolCall)]


@dataclass
class ErrorReply:
    """An HTTP error with the provider's error body, ``times`` times in a row (CLIs retry some).
    ``kind`` is the provider's error type or status word (None: the provider's default)."""

    status: int
    message: str
    kind: str | None = None
    times: int = 1
    #: Sent as ``retry-after-ms`` (None: no header).
    retry_after_ms: int | None = None
    match: Callable[[Recorded], bool] | None = None


Step = Turn | ErrorReply


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    #: ``time.monotonic()`` and ``time.time()`` when the request arrived.
    at: float
    wall: float
    #: Index of the scripted step that answered it (None: a side request or unscripted).
    step: int | None = None
    side: bool = False
    #: When the first content delta was written (streamed turns of fakes that track it).
    first_delta_at: float | None = None
    first_delta_wall: float | None = None
    #: Where the body holds the conversation (``messages``, ``contents``, ``input``).
    conversation_keys: tuple[str, ...] = field(default=("messages", "contents", "input"), repr=False)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list((self.body or {}).get("messages") or []) if isinstance(self.body, dict) else []

    @property
    def contents(self) -> list[dict[str, Any]]:
        return list((self.body or {}).get("contents") or []) if isinstance(self.body, dict) else []

    @property
    def model(self) -> str | None:
        """The model in the path (``/v1beta/models/<model>:<method>``) or in the body."""
        if "/models/" in self.path:
            return self.path.split("/models/", 1)[1].split(":", 1)[0]
        return self.body.get("model") if isinstance(self.body, dict) else None

    @property
    def agent_id(self) -> str | None:
        """Claude Code's subagent id for requests a subagent makes (None: the main agent)."""
        return next((v for k, v in self.headers.items() if k.lower() == "x-claude-code-agent-id"), None)

    def roles(self) -> list[str]:
        return [str(m.get("role")) for m in self.messages]

    def text(self) -> str:
        """Every string in the request's conversation (texts, tool calls and their results),
        one per line, for "does it carry X" asserts."""
        if not isinstance(self.body, dict):
            return ""
        found: list[str] = []
        for key in self.conversation_keys:
            _strings(self.body.get(key), found)
        return "\n".join(found)


def _strings(value: Any, into: list[str]) -> None:
    if isinstance(value, str):
        into.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            _strings(item, into)
    elif isinstance(value, list):
        for item in value:
            _strings(item, into)


def for_main(request: Recorded) -> bool:
    return request.agent_id is None


def for_subagent(request: Recorded) -> bool:
    return request.agent_id is not None


# --------------------------------------------------------------------------- server


class ScriptedServer:
    #: Notify ``wait_for_requests`` only once a request is answered (its ``side`` flag is set by
    #: then); otherwise as soon as it is recorded.
    notify_when_answered = False
    #: The model a reply names when neither the turn nor the request does.
    default_model = "fake-model"
    #: For ``python -m tests.fakes.<module>`` (``serve_by_hand``).
    by_hand_port = 8765

    def __init__(self, *steps: Step, host: str = "127.0.0.1", port: int = 0,
                 side_text: str = "Fake side answer") -> None:
        self.host = host
        self.port = port
        self.side_text = side_text
        self.steps: list[Step] = list(steps)
        self._used: dict[int, int] = {}
        self._done: set[int] = set()
        self.requests: list[Recorded] = []
        self.unscripted = 0
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Condition()
        #: Streams still open (``hang`` turns), ended on stop so the server shuts down promptly.
        self._open: set[asyncio.Future[None]] = set()
        self.next_id = id_maker()

    # -- script ------------------------------------------------------------------------------
    def script(self, *steps: Step) -> None:
        """Replace what is left of the script (earlier requests stay recorded)."""
        self.steps = list(steps)
        self._used = {}
        self._done = set()

    def add(self, *steps: Step) -> None:
        self.steps.extend(steps)

    @property
    def remaining(self) -> int:
        return len(self.steps) - len(self._done)

    def conversation_requests(self) -> list[Recorded]:
        raise NotImplementedError

    async def wait_for_requests(self, count: int) -> list[Recorded]:
        """Wait until at least ``count`` conversation requests arrived (no polling)."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.conversation_requests()) >= count)
        return self.conversation_requests()

    def _take(self, record: Recorded) -> tuple[int | None, Step | None]:
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

    # -- what a provider says ----------------------------------------------------------------
    async def _route(self, request: web.Request, record: Recorded, body: Any) -> web.StreamResponse | None:
        """The answer to a request that is not a turn of the conversation (None: it is one)."""
        raise NotImplementedError

    async def _reply(self, request: web.Request, record: Recorded, body: Any, turn: Turn) -> web.StreamResponse:
        raise NotImplementedError

    def _error_body(self, step: ErrorReply) -> dict[str, Any]:
        raise NotImplementedError

    def _error_headers(self, step: ErrorReply) -> dict[str, str]:
        return {} if step.retry_after_ms is None else {"retry-after-ms": str(step.retry_after_ms)}

    def _model(self, record: Recorded, turn: Turn) -> str:
        return turn.model or record.model or self.default_model

    # -- streaming helpers -------------------------------------------------------------------
    async def _open_stream(self, request: web.Request, **headers: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                               **headers})
        await response.prepare(request)
        return response

    @staticmethod
    async def _send(response: web.StreamResponse, turn: Turn, data: Any, event: str | None = None,
                    end: str = "\n\n") -> None:
        """One SSE event (``data`` as JSON unless it is already text), then the turn's delay."""
        text = data if isinstance(data, str) else json.dumps(data)
        head = f"event: {event}\n" if event else ""
        await response.write(f"{head}data: {text}{end}".encode())
        if turn.delay_s:
            await asyncio.sleep(turn.delay_s)

    # -- handlers ----------------------------------------------------------------------------
    async def _answer(self, request: web.Request, record: Recorded, body: Any) -> web.StreamResponse:
        routed = await self._route(request, record, body)
        if routed is not None:
            return routed
        index, step = self._take(record)
        record.step = index
        if step is None:
            self.unscripted += 1
            step = Turn(Text(UNSCRIPTED_TEXT))
        if isinstance(step, ErrorReply):
            return web.json_response(self._error_body(step), status=step.status, headers=self._error_headers(step))
        return await self._reply(request, record, body, step)

    async def _side_reply(self, request: web.Request, record: Recorded, body: Any) -> web.StreamResponse:
        record.side = True
        return await self._reply(request, record, body, Turn(Text(self.side_text)))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        at, wall = time.monotonic(), time.time()
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        record = Recorded(request.method, request.path, dict(request.query), dict(request.headers), body, at, wall)
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


def serve_by_hand(fake_class: type[ScriptedServer], description: str) -> None:
    """``python -m tests.fakes.<module> --port N --text hello``: a fixed reply, for poking at a
    CLI by hand; prints the requests it got when stopped."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=fake_class.by_hand_port)
    parser.add_argument("--text", default="Hello from the fake server.")
    args = parser.parse_args()

    async def serve() -> None:
        fake = fake_class(port=args.port)
        fake.steps = [Turn(Text(args.text)) for _ in range(1000)]
        async with fake:
            print(f"{fake_class.__name__} on {fake.url}", flush=True)
            try:
                await asyncio.Event().wait()  # until Ctrl-C
            finally:
                for r in fake.requests:
                    print(json.dumps({"path": r.path, "body": r.body})[:3000], flush=True)

    asyncio.run(serve())
