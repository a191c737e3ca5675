"""A fake OpenAI Responses API (``POST /v1/responses``, streamed) for tests: real HTTP + SSE on
127.0.0.1, answering from a script. Codex talks to it through a custom model provider
(``base_url`` = ``fake.url + "/v1"``, ``wire_api = "responses"``).

    fake = FakeResponses()
    fake.script(Turn(FunctionCall("shell", {"command": ["bash", "-lc", "echo hi"]})), Turn(Text("done")))

Each streamed request is a turn and takes the next step; the stream is ``response.created``,
per output item ``response.output_item.added`` / (``response.output_text.delta`` pieces) /
``response.output_item.done``, then ``response.completed`` with ``usage``. An ``ErrorReply`` is
an HTTP error with OpenAI's error body. Anything else (``GET /v1/models``, ...) gets ``{}`` or an
empty model list. When the script runs out the fake answers a visible "no scripted turn left".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .scripted_server import ScriptedServer, chunks, id_maker

_next_id = id_maker()


@dataclass
class Text:
    text: str
    chunk: int = 8


@dataclass
class FunctionCall:
    name: str
    arguments: dict[str, Any]
    call_id: str = field(default_factory=lambda: _next_id("call"))


@dataclass
class Turn:
    items: list[Any]
    input_tokens: int = 12
    output_tokens: int = 7
    match: Any = None

    def __init__(self, *items: Any, input_tokens: int = 12, output_tokens: int = 7, match: Any = None) -> None:
        self.items = list(items)
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.match = match


@dataclass
class ErrorReply:
    status: int
    message: str
    error_type: str = "invalid_request_error"
    times: int = 1
    match: Any = None


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float
    wall: float

    def text(self) -> str:
        return json.dumps(self.body, ensure_ascii=False)


class FakeResponses(ScriptedServer):
    def conversation_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/responses")]

    def _record(self, request: web.Request, body: Any, at: float, wall: float) -> Recorded:
        return Recorded(request.method, request.path, dict(request.headers), body, at, wall)

    async def _answer(self, request: web.Request, record: Recorded, body: Any) -> web.StreamResponse:
        if not (record.method == "POST" and record.path.endswith("/responses")):
            if record.path.endswith("/models"):
                return web.json_response({"object": "list", "data": [], "models": []})
            return web.json_response({})
        _index, step = self._take(record)
        if isinstance(step, ErrorReply):
            return web.json_response({"error": {"message": step.message, "type": step.error_type, "code": None}},
                                     status=step.status)
        if step is None:
            self.unscripted += 1
            step = Turn(Text("no scripted turn left"))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        response_id = _next_id("resp")

        async def send(kind: str, data: dict[str, Any]) -> None:
            await response.write(f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode())

        await send("response.created", {"response": {"id": response_id, "object": "response",
                                                     "status": "in_progress", "output": []}})
        output: list[dict[str, Any]] = []
        for index, item in enumerate(step.items):
            if isinstance(item, Text):
                item_id = _next_id("msg")
                await send("response.output_item.added", {"output_index": index, "item": {
                    "id": item_id, "type": "message", "role": "assistant", "status": "in_progress", "content": []}})
                await send("response.content_part.added", {"item_id": item_id, "output_index": index,
                                                           "content_index": 0,
                                                           "part": {"type": "output_text", "text": "", "annotations": []}})
                for piece in chunks(item.text, item.chunk):
                    await send("response.output_text.delta", {"item_id": item_id, "output_index": index,
                                                              "content_index": 0, "delta": piece})
                done = {"id": item_id, "type": "message", "role": "assistant", "status": "completed",
                        "content": [{"type": "output_text", "text": item.text, "annotations": []}]}
            else:
                done = {"id": _next_id("fc"), "type": "function_call", "status": "completed",
                        "call_id": item.call_id, "name": item.name, "arguments": json.dumps(item.arguments)}
                await send("response.output_item.added", {"output_index": index, "item": {**done, "arguments": ""}})
            await send("response.output_item.done", {"output_index": index, "item": done})
            output.append(done)
        usage = {"input_tokens": step.input_tokens, "output_tokens": step.output_tokens,
                 "total_tokens": step.input_tokens + step.output_tokens,
                 "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}
        await send("response.completed", {"response": {"id": response_id, "object": "response",
                                                       "status": "completed", "output": output, "usage": usage}})
        await response.write_eof()
        return response
