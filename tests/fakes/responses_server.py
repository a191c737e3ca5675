"""A fake OpenAI Responses API (``POST /v1/responses``, streamed) for tests: real HTTP + SSE on
127.0.0.1, answering from a script (the vocabulary of ``scripted_server``; ``FunctionCall`` is its
``ToolCall``). Codex talks to it through a custom model provider (``base_url`` = ``fake.url +
"/v1"``, ``wire_api = "responses"``).

    fake = FakeResponses()
    fake.script(Turn(FunctionCall("shell", {"command": ["bash", "-lc", "echo hi"]})), Turn(Text("done")))

Each streamed request is a turn and takes the next step; the stream is ``response.created``,
per output item ``response.output_item.added`` / (``response.output_text.delta`` pieces) /
``response.output_item.done``, then ``response.completed`` with ``usage``. Anything else
(``GET /v1/models``, ...) gets ``{}`` or an empty model list.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .scripted_server import ErrorReply, Recorded, ScriptedServer, Text, ToolCall, Turn, chunks

FunctionCall = ToolCall


class FakeResponses(ScriptedServer):
    def conversation_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/responses")]

    async def _route(self, request: web.Request, record: Recorded, body: Any) -> web.StreamResponse | None:
        if record.method == "POST" and record.path.endswith("/responses"):
            return None
        if record.path.endswith("/models"):
            return web.json_response({"object": "list", "data": [], "models": []})
        return web.json_response({})

    def _error_body(self, step: ErrorReply) -> dict[str, Any]:
        return {"error": {"message": step.message, "type": step.kind or "invalid_request_error", "code": None}}

    async def _reply(self, request: web.Request, record: Recorded, body: Any, turn: Turn) -> web.StreamResponse:
        response = await self._open_stream(request)
        response_id = self.next_id("resp")

        async def send(kind: str, data: dict[str, Any]) -> None:
            await self._send(response, turn, {"type": kind, **data}, event=kind)

        await send("response.created", {"response": {"id": response_id, "object": "response",
                                                     "status": "in_progress", "output": []}})
        output: list[dict[str, Any]] = []
        for index, item in enumerate(turn.parts):
            if isinstance(item, Text):
                item_id = self.next_id("msg")
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
            elif isinstance(item, ToolCall):
                done = {"id": self.next_id("fc"), "type": "function_call", "status": "completed",
                        "call_id": item.id, "name": item.name, "arguments": json.dumps(item.arguments)}
                await send("response.output_item.added", {"output_index": index, "item": {**done, "arguments": ""}})
            else:
                continue
            await send("response.output_item.done", {"output_index": index, "item": done})
            output.append(done)
        usage = {"input_tokens": turn.input_tokens, "output_tokens": turn.output_tokens,
                 "total_tokens": turn.input_tokens + turn.output_tokens,
                 "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}
        await send("response.completed", {"response": {"id": response_id, "object": "response",
                                                       "status": "completed", "output": output, "usage": usage}})
        await response.write_eof()
        return response
