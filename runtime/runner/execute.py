"""``execute-query``: start the agent, turn its output into events, obey control messages.

Two shapes of agent:
- ``shell``: the prompt is a bash command; its raw output is coalesced into ``block:delta``s
  (a few per second, or per 64 KiB) and capped at ``toolOutputLimit`` with a visible marker.
- JSON-lines agents (Claude Code, OpenCode, Gemini CLI): ``launch.argv`` is started and each
  stdout line goes through the architecture's converter (``converters.get_converter``).

Control messages keep arriving on our stdin after the request: ``{"type": "interrupt"}`` stops
the agent gracefully (SIGTERM to our process group, which the agent shares; the host SIGKILLs
the group if that is not enough) and ``{"type": "permission_response", ...}`` is handed to the
converter. The last stdout line is ``query_result``; the exit code is 0 on success.
"""

from __future__ import annotations

import codecs
import json
import os
import queue
import signal
import subprocess
import threading
import time

from . import wire

# ``typing`` only for the type checker: importing it costs the runner ~2.5 ms of start-up per query.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FLUSH_INTERVAL_S = 0.15
FLUSH_BYTES = 64 * 1024
DEFAULT_OUTPUT_LIMIT = 1024 * 1024
#: How far before the output cap unfinished lines are held back so the cap can fall between lines.
_LINE_HOLD = 64 * 1024

_STDOUT, _STDERR, _CONTROL, _EXIT = "stdout", "stderr", "control", "exit"
#: After the agent exits, how long its output pipes may stay open (held by a background child)
#: before the runner kills its leftover descendants so the query can end.
EXIT_DRAIN_S = 0.3


def _exit_watcher(proc: subprocess.Popen[bytes], inbox: queue.Queue[tuple[str, Any]]) -> None:
    inbox.put((_EXIT, proc.wait()))


def _reader(stream: Any, tag: str, inbox: queue.Queue[tuple[str, Any]], raw: bool) -> None:
    try:
        if raw:
            while True:
                chunk = os.read(stream.fileno(), 65536)
                if not chunk:
                    break
                inbox.put((tag, chunk))
        else:
            for line in iter(stream.readline, b""):
                inbox.put((tag, line))
    except (OSError, ValueError):
        pass
    finally:
        inbox.put((tag, None))


def _control_reader(inbox: queue.Queue[tuple[str, Any]]) -> None:
    import sys

    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            message = json.loads(line)
        except ValueError:
            wire.emit(wire.log("warn", f"runner: ignored unparseable control line ({len(line)} bytes)"))
            continue
        if isinstance(message, dict):
            inbox.put((_CONTROL, message))
    inbox.put((_CONTROL, None))


class _Stopper:
    """Graceful stop: SIGTERM the process group we share with the agent, without dying ourselves."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, _signum: int, _frame: Any) -> None:
        self.requested = True

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if self.requested:
            return
        self.requested = True
        try:
            os.killpg(os.getpgrp(), signal.SIGTERM)
        except OSError:
            proc.terminate()


def _spawn(argv: list[str], cwd: str, env: dict[str, str], merge_stderr: bool) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
    )


def _agent_env(request: dict[str, Any]) -> dict[str, str]:
    base = request.get("baseWorkspacePath") or os.getcwd()
    home = os.path.join(os.path.dirname(base.rstrip("/")), "home")
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": home,
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "TERM": "dumb",
        "XDG_CONFIG_HOME": os.path.join(home, ".config"),
        "XDG_DATA_HOME": os.path.join(home, ".local", "share"),
        "XDG_CACHE_HOME": os.path.join(home, ".cache"),
        "XDG_STATE_HOME": os.path.join(home, ".local", "state"),
    }
    launch_env = (request.get("launch") or {}).get("env") or {}
    env.update({str(k): str(v) for k, v in launch_env.items()})
    return env


# --------------------------------------------------------------------------- process hygiene


def become_subreaper() -> None:
    """Make orphans of our descendants our children (Linux), so none can slip away.

    Agent CLIs start tools in process groups (or sessions) of their own; when such a tool's
    parent dies it would be reparented to init and outlive the query. As a child subreaper we
    inherit it, and ``kill_descendants`` ends it when the agent is done.
    """
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] in (b"Z", b"X"):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            found.append(child)
            stack.append(child)
    return found


def kill_descendants() -> int:
    """SIGKILL every process below the runner and reap them. Returns how many were killed."""
    killed = 0
    for _ in range(20):
        pids = _descendants(os.getpid())
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.005)
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                break
        except ChildProcessError:
            break
    return killed


# --------------------------------------------------------------------------- shell


def run_shell(request: dict[str, Any]) -> int:
    message_id = str(request.get("messageId") or "msg")
    command = str(request.get("prompt") or "")
    workspace = request.get("baseWorkspacePath") or os.getcwd()
    limit = int(request.get("toolOutputLimit") or DEFAULT_OUTPUT_LIMIT)
    tool_id, result_id = f"{message_id}-tool", f"{message_id}-result"
    started = time.monotonic()
    wire.emit(
        wire.event(
            "block:upsert",
            {
                "block": {
                    "id": tool_id,
                    "type": "tool_use",
                    "toolName": "shell",
                    "toolUseId": tool_id,
                    "input": {"command": command},
                    "displayName": "Shell",
                    "kind": "execute",
                    "command": command,
                    "status": "pending",
                }
            },
        ),
        wire.event(
            "block:upsert",
            {
                "block": {
                    "id": result_id,
                    "type": "tool_result",
                    "toolUseId": tool_id,
                    "output": "",
                    "isError": False,
                    "status": "pending",
                }
            },
        ),
    )
    proc = _spawn(["bash", "-lc", command], workspace, _agent_env(request), merge_stderr=True)
    stopper = _Stopper()
    inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, _STDOUT, inbox, True), daemon=True).start()
    threading.Thread(target=_control_reader, args=(inbox,), daemon=True).start()

    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending: list[str] = []
    pending_bytes = 0
    kept = 0
    dropped = 0
    over = False
    #: Bytes after the last newline, not yet emitted: near the cap only whole lines are kept.
    tail = b""
    #: True while part of the current line was already emitted (a line longer than _LINE_HOLD).
    mid_line = False
    last_flush = time.monotonic()

    def flush() -> None:
        nonlocal pending, pending_bytes, last_flush
        if pending:
            wire.emit(wire.event("block:delta", {"blockId": result_id, "delta": "".join(pending)}))
        pending, pending_bytes, last_flush = [], 0, time.monotonic()

    def commit(data: bytes) -> None:
        nonlocal kept, pending_bytes, mid_line
        if not data:
            return
        kept += len(data)
        mid_line = not data.endswith(b"\n")
        text = decoder.decode(data)
        if text:
            pending.append(text)
            pending_bytes += len(data)

    def add(chunk: bytes) -> None:
        # The cap cuts at a line boundary (a reader should never see "16566" for "165669"): until
        # _LINE_HOLD bytes before the cap everything is emitted as it comes (progress bars without
        # newlines stay live); past that, an unfinished line waits for its newline, and the line the
        # cap falls in is dropped whole. Only a line longer than _LINE_HOLD is cut inside.
        nonlocal dropped, tail, over
        if over:
            dropped += len(chunk)
            return
        data = tail + chunk
        tail = b""
        if kept + len(data) <= limit:
            if kept + len(data) <= limit - _LINE_HOLD:
                commit(data)
            else:
                end = data.rfind(b"\n") + 1
                commit(data[:end])
                tail = data[end:]
            return
        over = True
        room = limit - kept
        end = data.rfind(b"\n", 0, room) + 1
        if end == 0 and (mid_line or kept == 0):
            end = room  # one line longer than the cap (or than _LINE_HOLD): no boundary to cut at
        commit(data[:end])
        dropped += len(data) - end
        pending.append(decoder.decode(b"", final=True))
        lead = "\n" if mid_line else ""
        pending.append(f"{lead}[output truncated at {limit} bytes; the rest is dropped]\n")

    threading.Thread(target=_exit_watcher, args=(proc, inbox), daemon=True).start()
    eof = False
    drain_until: float | None = None
    while not eof:
        now = time.monotonic()
        timeout = max(0.0, FLUSH_INTERVAL_S - (now - last_flush)) if pending else None
        if drain_until is not None:
            timeout = max(0.0, min(timeout if timeout is not None else 1.0, drain_until - now))
        try:
            tag, item = inbox.get(timeout=timeout)
        except queue.Empty:
            flush()
            if drain_until is not None and time.monotonic() >= drain_until:
                # bash is gone but something it started still holds our pipe (`sleep 60 &`).
                drain_until = None
                kill_descendants()
            continue
        if tag == _EXIT:
            drain_until = time.monotonic() + EXIT_DRAIN_S
        elif tag == _STDOUT:
            if item is None:
                eof = True
            else:
                add(item)
                if pending_bytes >= FLUSH_BYTES or time.monotonic() - last_flush >= FLUSH_INTERVAL_S:
                    flush()
        elif tag == _CONTROL and item is not None and item.get("type") == "interrupt":
            stopper.stop(proc)
    if not over:
        commit(tail)
        rest = decoder.decode(b"", final=True)
        if rest:
            pending.append(rest)
    elif dropped:
        pending.append(f"[{dropped} bytes dropped]\n")
    flush()
    code = proc.wait()
    duration_ms = int((time.monotonic() - started) * 1000)
    result: dict[str, Any] = {
        "id": result_id,
        "type": "tool_result",
        "toolUseId": tool_id,
        "isError": code != 0,
        "exitCode": code,
        "durationMs": duration_ms,
        "status": "error" if code != 0 else "complete",
    }
    if dropped:
        result["truncatedBytes"] = dropped
    wire.emit(
        wire.event("block:upsert", {"block": {"id": tool_id, "type": "tool_use", "status": "complete"}}),
        wire.event("block:upsert", {"block": result}),
    )
    if stopper.requested:
        wire.emit(wire.query_result(False, "interrupted", "INTERRUPTED"))
        return 130
    # A failing command is a failed tool, not a failed query (SPEC §2).
    wire.emit(wire.query_result(True))
    return 0


# --------------------------------------------------------------------------- JSON-lines agents


def run_agent(request: dict[str, Any]) -> int:
    from .converters import get_converter

    architecture = str(request.get("architecture"))
    launch = request.get("launch") or {}
    argv = launch.get("argv")
    if not isinstance(argv, list) or not argv:
        wire.emit(
            wire.query_result(False, f"no launch command for architecture {architecture!r}", "BAD_REQUEST")
        )
        return 2
    converter = get_converter(architecture, request)
    workspace = request.get("baseWorkspacePath") or os.getcwd()
    env = _agent_env(request)
    argv = converter.prepare([str(a) for a in argv], env)
    try:
        proc = _spawn(argv, workspace, env, merge_stderr=False)
    except OSError as exc:
        wire.emit(wire.query_result(False, f"could not start {argv[0]}: {exc}", "AGENT_NOT_FOUND"))
        return 127
    stopper = _Stopper()
    inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, _STDOUT, inbox, False), daemon=True).start()
    threading.Thread(target=_reader, args=(proc.stderr, _STDERR, inbox, False), daemon=True).start()
    threading.Thread(target=_control_reader, args=(inbox,), daemon=True).start()

    def send_to_agent(lines: list[str]) -> None:
        if not lines or proc.stdin is None:
            return
        try:
            proc.stdin.write("".join(line + "\n" for line in lines).encode())
            proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass

    send_to_agent(converter.initial_input())
    if not converter.keeps_stdin_open() and proc.stdin is not None:
        proc.stdin.close()

    threading.Thread(target=_exit_watcher, args=(proc, inbox), daemon=True).start()
    open_streams = 2
    drain_until: float | None = None
    while open_streams:
        try:
            timeout = None if drain_until is None else max(0.0, drain_until - time.monotonic())
            tag, item = inbox.get(timeout=timeout)
        except queue.Empty:
            # The agent exited but a process it left behind keeps its stdout/stderr open.
            drain_until = None
            kill_descendants()
            continue
        if tag == _EXIT:
            drain_until = time.monotonic() + EXIT_DRAIN_S
            continue
        if tag in (_STDOUT, _STDERR) and item is None:
            open_streams -= 1
            continue
        if tag == _STDOUT:
            line = item.decode("utf-8", errors="replace").rstrip("\r\n")
            events = converter.feed(line) if line.strip() else []
        elif tag == _STDERR:
            events = converter.on_stderr(item.decode("utf-8", errors="replace").rstrip("\r\n"))
        else:
            if item is None:
                continue
            if item.get("type") == "interrupt":
                stopper.stop(proc)
                events = []
            else:
                events = converter.on_control(item)
        if events:
            wire.emit(*events)
        send_to_agent(converter.take_agent_input())
        if converter.done() and proc.stdin is not None and not proc.stdin.closed:
            try:
                proc.stdin.close()
            except OSError:
                pass
    code = proc.wait()
    events, failure = converter.finish(code, interrupted=stopper.requested)
    if events:
        wire.emit(*events)
    if stopper.requested:
        wire.emit(wire.query_result(False, "interrupted", "INTERRUPTED"))
        return 130
    if failure is not None:
        wire.emit(wire.query_result(False, failure.get("error"), failure.get("code")))
        return code or 1
    wire.emit(wire.query_result(True))
    return 0


def execute_query(request: dict[str, Any]) -> int:
    become_subreaper()
    try:
        if request.get("architecture") == "shell":
            return run_shell(request)
        return run_agent(request)
    finally:
        # Whatever the agent started and left behind (even in its own session) ends with the query.
        kill_descendants()
