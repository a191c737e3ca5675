"""``python3 -m agent_runner <command>``: the four commands of SPEC §5."""

from __future__ import annotations

import os
import sys

from . import transcripts, wire
from .execute import execute_query

# ``typing`` only for the type checker: importing it costs the runner ~2.5 ms of start-up per query.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def load_agent_profile(request: dict[str, Any]) -> int:
    workspace = request.get("baseWorkspacePath") or os.getcwd()
    profile = request.get("agentProfile") or {}
    files = profile.get("files") or {}
    written = 0
    for relative, content in files.items():
        target = os.path.realpath(os.path.join(workspace, relative))
        if not target.startswith(os.path.realpath(workspace) + os.sep):
            wire.emit(wire.log("warn", f"profile file outside the workspace skipped: {relative}"))
            continue
        if os.path.exists(target):
            continue  # never overwrite the user's work with a profile default
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(str(content))
        written += 1
    wire.emit(wire.log("info", f"profile {profile.get('id', 'default')!r} loaded ({written} files written)"))
    wire.emit(wire.script_output(True))
    return 0


#: The priority the sandbox's processes give up to the app (the TUI or the server) on a busy
#: machine. Linux groups a session's processes for the scheduler ("autogroup"), and every sandbox
#: is a session of its own, so each one counted as much as the whole app: with 20 shell sessions
#: streaming, the TUI's screen updates waited up to 1.5 s for a core and keystrokes took p99 2 s to
#: echo (bench/scale.py). Lowering the sandbox's group (and, without autogroup, each process) makes
#: the app's work go first; the agents lose nothing while the machine has room.
NICENESS = 10


def yield_cpu() -> None:
    """Lower this sandbox's scheduling priority (its session's group, and this process)."""
    try:
        os.nice(NICENESS)  # relative: the runner starts at the app's own niceness
    except OSError:
        pass
    try:
        with open("/proc/self/autogroup", "w") as handle:  # Linux with autogroup only
            handle.write(str(NICENESS))
    except OSError:
        pass


COMMANDS = {
    "execute-query": execute_query,
    "load-agent-profile": load_agent_profile,
    "read-session-transcript": transcripts.read_session_transcript,
    "load-session-transcript": transcripts.load_session_transcript,
}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in COMMANDS:
        sys.stderr.write(f"usage: python3 -m agent_runner {{{'|'.join(COMMANDS)}}}\n")
        return 2
    yield_cpu()
    try:
        request = wire.read_request()
    except (ValueError, SystemExit) as exc:
        wire.emit(wire.script_output(False, f"bad request: {exc}"))
        return 2
    try:
        return COMMANDS[argv[0]](request)
    except Exception as exc:  # noqa: BLE001 - report, never die silently
        import traceback  # here, not at the top: ~9 ms of every runner's start-up

        traceback.print_exc()
        if argv[0] == "execute-query":
            wire.emit(wire.query_result(False, f"runner error: {type(exc).__name__}: {exc}", "RUNNER_ERROR"))
        else:
            wire.emit(wire.script_output(False, f"{type(exc).__name__}: {exc}"))
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
