"""The converter interface the runner drives. Stdlib only."""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Iterable

from ..wire import now_iso

# ``typing`` only for the type checker: importing it costs the runner ~2.5 ms of start-up per query.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: A log line longer than this is cut (an agent printing megabytes of garbage must not bloat the log).
MAX_LOG_TEXT = 4096


def import_root(module_name: str, module_file: str) -> str:
    """The folder to put on ``sys.path`` so ``module_name`` imports as itself: its package nests
    deeper on the host (``runtime.runner.converters``) than in the sandbox (``agent_runner.converters``)."""
    root = os.path.abspath(module_file)
    for _ in range(module_name.count(".") + 1):
        root = os.path.dirname(root)
    return root


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (agent output is never trusted)."""
    return value if isinstance(value, dict) else {}


def truncate_output(text: str, limit: int) -> tuple[str, int]:
    """``text`` cut to ``limit`` UTF-8 bytes, with a note saying so, and how many bytes were dropped."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text, 0
    kept = data[:limit].decode("utf-8", "ignore")
    return f"{kept}\n[output truncated at {limit} bytes]\n", len(data) - limit


def make_event(
    kind: str, payload: dict[str, Any], conversation_id: str = "main", timestamp: str | None = None
) -> dict[str, Any]:
    return {
        "type": kind,
        "payload": payload,
        "timestamp": timestamp or now_iso(),
        "conversationId": conversation_id,
        "source": "runner",
    }


def log_event(level: str, message: str, data: Any = None) -> dict[str, Any]:
    if len(message) > MAX_LOG_TEXT:
        message = message[:MAX_LOG_TEXT] + f"… [{len(message) - MAX_LOG_TEXT} more characters]"
    payload: dict[str, Any] = {"level": level, "message": message}
    if data is not None:
        payload["data"] = data
    return make_event("log", payload)


class Converter:
    """Base converter: every stdout line is parsed as JSON and handed to ``convert``.

    Subclasses override ``convert``; lines that are not JSON become ``log`` warnings and the
    query goes on. ``finish`` returns the closing events and, for a failed query,
    ``{"error": ..., "code": ...}``.
    """

    def __init__(self, request: dict[str, Any]) -> None:
        self.request = request
        self._agent_input: list[str] = []

    # -- before the agent starts --------------------------------------------------------------
    def prepare(self, argv: list[str], env: dict[str, str]) -> list[str]:
        """The command line to run, adjusted to what is in the sandbox (the host built ``argv``
        without seeing it; e.g. Claude Code resumes only a conversation whose files exist).
        ``env`` is the agent's final environment. Default: ``argv`` unchanged."""
        return argv

    # -- agent stdin -------------------------------------------------------------------------
    def initial_input(self) -> list[str]:
        """Lines to write to the agent's stdin right after it starts."""
        return []

    def keeps_stdin_open(self) -> bool:
        """Whether the agent reads more from stdin later (control protocols)."""
        return False

    def take_agent_input(self) -> list[str]:
        lines, self._agent_input = self._agent_input, []
        return lines

    def send_to_agent(self, message: dict[str, Any]) -> None:
        self._agent_input.append(json.dumps(message, separators=(",", ":")))

    def done(self) -> bool:
        """True once the agent's final result has been seen (its stdin may then be closed)."""
        return False

    # -- agent output ------------------------------------------------------------------------
    def feed(self, line: str) -> list[dict[str, Any]]:
        try:
            message = json.loads(line)
        except ValueError:
            return [log_event("warn", f"unparseable agent output: {line}")]
        if not isinstance(message, dict):
            return [log_event("warn", f"unexpected agent output: {line}")]
        try:
            return self.convert(message)
        except Exception as exc:  # noqa: BLE001 - a converter bug must not end the query
            return [
                log_event(
                    "warn",
                    f"could not convert agent output ({type(exc).__name__}: {exc})",
                    {"line": line[:MAX_LOG_TEXT]},
                )
            ]

    def convert(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        return [log_event("debug", "agent output", message)]

    def on_stderr(self, line: str) -> list[dict[str, Any]]:
        return [log_event("info", line)] if line.strip() else []

    def on_control(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        return [log_event("warn", f"control message {message.get('type')!r} not supported by this agent")]

    def finish(
        self, exit_code: int, *, interrupted: bool = False
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        if exit_code != 0 and not interrupted:
            return [], {"error": f"agent {exit_description(exit_code)}", "code": "AGENT_EXITED"}
        return [], None


def exit_description(exit_code: int) -> str:
    """``exited with code 3``, or for a negative code (subprocess's "killed by a signal")
    ``was killed by signal 9 (SIGKILL)``: what a user can act on."""
    if exit_code >= 0:
        return f"exited with code {exit_code}"
    import signal

    try:
        name = f" ({signal.Signals(-exit_code).name})"
    except ValueError:
        name = ""
    return f"was killed by signal {-exit_code}{name}"


def stderr_line(tail: deque[str], line: str) -> list[dict[str, Any]]:
    """A line of the agent's stderr: logged, and kept (stripped) in ``tail`` when not blank, so
    the exit message can quote the last ones."""
    if not line.strip():
        return []
    tail.append(line.strip())
    return [log_event("info", line)]


def exited_failure(agent: str, exit_code: int, tail: Iterable[str]) -> dict[str, Any]:
    """The query's failure when ``agent`` exited non-zero, quoting its last stderr lines."""
    detail = " | ".join(tail)
    message = f"{agent} {exit_description(exit_code)}" + (f": {detail}" if detail else "")
    return {"error": message, "code": "AGENT_EXITED"}
