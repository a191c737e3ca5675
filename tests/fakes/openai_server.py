"""A fake OpenAI-compatible Chat Completions API for tests: real HTTP + SSE on 127.0.0.1, answering
from a script (the vocabulary of ``scripted_server``).

The real OpenCode CLI talks to it through a custom provider (``@ai-sdk/openai-compatible`` with
``baseURL`` = ``fake.url``). Every request is recorded, so a test can assert what the CLI sent.

Each streamed ``POST .../chat/completions`` that offers tools is a turn of the conversation and
takes the next scripted step:

    fake = FakeOpenAI()
    fake.script(Turn(ToolCall("bash", {"command": "echo hi"})), Turn(Text("done")))
    async with fake:
        ... baseURL = fake.url ...

OpenCode also makes side requests that are not turns (a session title, from a request without
tools); they get ``side_text`` without consuming the script.

The stream is what OpenAI sends: ``data: {chat.completion.chunk}`` lines with ``delta.role``,
``delta.content`` pieces, ``delta.tool_calls`` (id and name first, then ``arguments`` pieces), a
chunk with ``finish_reason``, a usage-only chunk (``choices: []``) and ``data: [DONE]``.
An ``ErrorReply``'s ``retry_after_ms`` is sent as ``retry-after-ms`` (OpenCode waits that long
before retrying; without it, it backs off from 2 s).

By hand (a fixed reply, to poke at a CLI): ``python -m tests.fakes.openai_server --port 8766``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from . import scripted_server as base
from .scripted_server import ErrorReply, Recorded, ScriptedServer, Text, Thinking, Turn

DEFAULT_MODEL = "fake-model"
#: ``delta.reasoning_content`` pieces (what OpenAI-compatible reasoning models stream).
Reasoning = Thinking
ToolCall = base.ToolCall


class FakeOpenAI(ScriptedServer):
    default_model = DEFAULT_MODEL
    by_hand_port = 8766

    def __init__(self, *steps: Any, host: str = "127.0.0.1", port: int = 0, side_text: str = "Fake title") -> None:
        super().__init__(*steps, host=host, port=port, side_text=side_text)

    def conversation_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/chat/completions") and not r.side]

    @property
    def url(self) -> str:
        """The base URL a client appends ``/chat/completions`` to."""
        return f"http://{self.host}:{self.port}/v1"

    async def _route(self, request: web.Request, record: Recorded, body: Any) -> web.StreamResponse | None:
        if request.method == "GET" and request.path.endswith("/models"):
            return web.json_response({"object": "list", "data": [{"id": DEFAULT_MODEL, "object": "model"}]})
        if request.method != "POST" or not request.path.endswith("/chat/completions"):
            return web.json_response({})
        if not isinstance(body, dict) or not body.get("tools"):  # OpenCode's title request offers none
            return await self._side_reply(request, record, body)
        return None

    def _error_body(self, step: ErrorReply) -> dict[str, Any]:
        return {"error": {"message": step.message, "type": step.kind or "server_error", "param": None, "code": None}}

    async def _reply(self, request: web.Request, record: Recorded, body: Any, turn: Turn) -> web.StreamResponse:
        model = self._model(record, turn)
        completion_id = self.next_id("chatcmpl")
        created = int(time.time())
        finish = turn.stop or ("tool_calls" if turn.calls else "stop")
        usage: dict[str, Any] = {"prompt_tokens": turn.input_tokens, "completion_tokens": turn.output_tokens,
                                 "total_tokens": turn.input_tokens + turn.output_tokens}
        if turn.cached_tokens:
            usage["prompt_tokens_details"] = {"cached_tokens": turn.cached_tokens}
        if not (isinstance(body, dict) and body.get("stream")):
            message: dict[str, Any] = {"role": "assistant",
                                       "content": "".join(p.text for p in turn.parts if isinstance(p, Text)) or None}
            if turn.calls:
                message["tool_calls"] = [{"id": c.id, "type": "function",
                                          "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                                         for c in turn.calls]
            return web.json_response({"id": completion_id, "object": "chat.completion", "created": created,
                                      "model": model, "choices": [{"index": 0, "message": message,
                                                                   "finish_reason": finish}],
                                      "usage": usage})
        response = await self._open_stream(request)

        async def send(choices: list[dict[str, Any]], **extra: Any) -> None:
            await self._send(response, turn, {"id": completion_id, "object": "chat.completion.chunk",
                                              "created": created, "model": model, "choices": choices, **extra})

        def delta(content: dict[str, Any], finish_reason: str | None = None) -> list[dict[str, Any]]:
            return [{"index": 0, "delta": content, "finish_reason": finish_reason}]

        await send(delta({"role": "assistant", "content": ""}))
        call_index = 0
        for part in turn.parts:
            if isinstance(part, Text):
                for piece in base.chunks(part.text, part.chunk):
                    await send(delta({"content": piece}))
            elif isinstance(part, Thinking):
                for piece in base.chunks(part.text, part.chunk):
                    await send(delta({"reasoning_content": piece}))
            else:
                await send(delta({"tool_calls": [{"index": call_index, "id": part.id, "type": "function",
                                                  "function": {"name": part.name, "arguments": ""}}]}))
                for piece in base.chunks(json.dumps(part.arguments), 16):
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


if __name__ == "__main__":
    base.serve_by_hand(FakeOpenAI, __doc__.splitlines()[0])
