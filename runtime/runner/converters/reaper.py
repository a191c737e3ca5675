"""Every process one agent run starts, found and stopped: the run tag and the reaper. Stdlib only.

OpenCode and Gemini CLI start shell commands in a process group (or session) of their own, so
ending the runner's process group (an interrupt, the end of a query) would leave e.g. a
``sleep 30`` running in the sandbox. The runner-side converter tags the agent's environment
(``tag_environment``); whatever carries the tag is killed when the run ends (``kill_leftovers``).
Gemini CLI runs under ``reap_main`` (``reaped``); OpenCode's driver (``opencode_serve.py``) does the
same itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid

from .base import import_root, log_event

# ``typing`` only for the type checker: importing it costs the runner ~2.5 ms of start-up per query.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Environment variable marking every process of one agent run (see ``kill_leftovers``).
RUN_TAG_ENV = "AGENT_TUI_RUN_TAG"


def tag_environment(env: dict[str, str]) -> str:
    """Mark the agent's environment, so every process it starts (and theirs) can be found."""
    tag = uuid.uuid4().hex
    env[RUN_TAG_ENV] = tag
    return tag


def kill_leftovers(tag: str | None, spare: int | None = None) -> list[str]:
    """SIGKILL every process still carrying this run's tag; returns their command lines.

    OpenCode and Gemini CLI start shell commands in a process group of their own (detached), and
    OpenCode dies on SIGTERM without stopping them, so ending the runner's process group (an
    interrupt, the end of a query) would leave e.g. a ``sleep 30`` running in the sandbox.
    Children inherit the tag with the environment, whichever group they are in; ``/proc`` is
    Linux's (elsewhere this does nothing).
    """
    if not tag or not os.path.isdir("/proc"):
        return []
    needle = f"{RUN_TAG_ENV}={tag}".encode()
    # Never ourselves or whatever started us (a wrapper such as strace may carry the tag too).
    keep = {os.getpid(), spare, *_ancestors()}
    killed: list[str] = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in keep:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as handle:
                if needle not in handle.read().split(b"\0"):
                    continue
            with open(f"/proc/{name}/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
            os.kill(int(name), signal.SIGKILL)
        except OSError:
            continue  # gone meanwhile, or not ours to read
        killed.append(command)
    return killed


#: Seconds the agent gets to stop after SIGTERM before the reaper kills it (inside the host's
#: interrupt grace, 1 s by default, after which the whole process group is killed).
REAP_GRACE_S = 0.5


def reaped(argv: list[str], tag: str) -> list[str]:
    """``argv`` run under ``reap_main``, in the runner's Python. The agent's environment has no
    ``PYTHONPATH``, so the program puts this package's root on ``sys.path`` itself."""
    root = import_root(__name__, __file__)
    program = (f"import sys; sys.path.insert(0, {root!r}); from {__name__} import reap_main; "
               "sys.exit(reap_main(sys.argv[1:]))")
    return [sys.executable or "python3", "-c", program, tag, "--", *argv]


def reap_main(args: list[str]) -> int:
    """Run the agent and make sure nothing it started outlives it.

    ``reap <tag> -- <argv...>``: the agent inherits our stdin, stdout, stderr and process group.
    On SIGTERM (the runner's graceful stop reaches the whole group) the processes the agent
    started in groups of their own are killed at once, and the agent itself after
    ``REAP_GRACE_S`` if it is still shutting down (Gemini CLI takes about 2 s, past the host's
    grace, after which the leftovers would never be swept). When the agent exits, whatever still
    carries the tag is killed. The exit code is the agent's (128 + signal when it was killed).
    """
    tag, command = args[0], args[2:]
    child = subprocess.Popen(command)

    def force() -> None:
        if child.poll() is None:
            child.kill()

    report = report_leftovers

    def on_term(_signum: int, _frame: Any) -> None:
        report(kill_leftovers(tag, spare=child.pid))
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        timer = threading.Timer(REAP_GRACE_S, force)
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, on_term)
    code = child.wait()
    report(kill_leftovers(tag))
    return 128 - code if code < 0 else code


def report_leftovers(killed: list[str]) -> None:
    """On stderr, which the runner shows as a log line."""
    if killed:
        listing = "; ".join(command[:200] for command in killed[:10])
        sys.stderr.write(f"agent-tui: stopped {len(killed)} process(es) the agent left running: {listing}\n")
        sys.stderr.flush()


def _ancestors() -> list[int]:
    found: list[int] = []
    pid = os.getppid()
    while pid > 1 and len(found) < 64:
        found.append(pid)
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as handle:
                pid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return found


def leftover_events(tag: str | None) -> list[dict[str, Any]]:
    killed = kill_leftovers(tag)
    if not killed:
        return []
    listing = "; ".join(command[:200] for command in killed[:10])
    return [log_event("info", f"stopped {len(killed)} process(es) the agent left running: {listing}")]
