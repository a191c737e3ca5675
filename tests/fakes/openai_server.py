"""A fake OpenAI-compatible Chat Completions API for tests: real HTTP + SSE on 127.0.0.1, answering
from a script.

The real OpenCode CLI talks to it through a custom provider (``@ai-sdk/openai-compatible`` with
``baseURL`` = ``fake.url``). Every request is recorded, so a test can assert what the CLI sent
(e.g. that a resumed conversation carries the earlier turns).

Each streamed ``POST .../chat/completions`` that offers tools is a turn of the conversation and
takes the next scripted step:

    fake = FakeOpenAI()
    fake.script(Turn(ToolCall("bash", {"command": "echo hi"})), Turn(Text("done")))
    async with fake:
        ... baseURL = fake.url ...
    fake.requests  # every request, in order

OpenCode also makes side requests that are not turns (a session title, from a request without
tools); ``is_side_request`` spots them and they get ``side_text`` without consuming the script.
When the script runs out the fake answers a visible "no scripted turn left" text (counted in
``unscripted``) rather than an error, which the CLI would retry.

The stream is what OpenAI sends: ``data: {chat.completion.chunk}`` lines with ``delta.role``,
``delta.content`` pieces, ``delta.tool_calls`` (id and name first, then ``arguments`` pieces), a
chunk with ``finish_reason``, a usage-only chunk (``choices: []``) and ``data: [DONE]``.

``python -m tests.fakes.openai_server --port 8766 --text hello`` serves a fixed reply, for poking
at a CLI by hand.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .scripted_server import ScriptedServer, id_maker
from .scripted_server import chunks as _chunks

DEFAULT_MODEL = "fake-model"
_next_id = id_maker()


# --------------------------------------------------------------------------- script


@dataclass
class Text:
    text: str
    #: Characters per ``delta.content`` chunk (so one reply streams as several deltas).
    chunk: int = 8


@dataclass
class Reasoning:
    """``delta.reasoning_content`` pieces (what OpenAI-compatible reasoning models stream)."""

    text: str
    chunk: int = 16


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]
    id: str = field(default_factory=lambda: _next_id("call"))


Part = Text | Reasoning | ToolCall


@dataclass
class Turn:
    """One assistant reply, streamed as SSE chunks."""

    parts: list[Part]
    finish_reason: str | None = None  # default: "tool_calls" when a ToolCall is present, else "stop"
    model: str | None = None
    prompt_tokens: int = 12
    completion_tokens: int = 7
    cached_tokens: int = 0
    #: Seconds to wait between chunks (0: as fast as possible).
    delay_s: float = 0.0
    #: After the last content chunk, keep the stream open until the client goes away (for
    #: interrupt tests: the model is "still thinking").
    hang: bool = False
    #: Only requests for which this returns True take this turn (default: any conversation request).
    match: Callable[[Recorded], bool] | None = None

    def __init__(self, *parts: Part, finish_reason: str | None = None, model: str | None = None,
                 prompt_tokens: int = 12, completion_tokens: int = 7, cached_tokens: int = 0,
                 delay_s: float = 0.0, hang: bool = False,
                 match: Callable[[Recorded], bool] | None = None) -> None:
        self.parts = list(parts)
        self.finish_reason = finish_reason
        self.model = model
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.cached_tokens = cached_tokens
        self.delay_s = delay_s
        self.hang = hang
        self.match = match


@dataclass
class ErrorReply:
    """An HTTP error with OpenAI's error body, ``times`` times in a row (CLIs retry some)."""

    status: int
    message: str
    error_type: str = "server_error"
    times: int = 1
    #: Sent as ``retry-after-ms`` (OpenCode waits that long before retrying; None: no header, so
    #: it backs off from 2 s).
    retry_after_ms: int | None = None
    match: Callable[[Recorded], bool] | None = None


Step = Turn | ErrorReply


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    #: ``time.monotonic()`` when the request arrived.
    at: float
    #: Index of the scripted step that answered it (None: a side request or unscripted).
    step: int | None = None
    side: bool = False

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list((self.body or {}).get("messages") or []) if isinstance(self.body, dict) else []

    def text(self) -> str:
        """Every text in the request's messages (tool calls and results included), concatenated,
        for "does it carry X" asserts."""
        parts: list[str] = []
        for message in self.messages:
            parts.extend(_texts(message.get("content")))
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {} if isinstance(call, dict) else {}
                parts.append(f"{function.get('name')} {function.get('arguments')}")
        return "\n".join(parts)

    def roles(self) -> list[str]:
        return [str(m.get("role")) for m in self.messages]


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    out: list[str] = []
    if isinstance(content, list):
        for item in content:
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                out.append(item["text"])
    return out


def is_side_request(body: Any) -> bool:
    """A request that is not a turn of the conversation the script describes: OpenCode's
    conversation requests stream and offer tools; its title request offers none."""
    if not isinstance(body, dict):
        return True
    return not body.get("tools")


# --------------------------------------------------------------------------- server


class FakeOpenAI(ScriptedServer):
    steps: list[Step]
    requests: list[Recorded]

    def __init__(self, *steps: Step, host: str = "127.0.0.1", port: int = 0,
                 side_text: str = "Fake title") -> None:
        super().__init__(*steps, host=host, port=port)
        self.side_text = side_text

    def conversation_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/chat/completions") and not r.side]

    @property
    def url(self) -> str:
        """The base URL a client appends ``/chat/completions`` to."""
        return f"http://{self.host}:{self.port}/v1"

    # -- handlers ----------------------------------------------------------------------------
    def _record(self, request: web.Request, body: Any, at: float, wall: float) -> Recorded:
        return Recorded(request.method, request.path, dict(request.headers), body, at)

    async def _answer(self, request: web.Request, record: Recorded, body: Any) -> web.StreamResponse:
        if request.method == "GET" and request.path.endswith("/models"):
            return web.json_response({"object": "list", "data": [{"id": DEFAULT_MODEL, "object": "model"}]})
        if request.method != "POST" or not request.path.endswith("/chat/completions"):
            return web.json_response({})
        requested = body.get("model") if isinstance(body, dict) else None
        if is_side_request(body):
            record.side = True
            return await self._reply(request, body, Turn(Text(self.side_text)), requested)
        index, step = self._take(record)
        record.step = index
        if step is None:
            self.unscripted += 1
            return await self._reply(request, body, Turn(Text("[fake server: no scripted turn left]")), requested)
        if isinstance(step, ErrorReply):
            headers = {} if step.retry_after_ms is None else {"retry-after-ms": str(step.retry_after_ms)}
            return web.json_response(
                {"error": {"message": step.message, "type": step.error_type, "param": None, "code": None}},
                status=step.status, headers=headers)
        return await self._reply(request, body, step, requested)

    async def _reply(self, request: web.Request, body: Any, turn: Turn,
                     requested_model: str | None) -> web.StreamResponse:
        model = turn.model or requested_model or DEFAULT_MODEL
        completion_id = _next_id("chatcmpl")
        created = int(time.time())
        calls = [p for p in turn.parts if isinstance(p, ToolCall)]
        finish = turn.finish_reason or ("tool_calls" if calls else "stop")
        usage: dict[str, Any] = {"prompt_tokens": turn.prompt_tokens, "completion_tokens": turn.completion_tokens,
                                 "total_tokens": turn.prompt_tokens + turn.completion_tokens}
        if turn.cached_tokens:
            usage["prompt_tokens_details"] = {"cached_tokens": turn.cached_tokens}
        if not (isinstance(body, dict) and body.get("stream")):
            message: dict[str, Any] = {"role": "assistant",
                                       "content": "".join(p.text for p in turn.parts if isinstance(p, Text)) or None}
            if calls:
                message["tool_calls"] = [{"id": c.id, "type": "function",
                                          "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                                         for c in calls]
            return web.json_response({"id": completion_id, "object": "chat.completion", "created": created,
                                      "model": model, "choices": [{"index": 0, "message": message,
                                                                   "finish_reason": finish}],
                                      "usage": usage})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)

        async def send(choices: list[dict[str, Any]], **extra: Any) -> None:
            chunk = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                     "choices": choices, **extra}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            if turn.delay_s:
                await asyncio.sleep(turn.delay_s)

        def delta(content: dict[str, Any], finish_reason: str | None = None) -> list[dict[str, Any]]:
            return [{"index": 0, "delta": content, "finish_reason": finish_reason}]

        await send(delta({"role": "assistant", "content": ""}))
        call_index = 0
        for part in turn.parts:
            if isinstance(part, Text):
                for piece in _chunks(part.text, part.chunk):
                    await send(delta({"content": piece}))
            elif isinstance(part, Reasoning):
                for piece in _chunks(part.text, part.chunk):
                    await send(delta({"reasoning_content": piece}))
            else:
                encoded = json.dumps(part.arguments)
                await send(delta({"tool_calls": [{"index": call_index, "id": part.id, "type": "function",
                                                  "function": {"name": part.name, "arguments": ""}}]}))
                for piece in _chunks(encoded, 16):
                    await send(delta({"tool_calls": [{"index": call_index, "function": {"arguments": piece}}]}))
                call_index += 1
        if turn.hang:
            await self.hold_open()  # ended by stop(), or cancelled when the client disconnects
            return response
        await send(delta({}, finish))
        await send([], usage=usage)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


# --------------------------------------------------------------------------- by hand


def _main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--text", default="Hello from the fake server.")
    args = parser.parse_args()

    async def serve() -> None:
        fake = FakeOpenAI(port=args.port)
        fake.steps = [Turn(Text(args.text)) for _ in range(1000)]
        async with fake:
            print(f"fake OpenAI API on {fake.url}", flush=True)
            try:
                await asyncio.Event().wait()  # until Ctrl-C
            finally:
                for r in fake.requests:
                    print(json.dumps({"path": r.path, "body": r.body})[:3000], flush=True)

    asyncio.run(serve())


if __name__ == "__main__":
    _main()
