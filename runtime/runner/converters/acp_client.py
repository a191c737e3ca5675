"""The ACP client for one query: drive an Agent Client Protocol agent over stdio. Stdlib only.

ACP (agentclientprotocol.com) is JSON-RPC 2.0, one message per line, on the agent's stdin and
stdout. This driver is the client side; the runner-side converter (``converters/acp.py``) wraps
the host's argv in it (``driver_argv``) and turns what it prints into events:

``python -c <program> <options JSON> -- <agent argv...>``

1. reads the prompt, ``{"type": "prompt", "text": ...}``, the first line of stdin;
2. starts the agent in a session of its own (the runner's SIGTERM to its process group reaches
   only us, so we can send ``session/cancel`` first), its stderr passed through to ours;
3. ``initialize`` (protocol version 1; client capabilities ``fs.readTextFile``,
   ``fs.writeTextFile`` and ``terminal``), then ``session/load`` of the ACP session id saved in
   ``options.stateFile`` when the agent offers ``loadSession`` (what it replays is not printed:
   the host has those events already) and, when there is none or loading fails (a warning),
   ``session/new`` with ``cwd`` = the workspace and ``options.mcpServers``; the id is saved;
4. ``session/prompt`` with the prompt; every ``session/update`` is printed as
   ``{"type": "acp.update", "update": ...}`` as it arrives;
5. serves the agent's requests: ``fs/read_text_file`` and ``fs/write_text_file`` (confined to the
   workspace), ``terminal/create|output|wait_for_exit|kill|release`` (processes in the workspace,
   each in its own process group), ``session/request_permission`` (printed as ``acp.permission``
   and answered from ``{"type": "permission_reply", "id", "optionId"}`` stdin lines; with
   ``options.autoApprove`` answered at once with the agent's allow option). Anything else gets
   JSON-RPC's "method not found";
6. the prompt's answer is ``{"type": "acp.end", "stopReason", "usage"?}``; exit 0.

Lines that are not JSON-RPC are ``acp.warning`` lines, never fatal. A failure (the agent exits,
a request fails) is ``{"type": "acp.error", "message", "exitCode"?}`` and exit code 1. On SIGTERM
(an interrupt): ``session/cancel``, open permission requests answered ``cancelled``, up to
``CANCEL_GRACE_S`` for the prompt to end, then the agent's process group and every terminal are
killed; exit 143.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

from ..wire import Lines
from .base import import_root
from .driver import DriverError, Stopped, read_prompt

# ``typing`` only for the type checker: importing it costs the runner ~2.5 ms of start-up per query.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PROTOCOL_VERSION = 1
#: Seconds ``initialize`` / ``session/new`` / ``session/load`` may take (a first start may install).
SETUP_TIMEOUT_S = 120.0
#: After ``session/cancel``, how long the prompt gets to end before the agent is killed (inside
#: the host's interrupt grace).
CANCEL_GRACE_S = 0.4
STOP_GRACE_S = 0.2
#: After ``session/load``: the replay counts as over once no update came for this long (at most
#: ``REPLAY_QUIET_MAX_S``). ACP says the replay comes before the answer to ``session/load``, but
#: Gemini CLI 0.61.0 starts it without waiting for it (``streamHistory`` is not awaited), so its
#: tail can arrive after the answer; sent straight away, the prompt's reply got the last old answer
#: glued to its front (the conformance suite, ~1 run in 10).
REPLAY_QUIET_S = 0.1
REPLAY_QUIET_MAX_S = 2.0
#: The update kinds a replay is made of (what the host already has in its log).
HISTORY_KINDS = frozenset({"user_message_chunk", "agent_message_chunk", "agent_thought_chunk", "tool_call",
                           "tool_call_update", "plan"})
#: A terminal keeps at most this much output unless the agent asks for less.
TERMINAL_OUTPUT_LIMIT = 1024 * 1024
#: How much of a malformed line a warning quotes.
QUOTE_LIMIT = 500
#: JSON-RPC error codes.
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603


def driver_argv(command: list[str], options: dict[str, Any]) -> list[str]:
    """``command`` (the ACP agent) run under ``client_main``, in the runner's Python. The agent's
    environment has no ``PYTHONPATH``, so the program puts this package's root on ``sys.path``."""
    root = import_root(__name__, __file__)
    program = (f"import sys; sys.path.insert(0, {root!r}); from {__name__} import client_main; "
               "sys.exit(client_main(sys.argv[1:]))")
    return [sys.executable or "python3", "-c", program, json.dumps(options), "--", *command]


class AgentExited(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class RpcError(Exception):
    def __init__(self, error: Any) -> None:
        error = error if isinstance(error, dict) else {"message": str(error)}
        super().__init__(str(error.get("message") or "error"))
        self.code = error.get("code")
        self.data = error.get("data")

    def text(self) -> str:
        detail = self.data.get("details") if isinstance(self.data, dict) else self.data
        extra = f" ({str(detail)[:QUOTE_LIMIT]})" if detail not in (None, "", {}) else ""
        return f"{self}{extra}"


_stopping = threading.Event()


class Output(Lines):
    """Our stdout, shared by threads: whole lines, never interleaved."""

    def warn(self, message: str) -> None:
        self.line({"type": "acp.warning", "message": message})


def _quote(text: str) -> str:
    return text if len(text) <= QUOTE_LIMIT else text[:QUOTE_LIMIT] + f"… [{len(text) - QUOTE_LIMIT} more]"


class Workspace:
    """Paths the agent names, confined to the workspace (symlinks resolved)."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)

    def resolve(self, path: Any) -> str:
        if not isinstance(path, str) or not path:
            raise RpcError({"code": INVALID_PARAMS, "message": "path must be a non-empty string"})
        target = os.path.realpath(os.path.join(self.root, path))
        if target != self.root and not target.startswith(self.root + os.sep):
            raise RpcError({"code": INVALID_PARAMS, "message": f"{path} is outside the workspace {self.root}"})
        return target


class Terminal:
    """A command the agent runs through ``terminal/create``: its own process group, output kept
    up to ``limit`` bytes (the oldest dropped first, as ACP says)."""

    def __init__(self, terminal_id: str, argv: list[str], cwd: str, env: dict[str, str], limit: int,
                 on_exit: Any) -> None:
        self.id = terminal_id
        self.limit = limit
        self._buffer = bytearray()
        self.truncated = False
        self._lock = threading.Lock()
        self.exited = threading.Event()
        self.exit_code: int | None = None
        self.signal: str | None = None
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self._on_exit = on_exit
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        while True:
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                break
            with self._lock:
                self._buffer += chunk
                if len(self._buffer) > self.limit:
                    del self._buffer[: len(self._buffer) - self.limit]
                    # Never start in the middle of a UTF-8 sequence.
                    while self._buffer and (self._buffer[0] & 0xC0) == 0x80:
                        del self._buffer[0]
                    self.truncated = True
        code = self.proc.wait()
        if code < 0:
            try:
                self.signal = signal.Signals(-code).name
            except ValueError:
                self.signal = str(-code)
        else:
            self.exit_code = code
        self.exited.set()
        self._on_exit(self)

    def output(self) -> str:
        with self._lock:
            return self._buffer.decode("utf-8", "replace")

    def exit_status(self) -> dict[str, Any] | None:
        if not self.exited.is_set():
            return None
        return {"exitCode": self.exit_code, "signal": self.signal}

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass


class Client:
    """JSON-RPC over the agent's stdio: our requests, its requests, its notifications."""

    def __init__(self, agent: subprocess.Popen[bytes], out: Output, options: dict[str, Any]) -> None:
        self.agent = agent
        self.out = out
        self.options = options
        self.workspace = Workspace(str(options.get("cwd") or os.getcwd()))
        self._write_lock = threading.Lock()
        self._next_id = 0
        self._pending: dict[int, list[Any]] = {}  # id -> [Event, response]
        self._pending_lock = threading.Lock()
        self.closed = threading.Event()
        #: While ``session/load`` replays the conversation, updates are counted, not printed; after
        #: a load (``loaded``), history updates still are until the prompt is sent.
        self.replaying = False
        self.loaded = False
        self.replayed = 0
        self.last_update = time.monotonic()
        self.terminals: dict[str, Terminal] = {}
        self._terminal_seq = 0
        #: Permission requests waiting on an answer: JSON-RPC id (as text) -> raw id.
        self.permissions: dict[str, Any] = {}
        self.session_id: str | None = None
        self.prompt_id: int | None = None
        self.prompt_done = threading.Event()

    # -- sending ------------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        data = (json.dumps({"jsonrpc": "2.0", **message}, separators=(",", ":")) + "\n").encode()
        with self._write_lock:
            try:
                assert self.agent.stdin is not None
                self.agent.stdin.write(data)
                self.agent.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                pass  # the agent is gone; the reader notices

    def request(self, method: str, params: dict[str, Any], timeout: float | None = None) -> Any:
        with self._pending_lock:
            self._next_id += 1
            request_id = self._next_id
            slot: list[Any] = [threading.Event(), None]
            self._pending[request_id] = slot
        if method == "session/prompt":
            self.prompt_id = request_id
        self._send({"id": request_id, "method": method, "params": params})
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while not slot[0].wait(0.05):
                if _stopping.is_set():
                    raise Stopped
                if self.closed.is_set() and not slot[0].is_set():
                    raise AgentExited(self.agent.wait())
                if deadline is not None and time.monotonic() > deadline:
                    raise DriverError(f"the agent did not answer {method} within {timeout:.0f} s")
        finally:
            with self._pending_lock:
                self._pending.pop(request_id, None)
        response = slot[1]
        if "error" in response:
            raise RpcError(response["error"])
        return response.get("result")

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self._send({"method": method, "params": params})

    def respond(self, request_id: Any, result: Any = None, error: dict[str, Any] | None = None) -> None:
        if error is not None:
            self._send({"id": request_id, "error": error})
        else:
            self._send({"id": request_id, "result": result})

    def wait_replay_quiet(self) -> None:
        """Until a loaded session's replay has gone quiet (see ``REPLAY_QUIET_S``)."""
        deadline = time.monotonic() + REPLAY_QUIET_MAX_S
        while not self.closed.is_set() and not _stopping.is_set():
            now = time.monotonic()
            quiet_until = self.last_update + REPLAY_QUIET_S
            if now >= quiet_until or now >= deadline:
                return
            time.sleep(min(quiet_until, deadline) - now)

    # -- receiving (the reader thread) ---------------------------------------------------------

    def read(self) -> None:
        assert self.agent.stdout is not None
        for raw in self.agent.stdout:
            text = raw.decode("utf-8", "replace").strip()
            if not text:
                continue
            try:
                message = json.loads(text)
            except ValueError:
                self.out.warn(f"the agent printed a line that is not JSON-RPC: {_quote(text)}")
                continue
            if not isinstance(message, dict):
                self.out.warn(f"the agent printed JSON that is not a JSON-RPC message: {_quote(text)}")
                continue
            try:
                self._dispatch(message, text)
            except Exception as exc:  # noqa: BLE001 - one odd message must not end the query
                self.out.warn(f"could not handle the agent's message ({type(exc).__name__}: {exc}): {_quote(text)}")
        self.closed.set()

    def _dispatch(self, message: dict[str, Any], text: str) -> None:
        method = message.get("method")
        if isinstance(method, str):
            if "id" in message:
                threading.Thread(target=self._serve, args=(message["id"], method, message.get("params")),
                                 daemon=True).start()
            else:
                self._notification(method, message.get("params"))
            return
        if "id" in message and ("result" in message or "error" in message):
            with self._pending_lock:
                slot = self._pending.get(message["id"]) if isinstance(message["id"], int) else None
            if slot is None and message["id"] == self.prompt_id:
                self.prompt_done.set()  # the answer to a prompt we stopped waiting for (cancel)
                return
            if slot is None:
                self.out.warn(f"the agent answered a request we did not send: {_quote(text)}")
                return
            slot[1] = message
            slot[0].set()
            return
        self.out.warn(f"the agent printed JSON that is not a JSON-RPC message: {_quote(text)}")

    def _notification(self, method: str, params: Any) -> None:
        params = params if isinstance(params, dict) else {}
        if method == "session/update":
            update = params.get("update")
            if not isinstance(update, dict):
                self.out.warn(f"session/update without an update: {_quote(json.dumps(params))}")
                return
            self.last_update = time.monotonic()
            if self.replaying or (
                self.loaded and self.prompt_id is None and update.get("sessionUpdate") in HISTORY_KINDS
            ):
                self.replayed += 1
                return
            self.out.line({"type": "acp.update", "update": update})
            return
        self.out.line({"type": "acp.notification", "method": method[:200]})

    # -- the agent's requests (a thread each: a terminal wait may block) ------------------------

    def _serve(self, request_id: Any, method: str, params: Any) -> None:
        params = params if isinstance(params, dict) else {}
        handler = self._handlers.get(method)
        if handler is None:
            self.out.line({"type": "acp.notification", "method": method[:200], "request": True})
            self.respond(request_id, error={"code": METHOD_NOT_FOUND, "message": f"{method} is not supported"})
            return
        try:
            result = handler(self, request_id, params)
        except RpcError as exc:
            self.respond(request_id, error={"code": exc.code or INTERNAL_ERROR, "message": str(exc)})
            return
        except OSError as exc:
            self.respond(request_id, error={"code": INTERNAL_ERROR, "message": f"{type(exc).__name__}: {exc}"})
            return
        if result is not _DEFERRED:
            self.respond(request_id, result)

    def _read_file(self, _id: Any, params: dict[str, Any]) -> dict[str, Any]:
        path = self.workspace.resolve(params.get("path"))
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        line, limit = params.get("line"), params.get("limit")
        if isinstance(line, int) or isinstance(limit, int):
            lines = text.splitlines(keepends=True)
            start = max(0, (line if isinstance(line, int) else 1) - 1)
            end = start + limit if isinstance(limit, int) else None
            text = "".join(lines[start:end])
        return {"content": text}

    def _write_file(self, _id: Any, params: dict[str, Any]) -> dict[str, Any]:
        path = self.workspace.resolve(params.get("path"))
        content = params.get("content")
        if not isinstance(content, str):
            raise RpcError({"code": INVALID_PARAMS, "message": "content must be a string"})
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(content)
        return {}

    def _terminal(self, params: dict[str, Any]) -> Terminal:
        terminal = self.terminals.get(str(params.get("terminalId")))
        if terminal is None:
            raise RpcError({"code": INVALID_PARAMS, "message": f"no terminal {params.get('terminalId')!r}"})
        return terminal

    def _terminal_create(self, _id: Any, params: dict[str, Any]) -> dict[str, Any]:
        command = params.get("command")
        if not isinstance(command, str) or not command:
            raise RpcError({"code": INVALID_PARAMS, "message": "command must be a non-empty string"})
        args = [str(a) for a in params.get("args") or [] if isinstance(a, str | int | float)]
        cwd = self.workspace.resolve(params["cwd"]) if params.get("cwd") else self.workspace.root
        env = dict(os.environ)
        for item in params.get("env") or []:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                env[item["name"]] = str(item.get("value") or "")
        limit = params.get("outputByteLimit")
        limit = limit if isinstance(limit, int) and limit > 0 else TERMINAL_OUTPUT_LIMIT
        # ``command`` with ``args`` is an argv; a lone command line (what most agents send) runs
        # in a shell, as the agent's own shell tool would.
        argv = [command, *args] if args else ["/bin/sh", "-c", command]
        self._terminal_seq += 1
        terminal_id = f"term-{self._terminal_seq}"
        try:
            terminal = Terminal(terminal_id, argv, cwd, env, min(limit, TERMINAL_OUTPUT_LIMIT), self._terminal_exited)
        except OSError as exc:
            raise RpcError({"code": INTERNAL_ERROR, "message": f"could not start {command}: {exc}"}) from exc
        self.terminals[terminal_id] = terminal
        self.out.line({"type": "acp.terminal", "terminalId": terminal_id, "command": command, "args": args})
        return {"terminalId": terminal_id}

    def _terminal_exited(self, terminal: Terminal) -> None:
        self.out.line({"type": "acp.terminal", "terminalId": terminal.id, "output": terminal.output(),
                       "truncated": terminal.truncated, "exitStatus": terminal.exit_status()})

    def _terminal_output(self, _id: Any, params: dict[str, Any]) -> dict[str, Any]:
        terminal = self._terminal(params)
        result: dict[str, Any] = {"output": terminal.output(), "truncated": terminal.truncated}
        status = terminal.exit_status()
        if status is not None:
            result["exitStatus"] = status
        return result

    def _terminal_wait(self, _id: Any, params: dict[str, Any]) -> dict[str, Any]:
        terminal = self._terminal(params)
        terminal.exited.wait()
        return terminal.exit_status() or {}

    def _terminal_kill(self, _id: Any, params: dict[str, Any]) -> dict[str, Any]:
        self._terminal(params).kill()
        return {}

    def _terminal_release(self, _id: Any, params: dict[str, Any]) -> dict[str, Any]:
        terminal = self._terminal(params)
        terminal.kill()
        self.terminals.pop(terminal.id, None)
        return {}

    def _permission(self, request_id: Any, params: dict[str, Any]) -> Any:
        options = [o for o in params.get("options") or [] if isinstance(o, dict) and isinstance(o.get("optionId"), str)]
        if self.options.get("autoApprove"):
            chosen = next((o for o in options if o.get("kind") == "allow_once"), None) or next(
                (o for o in options if str(o.get("kind", "")).startswith("allow")), None)
            if chosen is not None:
                self.out.line({"type": "acp.permission", "id": str(request_id), "params": params,
                               "auto": chosen["optionId"]})
                return {"outcome": {"outcome": "selected", "optionId": chosen["optionId"]}}
        if _stopping.is_set():
            return {"outcome": {"outcome": "cancelled"}}
        self.permissions[str(request_id)] = request_id
        self.out.line({"type": "acp.permission", "id": str(request_id), "params": params})
        return _DEFERRED

    def answer_permission(self, key: Any, option_id: Any) -> None:
        request_id = self.permissions.pop(str(key), None) if key is not None else None
        if request_id is None:
            return
        if isinstance(option_id, str) and option_id:
            self.respond(request_id, {"outcome": {"outcome": "selected", "optionId": option_id}})
        else:
            self.respond(request_id, {"outcome": {"outcome": "cancelled"}})

    def cancel_permissions(self) -> None:
        for key in list(self.permissions):
            self.answer_permission(key, None)

    def kill_terminals(self) -> None:
        for terminal in list(self.terminals.values()):
            terminal.kill()

    _handlers: dict[str, Any] = {
        "fs/read_text_file": _read_file,
        "fs/write_text_file": _write_file,
        "terminal/create": _terminal_create,
        "terminal/output": _terminal_output,
        "terminal/wait_for_exit": _terminal_wait,
        "terminal/kill": _terminal_kill,
        "terminal/release": _terminal_release,
        "session/request_permission": _permission,
    }

    # -- stdin (its own thread): answers to permission requests ---------------------------------

    def commands(self, stdin: Any) -> None:
        for raw in stdin:
            try:
                command = json.loads(raw)
            except ValueError:
                continue
            if isinstance(command, dict) and command.get("type") == "permission_reply":
                self.answer_permission(command.get("id"), command.get("optionId"))


_DEFERRED = object()


def read_state(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
    except (OSError, ValueError):
        return None
    session = state.get("sessionId") if isinstance(state, dict) else None
    return session if isinstance(session, str) and session else None


def write_state(path: str, session_id: str, agent: Any, state_dirs: Any) -> None:
    """The ACP session id (and which home folders hold the agent's own conversation, for the
    transcript) in the session home."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    dirs = [d for d in state_dirs if isinstance(d, str)] if isinstance(state_dirs, list) else []
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"sessionId": session_id, "agent": agent, "stateDirs": dirs}, handle)


def open_session(client: Client, capabilities: dict[str, Any], agent_info: Any) -> None:
    options = client.options
    cwd = client.workspace.root
    mcp = options.get("mcpServers") if isinstance(options.get("mcpServers"), list) else []
    state_file = str(options.get("stateFile") or "")
    stored = read_state(state_file) if state_file and options.get("resume") else None
    resumed = False
    opened: Any = None
    if stored and capabilities.get("loadSession"):
        client.replaying = True
        try:
            opened = client.request("session/load", {"sessionId": stored, "cwd": cwd, "mcpServers": mcp},
                                    SETUP_TIMEOUT_S)
            # Set before ``replaying`` is cleared: a late replayed update never sees neither.
            client.loaded = True
            client.session_id, resumed = stored, True
        except RpcError as exc:
            client.out.warn(f"the agent could not load its session {stored} ({exc.text()}); "
                            "starting a new one: the agent does not remember earlier messages")
        finally:
            client.replaying = False
    elif stored:
        client.out.warn("the agent cannot load sessions (no loadSession capability); starting a new one: "
                        "it does not remember earlier messages")
    if client.session_id is None:
        result = client.request("session/new", {"cwd": cwd, "mcpServers": mcp}, SETUP_TIMEOUT_S)
        session = result.get("sessionId") if isinstance(result, dict) else None
        if not isinstance(session, str) or not session:
            raise DriverError("the agent's session/new gave no sessionId")
        client.session_id = session
        opened = result
    if isinstance(opened, dict):  # session/load answers with the modes and models too
        client.out.line({"type": "acp.session_info", "result": {k: v for k, v in opened.items() if k != "sessionId"}})
    set_mode(client, opened)
    set_model(client, opened)
    if state_file:
        write_state(state_file, client.session_id, agent_info, options.get("stateDirs"))
    client.out.line({"type": "acp.session", "sessionId": client.session_id, "resumed": resumed,
                     "replayed": client.replayed, "agentInfo": agent_info})


def set_mode(client: Client, opened: Any) -> None:
    """``session/set_mode`` to ``options.mode`` when the agent offers that mode and is not in it
    (e.g. Codex starts in its "auto review" mode, where its own reviewer model answers approvals;
    or the user picked one in a client)."""
    _switch(client, opened, "mode")


def set_model(client: Client, opened: Any) -> None:
    """``session/set_model`` to ``options.model`` (a model the user picked among the agent's)."""
    _switch(client, opened, "model")


def _switch(client: Client, opened: Any, what: str) -> None:
    wanted = client.options.get(what)
    held = opened.get(f"{what}s") if isinstance(opened, dict) and isinstance(opened.get(f"{what}s"), dict) else {}
    current, listed = f"current{what.title()}Id", f"available{what.title()}s"
    if not isinstance(wanted, str) or not wanted or held.get(current) == wanted:
        return
    key = "modelId" if what == "model" else "id"
    offered = [m.get(key) for m in held.get(listed) or [] if isinstance(m, dict)]
    if wanted not in offered:
        client.out.warn(f"the agent offers no {what} {wanted!r} (it has {', '.join(map(str, offered)) or 'none'})")
        return
    try:
        client.request(f"session/set_{what}", {"sessionId": client.session_id, f"{what}Id": wanted}, SETUP_TIMEOUT_S)
        update = ({"sessionUpdate": "current_mode_update", "currentModeId": wanted} if what == "mode"
                  else {"sessionUpdate": "current_model_update", "currentModelId": wanted})
        client.out.line({"type": "acp.update", "update": update})
    except RpcError as exc:
        client.out.warn(f"the agent did not switch to {what} {wanted!r}: {exc.text()}")


def stop_agent(agent: subprocess.Popen[bytes]) -> None:
    if agent.poll() is None:
        try:
            os.killpg(agent.pid, signal.SIGTERM)
        except OSError:
            agent.terminate()
        try:
            agent.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(agent.pid, signal.SIGKILL)  # whatever the agent left in its group
    except OSError:
        pass
    agent.wait()


def client_main(args: list[str]) -> int:
    options = json.loads(args[0])
    command = args[2:]
    out = Output()
    signal.signal(signal.SIGTERM, lambda _s, _f: _stopping.set())
    agent: subprocess.Popen[bytes] | None = None
    client: Client | None = None
    code = 0
    try:
        text = read_prompt(sys.stdin)
        if isinstance(options.get("error"), str):
            raise DriverError(options["error"])  # the host could not build a command (e.g. no acp table)
        try:
            agent = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     cwd=str(options.get("cwd") or os.getcwd()), start_new_session=True)
        except OSError as exc:
            raise DriverError(f"could not start the ACP agent {command[0] if command else '(none)'}: {exc}") from exc
        client = Client(agent, out, options)
        threading.Thread(target=client.read, daemon=True).start()
        init = client.request("initialize", {
            "protocolVersion": PROTOCOL_VERSION,
            "clientCapabilities": {"fs": {"readTextFile": True, "writeTextFile": True}, "terminal": True},
            "clientInfo": {"name": "agent-tui", "version": "1"},
        }, SETUP_TIMEOUT_S)
        init = init if isinstance(init, dict) else {}
        version = init.get("protocolVersion")
        if isinstance(version, int) and version != PROTOCOL_VERSION:
            out.warn(f"the agent speaks ACP version {version}; agent-tui speaks {PROTOCOL_VERSION}")
        capabilities = init.get("agentCapabilities") if isinstance(init.get("agentCapabilities"), dict) else {}
        out.line({"type": "acp.initialized", "protocolVersion": version, "agentInfo": init.get("agentInfo"),
                  "agentCapabilities": capabilities, "authMethods": init.get("authMethods")})
        open_session(client, capabilities, init.get("agentInfo"))
        if client.loaded:
            client.wait_replay_quiet()
        threading.Thread(target=client.commands, args=(sys.stdin,), daemon=True).start()
        result = client.request("session/prompt", {"sessionId": client.session_id,
                                                   "prompt": [{"type": "text", "text": text}]})
        result = result if isinstance(result, dict) else {}
        end: dict[str, Any] = {"type": "acp.end", "stopReason": result.get("stopReason")}
        if isinstance(result.get("usage"), dict):
            end["usage"] = result["usage"]
        out.line(end)
    except Stopped:
        pass
    except AgentExited as exc:
        if not _stopping.is_set():
            out.line({"type": "acp.error", "message": f"the ACP agent exited with code {exc.code} mid-query",
                      "exitCode": exc.code})
            code = 1
    except RpcError as exc:
        if not _stopping.is_set():
            out.line({"type": "acp.error", "message": exc.text(), "rpcCode": exc.code})
            code = 1
    except DriverError as exc:
        if not _stopping.is_set():
            out.line({"type": "acp.error", "message": str(exc)})
            code = 1
    finally:
        if _stopping.is_set():
            code = 143
            if client is not None and client.session_id is not None and agent is not None and agent.poll() is None:
                client.cancel_permissions()
                client.notify("session/cancel", {"sessionId": client.session_id})
                if client.prompt_id is not None:
                    # The prompt answers ``cancelled`` once the agent has wound down its turn.
                    client.prompt_done.wait(CANCEL_GRACE_S)
        if client is not None:
            client.kill_terminals()
        if agent is not None:
            stop_agent(agent)
    return code
