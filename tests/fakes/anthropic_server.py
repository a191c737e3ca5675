"""A fake Anthropic Messages API for tests: real HTTP + SSE on 127.0.0.1, answers from a script.

The real Claude Code CLI talks to it (``ANTHROPIC_BASE_URL``). Every request is recorded, so a
test can assert what the CLI sent (e.g. that a resumed conversation carries the earlier turns).

Each ``POST /v1/messages`` that belongs to the conversation takes the next scripted turn:

    fake = FakeAnthropic()
    fake.script(Turn(ToolUse("Bash", {"command": "echo hi"})), Turn(Text("done")))
    async with fake:
        ... ANTHROPIC_BASE_URL=fake.url ...
    fake.requests  # every request, in order

Claude Code also sends side requests that are not turns of the conversation (e.g. a cheap
``max_tokens: 1`` probe, or a title/topic request without tools); ``is_side_request`` spots them
and they get a short canned answer without consuming the script, so scripts stay readable.
When the script runs out, the fake answers a visible "no scripted turn left" text (and counts it
in ``unscripted``) rather than an error, which the CLI would retry.

``python -m tests.fakes.anthropic_server --port 8765 --text hello`` serves a fixed reply, for
poking at the CLI by hand.
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

DEFAULT_MODEL = "claude-sonnet-4-5-20250929"
_next_id = id_maker()


# --------------------------------------------------------------------------- script


@dataclass
class Text:
    text: str
    #: Characters per ``text_delta`` (so one reply streams as several deltas).
    chunk: int = 8


@dataclass
class Thinking:
    text: str
    chunk: int = 16
    signature: str = "fake-signature"


@dataclass
class ToolUse:
    name: str
    input: dict[str, Any]
    id: str = field(default_factory=lambda: _next_id("toolu"))


Block = Text | Thinking | ToolUse


@dataclass
class Turn:
    """One assistant reply, streamed as SSE."""

    blocks: list[Block]
    stop_reason: str | None = None  # default: "tool_use" when a ToolUse is present, else "end_turn"
    model: str | None = None
    input_tokens: int = 12
    output_tokens: int = 7
    #: Seconds to wait between SSE events (0: as fast as possible).
    delay_s: float = 0.0
    #: Only requests for which this returns True take this turn (default: any conversation
    #: request); e.g. ``for_subagent`` when a background subagent and the main agent interleave.
    match: Callable[[Recorded], bool] | None = None

    def __init__(self, *blocks: Block, stop_reason: str | None = None, model: str | None = None,
                 input_tokens: int = 12, output_tokens: int = 7, delay_s: float = 0.0,
                 match: Callable[[Recorded], bool] | None = None) -> None:
        self.blocks = list(blocks)
        self.stop_reason = stop_reason
        self.model = model
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.delay_s = delay_s
        self.match = match


@dataclass
class ErrorReply:
    """An HTTP error with Anthropic's error body, ``times`` times in a row (the CLI retries)."""

    status: int
    message: str
    error_type: str = "api_error"
    times: int = 1
    match: Callable[[Recorded], bool] | None = None


Step = Turn | ErrorReply


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    #: ``time.monotonic()`` and ``time.time()`` when the request arrived.
    at: float
    wall: float
    #: Index of the scripted step that answered it (None: a side request or unscripted).
    step: int | None = None
    side: bool = False
    #: ``time.monotonic()`` / ``time.time()`` when the first content delta was written
    #: (streamed turns only).
    first_delta_at: float | None = None
    first_delta_wall: float | None = None

    @property
    def agent_id(self) -> str | None:
        """Claude Code's subagent id for requests a subagent makes (None: the main agent)."""
        for name, value in self.headers.items():
            if name.lower() == "x-claude-code-agent-id":
                return value
        return None

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list((self.body or {}).get("messages") or []) if isinstance(self.body, dict) else []

    def text(self) -> str:
        """Every text in the request's messages, concatenated (for "does it carry X" asserts)."""
        parts: list[str] = []
        for message in self.messages:
            parts.extend(_texts(message.get("content")))
        return "\n".join(parts)


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    out: list[str] = []
    if isinstance(content, list):
        for item in content:
            if isinstance(item, dict):
                if isinstance(item.get("text"), str):
                    out.append(item["text"])
                if "content" in item:
                    out.extend(_texts(item["content"]))
                if item.get("type") == "tool_use":
                    out.append(json.dumps(item.get("input"), sort_keys=True))
    return out


def for_main(request: Recorded) -> bool:
    return request.agent_id is None


def for_subagent(request: Recorded) -> bool:
    return request.agent_id is not None


def is_side_request(body: Any) -> bool:
    """A request that is not a turn of the conversation the script describes.

    Claude Code's conversation requests stream and offer tools; its helpers (quota probe,
    title/topic generation) do not stream, or ask for a single token, or offer no tools.
    """
    if not isinstance(body, dict):
        return True
    if body.get("max_tokens") == 1:
        return True
    return not body.get("stream") or not body.get("tools")


# --------------------------------------------------------------------------- server


class FakeAnthropic(ScriptedServer):
    #: ``side`` is only known once a request is answered.
    notify_when_answered = True
    steps: list[Step]
    requests: list[Recorded]

    def __init__(self, *steps: Step, host: str = "127.0.0.1", port: int = 0,
                 side_text: str = "Fake side answer") -> None:
        super().__init__(*steps, host=host, port=port)
        self.side_text = side_text

    def conversation_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith("/v1/messages") and not r.side
                and not r.path.endswith("count_tokens")]

    # -- handlers ----------------------------------------------------------------------------
    def _record(self, request: web.Request, body: Any, at: float, wall: float) -> Recorded:
        return Recorded(request.method, request.path, dict(request.headers), body, at, wall)

    async def _answer(self, request: web.Request, record: Recorded, body: Any) -> web.StreamResponse:
        if request.method != "POST" or not request.path.startswith("/v1/messages"):
            return web.json_response({})  # HEAD /, GET /v1/models, telemetry: anything goes
        if request.path.endswith("/count_tokens"):
            return web.json_response({"input_tokens": max(1, len(json.dumps(body)) // 4)})
        model = (body or {}).get("model") if isinstance(body, dict) else None
        if is_side_request(body):
            record.side = True
            return await self._reply(request, record, body, Turn(Text(self.side_text)), model)
        index, step = self._take(record)
        record.step = index
        if step is None:
            self.unscripted += 1
            return await self._reply(request, record, body, Turn(Text("[fake server: no scripted turn left]")),
                                     model)
        if isinstance(step, ErrorReply):
            return web.json_response(
                {"type": "error", "error": {"type": step.error_type, "message": step.message}},
                status=step.status, headers={"request-id": _next_id("req")},
            )
        return await self._reply(request, record, body, step, model)

    async def _reply(self, request: web.Request, record: Recorded, body: Any, turn: Turn,
                     requested_model: str | None) -> web.StreamResponse:
        model = turn.model or requested_model or DEFAULT_MODEL
        message_id = _next_id("msg")
        content = [_final_block(b) for b in turn.blocks]
        stop_reason = turn.stop_reason or ("tool_use" if any(isinstance(b, ToolUse) for b in turn.blocks)
                                           else "end_turn")
        usage = {"input_tokens": turn.input_tokens, "output_tokens": turn.output_tokens,
                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        if not (isinstance(body, dict) and body.get("stream")):
            return web.json_response({"id": message_id, "type": "message", "role": "assistant", "model": model,
                                      "content": content, "stop_reason": stop_reason, "stop_sequence": None,
                                      "usage": usage})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                               "request-id": _next_id("req")})
        await response.prepare(request)

        async def send(kind: str, data: dict[str, Any]) -> None:
            await response.write(f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode())
            if turn.delay_s:
                await asyncio.sleep(turn.delay_s)

        await send("message_start", {"type": "message_start", "message": {
            "id": message_id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {**usage, "output_tokens": 1}}})
        await send("ping", {"type": "ping"})
        for index, block in enumerate(turn.blocks):
            start, deltas = _stream_block(block)
            await send("content_block_start", {"type": "content_block_start", "index": index,
                                               "content_block": start})
            for delta in deltas:
                if record.first_delta_at is None:
                    record.first_delta_at, record.first_delta_wall = time.monotonic(), time.time()
                await send("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
            await send("content_block_stop", {"type": "content_block_stop", "index": index})
        await send("message_delta", {"type": "message_delta",
                                     "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                                     "usage": {"output_tokens": turn.output_tokens}})
        await send("message_stop", {"type": "message_stop"})
        await response.write_eof()
        return response


def _final_block(block: Block) -> dict[str, Any]:
    if isinstance(block, Text):
        return {"type": "text", "text": block.text}
    if isinstance(block, Thinking):
        return {"type": "thinking", "thinking": block.text, "signature": block.signature}
    return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}


def _stream_block(block: Block) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if isinstance(block, Text):
        return ({"type": "text", "text": ""},
                [{"type": "text_delta", "text": c} for c in _chunks(block.text, block.chunk)])
    if isinstance(block, Thinking):
        deltas: list[dict[str, Any]] = [{"type": "thinking_delta", "thinking": c}
                                        for c in _chunks(block.text, block.chunk)]
        deltas.append({"type": "signature_delta", "signature": block.signature})
        return {"type": "thinking", "thinking": "", "signature": ""}, deltas
    encoded = json.dumps(block.input)
    return ({"type": "tool_use", "id": block.id, "name": block.name, "input": {}},
            [{"type": "input_json_delta", "partial_json": c} for c in _chunks(encoded, 16)])


# --------------------------------------------------------------------------- by hand


def _main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--text", default="Hello from the fake server.")
    args = parser.parse_args()

    async def serve() -> None:
        fake = FakeAnthropic(port=args.port)
        fake.steps = [Turn(Text(args.text))] * 1000
        async with fake:
            print(f"fake Anthropic API on {fake.url}", flush=True)
            await asyncio.Event().wait()  # until Ctrl-C

    asyncio.run(serve())


if __name__ == "__main__":
    _main()
