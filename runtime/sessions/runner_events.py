"""The ingress gate: what a runner prints, checked once before it becomes an event.

The runner's stdout is untrusted: the agent shares the sandbox with the runner and can rewrite it.
Every line becomes either an event this runtime can store exactly as it delivers it, show in every
view (the wire models validate it) and fold with the reducer, or a ``log`` warning that says what
was wrong. In particular nothing a runner prints can:

- make the store fail (lone surrogates, integers beyond 64 bits, nesting deeper than the encoder
  takes): a failed write fails every session's events in that group commit;
- be stored differently from what subscribers were sent (``NaN``/``Infinity`` would be ``null``
  in the store and invalid JSON on the wire);
- break a session's summary or detail (a block whose fields do not fit its type, an unknown block
  type, a pending permission whose fields are not strings);
- touch what only the runtime decides (a ``user_message`` marked ``queued``).

Each line is decoded once (orjson; the stdlib parser only for what orjson refuses and can be
repaired: lone surrogates), repaired once (``jsonsafe.repair``), checked once, and its payload
encoded once: that text (``payloadJson`` on the draft) is what the store writes, so neither the bus
nor the store encodes the payload again. Integers beyond 64 bits arrive as floats (orjson reads
them as JavaScript would); the event types and payload shapes are ``runtime/runner/protocol.py``'s.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError

from ..jsonsafe import INT_RANGE, repair_text, storable_text
from ..models import BLOCK_MODELS
from ..runner.protocol import RUNNER_EVENT_TYPES

__all__ = ["RUNNER_EVENT_TYPES", "KnownBlock", "Malformed", "decode", "encode_storable", "parse_runner_line"]

#: Looks up the block ``(conversation id, block id)`` as the log has it so far (None: new).
KnownBlock = Callable[[str, str], dict[str, Any] | None]

_SHOWN = 2000


class Malformed(ValueError):
    """The line is JSON but not an event this runtime accepts (the message says why)."""


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:40]}")
    return value


def _bounded_int(text: str) -> int:
    value = int(text)
    if not INT_RANGE[0] <= value <= INT_RANGE[1]:
        raise ValueError(f"integer out of range: {text[:40]}")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _strict_loads(line: bytes) -> Any:
    # The slow path (~6x orjson): Python hooks on every number. It accepts lone surrogates,
    # which ``repair`` then replaces, and refuses what orjson also refuses.
    try:
        return json.loads(
            line, parse_constant=_refuse_constant, parse_float=_finite, parse_int=_bounded_int
        )
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc


def decode(line: bytes) -> Any:
    """Strict JSON (no NaN/Infinity, finite numbers). Raises ``ValueError``."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        # orjson refuses a lone surrogate escape ("\ud800"), which a broken runner prints and
        # which is kept (repaired) rather than losing the whole line.
        return _strict_loads(line)


def encode_storable(payload: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """``payload`` as the store takes it (lone surrogates replaced) and its JSON text, or
    ``Malformed``. The text is the one encoding of the payload on its way to the store."""
    try:
        return storable_text(payload)  # type: ignore[no-any-return]
    except TypeError as exc:
        raise Malformed(f"it cannot be stored ({exc})") from exc


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _str(payload: dict[str, Any], name: str, *, required: bool = False, empty: bool = True) -> None:
    value = payload.get(name)
    if value is None:
        if required:
            raise Malformed(f"{name} is missing")
        return
    if not isinstance(value, str) or (not empty and not value):
        raise Malformed(f"{name} must be a{'' if empty else ' non-empty'} string")


def _check_block(
    payload: dict[str, Any], conversation_id: str, known: KnownBlock, seen: dict[tuple[str, str], dict[str, Any]]
) -> None:
    block = payload.get("block")
    if not isinstance(block, dict):
        raise Malformed("block must be an object")
    _str(block, "id", required=True, empty=False)
    if block.get("queued") is not None:
        raise Malformed("only agent-tui queues messages")
    key = (conversation_id, block["id"])
    current = seen.get(key) or known(*key)
    merged = {**current, **block} if current is not None else {"status": "complete", **block}
    block_type = merged.get("type")
    model = BLOCK_MODELS.get(block_type) if isinstance(block_type, str) else None
    if model is None:
        raise Malformed(f"unknown block type {str(merged.get('type'))[:40]!r}")
    try:
        model.model_validate(merged)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)[:3]
        )
        raise Malformed(f"the {merged['type']} block does not fit its type ({problems})") from None
    seen[key] = merged


def _check(
    kind: str,
    payload: dict[str, Any],
    conversation_id: str,
    known: KnownBlock,
    seen: dict[tuple[str, str], dict[str, Any]],
) -> None:
    match kind:
        case "block:upsert":
            _check_block(payload, conversation_id, known, seen)
        case "block:delta":
            _str(payload, "blockId", required=True, empty=False)
            _str(payload, "delta", required=True)
        case "metadata:update":
            usage = payload.get("usage")
            if usage is not None and (
                not isinstance(usage, dict) or not all(v is None or _is_number(v) for v in usage.values())
            ):
                raise Malformed("usage must be an object of numbers")
            if payload.get("costUsd") is not None and not _is_number(payload["costUsd"]):
                raise Malformed("costUsd must be a number")
            _str(payload, "model")
        case "subagent:spawned" | "subagent:completed":
            _str(payload, "toolUseId", required=True, empty=False)
            for name in ("agentId", "prompt", "subagentType", "description"):
                _str(payload, name)
            if payload.get("durationMs") is not None and not _is_int(payload["durationMs"]):
                raise Malformed("durationMs must be an integer")
            if kind == "subagent:completed" and payload.get("status") not in (None, "completed", "failed"):
                raise Malformed("status must be completed or failed")
        case "file:created" | "file:modified" | "file:deleted":
            _str(payload, "path", required=True, empty=False)
            if payload.get("size") is not None and not _is_int(payload["size"]):
                raise Malformed("size must be an integer")
        case "permission:requested":
            _str(payload, "requestId", required=True, empty=False)
            _str(payload, "toolName", required=True)
            for name in ("toolUseId", "title"):
                _str(payload, name)
            if payload.get("input") is not None and not isinstance(payload["input"], dict):
                raise Malformed("input must be an object")
        case "log":
            if payload.get("level") not in ("debug", "info", "warn", "error"):
                raise Malformed("level must be debug, info, warn or error")
            _str(payload, "message", required=True)
        case "error":
            _str(payload, "message", required=True)
            _str(payload, "code")
        case _:
            pass  # permission:resolved is rebuilt from scratch by the session


def _warning(message: str) -> dict[str, Any]:
    return {"type": "log", "payload": {"level": "warn", "message": message}, "source": "runner"}


def _timestamp(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value


def parse_runner_line(
    line: bytes, known: KnownBlock, seen: dict[tuple[str, str], dict[str, Any]]
) -> dict[str, Any]:
    """One runner stdout line -> an event draft, the ``query_result`` document, or a warning.

    ``seen`` carries the blocks upserted earlier in the same batch (not in the log yet)."""
    try:
        doc = decode(line)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("type"), str):
        text = repair_text(line[:_SHOWN].decode("utf-8", "replace"))
        more = f" … ({len(line)} bytes)" if len(line) > _SHOWN else ""
        return _warning(f"unparseable runner output: {text}{more}")
    kind = repair_text(doc["type"])
    if kind == "query_result":
        return doc
    payload = doc.get("payload", {})
    if kind not in RUNNER_EVENT_TYPES or not isinstance(payload, dict):
        return _warning(f"runner emitted an event this runtime does not accept from it: {kind[:100]}")
    conversation_id = doc.get("conversationId")
    conversation_id = (
        repair_text(conversation_id[:200]) if isinstance(conversation_id, str) and conversation_id else "main"
    )
    try:
        payload, text = encode_storable(payload or {})
        _check(kind, payload, conversation_id, known, seen)
    except Malformed as exc:
        return _warning(f"runner emitted a malformed {kind} event: {exc}")
    draft = {
        "type": kind,
        "payload": payload,
        "timestamp": _timestamp(doc.get("timestamp")),
        "conversationId": conversation_id,
        "source": "runner",
    }
    if kind != "permission:resolved":
        # A withdrawal's payload is rebuilt by the session (PermissionBroker.withdrawal): its
        # text would be stale, so the bus encodes that one.
        draft["payloadJson"] = text
    return draft
