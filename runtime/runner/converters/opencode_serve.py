"""Drive ``opencode serve`` for one query and print its event stream as JSON lines. Stdlib only.

Why not ``opencode run --format json``: it prints a part only once it is complete (its run loop
skips the server's ``message.part.delta`` events), so replies never streamed, and it rejects every
permission it would have to ask for. The server's ``/event`` stream has the token deltas, tool
calls as they start, retries and permission requests, which can be answered over HTTP.

``python -c <program> <tag> <options JSON> -- opencode serve --hostname 127.0.0.1 --port 0``
(built by ``driver_argv``; the runner-side converter's ``prepare`` wraps the host's argv in it):

1. starts the server in a session of its own (so the runner's SIGTERM to its process group reaches
   only us and we can abort cleanly), with a random ``OPENCODE_SERVER_PASSWORD`` (the server is on
   the sandbox's loopback, where the agent's own tools run too), and reads its URL from stdout;
2. subscribes to ``GET /event`` (SSE) and waits for ``server.connected``, so nothing is missed;
3. resumes ``options.session`` when it exists, else creates a session; prints
   ``{"type": "agent-tui.session", "sessionID", "resumed"}``;
4. reads the prompt, ``{"type": "prompt", "text": ...}``, the first line of stdin, and posts it
   with ``POST /session/{id}/prompt_async`` (``options.model`` as ``{providerID, modelID}``);
5. prints every event of the types in ``FORWARDED`` as it arrives (one JSON object per line, as
   the server sent it), answers ``{"type": "permission_reply", "requestID", "reply", "message"?}``
   lines from stdin with ``POST /permission/{id}/reply``, declines ``question.asked`` (nobody can
   answer OpenCode's question tool headless) and, with ``options.autoApprove`` (permission mode
   ``bypass``), approves any permission OpenCode still asks for;
6. once the session is idle after the prompt, prints the query's messages as stored
   (``{"type": "agent-tui.messages", "messages": [{info, parts}, ...]}``: events that arrive
   after ``session.idle``, e.g. a failed message's final ``message.updated``, are not lost), then
   ``{"type": "agent-tui.end", "reason": "idle"}``, stops the server and exits 0.

A failure of the driver itself (the server does not start, an HTTP call fails, the event stream
ends early) is ``{"type": "agent-tui.error", "message"}`` and exit code 1. On SIGTERM (an
interrupt) it aborts the session (``POST /session/{id}/abort``, so OpenCode records the turn as
aborted and the conversation resumes cleanly), kills whatever the agent started (the processes
carrying the run tag), stops the server and exits 143, all within the host's 1 s grace.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from urllib.parse import quote, urlsplit

from ..wire import Lines as Output
from .base import import_root
from .driver import DriverError, Stopped, read_prompt

# ``typing`` only for the type checker: importing it costs the runner ~2.5 ms of start-up per query.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Server events passed on to the converter (the rest, e.g. ``plugin.added``, ``session.diff``,
#: ``session.updated`` with the whole session, is noise for a query).
FORWARDED = frozenset({
    "message.updated", "message.removed", "message.part.updated", "message.part.delta",
    "message.part.removed", "session.status", "session.idle", "session.error", "session.created",
    "permission.asked", "permission.replied", "question.asked", "agent-tui.unparseable",
})
#: Seconds to wait for the server's "listening on" line (a first start migrates its database).
START_TIMEOUT_S = 60.0
#: Seconds one HTTP call (other than the event stream) may take.
CALL_TIMEOUT_S = 30.0
#: Seconds the abort and the server's own shutdown get after SIGTERM (inside the host's 1 s).
ABORT_TIMEOUT_S = 0.4
STOP_GRACE_S = 0.3
_LISTENING = re.compile(r"listening on (https?://\S+)")


def driver_argv(command: list[str], tag: str, options: dict[str, Any]) -> list[str]:
    """``command`` (``opencode serve ...``) run under ``serve_main``, in the runner's Python. The
    agent's environment has no ``PYTHONPATH``, so the program puts this package's root on
    ``sys.path`` itself."""
    root = import_root(__name__, __file__)
    program = (f"import sys; sys.path.insert(0, {root!r}); from {__name__} import serve_main; "
               "sys.exit(serve_main(sys.argv[1:]))")
    return [sys.executable or "python3", "-c", program, tag, json.dumps(options), "--", *command]


class ServerExited(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class Client:
    """The few OpenCode server routes a query needs, over ``http.client`` (basic auth)."""

    def __init__(self, url: str, password: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        token = base64.b64encode(f"opencode:{password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}

    def call(self, method: str, path: str, body: Any = None, timeout: float = CALL_TIMEOUT_S) -> Any:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            headers = dict(self.headers)
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise DriverError(f"OpenCode server: {method} {path.split('?')[0]} failed: {exc}") from exc
        finally:
            connection.close()
        if response.status >= 400:
            detail = payload.decode("utf-8", "replace")[:500]
            raise DriverError(f"OpenCode server: {method} {path.split('?')[0]} answered {response.status}: {detail}")
        if not payload:
            return None
        try:
            return json.loads(payload)
        except ValueError:
            return None

    def events(self) -> http.client.HTTPResponse:
        """The open ``/event`` stream (no timeout: it stays quiet while a tool runs)."""
        connection = http.client.HTTPConnection(self.host, self.port)
        try:
            connection.request("GET", "/event", headers={**self.headers, "Accept": "text/event-stream"})
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            raise DriverError(f"OpenCode server: the event stream did not open: {exc}") from exc
        if response.status != 200:
            raise DriverError(f"OpenCode server: the event stream answered {response.status}")
        return response


def sse_events(stream: Any) -> Any:
    """The JSON objects of a ``text/event-stream`` (``data:`` lines joined until a blank line)."""
    data: list[str] = []
    for raw in stream:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
            continue
        if line or not data:
            continue  # event:/id:/retry:/comment lines, or a blank line with nothing pending
        text, data = "\n".join(data), []
        try:
            event = json.loads(text)
        except ValueError:
            event = None
        # Passed on, so the converter logs it: what a broken server sent is worth seeing.
        yield event if isinstance(event, dict) else {"type": "agent-tui.unparseable", "data": text[:4096]}


class Query:
    """One prompt, from posting it to the session going idle."""

    def __init__(self, client: Client, out: Output, options: dict[str, Any]) -> None:
        self.client = client
        self.out = out
        self.options = options
        self.session_id: str | None = None
        self.connected = threading.Event()
        self.finished = threading.Event()
        self.stream_error: str | None = None
        self._prompted = False
        self._busy_seen = False

    # -- the event stream (its own thread) ------------------------------------------------------

    def listen(self) -> None:
        try:
            stream = self.client.events()
            for event in sse_events(stream):
                self._on_event(event)
            self.stream_error = "OpenCode server closed its event stream"
        except DriverError as exc:
            self.stream_error = str(exc)
        except (OSError, http.client.HTTPException) as exc:
            self.stream_error = f"OpenCode server: the event stream failed: {exc}"
        finally:
            self.connected.set()
            self.finished.set()

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "server.connected":
            self.connected.set()
            return
        if kind not in FORWARDED:
            return
        props = event.get("properties") if isinstance(event.get("properties"), dict) else {}
        self.out.line(event)
        mine = props.get("sessionID") == self.session_id and self.session_id is not None
        if kind == "question.asked":
            self._background(self._decline_question, props.get("id"))
        elif kind == "permission.asked" and self.options.get("autoApprove"):
            self._background(self._reply, props.get("id"), "once", None)
        elif mine and self._prompted and kind == "session.status":
            status = props.get("status") if isinstance(props.get("status"), dict) else {}
            if status.get("type") in ("busy", "retry"):
                self._busy_seen = True
            elif status.get("type") == "idle" and self._busy_seen:
                self.finished.set()
        elif mine and self._prompted and kind == "session.idle" and self._busy_seen:
            self.finished.set()

    def _background(self, target: Any, *args: Any) -> None:
        threading.Thread(target=self._quietly, args=(target, *args), daemon=True).start()

    def _quietly(self, target: Any, *args: Any) -> None:
        try:
            target(*args)
        except DriverError as exc:
            self.out.line({"type": "agent-tui.warning", "message": str(exc)})

    def _decline_question(self, request_id: Any) -> None:
        if isinstance(request_id, str):
            self.client.call("POST", f"/question/{quote(request_id, safe='')}/reject")

    def _reply(self, request_id: Any, reply: str, message: str | None) -> None:
        if not isinstance(request_id, str):
            return
        body: dict[str, Any] = {"reply": reply}
        if message:
            body["message"] = message
        self.client.call("POST", f"/permission/{quote(request_id, safe='')}/reply", body)

    # -- stdin (its own thread): answers to permission requests ---------------------------------

    def commands(self, stdin: Any) -> None:
        for raw in stdin:
            try:
                command = json.loads(raw)
            except ValueError:
                continue
            if isinstance(command, dict) and command.get("type") == "permission_reply":
                reply = command.get("reply") if command.get("reply") in ("once", "always", "reject") else "reject"
                message = command.get("message") if isinstance(command.get("message"), str) else None
                self._background(self._reply, command.get("requestID"), reply, message)

    # -- the query itself (main thread) ---------------------------------------------------------

    def open_session(self) -> None:
        wanted = self.options.get("session")
        resumed = False
        if isinstance(wanted, str) and wanted:
            try:
                self.client.call("GET", f"/session/{quote(wanted, safe='')}")  # exists?
                self.session_id, resumed = wanted, True
            except DriverError:
                self.session_id = None
        if self.session_id is None:
            created = self.client.call("POST", "/session", {})
            if not isinstance(created, dict) or not isinstance(created.get("id"), str):
                raise DriverError("OpenCode server: creating a session gave no id")
            self.session_id = created["id"]
        self.out.line({"type": "agent-tui.session", "sessionID": self.session_id, "resumed": resumed})

    def _session_path(self, rest: str) -> str:
        return f"/session/{quote(self.session_id or '', safe='')}/{rest}"

    def last_message_id(self) -> str:
        messages = self.client.call("GET", self._session_path("message?limit=1"))  # the newest
        ids = [m["info"]["id"] for m in messages or [] if isinstance(m, dict) and isinstance(m.get("info"), dict)
               and isinstance(m["info"].get("id"), str)]
        return max(ids) if ids else ""

    def prompt(self, text: str) -> None:
        body: dict[str, Any] = {"parts": [{"type": "text", "text": text}]}
        model = self.options.get("model")
        if isinstance(model, str) and "/" in model:
            provider, name = model.split("/", 1)
            body["model"] = {"providerID": provider, "modelID": name}
        if isinstance(self.options.get("agent"), str):
            body["agent"] = self.options["agent"]
        self._prompted = True
        self.client.call("POST", self._session_path("prompt_async"), body)

    def messages_after(self, before: str) -> list[Any]:
        """The query's messages as OpenCode stored them (ids sort by creation)."""
        # ``limit`` keeps the newest messages (oldest first); a query is rarely more than a few
        # hundred model calls, and only the ones after ``before`` are kept.
        stored = self.client.call("GET", self._session_path("message?limit=5000"))
        return [m for m in stored or [] if isinstance(m, dict) and isinstance(m.get("info"), dict)
                and str(m["info"].get("id") or "") > before]

    def abort(self) -> None:
        if self.session_id is not None:
            self.client.call("POST", self._session_path("abort"), timeout=ABORT_TIMEOUT_S)


def wait_for(event: threading.Event, timeout: float) -> bool:
    """``event.wait`` that gives up as soon as SIGTERM arrives (the handler only sets a flag)."""
    deadline = time.monotonic() + timeout
    while not event.wait(0.05):
        if _stopping.is_set():
            raise Stopped
        if time.monotonic() > deadline:
            return False
    return True


def start_server(command: list[str], password: str) -> tuple[subprocess.Popen[bytes], str]:
    env = {**os.environ, "OPENCODE_SERVER_PASSWORD": password}
    server = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=env,
                              start_new_session=True)
    found: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        # The URL, then whatever else the server prints on stdout, goes to stderr (a log line).
        assert server.stdout is not None
        for raw in server.stdout:
            text = raw.decode("utf-8", "replace").rstrip()
            match = _LISTENING.search(text)
            if match and not found:
                found.append(match.group(1))
                ready.set()
            elif text:
                sys.stderr.write(text + "\n")
                sys.stderr.flush()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        wait_for(ready, START_TIMEOUT_S)
    except Stopped:
        stop_server(server)
        raise
    if not found:
        stop_server(server)
        code = server.poll()
        state = f"exited with code {code}" if code is not None else f"did not start within {START_TIMEOUT_S:.0f} s"
        raise DriverError(f"opencode serve {state}")
    return server, found[0]


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(STOP_GRACE_S if _stopping.is_set() else 5.0)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


_stopping = threading.Event()


def serve_main(args: list[str]) -> int:
    from .reaper import kill_leftovers, report_leftovers

    tag, options = args[0], json.loads(args[1])
    command = args[3:]
    out = Output()
    server: subprocess.Popen[bytes] | None = None
    query: Query | None = None

    def on_term(_signum: int, _frame: Any) -> None:
        _stopping.set()

    signal.signal(signal.SIGTERM, on_term)
    code = 0
    password = secrets.token_urlsafe(24)
    try:
        # The prompt is the first thing on stdin; read before anything is started, so nothing
        # waits on it while a server runs.
        text = read_prompt(sys.stdin)
        server, url = start_server(command, password)
        query = Query(Client(url, password), out, options)
        threading.Thread(target=query.listen, daemon=True).start()
        if not wait_for(query.connected, START_TIMEOUT_S):
            raise DriverError("OpenCode server: its event stream never connected")
        if query.stream_error:
            raise DriverError(query.stream_error)
        query.open_session()
        threading.Thread(target=query.commands, args=(sys.stdin,), daemon=True).start()
        before = query.last_message_id()
        query.prompt(text)
        while not wait_for(query.finished, 1.0):
            if server.poll() is not None:
                raise ServerExited(server.returncode)
        if query.stream_error:
            # The stream ends first when the server dies: say so with its exit code if it did.
            try:
                raise ServerExited(server.wait(1.0))
            except subprocess.TimeoutExpired:
                raise DriverError(query.stream_error) from None
        out.line({"type": "agent-tui.messages", "messages": query.messages_after(before)})
        out.line({"type": "agent-tui.end", "reason": "idle"})
    except Stopped:
        pass
    except ServerExited as exc:
        out.line({"type": "agent-tui.error", "message": f"opencode serve exited with code {exc.code} mid-query",
                  "exitCode": exc.code})
        code = 1
    except DriverError as exc:
        if not _stopping.is_set():
            out.line({"type": "agent-tui.error", "message": str(exc)})
            code = 1
    finally:
        if _stopping.is_set():
            code = 143
            if query is not None:
                try:
                    query.abort()
                except DriverError:
                    pass
        report_leftovers(kill_leftovers(tag, spare=server.pid if server else None))
        if server is not None:
            stop_server(server)
        report_leftovers(kill_leftovers(tag))
    return code
