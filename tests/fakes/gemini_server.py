"""A fake Gemini API (``generativelanguage.googleapis.com`` v1beta) for tests: real HTTP + SSE on
127.0.0.1, answering from a script.

The real Gemini CLI talks to it through ``GOOGLE_GEMINI_BASE_URL`` = ``fake.url``. Every request
is recorded, so a test can assert what the CLI sent (e.g. that a resumed conversation carries
the earlier turns).

- ``POST /v1beta/models/<model>:streamGenerateContent?alt=sse`` is a turn of the conversation and
  takes the next scripted step; it streams ``data: {GenerateContentResponse}`` events, each with
  one candidate whose ``content.parts`` hold ``text`` pieces, ``thought`` parts or a
  ``functionCall``; the last one carries ``finishReason`` and ``usageMetadata``.
- ``POST .../<model>:generateContent`` (not streamed) is one of the CLI's helper calls (the model
  router's classifier, the next-speaker check, ...): it is answered from the request's
  ``responseJsonSchema``/``responseSchema`` (the router gets ``complexity_reasoning`` and
  ``complexity_score``) without consuming the script, and marked ``side``.
- ``:countTokens`` gets an estimate; anything else gets ``{}``.

    fake = FakeGemini()
    fake.script(Turn(FunctionCall("run_shell_command", {"command": "echo hi"})), Turn(Text("done")))
    async with fake:
        ... GOOGLE_GEMINI_BASE_URL=fake.url ...

When the script runs out the fake answers a visible "no scripted turn left" text (counted in
``unscripted``) rather than an error, which the CLI would retry.

``python -m tests.fakes.gemini_server --port 8767 --text hello`` serves a fixed reply, for poking
at the CLI by hand.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .scripted_server import ScriptedServer, id_maker
from .scripted_server import chunks as _chunks

DEFAULT_MODEL = "gemini-2.5-flash"
_next_id = id_maker()


# --------------------------------------------------------------------------- script


@dataclass
class Text:
    text: str
    #: Characters per streamed event (so one reply arrives as several deltas).
    chunk: int = 8


@dataclass
class Thought:
    """A thought summary part (``thought: true``), as thinking models stream it."""

    text: str


@dataclass
class FunctionCall:
    name: str
    args: dict[str, Any]
    id: str = field(default_factory=lambda: _next_id("fc"))


Part = Text | Thought | FunctionCall


@dataclass
class Turn:
    """One model reply, streamed as SSE."""

    parts: list[Part]
    finish_reason: str = "STOP"
    model: str | None = None
    prompt_tokens: int = 12
    candidates_tokens: int = 7
    cached_tokens: int = 0
    thoughts_tokens: int = 0
    delay_s: float = 0.0
    #: After the last part, keep the stream open until the server stops (for interrupt tests).
    hang: bool = False
    match: Callable[[Recorded], bool] | None = None

    def __init__(self, *parts: Part, finish_reason: str = "STOP", model: str | None = None,
                 prompt_tokens: int = 12, candidates_tokens: int = 7, cached_tokens: int = 0,
                 thoughts_tokens: int = 0, delay_s: float = 0.0, hang: bool = False,
                 match: Callable[[Recorded], bool] | None = None) -> None:
        self.parts = list(parts)
        self.finish_reason = finish_reason
        self.model = model
        self.prompt_tokens = prompt_tokens
        self.candidates_tokens = candidates_tokens
        self.cached_tokens = cached_tokens
        self.thoughts_tokens = thoughts_tokens
        self.delay_s = delay_s
        self.hang = hang
        self.match = match


@dataclass
class ErrorReply:
    """An HTTP error with Google's error body (``{"error": {code, message, status}}``), ``times``
    times in a row (the CLI retries 429 and 5xx)."""

    status: int
    message: str
    status_text: str = "INTERNAL"
    times: int = 1
    match: Callable[[Recorded], bool] | None = None


Step = Turn | ErrorReply


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    at: float
    step: int | None = None
    side: bool = False

    @property
    def model(self) -> str | None:
        """The model in the path (``/v1beta/models/<model>:<method>``)."""
        if "/models/" not in self.path:
            return None
        return self.path.split("/models/", 1)[1].split(":", 1)[0]

    @property
    def contents(self) -> list[dict[str, Any]]:
        return list((self.body or {}).get("contents") or []) if isinstance(self.body, dict) else []

    def text(self) -> str:
        """Every text, function call and function response in the request's contents."""
        parts: list[str] = []
        for content in self.contents:
            for part in content.get("parts") or []:
                if not isinstance(part, dict):
                    continue
                if isinstance(part.get("text"), str):
                    parts.append(part["text"])
                if isinstance(part.get("functionCall"), dict):
                    parts.append(json.dumps(part["functionCall"], sort_keys=True))
                if isinstance(part.get("functionResponse"), dict):
                    parts.append(json.dumps(part["functionResponse"], sort_keys=True))
        return "\n".join(parts)


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


# --------------------------------------------------------------------------- server


class FakeGemini(ScriptedServer):
    steps: list[Step]
    requests: list[Recorded]

    def conversation_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith(":streamGenerateContent") and not r.side]

    # -- handlers ----------------------------------------------------------------------------
    def _record(self, request: web.Request, body: Any, at: float, wall: float) -> Recorded:
        return Recorded(request.method, request.path, dict(request.query), dict(request.headers), body, at)

    async def _answer(self, request: web.Request, record: Recorded, body: Any) -> web.StreamResponse:
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
        index, step = self._take(record)
        record.step = index
        if step is None:
            self.unscripted += 1
            return await self._stream(request, record, Turn(Text("[fake server: no scripted turn left]")))
        if isinstance(step, ErrorReply):
            return web.json_response(
                {"error": {"code": step.status, "message": step.message, "status": step.status_text}},
                status=step.status)
        return await self._stream(request, record, step)

    def _side_answer(self, body: Any, model: str | None) -> dict[str, Any]:
        config = (body or {}).get("generationConfig") or {} if isinstance(body, dict) else {}
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
        text = json.dumps(_schema_answer(schema)) if schema is not None else "Fake side answer"
        return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP",
                                "index": 0}],
                "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 3, "totalTokenCount": 8},
                "modelVersion": model or DEFAULT_MODEL}

    async def _stream(self, request: web.Request, record: Recorded, turn: Turn) -> web.StreamResponse:
        model = turn.model or record.model or DEFAULT_MODEL
        response_id = _next_id("resp")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)

        async def send(parts: list[dict[str, Any]], finish: bool = False) -> None:
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
            chunk: dict[str, Any] = {"candidates": [candidate], "modelVersion": model, "responseId": response_id}
            if finish:
                candidate["finishReason"] = turn.finish_reason
                usage = {"promptTokenCount": turn.prompt_tokens, "candidatesTokenCount": turn.candidates_tokens,
                         "totalTokenCount": turn.prompt_tokens + turn.candidates_tokens + turn.thoughts_tokens}
                if turn.cached_tokens:
                    usage["cachedContentTokenCount"] = turn.cached_tokens
                if turn.thoughts_tokens:
                    usage["thoughtsTokenCount"] = turn.thoughts_tokens
                chunk["usageMetadata"] = usage
            await response.write(f"data: {json.dumps(chunk)}\r\n\r\n".encode())
            if turn.delay_s:
                await asyncio.sleep(turn.delay_s)

        pieces: list[dict[str, Any]] = []
        for part in turn.parts:
            if isinstance(part, Text):
                pieces.extend({"text": c} for c in _chunks(part.text, part.chunk))
            elif isinstance(part, Thought):
                pieces.append({"text": part.text, "thought": True})
            else:
                pieces.append({"functionCall": {"name": part.name, "args": part.args, "id": part.id}})
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


# --------------------------------------------------------------------------- by hand


def _main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--text", default="Hello from the fake server.")
    args = parser.parse_args()

    async def serve() -> None:
        fake = FakeGemini(port=args.port)
        fake.steps = [Turn(Text(args.text)) for _ in range(1000)]
        async with fake:
            print(f"fake Gemini API on {fake.url}", flush=True)
            await asyncio.Event().wait()  # until Ctrl-C

    asyncio.run(serve())


if __name__ == "__main__":
    _main()
