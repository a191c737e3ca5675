"""A fake Anthropic Messages API for tests: real HTTP + SSE on 127.0.0.1, answers from a script
(the vocabulary of ``scripted_server``; ``ToolUse`` is its ``ToolCall`` with Anthropic's ids).

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

``python -m tests.fakes.anthropic_server --port 8765 --text hello`` serves a fixed reply, for
poking at the CLI by hand.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from . import scripted_server as base
from .scripted_server import ErrorReply, Recorded, ScriptedServer, Text, Thinking, ToolCall, Turn

for_main, for_subagent = base.for_main, base.for_subagent
DEFAULT_MODEL = "claude-sonnet-4-5-20250929"


class ToolUse(ToolCall):
    prefix = "toolu"


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


class FakeAnthropic(ScriptedServer):
    #: ``side`` is only known once a request is answered.
    notify_when_answered = True
    default_model = DEFAULT_MODEL
    by_hand_port = 8765

    def conversation_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith("/v1/messages") and not r.side
                and not r.path.endswith("count_tokens")]

    async def _route(self, request: web.Request, record: Recorded, body: Any) -> web.StreamResponse | None:
        if request.method != "POST" or not request.path.startswith("/v1/messages"):
            return web.json_response({})  # HEAD /, GET /v1/models, telemetry: anything goes
        if request.path.endswith("/count_tokens"):
            return web.json_response({"input_tokens": max(1, len(json.dumps(body)) // 4)})
        if is_side_request(body):
            return await self._side_reply(request, record, body)
        return None

    def _error_body(self, step: ErrorReply) -> dict[str, Any]:
        return {"type": "error", "error": {"type": step.kind or "api_error", "message": step.message}}

    def _error_headers(self, step: ErrorReply) -> dict[str, str]:
        return {**super()._error_headers(step), "request-id": self.next_id("req")}

    async def _reply(self, request: web.Request, record: Recorded, body: Any, turn: Turn) -> web.StreamResponse:
        model = self._model(record, turn)
        message_id = self.next_id("msg")
        content = [_final_block(b) for b in turn.parts]
        stop_reason = turn.stop or ("tool_use" if turn.calls else "end_turn")
        usage = {"input_tokens": turn.input_tokens, "output_tokens": turn.output_tokens,
                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        if not (isinstance(body, dict) and body.get("stream")):
            return web.json_response({"id": message_id, "type": "message", "role": "assistant", "model": model,
                                      "content": content, "stop_reason": stop_reason, "stop_sequence": None,
                                      "usage": usage})
        response = await self._open_stream(request, **{"request-id": self.next_id("req")})

        async def send(kind: str, data: dict[str, Any]) -> None:
            await self._send(response, turn, {"type": kind, **data}, event=kind)

        await send("message_start", {"message": {
            "id": message_id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {**usage, "output_tokens": 1}}})
        await send("ping", {})
        for index, block in enumerate(turn.parts):
            start, deltas = _stream_block(block)
            await send("content_block_start", {"index": index, "content_block": start})
            for delta in deltas:
                if record.first_delta_at is None:
                    record.first_delta_at, record.first_delta_wall = time.monotonic(), time.time()
                await send("content_block_delta", {"index": index, "delta": delta})
            await send("content_block_stop", {"index": index})
        if turn.hang:
            await self.hold_open()
            return response
        await send("message_delta", {"delta": {"stop_reason": stop_reason, "stop_sequence": None},
                                     "usage": {"output_tokens": turn.output_tokens}})
        await send("message_stop", {})
        await response.write_eof()
        return response


def _final_block(block: base.Part) -> dict[str, Any]:
    if isinstance(block, Text):
        return {"type": "text", "text": block.text}
    if isinstance(block, Thinking):
        return {"type": "thinking", "thinking": block.text, "signature": block.signature}
    return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.arguments}


def _stream_block(block: base.Part) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if isinstance(block, Text):
        return ({"type": "text", "text": ""},
                [{"type": "text_delta", "text": c} for c in base.chunks(block.text, block.chunk)])
    if isinstance(block, Thinking):
        deltas: list[dict[str, Any]] = [{"type": "thinking_delta", "thinking": c}
                                        for c in base.chunks(block.text, block.chunk)]
        deltas.append({"type": "signature_delta", "signature": block.signature})
        return {"type": "thinking", "thinking": "", "signature": ""}, deltas
    encoded = json.dumps(block.arguments)
    return ({"type": "tool_use", "id": block.id, "name": block.name, "input": {}},
            [{"type": "input_json_delta", "partial_json": c} for c in base.chunks(encoded, 16)])


if __name__ == "__main__":
    base.serve_by_hand(FakeAnthropic, __doc__.splitlines()[0])
