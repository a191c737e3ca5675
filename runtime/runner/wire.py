"""stdout/stdin framing of the runner: one JSON document per line."""

from __future__ import annotations

import json
import sys
import threading
from datetime import datetime, timezone

# ``typing`` only for the type checker: importing it costs the runner ~2.5 ms of start-up per query.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_lock = threading.Lock()


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")  # noqa: UP017


def emit(*docs: dict[str, Any]) -> None:
    """Print documents as JSON lines and flush, atomically with respect to other threads."""
    text = "".join(json.dumps(d, ensure_ascii=False, separators=(",", ":")) + "\n" for d in docs)
    with _lock:
        sys.stdout.write(text)
        sys.stdout.flush()


class Lines:
    """``emit`` as an object a driver hands to its threads: whole JSON lines, never interleaved."""

    def line(self, message: dict[str, Any]) -> None:
        emit(message)


def event(kind: str, payload: dict[str, Any], conversation_id: str = "main") -> dict[str, Any]:
    return {
        "type": kind,
        "payload": payload,
        "timestamp": now_iso(),
        "conversationId": conversation_id,
        "source": "runner",
    }


def log(level: str, message: str, data: Any = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"level": level, "message": message}
    if data is not None:
        payload["data"] = data
    return event("log", payload)


def script_output(success: bool, error: str | None = None, data: Any = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": "script_output", "success": success}
    if error is not None:
        doc["error"] = error
    if data is not None:
        doc["data"] = data
    return doc


def query_result(success: bool, error: str | None = None, code: str | None = None) -> dict[str, Any]:
    """The runner's last line of ``execute-query``: how the agent ended (not a SessionEvent)."""
    doc: dict[str, Any] = {"type": "query_result", "success": success}
    if error is not None:
        doc["error"] = error
    if code is not None:
        doc["code"] = code
    return doc


def read_request() -> dict[str, Any]:
    line = sys.stdin.readline()
    if not line:
        raise SystemExit("runner: no request on stdin")
    request = json.loads(line)
    if not isinstance(request, dict):
        raise SystemExit("runner: request must be a JSON object")
    return request
