"""OpenCode ``run --format json`` lines -> SessionEvents. Stdlib only.

What ``opencode run --format json`` prints (one JSON object per line, each with ``type``,
``timestamp`` (ms), ``sessionID`` and, except for errors, the message ``part``), and what becomes
of it:

- ``step_start``: a model call begins; nothing to show.
- ``text``: a finished text part (OpenCode prints a part once it is complete, not its deltas)
  -> an ``assistant_text`` block, complete, id = the part id.
- ``reasoning`` (only printed with ``--thinking``): a finished reasoning part -> ``thinking``.
- ``tool_use``: a tool call that finished (``state.status`` ``completed`` or ``error``, with its
  ``input``, ``output`` or ``error``, ``metadata`` and ``time``) -> a ``tool_use`` block (id = the
  call id) and its ``tool_result`` (``<call id>:result``); ``isError`` when the tool failed or a
  shell command exited non-zero. The ``task`` tool runs a subagent: a ``subagent`` block plus
  ``subagent:spawned``/``subagent:completed`` (OpenCode does not print the subagent's own parts).
- ``step_finish``: ``tokens`` and ``cost`` of that model call -> ``metadata:update`` (increments).
- ``error``: the session failed (``error.name``, ``error.data.message``, ``statusCode``) -> an
  ``error`` event and a failed query.

Block ids are OpenCode's own part and call ids, so the saved database (``transcript_events``)
gives the same blocks as the live stream.

Before the CLI starts, ``prepare`` (in the sandbox) writes the ``opencode.json`` and
``AGENTS.md`` the host sent in ``AGENT_TUI_OPENCODE_SETUP``, and turns ``--continue`` into
``--session <id>`` of the conversation in OpenCode's database, or drops it when there is none
yet (an earlier query was stopped before OpenCode created it).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import sqlite3
import tempfile
import time
import zlib
from collections import deque

from .base import Converter, exited_failure, log_event, make_event, stderr_line
from .base import as_dict as _dict
from .base import truncate_output as _truncate
from .reaper import leftover_events, tag_environment
from .tool_kinds import tool_fields

# ``typing`` only for the type checker: importing it costs the runner ~2.5 ms of start-up per query.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Environment variable the host puts the config files in (see ``architectures/opencode.py``).
SETUP_ENV = "AGENT_TUI_OPENCODE_SETUP"
DEFAULT_OUTPUT_LIMIT = 1024 * 1024
SUBAGENT_TOOLS = frozenset({"task"})
#: OpenCode's tool (and permission) names -> kinds (tool_kinds.py); the rest are ``other``.
TOOL_KINDS = {"bash": "execute", "read": "read", "write": "edit", "edit": "edit", "patch": "edit",
              "multiedit": "edit", "glob": "search", "grep": "search", "list": "search", "webfetch": "fetch",
              "websearch": "fetch", "todowrite": "think", "todoread": "think"}
#: ``by`` of a ``permission:resolved`` that OpenCode (or the driver's auto-approval) caused.
CLI_NAME = "opencode"
#: A running shell command's output so far is re-sent at most this often (each update carries
#: all of it).
RUNNING_OUTPUT_INTERVAL_S = 0.25


def make_converter(request: dict[str, Any]) -> OpenCodeConverter:
    return OpenCodeConverter(request)


def _iso(ms: Any) -> str | None:
    """OpenCode's millisecond timestamps as ISO-8601 (None when absent)."""
    if not isinstance(ms, int | float):
        return None
    from datetime import datetime, timezone

    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)  # noqa: UP017 - stdlib-only module
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def error_text(error: Any) -> str:
    """A readable one-liner for an OpenCode error object (``{name, data: {message, statusCode}}``)."""
    if not isinstance(error, dict):
        return str(error) if error else "unknown error"
    data = _dict(error.get("data"))
    name = str(error.get("name") or "Error")
    message = data.get("message") or error.get("message") or ""
    status = data.get("statusCode")
    label = {"APIError": "API error", "ProviderAuthError": "provider authentication error",
             "UnknownError": "error", "MessageAbortedError": "aborted"}.get(name, name)
    if status:
        label = f"{label} {status}"
    return f"{label}: {message}" if message else label


def error_code(error: Any) -> str:
    name = error.get("name") if isinstance(error, dict) else None
    if name in ("APIError", "ProviderAuthError"):
        return "API_ERROR"
    if name == "MessageAbortedError":
        return "ABORTED"
    return "AGENT_ERROR"


_TASK_RESULT = re.compile(r"<task_result>\n?(.*?)\n?</task_result>", re.DOTALL)


def task_result(output: str) -> str:
    """The subagent's answer inside the ``task`` tool's output (``<task ...><task_result>...``)."""
    match = _TASK_RESULT.search(output)
    return match.group(1) if match else output


class OpenCodeConverter(Converter):
    def __init__(self, request: dict[str, Any]) -> None:
        super().__init__(request)
        self.limit = int(request.get("toolOutputLimit") or DEFAULT_OUTPUT_LIMIT)
        self.model: str | None = None
        self.session_id: str | None = None
        self.failure: dict[str, Any] | None = None
        self.ended = False
        self.run_tag: str | None = None
        self._model_sent = False
        self._stderr_tail: deque[str] = deque(maxlen=6)
        #: message id -> role, from ``message.updated`` (a user message's parts are the prompt).
        self._roles: dict[str, str] = {}
        #: Text/reasoning parts streaming as a pending block (their deltas are passed on).
        self._streaming: set[str] = set()
        #: part id -> the last events a part gave (an unchanged update gives nothing).
        self._emitted: dict[str, str] = {}
        self._errors: set[str] = set()
        self._steps: set[str] = set()
        self._tool_output_at: dict[str, float] = {}
        #: permission requests OpenCode is waiting on (id -> tool), until answered or replied.
        self.permission_requests: dict[str, str] = {}
        self._answered: set[str] = set()
        self._server_exit: int | None = None
        #: Permission mode ``bypass``: the driver approves what OpenCode still asks (nobody is asked).
        self.auto_approve = False
        #: child session id -> the ``task`` call running it; calls whose thread is open.
        self._children: dict[str, str] = {}
        self._spawned: set[str] = set()

    # ------------------------------------------------------------------ before the CLI starts

    def prepare(self, argv: list[str], env: dict[str, str]) -> list[str]:
        """Write the config files the host sent, pick the conversation to resume (only one that
        exists), and run ``opencode serve`` under the driver (``opencode_serve.py``)."""
        from .opencode_serve import driver_argv

        setup_text = env.pop(SETUP_ENV, None)
        setup = json.loads(setup_text) if setup_text else {}
        if setup:
            write_setup(setup, env)
        run = _dict(setup.get("run"))
        self.run_tag = tag_environment(env)
        if isinstance(run.get("model"), str):
            self.model = run["model"]
        self.auto_approve = bool(run.get("autoApprove"))
        options: dict[str, Any] = {"model": self.model, "autoApprove": self.auto_approve}
        if run.get("resume"):
            options["session"] = find_session(env.get("OPENCODE_DB") or "")
        return driver_argv(argv, self.run_tag, options)

    def initial_input(self) -> list[str]:
        """The prompt, as the driver's first stdin line; answers to permission requests follow."""
        return [json.dumps({"type": "prompt", "text": str(self.request.get("prompt") or "")})]

    def keeps_stdin_open(self) -> bool:
        return True

    # ------------------------------------------------------------------ driver lines

    def convert(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        kind = message.get("type")
        props = _dict(message.get("properties"))
        events: list[dict[str, Any]] = []
        if self.model and not self._model_sent:
            self._model_sent = True
            events.append(make_event("metadata:update", {"model": self.model}))
        if kind == "agent-tui.session":
            if isinstance(message.get("sessionID"), str):
                self.session_id = message["sessionID"]
            return events
        if kind == "agent-tui.messages":
            return [*events, *self._reconcile(message.get("messages"))]
        if kind == "agent-tui.end":
            self.ended = True
            return events
        if kind == "agent-tui.error":
            text = str(message.get("message") or "the OpenCode driver failed")
            if isinstance(message.get("exitCode"), int):
                # The server died: finish() quotes its last stderr lines (they may still be coming).
                self._server_exit = message["exitCode"]
                return events
            if self.failure is None:
                self.failure = {"error": text, "code": "AGENT_ERROR"}
            return [*events, make_event("error", {"message": text, "code": "AGENT_ERROR"})]
        if kind == "agent-tui.warning":
            return [*events, log_event("warn", str(message.get("message") or ""))]
        if kind == "agent-tui.unparseable":
            return [*events, log_event("warn", f"unparseable OpenCode event: {str(message.get('data'))[:2000]}")]
        session = props.get("sessionID")
        if session is None and isinstance(props.get("part"), dict):
            session = props["part"].get("sessionID")
        if session is None and isinstance(props.get("info"), dict):
            session = props["info"].get("sessionID")
        if self.session_id is not None and session is not None and session != self.session_id:
            return [*events, *self._subagent_event(str(kind), session, props)]
        handler = self._handlers.get(str(kind))
        if handler is None:
            return [*events, log_event("debug", f"OpenCode event of an unknown type: {str(kind)[:80]}",
                                       {"line": json.dumps(message)[:2000]})]
        return [*events, *handler(self, props)]

    def _subagent_event(self, kind: str, session: Any, props: dict[str, Any]) -> list[dict[str, Any]]:
        """An event of a subagent's own session (the ``task`` tool runs one as a child session):
        its text, reasoning and tool calls go to the subagent's thread (``conversationId`` = the
        task's tool call id, as for Claude Code's subagents). Its errors, retries and step ends
        are its own: they never end or fail the main query (the task tool reports the outcome)."""
        call_id = self._children.get(session) if isinstance(session, str) else None
        if call_id is None:
            return []  # a session that is not ours, or a child we have not seen start
        if kind in ("message.updated", "message.part.delta", "message.part.removed"):
            handler = self._handlers[kind]
        elif kind == "message.part.updated":
            part = _dict(props.get("part"))
            if part.get("type") == "step-finish":
                return []  # its tokens are in the task's own step (OpenCode counts them there)
            handler = self._handlers[kind]
        elif kind == "permission.asked":
            return self._permission_asked(props)  # asked of the user like any other
        elif kind == "permission.replied":
            return self._permission_replied(props)
        else:
            return []
        failure, steps = self.failure, self._steps
        self._steps = set()
        events = handler(self, props)
        self.failure, self._steps = failure, steps
        for event in events:
            if event["type"] in ("block:upsert", "block:delta"):
                event["conversationId"] = call_id
            elif event["type"] == "error":  # a failed subagent turn: shown, not the query's failure
                event["type"], event["payload"] = "log", {"level": "warn",
                                                          "message": f"subagent: {event['payload'].get('message')}"}
        return events

    def _message_updated(self, props: dict[str, Any]) -> list[dict[str, Any]]:
        info = _dict(props.get("info"))
        message_id, role = info.get("id"), info.get("role")
        if isinstance(message_id, str) and isinstance(role, str):
            self._roles[message_id] = role
        if role == "assistant" and info.get("error"):
            return self._live_error(info["error"], _iso(_dict(info.get("time")).get("completed")))
        return []

    def _part_updated(self, props: dict[str, Any]) -> list[dict[str, Any]]:
        part = _dict(props.get("part"))
        part_id, kind = part.get("id"), part.get("type")
        if not isinstance(part_id, str) or self._roles.get(str(part.get("messageID"))) != "assistant":
            return []  # the prompt's own parts (user message), or a part without an id
        if kind in ("text", "reasoning") and not _dict(part.get("time")).get("end"):
            if part_id in self._streaming:
                return []
            block_type = "assistant_text" if kind == "text" else "thinking"
            self._streaming.add(part_id)
            text = part.get("text") if isinstance(part.get("text"), str) else ""
            block = {"id": part_id, "type": block_type, "content": text, "status": "pending"}
            return [make_event("block:upsert", {"block": block})]
        if kind == "tool":
            state = _dict(part.get("state"))
            if state.get("status") not in ("completed", "error"):
                return self._running_tool(part, state)
        if kind == "step-finish":
            self._steps.add(part_id)
        return self._once(part_id, self.part(part))

    def _once(self, part_id: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``events`` unless this part already gave exactly these (updates repeat themselves)."""
        fingerprint = json.dumps([e["payload"] for e in events], sort_keys=True)
        if self._emitted.get(part_id) == fingerprint:
            return []
        self._emitted[part_id] = fingerprint
        self._streaming.discard(part_id)
        return events

    def _running_tool(self, part: dict[str, Any], state: dict[str, Any]) -> list[dict[str, Any]]:
        """A tool call as it starts: a pending ``tool_use`` card (and a pending result with the
        output so far, for shell commands, a few times a second)."""
        call_id = part.get("callID") or part.get("id")
        tool = str(part.get("tool") or "tool")
        if not isinstance(call_id, str):
            return []
        tool_input = _dict(state.get("input"))
        if tool in SUBAGENT_TOOLS:
            return self._subagent_started(call_id, tool_input, state)
        use: dict[str, Any] = {"id": call_id, "type": "tool_use", "toolName": tool, "toolUseId": call_id,
                               "input": tool_input, "status": "pending",
                               **tool_fields(TOOL_KINDS.get(tool, "other"), tool_input)}
        if isinstance(state.get("title"), str) and state["title"]:
            use["displayName"] = state["title"]
        events = self._once(f"{call_id}:use", [make_event("block:upsert", {"block": use},
                                                           timestamp=_iso(_dict(state.get("time")).get("start")))])
        output = _dict(state.get("metadata")).get("output")
        now = time.monotonic()
        if isinstance(output, str) and output and now - self._tool_output_at.get(call_id, 0.0) >= RUNNING_OUTPUT_INTERVAL_S:
            self._tool_output_at[call_id] = now
            shown, dropped = _truncate(output, self.limit)
            result: dict[str, Any] = {"id": f"{call_id}:result", "type": "tool_result", "toolUseId": call_id,
                                      "output": shown, "isError": False, "status": "pending"}
            if dropped:
                result["truncatedBytes"] = dropped
            events += self._once(f"{call_id}:running", [make_event("block:upsert", {"block": result})])
        return events

    def _subagent_started(self, call_id: str, tool_input: dict[str, Any],
                          state: dict[str, Any]) -> list[dict[str, Any]]:
        """The ``task`` tool is running a subagent in a child session: its thread opens now, and
        the child's events go into it (``_subagent_event``)."""
        child = _dict(state.get("metadata")).get("sessionId")
        if not isinstance(child, str) or call_id in self._spawned:
            return []
        self._children[child] = call_id
        self._spawned.add(call_id)
        spawned: dict[str, Any] = {"toolUseId": call_id, "agentId": child,
                                   "prompt": str(tool_input.get("prompt") or "")}
        for key, field in (("subagent_type", "subagentType"), ("description", "description")):
            if isinstance(tool_input.get(key), str):
                spawned[field] = tool_input[key]
        block: dict[str, Any] = {"id": call_id, "type": "subagent", "toolUseId": call_id, "input": tool_input,
                                 "status": "pending"}
        if isinstance(tool_input.get("subagent_type"), str):
            block["name"] = tool_input["subagent_type"]
        started = _iso(_dict(state.get("time")).get("start"))
        return [make_event("subagent:spawned", spawned, timestamp=started),
                make_event("block:upsert", {"block": block}, timestamp=started)]

    def _part_delta(self, props: dict[str, Any]) -> list[dict[str, Any]]:
        part_id, delta = props.get("partID"), props.get("delta")
        if props.get("field", "text") != "text" or not isinstance(delta, str) or not delta:
            return []
        if not isinstance(part_id, str) or part_id not in self._streaming:
            return []  # a part we never saw start: its finished update carries the whole text
        return [make_event("block:delta", {"blockId": part_id, "delta": delta})]

    def _part_removed(self, props: dict[str, Any]) -> list[dict[str, Any]]:
        part_id = props.get("partID")
        if isinstance(part_id, str) and part_id in self._streaming:
            return [log_event("debug", f"OpenCode removed part {part_id}")]
        return []

    def _status(self, props: dict[str, Any]) -> list[dict[str, Any]]:
        status = _dict(props.get("status"))
        if status.get("type") != "retry":
            return []
        attempt = status.get("attempt")
        text = str(status.get("message") or "the model API failed")[:500]
        return [log_event("warn", f"OpenCode is retrying the model API (attempt {attempt}): {text}")]

    def _session_error(self, props: dict[str, Any]) -> list[dict[str, Any]]:
        return self._live_error(props.get("error")) if props.get("error") else []

    def _live_error(self, error: Any, timestamp: str | None = None) -> list[dict[str, Any]]:
        """One error event per distinct error of a query: OpenCode reports a failed turn as
        ``session.error`` and again in the message's ``message.updated`` (live and stored)."""
        text = error_text(error)
        if text in self._errors:
            return []
        self._errors.add(text)
        return self.error(error, timestamp)

    def _permission_asked(self, props: dict[str, Any]) -> list[dict[str, Any]]:
        request_id = props.get("id")
        if not isinstance(request_id, str) or not request_id:
            return [log_event("warn", "OpenCode asked for a permission without an id")]
        tool = str(props.get("permission") or "tool")
        patterns = [p for p in props.get("patterns") or [] if isinstance(p, str)] if isinstance(
            props.get("patterns"), list) else []
        if self.auto_approve:  # the driver has answered it already; no one needs to look
            return [log_event("info", f"OpenCode asked to use {tool} ({', '.join(patterns)[:200]}): "
                                      "approved (permission mode bypass)")]
        self.permission_requests[request_id] = tool
        metadata = _dict(props.get("metadata"))
        payload: dict[str, Any] = {"requestId": request_id, "toolName": tool, "input": metadata,
                                   **tool_fields(TOOL_KINDS.get(tool, "other"), metadata)}
        call = _dict(props.get("tool")).get("callID")
        if isinstance(call, str):
            payload["toolUseId"] = call
        if patterns:
            payload["title"] = f"{tool}: {', '.join(patterns)}"[:500]
        return [make_event("permission:requested", payload)]

    def _permission_replied(self, props: dict[str, Any]) -> list[dict[str, Any]]:
        request_id = props.get("requestID")
        if not isinstance(request_id, str) or self.permission_requests.pop(request_id, None) is None:
            return []
        if request_id in self._answered:
            return []  # our own answer: the session already published permission:resolved
        # Answered without us (the driver's auto-approval, or OpenCode itself): close it for clients.
        decision = "deny" if props.get("reply") == "reject" else "allow"
        return [make_event("permission:resolved", {"requestId": request_id, "decision": decision, "by": CLI_NAME})]

    def _question(self, props: dict[str, Any]) -> list[dict[str, Any]]:
        return [log_event("info", "OpenCode asked the user a question; declined (no one can answer it in this mode)",
                          {"questions": props.get("questions")})]

    def _ignored(self, _props: dict[str, Any]) -> list[dict[str, Any]]:
        return []

    _handlers: dict[str, Any] = {
        "message.updated": _message_updated,
        "message.removed": _ignored,
        "message.part.updated": _part_updated,
        "message.part.delta": _part_delta,
        "message.part.removed": _part_removed,
        "session.status": _status,
        "session.idle": _ignored,
        "session.created": _ignored,
        "session.error": _session_error,
        "permission.asked": _permission_asked,
        "permission.replied": _permission_replied,
        "question.asked": _question,
    }

    def _reconcile(self, messages: Any) -> list[dict[str, Any]]:
        """The query's messages as OpenCode stored them, after the session went idle: whatever the
        live stream did not finish (a part whose last update came after ``session.idle``, a
        message's error) is emitted now, so the live blocks equal the saved ones."""
        events: list[dict[str, Any]] = []
        for message in messages if isinstance(messages, list) else []:
            info = _dict(_dict(message).get("info"))
            if isinstance(info.get("id"), str) and isinstance(info.get("role"), str):
                self._roles[info["id"]] = info["role"]
            if info.get("role") != "assistant":
                continue
            for part in _dict(message).get("parts") or []:
                if isinstance(part, dict) and isinstance(part.get("id"), str):
                    if part.get("type") == "step-finish":
                        self._steps.add(part["id"])
                    events += self._once(part["id"], self.part(part))
            if info.get("error"):
                events += self._live_error(info["error"], _iso(_dict(info.get("time")).get("completed")))
        return events

    # -- control: answers to permission requests ----------------------------------------------

    def on_control(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        if message.get("type") != "permission_response":
            return super().on_control(message)
        request_id = message.get("requestId")
        if not isinstance(request_id, str) or request_id not in self.permission_requests:
            return [log_event("debug", f"answer to a question OpenCode is not waiting on: {request_id!r}")]
        self._answered.add(request_id)
        decision = message.get("decision")
        reply = {"allow": "once", "allow_always": "always"}.get(str(decision), "reject")
        command: dict[str, Any] = {"type": "permission_reply", "requestID": request_id, "reply": reply}
        if reply == "reject" and isinstance(message.get("message"), str) and message["message"].strip():
            command["message"] = message["message"].strip()
        self.send_to_agent(command)
        return []

    # -- parts (live events and saved database rows alike) ------------------------------------

    def part(self, part: dict[str, Any]) -> list[dict[str, Any]]:
        kind = part.get("type")
        if kind == "text":
            return self._text(part, "assistant_text")
        if kind == "reasoning":
            return self._text(part, "thinking")
        if kind == "tool":
            return self._tool(part)
        if kind == "step-finish":
            return self._usage(part)
        return []  # step-start, snapshot, patch, file, agent, compaction, ...: nothing to show

    def _text(self, part: dict[str, Any], block_type: str) -> list[dict[str, Any]]:
        text = part.get("text")
        part_id = part.get("id")
        if not isinstance(text, str) or not text.strip() or not isinstance(part_id, str):
            return []
        # No ``model`` on the block: the live stream does not say which model wrote a part (the
        # session's model goes out as ``metadata:update``), and live and saved blocks must agree.
        block: dict[str, Any] = {"id": part_id, "type": block_type, "content": text, "status": "complete"}
        timestamp = _iso((part.get("time") or {}).get("end")) if isinstance(part.get("time"), dict) else None
        return [make_event("block:upsert", {"block": block}, timestamp=timestamp)]

    def _tool(self, part: dict[str, Any]) -> list[dict[str, Any]]:
        state = _dict(part.get("state"))
        status = state.get("status")
        if status not in ("completed", "error"):
            return []  # pending/running: OpenCode prints a tool once it has finished
        call_id = part.get("callID") or part.get("id")
        if not isinstance(call_id, str):
            return []
        tool = str(part.get("tool") or "tool")
        tool_input = _dict(state.get("input"))
        metadata = _dict(state.get("metadata"))
        times = _dict(state.get("time"))
        started, ended = times.get("start"), times.get("end")
        duration = int(ended - started) if isinstance(started, int | float) and isinstance(ended, int | float) else None
        exit_code = metadata.get("exit")
        is_error = status == "error" or (isinstance(exit_code, int) and exit_code != 0)
        raw_output = state.get("error") if status == "error" else state.get("output")
        output, dropped = _truncate(raw_output if isinstance(raw_output, str) else json.dumps(raw_output), self.limit)
        use: dict[str, Any] = {"id": call_id, "type": "tool_use", "toolName": tool, "toolUseId": call_id,
                               "input": tool_input, "status": "complete",
                               **tool_fields(TOOL_KINDS.get(tool, "other"), tool_input)}
        if isinstance(state.get("title"), str) and state["title"]:
            use["displayName"] = state["title"]
        result: dict[str, Any] = {"id": f"{call_id}:result", "type": "tool_result", "toolUseId": call_id,
                                  "output": output, "isError": is_error,
                                  "status": "error" if is_error else "complete"}
        if duration is not None:
            result["durationMs"] = duration
        if isinstance(exit_code, int):
            result["exitCode"] = exit_code
        if dropped:
            result["truncatedBytes"] = dropped
        start_at, end_at = _iso(started), _iso(ended)
        if tool in SUBAGENT_TOOLS:
            child = metadata.get("sessionId") if isinstance(metadata.get("sessionId"), str) else None
            return self._subagent(call_id, child, tool_input, task_result(output), is_error, duration,
                                  start_at, end_at)
        return [make_event("block:upsert", {"block": use}, timestamp=start_at),
                make_event("block:upsert", {"block": result}, timestamp=end_at)]

    def _subagent(self, call_id: str, child: str | None, tool_input: dict[str, Any], output: str,
                  is_error: bool, duration: int | None, start_at: str | None,
                  end_at: str | None) -> list[dict[str, Any]]:
        """The ``task`` tool has finished: its subagent (child session ``child``) answered. Live, its
        thread opened when the tool started (``_subagent_started``); from a saved database the
        thread has no blocks of its own (only the main session's parts are read)."""
        prompt = str(tool_input.get("prompt") or "")
        spawned: dict[str, Any] = {"toolUseId": call_id, "prompt": prompt}
        block: dict[str, Any] = {"id": call_id, "type": "subagent", "toolUseId": call_id, "input": tool_input,
                                 "output": output, "status": "error" if is_error else "complete"}
        for key, field in (("subagent_type", "subagentType"), ("description", "description")):
            if isinstance(tool_input.get(key), str):
                spawned[field] = tool_input[key]
        if isinstance(tool_input.get("subagent_type"), str):
            block["name"] = tool_input["subagent_type"]
        completed: dict[str, Any] = {"toolUseId": call_id, "status": "failed" if is_error else "completed",
                                     "output": output}
        if child:
            spawned["agentId"] = completed["agentId"] = child
        if duration is not None:
            block["durationMs"] = completed["durationMs"] = duration
        opened = [] if call_id in self._spawned else [make_event("subagent:spawned", spawned, timestamp=start_at)]
        return [*opened,
                make_event("block:upsert", {"block": block}, timestamp=end_at),
                make_event("subagent:completed", completed, timestamp=end_at)]

    def _usage(self, part: dict[str, Any]) -> list[dict[str, Any]]:
        tokens = _dict(part.get("tokens"))
        cache = _dict(tokens.get("cache"))

        def number(value: Any) -> int:
            return int(value) if isinstance(value, int | float) else 0

        inputs = number(tokens.get("input"))
        # Reasoning tokens are billed as output; OpenCode counts them apart.
        outputs = number(tokens.get("output")) + number(tokens.get("reasoning"))
        usage = {"inputTokens": inputs, "outputTokens": outputs,
                 "cacheReadTokens": number(cache.get("read")), "cacheWriteTokens": number(cache.get("write")),
                 "totalTokens": number(tokens.get("total")) or inputs + outputs}
        payload: dict[str, Any] = {"usage": usage}
        if isinstance(part.get("cost"), int | float):
            payload["costUsd"] = float(part["cost"])
        return [make_event("metadata:update", payload)]

    def error(self, error: Any, timestamp: str | None = None) -> list[dict[str, Any]]:
        message = error_text(error)
        code = error_code(error)
        if self.failure is None:
            self.failure = {"error": message, "code": code}
        if code == "ABORTED":  # an interrupt (ours, normally): not an error to show
            return [log_event("info", f"OpenCode: {message}")]
        data = error.get("data") if isinstance(error, dict) and isinstance(error.get("data"), dict) else None
        payload: dict[str, Any] = {"message": message, "code": code}
        if data is not None:
            payload["data"] = {k: data[k] for k in ("statusCode", "isRetryable") if k in data}
        return [make_event("error", payload, timestamp=timestamp)]

    # ------------------------------------------------------------------ stderr and the end

    def on_stderr(self, line: str) -> list[dict[str, Any]]:
        return stderr_line(self._stderr_tail, line)

    def finish(self, exit_code: int, *, interrupted: bool = False) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        events = leftover_events(self.run_tag)
        if interrupted:
            return events, None
        if self.failure is not None:
            return events, self.failure
        if self._server_exit is not None:
            return events, exited_failure("opencode serve", self._server_exit, self._stderr_tail)
        if exit_code != 0:
            return events, exited_failure("opencode", exit_code, self._stderr_tail)
        if not self.ended or not self._steps:
            # Every query ends with the session idle (the driver's ``agent-tui.end``) after at least
            # one finished step. The last step may be waiting for tool results: OpenCode ends its
            # loop there when a tool call was refused (a declined question, a plain deny).
            return events, {"error": "OpenCode ended before the model finished (its output was cut short)",
                            "code": "AGENT_NO_RESULT"}
        return events, None


# --------------------------------------------------------------------------- in the sandbox


def write_setup(setup: dict[str, Any], env: dict[str, str]) -> None:
    """Write ``opencode.json`` and ``AGENTS.md`` (the profile's system prompt) into OpenCode's
    global config folder under the session home."""
    home = env.get("HOME") or os.path.expanduser("~")
    folder = os.path.join(env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"), "opencode")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "opencode.json"), "w", encoding="utf-8") as handle:
        json.dump(setup.get("config") or {}, handle, indent=2)
    _skip_plugin_install(folder)
    rules = os.path.join(folder, "AGENTS.md")
    instructions = setup.get("instructions")
    if isinstance(instructions, str) and instructions.strip():
        with open(rules, "w", encoding="utf-8") as handle:
            handle.write(instructions)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(rules)


#: What OpenCode installs into every config folder it reads (for custom tools and plugins).
PLUGIN_PACKAGE = "@opencode-ai/plugin"


def _skip_plugin_install(folder: str) -> None:
    """Keep OpenCode from installing ``@opencode-ai/plugin`` from the npm registry into its config
    folder at every start of a new sandbox (a download per sandbox, or a failed DNS lookup
    offline). It installs only when ``node_modules`` is missing or ``package-lock.json`` lacks a
    dependency ``package.json`` names, so an empty ``node_modules`` and a lock that lists the
    package make it skip. Only custom tools written against that package (none in a fresh
    sandbox) would need the real thing; an existing ``node_modules`` is left alone."""
    if os.path.exists(os.path.join(folder, "node_modules")):
        return
    os.makedirs(os.path.join(folder, "node_modules"))
    manifest = {"dependencies": {PLUGIN_PACKAGE: "*"}}
    with open(os.path.join(folder, "package.json"), "w", encoding="utf-8") as handle:
        json.dump(manifest, handle)
    with open(os.path.join(folder, "package-lock.json"), "w", encoding="utf-8") as handle:
        json.dump({"lockfileVersion": 3, "packages": {"": manifest}}, handle)


def find_session(db_path: str) -> str | None:
    """The top-level conversation in OpenCode's database, most recently updated first."""
    if not db_path or not os.path.isfile(db_path):
        return None
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT id FROM session WHERE parent_id IS NULL "
                             "ORDER BY time_updated DESC, id DESC LIMIT 1").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


# --------------------------------------------------------------------------- saved transcripts


def transcript_events(transcript: Any, *, include_prompts: bool = True) -> list[dict[str, Any]]:
    """The events a stored transcript (``runner/opencode_transcript.py``) stands for: the user's
    prompts (optional) and the same blocks the live stream produced."""
    if not isinstance(transcript, dict) or not isinstance(transcript.get("db"), str):
        return []
    data = zlib.decompress(base64.b64decode(transcript["db"]))
    handle, path = tempfile.mkstemp(suffix=".db")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        db = sqlite3.connect(path)
        try:
            return _database_events(db, transcript.get("sessionId"), include_prompts)
        finally:
            db.close()
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _database_events(db: sqlite3.Connection, session_id: Any, include_prompts: bool) -> list[dict[str, Any]]:
    if not isinstance(session_id, str):
        row = db.execute("SELECT id FROM session WHERE parent_id IS NULL ORDER BY time_updated DESC LIMIT 1").fetchone()
        if row is None:
            return []
        session_id = row[0]
    parts: dict[str, list[dict[str, Any]]] = {}
    for part_id, message_id, data in db.execute(
            "SELECT id, message_id, data FROM part WHERE session_id = ? ORDER BY id", (session_id,)):
        try:
            part = json.loads(data)
        except ValueError:
            continue
        if isinstance(part, dict):
            parts.setdefault(message_id, []).append({**part, "id": part_id, "messageID": message_id,
                                                     "sessionID": session_id})
    converter = OpenCodeConverter({})
    events: list[dict[str, Any]] = []
    for message_id, created, data in db.execute(
            "SELECT id, time_created, data FROM message WHERE session_id = ? ORDER BY time_created, id",
            (session_id,)):
        try:
            info = json.loads(data)
        except ValueError:
            continue
        if not isinstance(info, dict):
            continue
        if info.get("role") == "user":
            if include_prompts:
                text = "".join(p.get("text", "") for p in parts.get(message_id, [])
                               if p.get("type") == "text" and not p.get("synthetic"))
                # The prompt came on stdin, where the runner ended it with a newline.
                text = text[:-1] if text.endswith("\n") else text
                if text:
                    block = {"id": message_id, "type": "user_message", "content": text, "status": "complete"}
                    events.append(make_event("block:upsert", {"block": block}, timestamp=_iso(created)))
            continue
        if isinstance(info.get("modelID"), str):
            provider = info.get("providerID")
            converter.model = f"{provider}/{info['modelID']}" if isinstance(provider, str) else info["modelID"]
        for part in parts.get(message_id, []):
            events.extend(converter.part(part))
        if info.get("error"):
            events.extend(converter.error(info["error"], _iso((info.get("time") or {}).get("completed"))))
    return events

