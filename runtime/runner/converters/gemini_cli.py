"""Gemini CLI ``-o stream-json`` lines -> SessionEvents. Stdlib only.

What ``gemini -p ... -o stream-json`` prints (one JSON object per line, each with ``type`` and an
ISO ``timestamp``), and what becomes of it:

- ``init`` (``session_id``, ``model``; ``auto`` when the CLI routes each request) -> the model, as
  ``metadata:update``, when it is a real one.
- ``message`` ``role: user``: the prompt echoed; the runtime already has it.
- ``message`` ``role: assistant``, ``delta: true``: a piece of the reply -> the first piece opens a
  pending ``assistant_text`` block (``block:upsert``), every piece is a ``block:delta``; the block is
  completed (with its whole text) when the model turn ends (a tool call, or the result).
- ``tool_use`` (``tool_name``, ``tool_id``, ``parameters``) -> a ``tool_use`` block, pending.
- ``tool_result`` (``tool_id``, ``status``, ``output``, ``error``) -> the tool_use completed and a
  ``tool_result`` block (``isError`` when ``status`` is ``error``). Gemini CLI reports a shell
  command that exits non-zero as a success and prints no exit code; only the model is told it
  (``Exit Code: N`` in the ``functionResponse``), and the CLI saves that response in its chat
  file right after printing the ``tool_result``. So for ``run_shell_command`` the converter reads
  the call's response from the chat file at the next line (or at the end) and upserts the result
  again with ``exitCode`` and, for a non-zero code, ``isError``/``status: error``.
- ``error`` (``severity``, ``message``) -> a ``log`` warning, or for ``severity: error`` an ``error``
  event (the query then fails).
- ``result`` (``status``, ``error``, ``stats``) -> ``metadata:update`` (this run's tokens, the model
  that did most of the work) and, when ``status`` is ``error``, an ``error`` event and a failed query.

Block ids match what ``transcript_events`` reads from Gemini CLI's chat file, so a restored
transcript gives the same blocks: ``<session uuid>:r<n>`` for the text of the n-th model turn of
the conversation (``prepare`` counts the turns already in the chat file), the tool call id for a
tool call and ``<tool call id>:result`` for its result.
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections import deque

from .base import Converter, exited_failure, log_event, make_event, stderr_line
from .base import as_dict as _dict
from .base import truncate_output as _truncate
from .reaper import leftover_events, reaped, tag_environment
from .tool_kinds import tool_fields

# ``typing`` only for the type checker: importing it costs the runner ~2.5 ms of start-up per query.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Environment variable the host puts the settings in (see ``architectures/gemini_cli.py``).
SETUP_ENV = "AGENT_TUI_GEMINI_SETUP"
DEFAULT_OUTPUT_LIMIT = 1024 * 1024
#: The first user message of a session is the CLI's own context block, not the user's prompt.
_CONTEXT_PREFIX = "<session_context>"
_API_ERROR = re.compile(r"\[API Error: (\{.*\})\]?", re.DOTALL)
#: Gemini CLI's shell tool; its response to the model says the exit code (``shell_exit_code``).
SHELL_TOOLS = frozenset({"run_shell_command"})
#: Gemini CLI's tool names -> kinds (tool_kinds.py); the rest are ``other`` (MCP tools, ...).
TOOL_KINDS = {"run_shell_command": "execute", "read_file": "read", "read_many_files": "read",
              "write_file": "edit", "replace": "edit", "glob": "search", "search_file_content": "search",
              "list_directory": "search", "web_fetch": "fetch", "google_web_search": "fetch",
              "save_memory": "think", "write_todos": "think"}
#: The lines that may end the shell tool's response, last first (``shell_exit_code``).
_SHELL_TAIL = (("pgid", re.compile(r"Process Group PGID: \d+")), ("pids", re.compile(r"Background PIDs: [\d, ]*")),
               ("signal", re.compile(r"Signal: .*")), ("exit", re.compile(r"Exit Code: (-?\d{1,9})")))
_UNTRUSTED = ("<untrusted_context>", "</untrusted_context>")
#: How many lines after a shell command's result the chat file is read for its exit code before
#: giving up until the end (it is there by the next line; this only bounds a missing record).
_EXIT_CODE_TRIES = 3


def make_converter(request: dict[str, Any]) -> GeminiCliConverter:
    return GeminiCliConverter(request)


def error_text(message: str) -> tuple[str, str]:
    """A readable message and a code for Gemini CLI's error text, which wraps the API's JSON
    error body as ``[API Error: {"error": {"code", "message", "status"}}]``."""
    match = _API_ERROR.search(message or "")
    if match:
        try:
            body = json.loads(match.group(1).rstrip("]"))
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            status = " ".join(str(p) for p in (error.get("code"), error.get("status")) if p)
            return f"API error {status}: {error.get('message') or ''}".strip(), "API_ERROR"
        return message, "API_ERROR"
    return message or "Gemini CLI failed", "AGENT_ERROR"


def shell_exit_code(text: Any) -> int | None:
    """The exit code in Gemini CLI's shell tool response to the model (``llmContent``):
    ``<untrusted_context>\\nOutput: ...\\n[Error: ...\\n][Exit Code: N\\n][Signal: ...\\n]
    [Background PIDs: ...\\n]Process Group PGID: N\\n</untrusted_context>``, where ``Exit Code``
    is only there when it is not 0. ``None`` when the text is not such a response (cancelled,
    moved to the background, summarised, garbage) or no code is known (killed by a signal, the
    shell failed to start)."""
    if not isinstance(text, str):
        return None
    body = text.strip()
    if body.startswith(_UNTRUSTED[0]) and body.endswith(_UNTRUSTED[1]):
        body = body[len(_UNTRUSTED[0]):-len(_UNTRUSTED[1])].strip("\n")
    if not body.startswith("Output: "):
        return None
    # The last lines only (the output before them is the command's, and may say anything),
    # each section at most once and in the CLI's order.
    lines = body.rstrip().rsplit("\n", len(_SHELL_TAIL))[1:]
    for name, pattern in _SHELL_TAIL:
        match = pattern.fullmatch(lines[-1]) if lines else None
        if match is None:
            continue
        lines.pop()
        if name == "exit":
            return int(match.group(1))
        if name == "signal":
            return None  # killed by a signal: no code
    if "\nError: " in body:  # no code: the shell did not start (or unknowable from the output)
        return None
    return 0


def function_responses(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every ``functionResponse`` in chat file records, by call id: from a model turn's
    ``toolCalls[].result`` and from the user messages that carry them in the API's form."""
    found: dict[str, dict[str, Any]] = {}

    def add(parts: Any) -> None:
        for response in _parts(parts, "functionResponse"):
            if isinstance(response.get("id"), str):
                found[response["id"]] = response

    for record in records:
        update = record.get("$set")
        messages = update.get("messages") if isinstance(update, dict) else [record]
        for message in messages if isinstance(messages, list) else []:
            if not isinstance(message, dict):
                continue
            add(message.get("content"))
            calls = message.get("toolCalls")
            for call in calls if isinstance(calls, list) else []:
                if isinstance(call, dict):
                    add(call.get("result"))
    return found


def response_exit_code(response: Any) -> int | None:
    """The exit code a shell tool's ``functionResponse`` tells the model, if it says one."""
    body = _dict(response).get("response")
    return shell_exit_code(_dict(body).get("output"))


def display_text(display: Any) -> str:
    """A tool's display result as text (a string, or a structure such as a file diff)."""
    if isinstance(display, str):
        return display
    if display is None:
        return ""
    if isinstance(display, dict):
        for key in ("fileDiff", "output", "text", "message"):
            if isinstance(display.get(key), str):
                return display[key]
    return json.dumps(display, ensure_ascii=False)


class GeminiCliConverter(Converter):
    def __init__(self, request: dict[str, Any]) -> None:
        super().__init__(request)
        self.limit = int(request.get("toolOutputLimit") or DEFAULT_OUTPUT_LIMIT)
        self.session_uuid: str | None = None
        #: Model turns already in the conversation before this run (see ``prepare``).
        self.turn_base = 0
        self.turns = 0
        self.model: str | None = None
        self.failure: dict[str, Any] | None = None
        self.result_seen = False
        self.run_tag: str | None = None
        self._text_id: str | None = None
        self._text = ""
        self._turn_open = False
        self._tools: dict[str, dict[str, Any]] = {}
        self._last_error: str | None = None
        self._stderr_tail: deque[str] = deque(maxlen=6)
        self._prompt_on_stdin = False
        #: ``~/.gemini`` of the run (``prepare``), where the chat file with the exit codes is.
        self.gemini_dir: str | None = None
        self._chat_path: str | None = None
        #: Size of the chat file before the shell call whose exit code is awaited (the call's
        #: response is appended after it).
        self._chat_offset = 0
        #: Shell results emitted without an exit code yet, by call id.
        self._awaiting_exit: dict[str, dict[str, Any]] = {}
        self._exit_tries = 0

    # ------------------------------------------------------------------ before the CLI starts

    def prepare(self, argv: list[str], env: dict[str, str]) -> list[str]:
        """Write the settings the host sent; resume only a conversation the sandbox has (an
        earlier query may have been stopped before the CLI wrote it), start one otherwise; count
        its model turns so text block ids continue where they left off."""
        home = env.get("HOME") or os.path.expanduser("~")
        self.gemini_dir = os.path.join(home, ".gemini")
        setup_text = env.pop(SETUP_ENV, None)
        if setup_text:
            write_setup(json.loads(setup_text), home)
        if env.get("TMPDIR"):
            os.makedirs(env["TMPDIR"], exist_ok=True)
        self.run_tag = tag_environment(env)
        self._prompt_on_stdin = not any(arg.startswith("--prompt=") for arg in argv)
        if "-m" in argv[:-1]:
            self.model = argv[argv.index("-m") + 1]
        for flag, other in (("--resume", "--session-id"), ("--session-id", "--resume")):
            if flag not in argv[:-1]:
                continue
            position = argv.index(flag)
            self.session_uuid = argv[position + 1]
            chat = find_chat_file(os.path.join(home, ".gemini"), self.session_uuid)
            if chat is not None and not resumable(chat):
                # The CLI lists (and resumes) only sessions with something said in them; a
                # first query that failed leaves a file with nothing but its context block.
                os.unlink(chat)
                chat = None
            if (flag == "--resume") != (chat is not None):
                argv = [*argv[:position], other, *argv[position + 1:]]
            if chat is not None:
                self.turn_base = count_model_turns(chat)
            break
        return reaped(argv, self.run_tag)

    def initial_input(self) -> list[str]:
        """A prompt too long for argv goes to stdin (the CLI reads it when there is no ``-p``)."""
        return [str(self.request.get("prompt") or "")] if self._prompt_on_stdin else []

    # ------------------------------------------------------------------ stdout lines

    def convert(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        kind = message.get("type")
        # The CLI saves a batch of tool results in its chat file right after printing the
        # batch's last ``tool_result``, so any other line comes after they are saved.
        if self._awaiting_exit and kind != "tool_result" and self._exit_tries < _EXIT_CODE_TRIES:
            self._exit_tries += 1
            return [*self._exit_codes(), *self._convert(kind, message)]
        return self._convert(kind, message)

    def _convert(self, kind: Any, message: dict[str, Any]) -> list[dict[str, Any]]:
        timestamp = message.get("timestamp") if isinstance(message.get("timestamp"), str) else None
        if kind == "init":
            if isinstance(message.get("session_id"), str):
                self.session_uuid = message["session_id"]
            model = message.get("model")
            if isinstance(model, str) and model and model != "auto":
                self.model = model
                return [make_event("metadata:update", {"model": model}, timestamp=timestamp)]
            return []
        if kind == "message":
            if message.get("role") != "assistant":
                return []
            content = message.get("content")
            return self._delta(content, timestamp) if isinstance(content, str) else []
        if kind == "tool_use":
            return self._tool_use(message, timestamp)
        if kind == "tool_result":
            return self._tool_result(message, timestamp)
        if kind == "error":
            return self._error(message, timestamp)
        if kind == "result":
            return self._result(message, timestamp)
        return [log_event("debug", f"Gemini CLI output of an unknown type: {str(kind)[:80]}",
                          {"line": json.dumps(message)[:2000]})]

    def _open_turn(self) -> None:
        if not self._turn_open:
            self._turn_open = True
            self.turns += 1

    def _turn_id(self) -> str:
        return f"{self.session_uuid or self.request.get('sessionId') or 'gemini'}:r{self.turn_base + self.turns}"

    def _delta(self, text: str, timestamp: str | None) -> list[dict[str, Any]]:
        if not text:
            return []
        events: list[dict[str, Any]] = []
        if self._text_id is None:
            self._open_turn()
            self._text_id, self._text = self._turn_id(), ""
            block = {"id": self._text_id, "type": "assistant_text", "content": "", "status": "pending"}
            events.append(make_event("block:upsert", {"block": block}, timestamp=timestamp))
        self._text += text
        events.append(make_event("block:delta", {"blockId": self._text_id, "delta": text}, timestamp=timestamp))
        return events

    def _close_text(self, timestamp: str | None) -> list[dict[str, Any]]:
        if self._text_id is None:
            return []
        block = {"id": self._text_id, "type": "assistant_text", "content": self._text, "status": "complete"}
        self._text_id, self._text = None, ""
        return [make_event("block:upsert", {"block": block}, timestamp=timestamp)]

    def _tool_use(self, message: dict[str, Any], timestamp: str | None) -> list[dict[str, Any]]:
        tool_id = message.get("tool_id")
        if not isinstance(tool_id, str):
            return [log_event("warn", "Gemini CLI tool_use without a tool_id")]
        events = self._close_text(timestamp)
        self._open_turn()
        parameters = _dict(message.get("parameters"))
        name = str(message.get("tool_name") or "tool")
        self._tools[tool_id] = {"name": name, "input": parameters}
        if name in SHELL_TOOLS and not self._awaiting_exit:
            self._chat_offset = self._chat_size()
        block = {"id": tool_id, "type": "tool_use", "toolName": name, "toolUseId": tool_id,
                 "input": parameters, "status": "pending", **tool_fields(TOOL_KINDS.get(name, "other"), parameters)}
        return [*events, make_event("block:upsert", {"block": block}, timestamp=timestamp)]

    def _tool_result(self, message: dict[str, Any], timestamp: str | None) -> list[dict[str, Any]]:
        tool_id = message.get("tool_id")
        if not isinstance(tool_id, str):
            return [log_event("warn", "Gemini CLI tool_result without a tool_id")]
        events = self._close_text(timestamp)
        self._turn_open = False  # what the model says next is a new turn
        is_error = message.get("status") == "error"
        error = _dict(message.get("error"))
        raw = message.get("output")
        text = display_text(raw) if raw not in (None, "") else str(error.get("message") or "")
        output, dropped = _truncate(text, self.limit)
        result: dict[str, Any] = {"id": f"{tool_id}:result", "type": "tool_result", "toolUseId": tool_id,
                                  "output": output, "isError": is_error,
                                  "status": "error" if is_error else "complete"}
        if dropped:
            result["truncatedBytes"] = dropped
        if self._tools.get(tool_id, {}).get("name") in SHELL_TOOLS and self.gemini_dir:
            self._awaiting_exit[tool_id] = {"block": dict(result), "timestamp": timestamp}
            self._exit_tries = 0
        use = {"id": tool_id, "type": "tool_use", "status": "complete"}
        return [*events, make_event("block:upsert", {"block": use}, timestamp=timestamp),
                make_event("block:upsert", {"block": result}, timestamp=timestamp)]

    # ------------------------------------------------------------------ shell exit codes

    def _find_chat(self) -> str | None:
        if self._chat_path is None and self.gemini_dir and isinstance(self.session_uuid, str):
            self._chat_path = find_chat_file(self.gemini_dir, self.session_uuid)
        return self._chat_path

    def _chat_size(self) -> int:
        path = self._find_chat()
        try:
            return os.path.getsize(path) if path else 0
        except OSError:
            return 0

    def _exit_codes(self) -> list[dict[str, Any]]:
        """The shell results awaiting their exit code, upserted again with the code the chat
        file has for them (and ``isError`` when it is not 0); those it has none for are dropped
        once the call's response is there."""
        path = self._find_chat()
        if path is None:
            return []
        responses = self._chat_responses(path, self._chat_offset)
        if self._chat_offset and not set(self._awaiting_exit) <= set(responses):
            responses = self._chat_responses(path, 0)  # the CLI rewrote the file since
        events: list[dict[str, Any]] = []
        for call_id in [c for c in self._awaiting_exit if c in responses]:
            waiting = self._awaiting_exit.pop(call_id)
            code = response_exit_code(responses[call_id])
            if code is None:
                continue
            block = with_exit_code(waiting["block"], code)
            events.append(make_event("block:upsert", {"block": block}, timestamp=waiting["timestamp"]))
        return events

    @staticmethod
    def _chat_responses(path: str, offset: int) -> dict[str, dict[str, Any]]:
        try:
            with open(path, "rb") as handle:
                handle.seek(offset)
                text = handle.read().decode("utf-8", errors="replace")
        except (OSError, ValueError):
            return {}
        # Line by line: a record cut short (the offset in the middle of one, or the CLI writing
        # it right now) is skipped without making the rest unreadable.
        return function_responses([r for line in text.splitlines() for r in parse_records(line)])

    def _error(self, message: dict[str, Any], timestamp: str | None) -> list[dict[str, Any]]:
        text = str(message.get("message") or "Gemini CLI reported an error")
        if message.get("severity") == "error":
            self._last_error = text
            readable, code = error_text(text)
            return [make_event("error", {"message": readable, "code": code}, timestamp=timestamp)]
        return [log_event("warn", f"Gemini CLI: {text}")]

    def _result(self, message: dict[str, Any], timestamp: str | None) -> list[dict[str, Any]]:
        self.result_seen = True
        events = self._close_text(timestamp)
        stats = _dict(message.get("stats"))

        def number(value: Any) -> int:
            return int(value) if isinstance(value, int | float) else 0

        payload: dict[str, Any] = {}
        if stats:
            inputs, outputs = number(stats.get("input_tokens")), number(stats.get("output_tokens"))
            payload["usage"] = {"inputTokens": inputs, "outputTokens": outputs,
                                "cacheReadTokens": number(stats.get("cached")),
                                "totalTokens": number(stats.get("total_tokens")) or inputs + outputs}
            models = _dict(stats.get("models"))
            busiest = max(models.items(), key=lambda item: number((item[1] or {}).get("total_tokens")),
                          default=None)
            if busiest is not None and number((busiest[1] or {}).get("total_tokens")) > 0:
                payload["model"] = busiest[0]
        if payload:
            events.append(make_event("metadata:update", payload, timestamp=timestamp))
        if message.get("status") == "error":
            error = _dict(message.get("error"))
            text = str(error.get("message") or self._last_error or "Gemini CLI failed")
            readable, code = error_text(text)
            self.failure = {"error": readable, "code": code}
            if text != self._last_error:  # an ``error`` line already said it
                events.append(make_event("error", {"message": readable, "code": code}, timestamp=timestamp))
        return events

    # ------------------------------------------------------------------ stderr and the end

    def on_stderr(self, line: str) -> list[dict[str, Any]]:
        return stderr_line(self._stderr_tail, line)

    def finish(self, exit_code: int, *, interrupted: bool = False) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        # A text block still open stays pending: the runtime closes it with the query's outcome.
        events = self._exit_codes() if self._awaiting_exit else []
        events.extend(leftover_events(self.run_tag))
        if interrupted:
            return events, None
        if self.failure is not None:
            return events, self.failure
        if exit_code != 0:
            return events, exited_failure("gemini", exit_code, self._stderr_tail)
        if not self.result_seen:
            return events, {"error": "Gemini CLI ended without a result (its output was cut short)",
                            "code": "AGENT_NO_RESULT"}
        return events, None


# --------------------------------------------------------------------------- in the sandbox


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def write_setup(setup: dict[str, Any], home: str) -> None:
    """Merge the host's settings into ``~/.gemini/settings.json`` (keeping what the CLI itself
    wrote there) and write the profile's system prompt as ``~/.gemini/GEMINI.md``, the global
    context file Gemini CLI adds to every conversation."""
    folder = os.path.join(home, ".gemini")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "settings.json")
    current: dict[str, Any] = {}
    try:
        with open(path, encoding="utf-8") as handle:
            loaded = json.load(handle)
        if isinstance(loaded, dict):
            current = loaded
    except (OSError, ValueError):
        pass
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(_merge(current, setup.get("settings") or {}), handle, indent=2)
    context = os.path.join(folder, "GEMINI.md")
    instructions = setup.get("instructions")
    if isinstance(instructions, str) and instructions.strip():
        with open(context, "w", encoding="utf-8") as handle:
            handle.write(instructions)
    elif os.path.exists(context):
        os.unlink(context)


def find_chat_file(gemini_dir: str, session_uuid: str) -> str | None:
    """The main chat file of a session: ``tmp/<project>/chats/session-*-<uuid8>.jsonl`` whose
    header names the session."""
    short = session_uuid[:8]
    for suffix in ("jsonl", "json"):
        for path in sorted(glob.glob(os.path.join(gemini_dir, "tmp", "*", "chats", f"session-*-{short}.{suffix}"))):
            header = _read_records(path)[:1]
            if header and header[0].get("sessionId") == session_uuid:
                return path
    return None


def _read_records(path: str) -> list[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return []
    return parse_records(text)


def parse_records(text: str) -> list[dict[str, Any]]:
    """A chat file's records: JSON lines, or one JSON document (older CLIs), as a header record
    and a ``$set`` of its messages."""
    records: list[dict[str, Any]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            if records:
                continue  # a line cut short (the CLI was killed mid-write): skip it
            return _document_records(text)
        if isinstance(record, dict):
            records.append(record)
    return records


def _document_records(text: str) -> list[dict[str, Any]]:
    try:
        document = json.loads(text)
    except ValueError:
        return []
    if not isinstance(document, dict):
        return []
    header = {k: v for k, v in document.items() if k != "messages"}
    return [header, {"$set": {"messages": document.get("messages") or []}}]


def conversation(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages of a chat file, in order.

    A record with an ``id`` adds a message or replaces the one with that id (the CLI writes a
    model turn again once its tool calls are done). A ``$set`` of ``messages`` (written when a
    session starts or is resumed) gives the list anew, in the API's form: a model turn's tool
    calls are then only ``functionCall`` parts, without their results for display; the richer
    record seen earlier under the same id is kept.
    """
    order: list[str] = []
    #: Every message by id, in its richest form: a record line wins over a ``$set`` list entry.
    best: dict[str, dict[str, Any]] = {}
    for record in records[1:]:
        update = record.get("$set")
        if isinstance(update, dict):
            if isinstance(update.get("messages"), list):
                order = []
                for message in update["messages"]:
                    if isinstance(message, dict):
                        key = str(message.get("id"))
                        order.append(key)
                        if best.get(key, {}).get("type") != message.get("type"):
                            best[key] = message
            continue
        if isinstance(record.get("id"), str) and isinstance(record.get("type"), str):
            if record["id"] not in order:
                order.append(record["id"])
            best[record["id"]] = record
    return [best[key] for key in order]


def resumable(path: str) -> bool:
    """Whether Gemini CLI would offer this chat file for ``--resume``: a prompt, or a model turn
    that said or did something."""
    for message in conversation(_read_records(path)):
        content = message.get("content")
        text = (content if isinstance(content, str) else _user_text(content)).strip()
        if message.get("type") == "user" and text and not text.startswith(("/", "?", _CONTEXT_PREFIX,
                                                                              "<hook_context>")):
            return True
        if message.get("type") == "gemini" and (text or message.get("toolCalls") or message.get("thoughts")
                                                or _parts(content, "functionCall")):
            return True
    return False


def count_model_turns(path: str) -> int:
    return sum(1 for m in conversation(_read_records(path)) if m.get("type") == "gemini")


# --------------------------------------------------------------------------- saved transcripts


def transcript_events(transcript: Any, *, include_prompts: bool = True) -> list[dict[str, Any]]:
    """The events a stored transcript (``runner/gemini_transcript.py``) stands for: the user's
    prompts (optional) and the same blocks the live stream produced."""
    if not isinstance(transcript, dict) or not isinstance(transcript.get("files"), dict):
        return []
    session_uuid = transcript.get("sessionId")
    if not isinstance(session_uuid, str):
        return []
    records: list[dict[str, Any]] = []
    for relative in sorted(transcript["files"]):
        name = os.path.basename(relative)
        if "/chats/" not in f"/{relative}" or not name.startswith("session-"):
            continue
        candidate = parse_records(str(transcript["files"][relative]))
        if candidate and candidate[0].get("sessionId") == session_uuid and candidate[0].get("kind", "main") == "main":
            records = candidate
            break
    events: list[dict[str, Any]] = []
    turn = 0
    #: Tool calls known only as ``functionCall`` parts, waiting for their ``functionResponse``.
    unanswered: set[str] = set()
    for message in conversation(records):
        kind = message.get("type")
        timestamp = message.get("timestamp") if isinstance(message.get("timestamp"), str) else None
        content = message.get("content")
        if kind == "user":
            responses = _parts(content, "functionResponse")
            for response in responses:
                call_id = response.get("id")
                if call_id in unanswered:
                    unanswered.discard(call_id)
                    code = response_exit_code(response) if response.get("name") in SHELL_TOOLS else None
                    events.append(_result_event(call_id, _response_text(response), False, timestamp, code))
            text = _user_text(content)
            if include_prompts and not responses and text and not text.startswith(_CONTEXT_PREFIX):
                block = {"id": str(message.get("id")), "type": "user_message", "content": text, "status": "complete"}
                events.append(make_event("block:upsert", {"block": block}, timestamp=timestamp))
            continue
        if kind != "gemini":
            continue
        turn += 1
        text = content if isinstance(content, str) else _user_text(content)
        if text:
            block = {"id": f"{session_uuid}:r{turn}", "type": "assistant_text", "content": text,
                     "status": "complete"}
            events.append(make_event("block:upsert", {"block": block}, timestamp=timestamp))
        calls = message.get("toolCalls")
        if not isinstance(calls, list):  # the API's form: calls only, results in the next user message
            for call in _parts(content, "functionCall"):
                if isinstance(call.get("id"), str):
                    events.append(_use_event(call["id"], call.get("name"), call.get("args"), timestamp))
                    unanswered.add(call["id"])
            continue
        for call in calls:
            if not isinstance(call, dict) or not isinstance(call.get("id"), str):
                continue
            events.append(_use_event(call["id"], call.get("name"), call.get("args"), timestamp))
            if call.get("status") in ("success", "error"):  # else cancelled or never answered
                at = call.get("timestamp") if isinstance(call.get("timestamp"), str) else timestamp
                # Only a text display: for a file edit the chat file keeps a diff object, which the
                # live stream does not show (its ``tool_result`` has no output), and both must agree.
                display = call.get("resultDisplay")
                code = None
                if call.get("name") in SHELL_TOOLS:
                    response = function_responses([{"toolCalls": [call]}]).get(call["id"])
                    code = response_exit_code(response) if response is not None else None
                events.append(_result_event(call["id"], display if isinstance(display, str) else "",
                                            call.get("status") == "error", at, code))
    return events


def _parts(content: Any, key: str) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return []
    return [p[key] for p in content if isinstance(p, dict) and isinstance(p.get(key), dict)]


def _response_text(response: dict[str, Any]) -> str:
    body = response.get("response")
    if isinstance(body, dict):
        for key in ("output", "error"):
            if isinstance(body.get(key), str):
                return body[key]
    return display_text(body)


def _use_event(call_id: str, name: Any, args: Any, timestamp: str | None) -> dict[str, Any]:
    tool_input = args if isinstance(args, dict) else {}
    block = {"id": call_id, "type": "tool_use", "toolName": str(name or "tool"), "toolUseId": call_id,
             "input": tool_input, "status": "complete", **tool_fields(TOOL_KINDS.get(str(name), "other"), tool_input)}
    return make_event("block:upsert", {"block": block}, timestamp=timestamp)


def _result_event(call_id: str, text: str, is_error: bool, timestamp: str | None,
                  exit_code: int | None = None) -> dict[str, Any]:
    output, dropped = _truncate(text, DEFAULT_OUTPUT_LIMIT)
    block: dict[str, Any] = {"id": f"{call_id}:result", "type": "tool_result", "toolUseId": call_id,
                             "output": output, "isError": is_error, "status": "error" if is_error else "complete"}
    if dropped:
        block["truncatedBytes"] = dropped
    if exit_code is not None:
        block = with_exit_code(block, exit_code)
    return make_event("block:upsert", {"block": block}, timestamp=timestamp)


def with_exit_code(block: dict[str, Any], exit_code: int) -> dict[str, Any]:
    """A shell command's result block with its exit code: an error when the code is not 0."""
    block = {**block, "exitCode": exit_code}
    if exit_code != 0:
        block.update(isError=True, status="error")
    return block


def _user_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text")) for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""
