"""Claude Code ``--output-format stream-json`` lines -> SessionEvents. Stdlib only.

What the CLI prints (``-p --verbose --include-partial-messages``), and what becomes of it:

- ``stream_event`` (raw API SSE events, partial): ``content_block_start`` -> a pending block
  (``block:upsert``), ``text_delta``/``thinking_delta`` -> ``block:delta``. Tool input deltas are
  not text and are not streamed; the tool block gets its input when the message completes.
- ``assistant``: one complete content block per line (the same message id repeats), printed
  before that block's ``content_block_stop``. It finalizes the block the stream started (same
  id), or creates it when nothing was streamed (subagent text forwarded by
  ``--forward-subagent-text`` is not streamed).
- ``user``: ``tool_result`` items -> ``tool_result`` blocks (``isError``); the prompt itself is
  not repeated (the runtime already has the user's message).
- ``Task``/``Agent`` tool calls -> a ``subagent`` block plus ``subagent:spawned``; their blocks
  carry the tool use id as ``conversationId``; ``system/task_notification`` (background agents)
  or their tool result (foreground ones) -> ``subagent:completed``.
- ``result`` -> ``metadata:update`` (usage of this run, cost of this run, model); ``is_error``
  -> an ``error`` event and a failed query.
- ``system/api_retry`` -> a ``log`` warning; ``system/init`` -> ``metadata:update {model}``.
- With profile ``permissionMode: "ask"`` (``--input-format stream-json --permission-prompt-tool
  stdio``) the prompt goes to the CLI's stdin and the CLI asks before using a tool:
  ``control_request`` ``can_use_tool`` -> ``permission:requested``; the runner hands the user's
  ``permission_response`` to ``on_control``, which answers with a ``control_response``. Other
  control requests get an error answer, so the CLI never waits for something nobody will send.

Block ids are stable and the same whether the conversation is read live or from Claude Code's
session files (``claude_transcript.py``): ``<message id>:<content index>`` for text and
thinking, the tool use id for a tool call, ``<tool use id>:result`` for its result.
"""

from __future__ import annotations

import json
import os
from collections import deque
from datetime import datetime

from ..claude_projects import find_session_file
from .base import Converter, exit_description, log_event, make_event
from .tool_kinds import tool_fields

# ``typing`` only for the type checker: importing it costs the runner ~2.5 ms of start-up per query.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SUBAGENT_TOOLS = frozenset({"Task", "Agent"})
#: Claude Code's tool names -> kinds (tool_kinds.py); the rest are ``other`` (MCP tools, ...).
TOOL_KINDS = {"Bash": "execute", "BashOutput": "execute", "KillShell": "execute", "Read": "read",
              "Write": "edit", "Edit": "edit", "MultiEdit": "edit", "NotebookEdit": "edit",
              "Glob": "search", "Grep": "search", "LS": "search", "WebFetch": "fetch", "WebSearch": "fetch",
              "web_search": "fetch", "TodoWrite": "think", "ExitPlanMode": "think"}
DEFAULT_OUTPUT_LIMIT = 1024 * 1024
#: Top-level line types the CLI prints that carry nothing for the conversation.
_QUIET_TYPES = frozenset(
    {
        "rate_limit_event",
        "keep_alive",
        "control_response",
        "prompt_suggestion",
        "streamlined_text",
        "streamlined_tool_use_summary",
        "tool_progress",
        "auth_status",
    }
)
#: ``system`` subtypes that are progress chatter, not conversation.
_QUIET_SYSTEM = frozenset(
    {
        "status",
        "thinking_tokens",
        "background_tasks_changed",
        "task_updated",
        "task_progress",
        "hook_started",
        "hook_progress",
        "hook_response",
        "files_persisted",
        "session_state_changed",
        "task_started",
    }
)
#: The tail of the session file read for the last ``cost-state`` (the CLI reports cumulative cost).
_COST_TAIL_BYTES = 256 * 1024
#: What the model is told when a tool use is denied without a message of the user's.
DEFAULT_DENY_MESSAGE = "The user denied permission to use this tool."
#: ``by`` of a ``permission:resolved`` the CLI caused (it withdrew its own question).
CLI_NAME = "claude-code"


def make_converter(request: dict[str, Any]) -> ClaudeCodeConverter:
    return ClaudeCodeConverter(request)


def _ms(timestamp: Any) -> int | None:
    if not isinstance(timestamp, str):
        return None
    try:
        return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def tool_output_text(content: Any) -> str:
    """A tool result's content (a string, or a list of text/image items) as text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for item in content:
            if isinstance(item, dict):
                if item.get("type") == "text":
                    parts.append(str(item.get("text", "")))
                elif item.get("type") == "image":
                    parts.append("[image]")
                else:
                    parts.append(json.dumps(item, ensure_ascii=False))
            else:
                parts.append(str(item))
        return "\n".join(parts)
    if content is None:
        return ""
    return json.dumps(content, ensure_ascii=False)


class _MessageBlocks:
    """The content blocks of one API message, by stream index, so the ``assistant`` line that
    completes a block finds the id its stream used."""

    def __init__(self) -> None:
        #: index -> [kind, block id, finalized]
        self.by_index: dict[int, list[Any]] = {}

    def started(self, index: int, kind: str, block_id: str) -> None:
        self.by_index[index] = [kind, block_id, False]

    def claim(self, kind: str, tool_id: str | None = None, index: int | None = None) -> int:
        if index is None:
            for position in sorted(self.by_index):
                entry = self.by_index[position]
                if entry[2]:
                    continue
                if (tool_id is not None and entry[1] == tool_id) or (tool_id is None and entry[0] == kind):
                    index = position
                    break
        if index is None:
            index = max(self.by_index, default=-1) + 1
        entry = self.by_index.setdefault(index, [kind, "", False])
        entry[2] = True
        return index


class ClaudeCodeConverter(Converter):
    def __init__(self, request: dict[str, Any]) -> None:
        super().__init__(request)
        self.limit = int(request.get("toolOutputLimit") or DEFAULT_OUTPUT_LIMIT)
        self._messages: dict[str, _MessageBlocks] = {}
        self._streaming: dict[str, str] = {}  # conversation -> id of the message being streamed
        self._message_models: dict[str, str] = {}
        self._tools: dict[str, dict[str, Any]] = {}  # tool use id -> {name, conversation, at}
        self._subagents: dict[str, dict[str, Any]] = {}  # tool use id -> {agentId, done}
        self._task_types: dict[str, str] = {}  # task id -> task_type ("local_agent", "local_bash", ...)
        self._last_text: dict[str, str] = {}  # conversation -> its latest complete text
        self._anonymous = 0
        self.model: str | None = None
        self.result: dict[str, Any] | None = None
        self.failure: dict[str, Any] | None = None
        self.api_error: str | None = None
        self.cost_baseline = 0.0
        self._stderr_tail: deque[str] = deque(maxlen=6)
        #: True when the CLI reads stream-json on stdin (``ask`` mode): prompt and answers go there.
        self.stream_input = False
        #: Questions the CLI is waiting on: its request id -> {toolName, input}.
        self.permission_requests: dict[str, dict[str, Any]] = {}
        #: Tools answered ``allow_always`` during this run (later runs get them as --allowedTools).
        self.always_allowed: set[str] = set()
        #: Background tasks (subagents) the CLI says are running. While any runs, the CLI's stdin
        #: stays open after a ``result``: with it closed, their questions fail ("Stream closed").
        self._background: set[str] = set()
        #: Whether the latest ``result`` came with nothing left running in the background.
        self._settled = False

    # ------------------------------------------------------------------ before the CLI starts

    def prepare(self, argv: list[str], env: dict[str, str]) -> list[str]:
        """Resume only what exists: ``--resume`` of a conversation the sandbox does not have (an
        earlier query was stopped before the CLI wrote anything) fails, and so does
        ``--session-id`` of one it has. Also note the cost recorded so far, since the CLI's
        ``total_cost_usd`` counts the whole conversation and events carry per-query increments."""
        config_dir = env.get("CLAUDE_CONFIG_DIR") or os.path.join(env.get("HOME", ""), ".claude")
        # Only options count: the prompt after ``--`` may say anything.
        options_end = argv.index("--") if "--" in argv else len(argv)
        if "--input-format" in argv[: options_end - 1]:
            self.stream_input = argv[argv.index("--input-format") + 1] == "stream-json"
        if "--fork-session" in argv[:options_end]:
            argv = _settle_fork(argv, config_dir)
            options_end = argv.index("--") if "--" in argv else len(argv)
        for flag, other in (("--resume", "--session-id"), ("--session-id", "--resume")):
            if flag not in argv[: options_end - 1]:
                continue
            position = argv.index(flag)
            session_file = find_session_file(config_dir, argv[position + 1])
            if session_file is not None and not _has_message(session_file):
                # The CLI was killed before it wrote a message (its queue entries come first and
                # its transcript writes are buffered): ``--resume`` says "No conversation found"
                # and the id is taken, so keep the file aside and start the conversation afresh.
                os.replace(session_file, f"{session_file}.unusable")
                session_file = None
            if (flag == "--resume") != (session_file is not None):
                argv = [*argv[:position], other, *argv[position + 1 :]]
            if session_file is not None:
                self.cost_baseline = _last_cost(session_file)
            break
        return argv

    # ------------------------------------------------------------------ stdin (ask mode)

    def initial_input(self) -> list[str]:
        if not self.stream_input:
            return []
        prompt = str(self.request.get("prompt") or "")
        message = {"type": "user", "message": {"role": "user", "content": prompt}}
        return [json.dumps(message, separators=(",", ":"))]

    def keeps_stdin_open(self) -> bool:
        # The CLI's questions are answered on its stdin; ``done()`` closes it after the result.
        return self.stream_input

    # ------------------------------------------------------------------ stdout lines

    def convert(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        kind = message.get("type")
        conversation = message.get("parent_tool_use_id") or "main"
        if not isinstance(conversation, str):
            conversation = "main"
        if kind == "stream_event":
            event = message.get("event")
            return self._stream(event, conversation, message) if isinstance(event, dict) else []
        if kind == "assistant":
            return self.assistant(
                message.get("message"),
                conversation,
                message.get("timestamp"),
                api_error=bool(message.get("error") or message.get("is_api_error_message")),
            )
        if kind == "user":
            return self.user(
                message.get("message"), conversation, message.get("timestamp"), message.get("tool_use_result")
            )
        if kind == "result":
            return self._result(message)
        if kind == "system":
            return self._system(message)
        if kind == "control_request":
            return self._control_request(message)
        if kind == "control_cancel_request":
            return self._control_cancel(message)
        if kind in _QUIET_TYPES:
            return []
        return [
            log_event(
                "debug",
                f"Claude Code output of an unknown type: {str(kind)[:80]}",
                {"line": json.dumps(message)[:2000]},
            )
        ]

    # -- partial messages ------------------------------------------------------------------

    def _stream(self, event: dict[str, Any], conversation: str, line: dict[str, Any]) -> list[dict[str, Any]]:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            message_id = message.get("id") or line.get("api_message_id") or self._anonymous_id()
            self._streaming[conversation] = message_id
            if isinstance(message.get("model"), str):
                self._message_models[message_id] = message["model"]
            return []
        message_id = self._streaming.get(conversation) or line.get("api_message_id")
        index = event.get("index")
        if not isinstance(message_id, str) or not isinstance(index, int):
            return []
        blocks = self._messages.setdefault(message_id, _MessageBlocks())
        if kind == "content_block_start":
            block = event.get("content_block") or {}
            upsert = self._block_for(block, message_id, index, conversation, status="pending")
            if upsert is None:
                return []
            blocks.started(index, _kind(block), upsert["id"])
            # A subagent is announced by the complete message: only then is its prompt known.
            return [make_event("block:upsert", {"block": upsert}, conversation)]
        if kind == "content_block_delta":
            entry = blocks.by_index.get(index)
            delta = event.get("delta") or {}
            if entry is None or entry[2]:
                return []
            text = (
                delta.get("text")
                if delta.get("type") == "text_delta"
                else (delta.get("thinking") if delta.get("type") == "thinking_delta" else None)
            )
            if isinstance(text, str) and text:
                return [make_event("block:delta", {"blockId": entry[1], "delta": text}, conversation)]
        return []

    # -- complete messages (live lines and transcript entries alike) -------------------------

    def assistant(
        self,
        message: Any,
        conversation: str,
        timestamp: Any,
        *,
        api_error: bool = False,
        index: int | None = None,
    ) -> list[dict[str, Any]]:
        if not isinstance(message, dict):
            return []
        content = message.get("content")
        if api_error or message.get("model") == "<synthetic>":
            # The CLI's own stand-in for a failed API call: an error, not something the model said.
            text = tool_output_text(content).strip()
            if not text or text == self.api_error:
                return []
            self.api_error = text
            return [make_event("error", {"message": text, "code": "API_ERROR"}, conversation)]
        message_id = message.get("id") or self._anonymous_id()
        model = message.get("model") if isinstance(message.get("model"), str) else None
        if model:
            self._message_models[message_id] = model
            if conversation == "main":
                self.model = model
        blocks = self._messages.setdefault(message_id, _MessageBlocks())
        events: list[dict[str, Any]] = []
        for item in content if isinstance(content, list) else []:
            if not isinstance(item, dict):
                continue
            tool_id = item.get("id") if item.get("type") in ("tool_use", "server_tool_use") else None
            position = blocks.claim(_kind(item), tool_id, index)
            block = self._block_for(item, message_id, position, conversation, status="complete")
            if block is None:
                events.append(
                    log_event("debug", f"Claude Code content of an unknown type: {item.get('type')}")
                )
                continue
            if block["type"] in ("tool_use", "subagent"):
                block["status"] = "pending"  # until its result arrives
                self._tools[block["toolUseId"]] = {
                    "name": item.get("name"),
                    "conversation": conversation,
                    "at": _ms(timestamp),
                }
            if block["type"] == "assistant_text":
                self._last_text[conversation] = block["content"]
            events.append(make_event("block:upsert", {"block": block}, conversation))
            if block["type"] == "subagent":
                events.extend(self._spawned(item, conversation))
        return events

    def user(
        self, message: Any, conversation: str, timestamp: Any, tool_use_result: Any
    ) -> list[dict[str, Any]]:
        if not isinstance(message, dict):
            return []
        content = message.get("content")
        events: list[dict[str, Any]] = []
        for item in content if isinstance(content, list) else []:
            if isinstance(item, dict) and item.get("type") == "tool_result":
                events.extend(self._tool_result(item, conversation, timestamp, tool_use_result))
        return events

    def _tool_result(
        self, item: dict[str, Any], conversation: str, timestamp: Any, tool_use_result: Any
    ) -> list[dict[str, Any]]:
        tool_id = item.get("tool_use_id")
        if not isinstance(tool_id, str):
            return []
        tool = self._tools.get(tool_id) or {}
        is_error = bool(item.get("is_error"))
        output = tool_output_text(item.get("content"))
        if tool.get("name") in SUBAGENT_TOOLS or tool_id in self._subagents:
            info = self._subagents.setdefault(tool_id, {"agentId": None, "done": False})
            if isinstance(tool_use_result, dict) and isinstance(tool_use_result.get("agentId"), str):
                info["agentId"] = tool_use_result["agentId"]
            if isinstance(tool_use_result, dict) and (
                tool_use_result.get("isAsync") or tool_use_result.get("status") == "async_launched"
            ):
                return []  # a background agent was launched; its task notification ends it
            return self._subagent_done(
                tool_id, "failed" if is_error else "completed", self._last_text.get(tool_id) or output, None
            )
        if len(output) > self.limit:
            output = (
                output[: self.limit] + f"\n[output truncated: {len(output) - self.limit} more characters]"
            )
        result: dict[str, Any] = {
            "id": f"{tool_id}:result",
            "type": "tool_result",
            "toolUseId": tool_id,
            "output": output,
            "isError": is_error,
            "status": "error" if is_error else "complete",
        }
        started, ended = tool.get("at"), _ms(timestamp)
        if started is not None and ended is not None and ended >= started:
            result["durationMs"] = ended - started
        return [
            make_event(
                "block:upsert",
                {"block": {"id": tool_id, "type": "tool_use", "status": "complete"}},
                conversation,
            ),
            make_event("block:upsert", {"block": result}, conversation),
        ]

    def _block_for(
        self, item: dict[str, Any], message_id: str, index: int, conversation: str, status: str
    ) -> dict[str, Any] | None:
        kind = item.get("type")
        if kind == "text":
            block: dict[str, Any] = {
                "id": f"{message_id}:{index}",
                "type": "assistant_text",
                "content": str(item.get("text") or ""),
                "status": status,
            }
            model = self._message_models.get(message_id)
            if model:
                block["model"] = model
            return block
        if kind in ("thinking", "redacted_thinking"):
            text = item.get("thinking") if kind == "thinking" else "[redacted thinking]"
            return {
                "id": f"{message_id}:{index}",
                "type": "thinking",
                "content": str(text or ""),
                "status": status,
            }
        if kind in ("tool_use", "server_tool_use") and isinstance(item.get("id"), str):
            name = str(item.get("name") or "tool")
            tool_input = item.get("input") if isinstance(item.get("input"), dict) else {}
            if name in SUBAGENT_TOOLS:
                label = tool_input.get("subagent_type") or tool_input.get("description") or name
                return {
                    "id": item["id"],
                    "type": "subagent",
                    "toolUseId": item["id"],
                    "name": str(label),
                    "input": tool_input,
                    "status": status,
                }
            return {
                "id": item["id"],
                "type": "tool_use",
                "toolName": name,
                "toolUseId": item["id"],
                "input": tool_input,
                "status": status,
                **tool_fields(TOOL_KINDS.get(name, "other"), tool_input),
            }
        if (
            isinstance(kind, str)
            and kind.endswith("_tool_result")
            and isinstance(item.get("tool_use_id"), str)
        ):
            # Results of the API's own server tools (web search) arrive inside the assistant message.
            tool_id = item["tool_use_id"]
            return {
                "id": f"{tool_id}:result",
                "type": "tool_result",
                "toolUseId": tool_id,
                "output": tool_output_text(item.get("content")),
                "isError": False,
                "status": "complete",
            }
        return None

    # -- subagents --------------------------------------------------------------------------

    def _spawned(self, item: dict[str, Any], conversation: str) -> list[dict[str, Any]]:
        tool_id = item.get("id")
        if not isinstance(tool_id, str) or tool_id in self._subagents:
            return []
        self._subagents[tool_id] = {"agentId": None, "done": False}
        tool_input = item.get("input") if isinstance(item.get("input"), dict) else {}
        payload: dict[str, Any] = {"toolUseId": tool_id, "prompt": str(tool_input.get("prompt") or "")}
        if tool_input.get("subagent_type"):
            payload["subagentType"] = str(tool_input["subagent_type"])
        if tool_input.get("description"):
            payload["description"] = str(tool_input["description"])
        return [make_event("subagent:spawned", payload, conversation)]

    def _subagent_done(
        self, tool_id: str, status: str, output: str | None, duration_ms: Any
    ) -> list[dict[str, Any]]:
        info = self._subagents.setdefault(tool_id, {"agentId": None, "done": False})
        if info["done"]:
            return []
        info["done"] = True
        conversation = (self._tools.get(tool_id) or {}).get("conversation", "main")
        block: dict[str, Any] = {
            "id": tool_id,
            "type": "subagent",
            "status": "error" if status == "failed" else "complete",
        }
        if output:
            block["output"] = output
        payload: dict[str, Any] = {"toolUseId": tool_id, "status": status}
        if info["agentId"]:
            payload["agentId"] = info["agentId"]
        if output:
            payload["output"] = output
        if isinstance(duration_ms, int):
            payload["durationMs"] = duration_ms
        return [
            make_event("block:upsert", {"block": block}, conversation),
            make_event("subagent:completed", payload, conversation),
        ]

    def task_notification(
        self, tool_id: Any, status: Any, agent_id: Any, summary: Any, duration_ms: Any = None
    ) -> list[dict[str, Any]]:
        if not isinstance(tool_id, str) or not self._is_agent_task(tool_id, agent_id):
            return []
        info = self._subagents.setdefault(tool_id, {"agentId": None, "done": False})
        if isinstance(agent_id, str) and agent_id:
            info["agentId"] = agent_id
        ok = status in ("completed", "complete", "success")
        output = self._last_text.get(tool_id) or (summary if isinstance(summary, str) else None)
        return self._subagent_done(tool_id, "completed" if ok else "failed", output, duration_ms)

    def _is_agent_task(self, tool_id: str, task_id: Any) -> bool:
        """Whether a task event is about a subagent. Claude Code also runs a Bash command that
        takes seconds as a task (``task_type: local_bash``): that one ends with its tool result,
        which carries the output, so its task events must not turn the tool card into a subagent."""
        task_type = self._task_types.get(str(task_id))
        if task_type is not None:
            return "agent" in task_type
        tool = self._tools.get(tool_id)
        return tool is None or tool.get("name") in SUBAGENT_TOOLS or tool_id in self._subagents

    # -- system and result --------------------------------------------------------------------

    def _system(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        subtype = message.get("subtype")
        if subtype == "background_tasks_changed" and isinstance(message.get("tasks"), list):
            self._background = {
                str(t.get("task_id")) for t in message["tasks"] if isinstance(t, dict) and t.get("task_id")
            }
            if self._background:
                self._settled = False
            return []
        if subtype == "task_started" and isinstance(message.get("task_type"), str):
            self._task_types[str(message.get("task_id"))] = message["task_type"]
            return []
        if subtype == "task_notification":
            # Also ends the task here, in case the CLI never prints the emptied task list.
            self._background.discard(str(message.get("task_id")))
        if subtype == "init":
            if isinstance(message.get("model"), str):
                self.model = message["model"]
                return [make_event("metadata:update", {"model": message["model"]})]
            return []
        if subtype == "api_retry":
            status = message.get("error_status")
            what = f"Model API error {status}" if status else "Model API unreachable"
            if message.get("error"):
                what += f" ({message['error']})"
            attempt, total = message.get("attempt"), message.get("max_retries")
            delay = message.get("retry_delay_ms")
            text = f"{what}; retrying (attempt {attempt} of {total})"
            if isinstance(delay, int | float):
                text += f" in {int(delay)} ms"
            return [
                log_event(
                    "warn",
                    text,
                    {
                        k: message.get(k)
                        for k in ("attempt", "max_retries", "retry_delay_ms", "error_status", "error")
                    },
                )
            ]
        if subtype == "task_notification":
            usage = message.get("usage") if isinstance(message.get("usage"), dict) else {}
            return self.task_notification(
                message.get("tool_use_id"),
                message.get("status"),
                message.get("task_id"),
                message.get("summary"),
                usage.get("duration_ms"),
            )
        if subtype == "compact_boundary":
            meta = (
                message.get("compact_metadata") if isinstance(message.get("compact_metadata"), dict) else {}
            )
            before = meta.get("pre_tokens")
            text = "Conversation compacted" + (f" ({before} tokens before)" if before else "")
            block = {
                "id": f"system-{message.get('uuid') or self._anonymous_id()}",
                "type": "system",
                "subtype": "compact_boundary",
                "message": text,
                "status": "complete",
            }
            return [make_event("block:upsert", {"block": block})]
        if subtype in _QUIET_SYSTEM:
            return []
        return [log_event("debug", f"Claude Code system message: {str(subtype)[:80]}")]

    def _result(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        self.result = message
        self._settled = not self._background
        events: list[dict[str, Any]] = []
        usage = message.get("usage") if isinstance(message.get("usage"), dict) else {}
        payload: dict[str, Any] = {}
        if usage:
            counts = {
                "inputTokens": usage.get("input_tokens"),
                "outputTokens": usage.get("output_tokens"),
                "cacheReadTokens": usage.get("cache_read_input_tokens"),
                "cacheWriteTokens": usage.get("cache_creation_input_tokens"),
            }
            counts = {k: int(v) for k, v in counts.items() if isinstance(v, int | float)}
            counts.setdefault("inputTokens", 0)
            counts.setdefault("outputTokens", 0)
            counts["totalTokens"] = sum(counts.values())
            payload["usage"] = counts
        total_cost = message.get("total_cost_usd")
        if isinstance(total_cost, int | float):
            # Cumulative over the conversation (resumed runs and earlier results of this run
            # included); our events carry increments.
            payload["costUsd"] = round(max(0.0, float(total_cost) - self.cost_baseline), 10)
            self.cost_baseline = max(self.cost_baseline, float(total_cost))
        model = self.model or _main_model(message.get("modelUsage"))
        if model:
            payload["model"] = model
        if payload:
            events.append(make_event("metadata:update", payload))
        if message.get("is_error") or (
            isinstance(message.get("subtype"), str) and message["subtype"].startswith("error")
        ):
            text = message.get("result") if isinstance(message.get("result"), str) else None
            errors = message.get("errors")
            if not text and isinstance(errors, list) and errors:
                text = "; ".join(str(e) for e in errors)
            text = (
                text or self.api_error or f"Claude Code failed ({message.get('subtype') or 'error'})"
            ).strip()
            status = message.get("api_error_status")
            code = (
                "API_ERROR"
                if status
                else {"error_max_turns": "MAX_TURNS", "error_max_budget_usd": "MAX_BUDGET"}.get(
                    str(message.get("subtype")), "AGENT_ERROR"
                )
            )
            data = {
                k: message.get(k)
                for k in ("subtype", "api_error_status", "api_error_type", "terminal_reason")
                if message.get(k) is not None
            }
            if text != self.api_error:  # already reported when the CLI printed it
                events.append(make_event("error", {"message": text, "code": code, "data": data}))
            self.failure = {"error": text, "code": code}
        return events

    # -- control protocol (permissionMode "ask") ----------------------------------------------

    def _control_request(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        request_id = message.get("request_id")
        raw = message.get("request")
        request: dict[str, Any] = raw if isinstance(raw, dict) else {}
        subtype = request.get("subtype")
        if not isinstance(request_id, str) or not request_id:
            return [log_event("warn", "Claude Code sent a control request without an id", message)]
        if subtype != "can_use_tool":
            # Hooks, SDK MCP servers and dialogs are never registered by us; an error answer lets
            # the CLI carry on (it treats it as "cancelled") instead of waiting forever.
            self._respond(request_id, error=f"agent-tui does not handle {str(subtype)[:80]!r} requests")
            return [log_event("debug", f"Claude Code control request {str(subtype)[:80]!r} declined")]
        tool = str(request.get("tool_name") or "")
        tool_input = request.get("input") if isinstance(request.get("input"), dict) else {}
        if tool and tool in self.always_allowed:
            # Allowed always earlier in this run: the CLI's own allow list was fixed at start.
            self._respond(request_id, {"behavior": "allow", "updatedInput": tool_input})
            return [log_event("info", f"{tool} allowed without asking (allowed always in this session)")]
        self.permission_requests[request_id] = {"toolName": tool, "input": tool_input}
        payload: dict[str, Any] = {"requestId": request_id, "toolName": tool, "input": tool_input,
                                   **tool_fields(TOOL_KINDS.get(tool, "other"), tool_input)}
        if isinstance(request.get("tool_use_id"), str):
            payload["toolUseId"] = request["tool_use_id"]
        title = request.get("title") or request.get("description")
        if isinstance(title, str) and title.strip():
            payload["title"] = title.strip()
        return [make_event("permission:requested", payload)]

    def _control_cancel(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        request_id = message.get("request_id")
        if not isinstance(request_id, str) or self.permission_requests.pop(request_id, None) is None:
            return []
        # The CLI stopped waiting (its turn was torn down): close the question for every client.
        payload = {
            "requestId": request_id,
            "decision": "deny",
            "by": CLI_NAME,
            "message": "Claude Code withdrew the request",
        }
        return [make_event("permission:resolved", payload)]

    def on_control(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        if message.get("type") != "permission_response":
            return super().on_control(message)
        request_id = message.get("requestId")
        pending = self.permission_requests.pop(request_id, None) if isinstance(request_id, str) else None
        if pending is None or not isinstance(request_id, str):
            return [log_event("debug", f"answer to a question Claude Code is not waiting on: {request_id!r}")]
        decision = message.get("decision")
        if decision in ("allow", "allow_always"):
            if decision == "allow_always" and pending["toolName"]:
                self.always_allowed.add(pending["toolName"])
            self._respond(request_id, {"behavior": "allow", "updatedInput": pending["input"]})
        else:
            text = message.get("message")
            reason = text.strip() if isinstance(text, str) and text.strip() else DEFAULT_DENY_MESSAGE
            self._respond(request_id, {"behavior": "deny", "message": reason})
        return []

    def _respond(
        self, request_id: str, response: dict[str, Any] | None = None, *, error: str | None = None
    ) -> None:
        if error is not None:
            body: dict[str, Any] = {"subtype": "error", "request_id": request_id, "error": error}
        else:
            body = {"subtype": "success", "request_id": request_id, "response": response or {}}
        self.send_to_agent({"type": "control_response", "response": body})

    # ------------------------------------------------------------------ the rest of the interface

    def on_stderr(self, line: str) -> list[dict[str, Any]]:
        if line.strip():
            self._stderr_tail.append(line.strip())
        return super().on_stderr(line)

    def done(self) -> bool:
        # In ask mode the CLI's stdin is closed only when nothing may still ask: a background
        # subagent runs on after the first result, and a question may still wait for its answer.
        return self.result is not None and self._settled and not self.permission_requests

    def finish(
        self, exit_code: int, *, interrupted: bool = False
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        if interrupted:
            return [], None
        if self.failure is not None:
            return [], self.failure
        if self.result is None:
            if self.api_error:
                return [], {"error": self.api_error, "code": "API_ERROR"}
            detail = f": {' | '.join(self._stderr_tail)}" if self._stderr_tail else ""
            if exit_code != 0:
                return [], {
                    "error": f"Claude Code {exit_description(exit_code)}{detail}",
                    "code": "AGENT_EXITED",
                }
            return [], {
                "error": f"Claude Code ended without a result (its output was cut short){detail}",
                "code": "AGENT_NO_RESULT",
            }
        if exit_code != 0:
            return [], {"error": f"Claude Code {exit_description(exit_code)}", "code": "AGENT_EXITED"}
        return [], None

    def _anonymous_id(self) -> str:
        self._anonymous += 1
        return f"anon-{self._anonymous}"


def _kind(item: dict[str, Any]) -> str:
    kind = str(item.get("type") or "")
    return "thinking" if kind == "redacted_thinking" else kind


def _main_model(model_usage: Any) -> str | None:
    if not isinstance(model_usage, dict) or not model_usage:
        return None

    def weight(name: str) -> float:
        entry = model_usage.get(name)
        return float(entry.get("outputTokens") or 0) if isinstance(entry, dict) else 0.0

    return max(model_usage, key=weight)


#: How much of a session file is read to find its first message (it is in the first lines).
_MESSAGE_SCAN_BYTES = 4 * 1024 * 1024


def _settle_fork(argv: list[str], config_dir: str) -> list[str]:
    """``--session-id F --fork-session --resume S`` (a fork's first query) as the sandbox allows:
    F already holds the conversation (an earlier try got that far) -> ``--resume F``; S's copy is
    not there -> a fresh ``--session-id F``; else as it is."""
    position = argv.index("--session-id")
    own = argv[position + 1]
    source = argv[argv.index("--resume") + 1]
    own_file = find_session_file(config_dir, own)
    if own_file is not None and _has_message(own_file):
        keep = ["--resume", own]
    elif find_session_file(config_dir, source) is None:
        keep = ["--session-id", own]
    else:
        return argv
    rest: list[str] = []
    skip = 0
    for number, arg in enumerate(argv):
        if skip:
            skip -= 1
            continue
        if number < len(argv) - 1 and arg in ("--session-id", "--resume") and "--" not in argv[:number]:
            skip = 1
            continue
        if arg == "--fork-session" and "--" not in argv[:number]:
            continue
        rest.append(arg)
    return [*rest[:position], *keep, *rest[position:]]


def _has_message(path: str) -> bool:
    """Whether a Claude Code session file holds a complete user or assistant message, i.e. a
    conversation ``--resume`` can continue. A file it cannot read counts as having one (the CLI
    then says what is wrong, and nothing is moved aside)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_MESSAGE_SCAN_BYTES)
    except OSError:
        return True
    lines = head.split(b"\n")
    complete = lines if len(head) < _MESSAGE_SCAN_BYTES else lines[:-1]
    for line in complete:
        if b'"message"' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("type") in ("user", "assistant") and entry.get("message"):
            return True
    return len(head) >= _MESSAGE_SCAN_BYTES  # a huge head without one: not ours to judge


def _last_cost(path: str) -> float:
    """The last ``cost-state`` total in a session file (0 when there is none)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - _COST_TAIL_BYTES))
            tail = handle.read().decode("utf-8", "replace")
    except OSError:
        return 0.0
    for line in reversed(tail.splitlines()):
        if '"cost-state"' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("type") == "cost-state":
            value = entry.get("totalCostUSD")
            try:
                return float(value)
            except (TypeError, ValueError):
                return 0.0
    return 0.0
