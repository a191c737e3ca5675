"""Agent Client Protocol agents: the ACP client's lines -> events. Stdlib only.

The runner runs the agent under the ACP client (``acp_client.py``, wrapped around the host's argv
by ``prepare``); this converter maps what the client prints. ``session/update`` kinds:

- ``agent_message_chunk`` -> a pending ``assistant_text`` block, each chunk a ``block:delta``;
  ``agent_thought_chunk`` -> the same as a ``thinking`` block. A new kind of content (a tool call,
  a plan) closes the open one; the next chunk opens a new block.
- ``tool_call`` / ``tool_call_update`` -> a ``tool_use`` block (id = the ``toolCallId``; ``toolName``
  = the ACP ``kind``, ``displayName`` = the ``title``, ``input`` = ``rawInput`` plus ``locations``)
  and, once there is content or a final status, a ``tool_result`` block (``<id>:result``; its
  ``output`` is the content as text: text items, diffs as unified diffs, a terminal's output;
  ``diffs`` and ``terminalId`` kept as fields). Updates are merged into what is known of the call,
  so an update before its ``tool_call`` (or one with empty content) loses nothing.
- ``plan`` -> a ``system`` block, ``subtype: "plan"``, one per query (upserted as the plan
  changes): ``message`` is the checklist as text, ``entries`` the ACP entries.
- ``usage_update`` -> ``metadata:update {contextUsed, contextSize, sessionCostUsd?}`` (ACP reports
  the context fill and the session's running cost, not increments: not summed into ``usage``);
  the prompt's own ``usage`` -> ``metadata:update {usage}`` (this turn's tokens).
- ``available_commands_update`` -> ``metadata:update {commands: [{name, description}]}``;
  ``current_mode_update`` -> ``metadata:update {mode}``; ``user_message_chunk`` (an echo of the
  prompt) and ``config_option_update`` / ``session_info_update`` -> ``log`` debug; any other kind
  -> a ``log`` warning naming it.

``session/request_permission`` -> ``permission:requested`` (``requestId`` = ``<message id>:perm:<id>``,
``options`` = the agent's own); the answer picks the agent option of the matching kind.
"""

from __future__ import annotations

import difflib
import json
import os
from collections import deque

from .base import Converter, exited_failure, log_event, make_event, stderr_line
from .base import as_dict as _dict
from .base import truncate_output as _truncate
from .tool_kinds import tool_fields, unified

# ``typing`` only for the type checker: importing it costs the runner ~2.5 ms of start-up per query.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Host -> runner: the ACP client's options (JSON), taken out of the agent's environment.
SETUP_ENV = "AGENT_TUI_ACP_SETUP"
#: A file the client's lines are appended to as they arrive (recording golden streams for tests).
RECORD_ENV = "AGENT_TUI_ACP_RECORD"
#: Where the ACP session id is kept, under the session home (saved with the transcript).
STATE_FILE = os.path.join(".agent-tui", "acp-session.json")
DEFAULT_OUTPUT_LIMIT = 1024 * 1024
#: Our decision -> the ACP option kinds that express it, best first.
DECISION_KINDS = {
    "allow": ("allow_once", "allow_always"),
    "allow_always": ("allow_always", "allow_once"),
    "deny": ("reject_once", "reject_always"),
}
#: Stop reasons that end a turn normally (``refusal`` fails the query; ``cancelled`` is an interrupt).
NORMAL_STOPS = ("end_turn", "max_tokens", "max_turn_requests", "cancelled", None)


def make_converter(request: dict[str, Any]) -> AcpConverter:
    return AcpConverter(request)


def content_text(block: Any) -> str:
    """An ACP ``ContentBlock`` as text (non-text content named, not dropped)."""
    block = _dict(block)
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text") or "")
    if kind == "resource_link":
        return f"[{block.get('name') or block.get('uri') or 'resource'}]({block.get('uri') or ''})"
    if kind == "resource":
        resource = _dict(block.get("resource"))
        return str(resource.get("text") or f"[resource {resource.get('uri') or ''}]")
    if kind in ("image", "audio"):
        return f"[{kind} {block.get('mimeType') or ''}]".replace(" ]", "]")
    return ""


def unfenced(text: str) -> str:
    """Text that is one Markdown code block (how Claude's adapter wraps a command's output) as
    the block's content: a tool card shows output, not Markdown."""
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```") and stripped.count("```") == 2 and "\n" in stripped:
        inner = stripped[3:-3].split("\n", 1)[1] if "\n" in stripped[3:-3] else ""
        return inner if inner.endswith("\n") or not inner else inner + "\n"
    return text


def diff_text(item: dict[str, Any], workspace: str = "") -> str:
    path = str(item.get("path") or "file")
    if workspace and path.startswith(workspace.rstrip("/") + "/"):
        path = path[len(workspace.rstrip("/")) + 1:]
    old, new = item.get("oldText"), str(item.get("newText") or "")
    lines = difflib.unified_diff((old or "").splitlines(keepends=True), new.splitlines(keepends=True),
                                 fromfile="/dev/null" if old is None else f"a/{path}", tofile=f"b/{path}")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def plan_text(entries: list[Any]) -> str:
    marks = {"completed": "[x]", "in_progress": "[~]"}
    return "\n".join(f"{marks.get(str(_dict(e).get('status')), '[ ]')} {_dict(e).get('content') or ''}"
                     for e in entries)


#: ACP ToolKinds agent-tui shows as one of its own kinds (tool_kinds.KINDS).
ACP_KINDS = {"delete": "edit", "move": "edit", "switch_mode": "think"}


class AcpConverter(Converter):
    def __init__(self, request: dict[str, Any]) -> None:
        super().__init__(request)
        self.limit = int(request.get("toolOutputLimit") or DEFAULT_OUTPUT_LIMIT)
        self.message_id = str(request.get("messageId") or "msg")
        self.workspace = str(request.get("baseWorkspacePath") or "")
        self.session_id: str | None = None
        self.failure: dict[str, Any] | None = None
        self.ended = False
        self.stop_reason: str | None = None
        self._stderr_tail: deque[str] = deque(maxlen=6)
        self._exit_code: int | None = None
        #: The open text/thinking block: (block type, id, text so far).
        self._open: list[Any] | None = None
        self._blocks = 0
        #: toolCallId -> everything known of the call (merged updates).
        self._tools: dict[str, dict[str, Any]] = {}
        #: terminalId -> (output, exitStatus) as the client last reported it; -> toolCallIds using it.
        self._terminals: dict[str, dict[str, Any]] = {}
        self._terminal_users: dict[str, set[str]] = {}
        #: Our requestId -> (the client's id, the agent's options).
        self.permission_requests: dict[str, tuple[str, list[dict[str, Any]]]] = {}
        #: block id -> the block as last emitted (an unchanged tool card is not sent again).
        self._emitted: dict[str, str] = {}
        self.home = ""
        self._record: str | None = None
        self._last_metadata: dict[str, str] = {}
        self._system_error = False
        #: The text of the last closed assistant block (a Codex system error's message).
        self._last_text = ""
        #: Calls that ended without saying what they returned (Gemini CLI's): filled in at the end.
        self._silent: list[str] = []

    # ------------------------------------------------------------------ before the agent starts

    def prepare(self, argv: list[str], env: dict[str, str]) -> list[str]:
        from .acp_client import driver_argv

        self._record = env.pop(RECORD_ENV, None)
        setup_text = env.pop(SETUP_ENV, None)
        try:
            setup = _dict(json.loads(setup_text)) if setup_text else {}
        except ValueError:
            setup = {}
        home = env.get("HOME") or os.path.expanduser("~")
        self.home = home
        write_files(home, _dict(setup.get("files")))
        if env.get("TMPDIR"):
            os.makedirs(env["TMPDIR"], exist_ok=True)  # the host points it into the session home
        options = {
            "cwd": self.request.get("baseWorkspacePath") or os.getcwd(),
            "mcpServers": setup.get("mcpServers") if isinstance(setup.get("mcpServers"), list) else [],
            "autoApprove": bool(setup.get("autoApprove")),
            "resume": bool(self.request.get("resume")),
            "stateFile": os.path.join(home, STATE_FILE),
            "stateDirs": setup.get("stateDirs") if isinstance(setup.get("stateDirs"), list) else [],
            "mode": setup.get("mode") if isinstance(setup.get("mode"), str) else None,
            "model": setup.get("model") if isinstance(setup.get("model"), str) else None,
        }
        if isinstance(setup.get("error"), str):
            options["error"] = setup["error"]
        return driver_argv(argv, options)

    def initial_input(self) -> list[str]:
        return [json.dumps({"type": "prompt", "text": str(self.request.get("prompt") or "")})]

    def keeps_stdin_open(self) -> bool:
        return True

    # ------------------------------------------------------------------ client lines

    def feed(self, line: str) -> list[dict[str, Any]]:
        if self._record:
            with open(self._record, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        return super().feed(line)

    def convert(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        kind = message.get("type")
        if kind == "acp.update":
            return self.update(_dict(message.get("update")))
        if kind == "acp.permission":
            return self._permission(message)
        if kind == "acp.terminal":
            return self._terminal(message)
        if kind == "acp.session":
            self.session_id = message.get("sessionId") if isinstance(message.get("sessionId"), str) else None
            how = "resumed" if message.get("resumed") else "new"
            return [log_event("info", f"ACP session {self.session_id} ({how})",
                              {"agentInfo": message.get("agentInfo"), "replayedUpdates": message.get("replayed")})]
        if kind == "acp.initialized":
            return [log_event("debug", "ACP agent initialized",
                              {k: message.get(k) for k in ("protocolVersion", "agentInfo", "agentCapabilities")})]
        if kind == "acp.session_info":
            return self._session_info(_dict(message.get("result")))
        if kind == "acp.warning":
            return [log_event("warn", f"ACP: {message.get('message')}")]
        if kind == "acp.notification":
            what = "request" if message.get("request") else "notification"
            return [log_event("debug", f"ACP {what} agent-tui does not handle: {message.get('method')}")]
        if kind == "acp.end":
            return self._end(message)
        if kind == "acp.error":
            return self._error(message)
        return [log_event("debug", f"ACP client line of an unknown type: {str(kind)[:80]}")]

    def _session_info(self, result: dict[str, Any]) -> list[dict[str, Any]]:
        payload: dict[str, Any] = {}
        modes = _dict(result.get("modes"))
        if isinstance(modes.get("currentModeId"), str):
            payload["mode"] = modes["currentModeId"]
        if isinstance(modes.get("availableModes"), list):
            payload["modes"] = _choices(modes["availableModes"], "id")
        models = _dict(result.get("models"))
        if isinstance(models.get("currentModelId"), str):
            payload["model"] = models["currentModelId"]
        if isinstance(models.get("availableModels"), list):
            payload["models"] = _choices(models["availableModels"], "modelId")
        return [make_event("metadata:update", payload)] if payload else []

    # -- session/update -----------------------------------------------------------------------

    def update(self, update: dict[str, Any]) -> list[dict[str, Any]]:
        kind = str(update.get("sessionUpdate") or "")
        if kind == "agent_message_chunk":
            return self._chunk("assistant_text", content_text(update.get("content")))
        if kind == "agent_thought_chunk":
            return self._chunk("thinking", content_text(update.get("content")))
        if kind in ("tool_call", "tool_call_update"):
            return self._tool(update)
        if kind == "plan":
            return self._plan(update)
        if kind == "usage_update":
            payload: dict[str, Any] = {}
            if isinstance(update.get("used"), int):
                payload["contextUsed"] = update["used"]
            if isinstance(update.get("size"), int):
                payload["contextSize"] = update["size"]
            cost = _dict(update.get("cost"))
            if isinstance(cost.get("amount"), int | float) and str(cost.get("currency") or "USD").upper() == "USD":
                payload["sessionCostUsd"] = cost["amount"]
            return self._metadata(payload)
        if kind == "available_commands_update":
            commands = [{"name": str(c.get("name")), "description": str(c.get("description") or "")}
                        for c in update.get("availableCommands") or [] if isinstance(c, dict) and c.get("name")]
            return self._metadata({"commands": commands})
        if kind == "current_mode_update":
            mode = update.get("currentModeId") or update.get("modeId")
            return [make_event("metadata:update", {"mode": mode})] if isinstance(mode, str) else []
        if kind == "current_model_update":  # the client's own, after session/set_model
            model = update.get("currentModelId")
            return [make_event("metadata:update", {"model": model})] if isinstance(model, str) else []
        if kind == "session_info_update":
            # Codex's extension: a thread that hit a provider error says so here, then prints the
            # error as agent text and ends the turn normally.
            status = _dict(_dict(_dict(update.get("_meta")).get("codex")).get("threadStatus"))
            if status.get("type") == "systemError":
                self._system_error = True
            return [log_event("debug", f"ACP {kind}")]
        if kind in ("user_message_chunk", "config_option_update"):
            return [log_event("debug", f"ACP {kind}")]
        return [log_event("warn", f"ACP session/update of a kind agent-tui does not know: {kind[:80] or '(none)'}",
                          {"update": json.dumps(update)[:2000]})]

    def _metadata(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        """``metadata:update`` unless it says again what the last one of its keys said (agents
        repeat their command list and context size often)."""
        if not payload:
            return []
        key = ",".join(sorted(payload))
        text = json.dumps(payload, sort_keys=True)
        if self._last_metadata.get(key) == text:
            return []
        self._last_metadata[key] = text
        return [make_event("metadata:update", payload)]

    def _chunk(self, block_type: str, text: str) -> list[dict[str, Any]]:
        if not text:
            return []
        events: list[dict[str, Any]] = []
        if self._open is not None and self._open[0] != block_type:
            events += self._close()
        if self._open is None:
            self._blocks += 1
            block_id = f"{self.message_id}:{'text' if block_type == 'assistant_text' else 'thought'}{self._blocks}"
            self._open = [block_type, block_id, ""]
            events.append(make_event("block:upsert", {"block": {"id": block_id, "type": block_type,
                                                                "content": "", "status": "pending"}}))
        self._open[2] += text
        events.append(make_event("block:delta", {"blockId": self._open[1], "delta": text}))
        return events

    def _close(self) -> list[dict[str, Any]]:
        if self._open is None:
            return []
        block_type, block_id, text = self._open
        self._open = None
        if block_type == "assistant_text":
            self._last_text = text
        return [make_event("block:upsert", {"block": {"id": block_id, "type": block_type, "content": text,
                                                      "status": "complete"}})]

    def _tool(self, update: dict[str, Any]) -> list[dict[str, Any]]:
        call_id = update.get("toolCallId")
        if not isinstance(call_id, str) or not call_id:
            return [log_event("warn", "ACP tool call without a toolCallId", {"update": json.dumps(update)[:2000]})]
        events = self._close()
        known = self._tools.setdefault(call_id, {})
        for name in ("title", "kind", "status", "rawInput", "rawOutput", "locations"):
            if update.get(name) is not None:
                known[name] = update[name]
        # Content replaces what was there (ACP sends the whole list); an empty list or none keeps it.
        if isinstance(update.get("content"), list) and update["content"]:
            known["content"] = update["content"]
        elif (update.get("status") in ("completed", "failed") and update.get("rawOutput") is None
              and call_id not in self._silent):
            self._silent.append(call_id)
        for item in known.get("content") or []:
            if _dict(item).get("type") == "terminal" and isinstance(item.get("terminalId"), str):
                self._terminal_users.setdefault(item["terminalId"], set()).add(call_id)
        self._terminal_meta(_dict(update.get("_meta")))
        return [*events, *self._tool_blocks(call_id)]

    def _terminal_meta(self, meta: dict[str, Any]) -> None:
        """The terminal extension agents that run commands themselves use (Codex: ``_meta``
        ``terminal_output_delta {terminal_id, data}``, ``terminal_exit {terminal_id, exit_code,
        signal}``; Zed shows the embedded terminal from them)."""
        for name in ("terminal_output_delta", "terminal_output"):
            piece = _dict(meta.get(name))
            if isinstance(piece.get("terminal_id"), str) and isinstance(piece.get("data"), str):
                terminal = self._terminals.setdefault(piece["terminal_id"], {"output": ""})
                terminal["output"] = str(terminal.get("output") or "") + piece["data"]
        exit_info = _dict(meta.get("terminal_exit"))
        if isinstance(exit_info.get("terminal_id"), str):
            terminal = self._terminals.setdefault(exit_info["terminal_id"], {"output": ""})
            terminal["exitStatus"] = {"exitCode": exit_info.get("exit_code"), "signal": exit_info.get("signal")}

    def _kind_fields(self, known: dict[str, Any], tool_input: dict[str, Any]) -> dict[str, Any]:
        """ACP's own kind (its rarer ones folded into ours), the command, the first location's
        path and the diffs of the call's content, as unified diffs."""
        kind = str(known.get("kind") or "other")
        fields = tool_fields(ACP_KINDS.get(kind, kind), tool_input)
        locations = [_dict(loc) for loc in known.get("locations") or []]
        if "path" not in fields and locations and isinstance(locations[0].get("path"), str):
            fields["path"] = locations[0]["path"]
        diffs = [_dict(item) for item in known.get("content") or [] if _dict(item).get("type") == "diff"]
        if diffs and fields["kind"] == "edit":
            fields["diff"] = "\n".join(unified(str(d.get("oldText") or ""), str(d.get("newText") or ""),
                                               str(d.get("path") or fields.get("path") or "file")) for d in diffs)
        return fields

    def _tool_blocks(self, call_id: str) -> list[dict[str, Any]]:
        known = self._tools[call_id]
        status = known.get("status")
        done = status in ("completed", "failed")
        tool_input = dict(_dict(known.get("rawInput")))
        locations = [_dict(loc) for loc in known.get("locations") or [] if _dict(loc).get("path")]
        if locations:
            tool_input["locations"] = locations
        use: dict[str, Any] = {"id": call_id, "type": "tool_use", "toolUseId": call_id,
                               "toolName": str(known.get("kind") or "other"),
                               "displayName": str(known.get("title") or known.get("kind") or "tool"),
                               "input": tool_input, "status": "error" if status == "failed" else
                               ("complete" if done else "pending"), **self._kind_fields(known, tool_input)}
        events = self._upsert(use)
        content = known.get("content") or []
        if not content and not done:
            return events
        pieces: list[str] = []
        diffs: list[dict[str, Any]] = []
        terminal_id: str | None = None
        for item in content:
            item = _dict(item)
            if item.get("type") == "content":
                pieces.append(unfenced(content_text(item.get("content"))))
            elif item.get("type") == "diff":
                diffs.append({k: item.get(k) for k in ("path", "oldText", "newText")})
                pieces.append(diff_text(item, self.workspace))
            elif item.get("type") == "terminal" and isinstance(item.get("terminalId"), str):
                terminal_id = item["terminalId"]
                pieces.append(str(self._terminals.get(terminal_id, {}).get("output") or ""))
        raw_output = known.get("rawOutput")
        if not any(pieces) and raw_output not in (None, "", {}):
            pieces.append(raw_output if isinstance(raw_output, str) else json.dumps(raw_output, ensure_ascii=False))
        output, dropped = _truncate("\n".join(p for p in pieces if p), self.limit)
        result: dict[str, Any] = {"id": f"{call_id}:result", "type": "tool_result", "toolUseId": call_id,
                                  "output": output, "isError": status == "failed",
                                  "status": "error" if status == "failed" else ("complete" if done else "pending")}
        if diffs:
            result["diffs"] = diffs
        if isinstance(known.get("exitCode"), int):
            result["exitCode"] = known["exitCode"]
        if terminal_id is not None:
            result["terminalId"] = terminal_id
            exit_status = self._terminals.get(terminal_id, {}).get("exitStatus")
            if isinstance(exit_status, dict) and exit_status.get("exitCode") is not None:
                result["exitCode"] = exit_status["exitCode"]
        if dropped:
            result["truncatedBytes"] = dropped
        return [*events, *self._upsert(result)]

    def _upsert(self, block: dict[str, Any]) -> list[dict[str, Any]]:
        text = json.dumps(block, sort_keys=True)
        if self._emitted.get(block["id"]) == text:
            return []
        self._emitted[block["id"]] = text
        return [make_event("block:upsert", {"block": block})]

    def _terminal(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        terminal_id = message.get("terminalId")
        if not isinstance(terminal_id, str):
            return []
        if "output" not in message:
            return [log_event("debug", f"ACP terminal {terminal_id}: {message.get('command')} {message.get('args') or ''}")]
        self._terminals[terminal_id] = {"output": message.get("output"), "exitStatus": message.get("exitStatus")}
        events: list[dict[str, Any]] = []
        for call_id in sorted(self._terminal_users.get(terminal_id, ())):
            events += self._tool_blocks(call_id)
        return events

    def _plan(self, update: dict[str, Any]) -> list[dict[str, Any]]:
        entries = [_dict(e) for e in update.get("entries") or []]
        events = self._close()
        block = {"id": f"{self.message_id}:plan", "type": "system", "subtype": "plan",
                 "message": plan_text(entries), "entries": entries, "status": "complete"}
        return [*events, make_event("block:upsert", {"block": block})]

    # -- permissions ----------------------------------------------------------------------------

    def _permission(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        params = _dict(message.get("params"))
        client_id = str(message.get("id"))
        request_id = f"{self.message_id}:perm:{client_id}"
        tool = _dict(params.get("toolCall"))
        call_id = tool.get("toolCallId") if isinstance(tool.get("toolCallId"), str) else None
        known = self._tools.get(call_id or "", {})
        title = str(tool.get("title") or known.get("title") or "a tool")
        kind = str(tool.get("kind") or known.get("kind") or "other")
        options = [{"optionId": o["optionId"], "name": str(o.get("name") or o["optionId"]), "kind": str(o.get("kind") or "")}
                   for o in params.get("options") or [] if isinstance(o, dict) and isinstance(o.get("optionId"), str)]
        events: list[dict[str, Any]] = []
        if call_id and tool:
            events += self._tool({**tool, "sessionUpdate": "tool_call_update"})
        if message.get("auto"):
            return [*events, log_event("info", f"the agent asked to run {title}: approved (permission mode bypass)")]
        self.permission_requests[request_id] = (client_id, options)
        tool_input = _dict(tool.get("rawInput") or known.get("rawInput"))
        payload: dict[str, Any] = {"requestId": request_id, "toolName": kind, "title": title[:500],
                                   "input": tool_input, "options": options,
                                   **self._kind_fields({**known, **tool}, tool_input)}
        if call_id:
            payload["toolUseId"] = call_id
        return [*events, make_event("permission:requested", payload)]

    def on_control(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        if message.get("type") != "permission_response":
            return super().on_control(message)
        request_id = message.get("requestId")
        waiting = self.permission_requests.pop(request_id, None) if isinstance(request_id, str) else None
        if waiting is None:
            return [log_event("debug", f"answer to a question the agent is not waiting on: {request_id!r}")]
        client_id, options = waiting
        option_id = choose_option(options, str(message.get("decision")), message.get("optionId"))
        self.send_to_agent({"type": "permission_reply", "id": client_id, "optionId": option_id})
        if option_id is None:
            return [log_event("warn", "the agent offered no option matching the answer; the request was cancelled")]
        return []

    # -- the end --------------------------------------------------------------------------------

    def _fill_silent(self) -> list[dict[str, Any]]:
        """Gemini CLI's tool output, from its chat file (``acp_gemini``), for calls whose last
        update had none."""
        if not self._silent or self.request.get("architecture") != "acp-gemini" or not self.session_id:
            return []
        from .acp_gemini import tool_outputs

        events: list[dict[str, Any]] = []
        for call_id, (output, exit_code) in tool_outputs(self.home, self.session_id, self._silent).items():
            self._silent.remove(call_id)
            known = self._tools.get(call_id, {})
            known["content"] = [{"type": "content", "content": {"type": "text", "text": output}}]
            if exit_code is not None:
                known["exitCode"] = exit_code
            events += self._tool_blocks(call_id)
        return events

    def _end(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        self.ended = True
        self.stop_reason = message.get("stopReason") if isinstance(message.get("stopReason"), str) else None
        events = [*self._close(), *self._fill_silent()]
        usage = _dict(message.get("usage"))
        if usage:
            numbers = {k: int(v) for k, v in usage.items() if isinstance(v, int | float)}
            wire = {"inputTokens": numbers.get("inputTokens", 0), "outputTokens": numbers.get("outputTokens", 0),
                    "totalTokens": numbers.get("totalTokens", 0)}
            if "cachedReadTokens" in numbers:
                wire["cacheReadTokens"] = numbers["cachedReadTokens"]
            if "cachedWriteTokens" in numbers:
                wire["cacheWriteTokens"] = numbers["cachedWriteTokens"]
            events.append(make_event("metadata:update", {"usage": wire}))
        if self._system_error and self.failure is None and self.stop_reason != "cancelled":
            text = readable_error(self._last_text.strip()) or "the agent reported a system error"
            self.failure = {"error": text, "code": "AGENT_ERROR"}
            events.append(make_event("error", {"message": text, "code": "AGENT_ERROR"}))
        elif self.stop_reason not in NORMAL_STOPS:
            text = "the agent refused to answer" if self.stop_reason == "refusal" else f"the agent stopped: {self.stop_reason}"
            self.failure = {"error": text, "code": "AGENT_REFUSED" if self.stop_reason == "refusal" else "AGENT_ERROR"}
            events.append(make_event("error", {"message": text, "code": self.failure["code"]}))
        elif self.stop_reason in ("max_tokens", "max_turn_requests"):
            events.append(log_event("warn", f"the agent ended its turn early ({self.stop_reason})"))
        return events

    def _error(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        text = readable_error(str(message.get("message") or "the ACP agent failed"))
        if isinstance(message.get("exitCode"), int):
            # The agent died: finish() quotes its last stderr lines (they may still be coming).
            self._exit_code = message["exitCode"]
            return self._close()
        if self.failure is None:
            self.failure = {"error": text, "code": "AGENT_ERROR"}
        return [*self._close(), make_event("error", {"message": text, "code": "AGENT_ERROR"})]

    def on_stderr(self, line: str) -> list[dict[str, Any]]:
        return stderr_line(self._stderr_tail, line)

    def finish(self, exit_code: int, *, interrupted: bool = False) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        # Permission requests still open were answered ``cancelled`` by the client as it stopped.
        if interrupted:
            return [], None
        if self.failure is not None:
            return [], self.failure
        if self._exit_code is not None:
            return [], exited_failure("the ACP agent", self._exit_code, self._stderr_tail)
        if exit_code != 0:
            return [], exited_failure("the ACP client", exit_code, self._stderr_tail)
        if not self.ended:
            return [], {"error": "the ACP agent ended before answering the prompt", "code": "AGENT_NO_RESULT"}
        return [], None


def readable_error(text: str) -> str:
    """An error message that is a provider's JSON error body (Gemini CLI passes them on as they
    are) as ``API error <code> <status>: <message>``; anything else unchanged."""
    try:
        body = json.loads(text)
    except ValueError:
        return text
    error = _dict(_dict(body).get("error"))
    if not isinstance(error.get("message"), str):
        return text
    label = " ".join(str(error[k]) for k in ("code", "status") if error.get(k) not in (None, ""))
    return f"API error {label}: {error['message']}" if label else error["message"]


def choose_option(options: list[dict[str, Any]], decision: str, wanted: Any = None) -> str | None:
    """The agent's option for our decision: one the client named (``optionId``) if the agent
    offered it, else the first of the matching kinds (``DECISION_KINDS``)."""
    if isinstance(wanted, str) and any(o["optionId"] == wanted for o in options):
        return wanted
    for kind in DECISION_KINDS.get(decision, DECISION_KINDS["deny"]):
        for option in options:
            if option.get("kind") == kind:
                return str(option["optionId"])
    return None


def write_files(home: str, files: dict[str, Any]) -> None:
    """Config files the host sent for the agent (``{relative path under HOME: text}``), never
    outside the session home."""
    root = os.path.realpath(home)
    for relative, text in files.items():
        target = os.path.realpath(os.path.join(root, str(relative)))
        if not target.startswith(root + os.sep) or not isinstance(text, str):
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(text)


def _choices(entries: list[Any], key: str) -> list[dict[str, str]]:
    """The agent's modes or models as ``[{id, name, description}]`` (what a picker shows)."""
    return [{"id": str(e[key]), "name": str(e.get("name") or e[key]), "description": str(e.get("description") or "")}
            for e in entries if isinstance(e, dict) and isinstance(e.get(key), str) and e.get(key)]
