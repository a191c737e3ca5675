"""A fake Gemini API (``generativelanguage.googleapis.com`` v1beta) for tests: real HTTP + SSE on
127.0.0.1, answering from a script (the vocabulary of ``scripted_server``; ``FunctionCall`` is
its ``ToolCall``, ``Thought`` its ``Thinking``, an ``ErrorReply``'s ``kind`` the status word).

The real Gemini CLI talks to it through ``GOOGLE_GEMINI_BASE_URL`` = ``fake.url``.

- ``POST /v1beta/models/<model>:streamGenerateContent?alt=sse`` is a turn of the conversation and
  takes the next scripted step; it streams ``data: {GenerateContentResponse}`` events, each with
  one candidate whose ``content.parts`` hold ``text`` pieces, ``thought`` parts or a
  ``functionCall``; the last one carries ``finishReason`` and ``usageMetadata``.
- ``POST .../<model>:generateContent`` (not streamed) is one of the CLI's helper calls (the model
  router's classifier, the next-speaker check, ...): it is answered from the request's
  ``responseJsonSchema``/``responseSchema`` without consuming the script, and marked ``side``.
- ``:countTokens`` gets an estimate; anything else gets ``{}``.

By hand (a fixed reply, to poke at the CLI): ``python -m tests.fakes.gemini_server --port 8767``.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from . import scripted_server as base
from .scripted_server import ErrorReply, Recorded, ScriptedServer, Text, Thinking, ToolCall, Turn

DEFAULT_MODEL = "gemini-2.5-flash"
Thought = Thinking


class FunctionCall(ToolCall):
    prefix = "fc"


def _schema_answer(schema: Any) -> Any:
    """A value that satisfies a (JSON or Gemini) response schema, for helper calls."""
    if not isinstance(schema, dict):
        return "fake"
    kind = str(schema.get("type", "object")).lower()
    if schema.get("enum"):
        return schema["enum"][0]
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: _schema_answer(sub) for name, sub in properties.items()}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return max(1, int(schema.get("minimum", 1)))
    if kind == "boolean":
        return False
    return "fake"


class FakeGemini(ScriptedServer):
    default_model = DEFAULT_MODEL
    by_hand_port = 8767

    def conversation_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith(":streamGenerateContent") and not r.side]

    async def _route(self, request: web.Request, record: Recorded, body: Any) -> web.StreamResponse | None:
        path = request.path
        if request.method != "POST":
            return web.json_response({})
        if path.endswith(":countTokens"):
            return web.json_response({"totalTokens": max(1, len(json.dumps(body)) // 4)})
        if path.endswith(":generateContent"):
            record.side = True
            return web.json_response(self._side_answer(body, record.model))
        if not path.endswith(":streamGenerateContent"):
            return web.json_response({})
        return None

    def _error_body(self, step: ErrorReply) -> dict[str, Any]:
        return {"error": {"code": step.status, "message": step.message, "status": step.kind or "INTERNAL"}}

    def _side_answer(self, body: Any, model: str | None) -> dict[str, Any]:
        config = (body or {}).get("generationConfig") or {} if isinstance(body, dict) else {}
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
        text = json.dumps(_schema_answer(schema)) if schema is not None else self.side_text
        return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP",
                                "index": 0}],
                "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 3, "totalTokenCount": 8},
                "modelVersion": model or DEFAULT_MODEL}

    async def _reply(self, request: web.Request, record: Recorded, body: Any, turn: Turn) -> web.StreamResponse:
        model = self._model(record, turn)
        response_id = self.next_id("resp")
        response = await self._open_stream(request)

        async def send(parts: list[dict[str, Any]], finish: bool = False) -> None:
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
            chunk: dict[str, Any] = {"candidates": [candidate], "modelVersion": model, "responseId": response_id}
            if finish:
                candidate["finishReason"] = turn.stop or "STOP"
                usage = {"promptTokenCount": turn.input_tokens, "candidatesTokenCount": turn.output_tokens,
                         "totalTokenCount": turn.input_tokens + turn.output_tokens + turn.thoughts_tokens}
                if turn.cached_tokens:
                    usage["cachedContentTokenCount"] = turn.cached_tokens
                if turn.thoughts_tokens:
                    usage["thoughtsTokenCount"] = turn.thoughts_tokens
                chunk["usageMetadata"] = usage
            await self._send(response, turn, chunk, end="\r\n\r\n")

        pieces: list[dict[str, Any]] = []
        for part in turn.parts:
            if isinstance(part, Text):
                pieces.extend({"text": c} for c in base.chunks(part.text, part.chunk))
            elif isinstance(part, Thinking):
                pieces.append({"text": part.text, "thought": True})
            else:
                pieces.append({"functionCall": {"name": part.name, "args": part.arguments, "id": part.id}})
        if turn.hang:
            for piece in pieces:
                await send([piece])
            await self.hold_open()  # ended by stop(), or cancelled when the client disconnects
            return response
        for piece in pieces[:-1]:
            await send([piece])
        await send(pieces[-1:] if pieces else [{"text": ""}], finish=True)
        await response.write_eof()
        return response


if __name__ == "__main__":
    base.serve_by_hand(FakeGemini, __doc__.splitlines()[0])
