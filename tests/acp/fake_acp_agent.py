"""A small ACP agent for tests: JSON-RPC 2.0 on stdio, behaviour chosen by the prompt's first word.

Sessions live in ``$HOME/.fakeacp/<id>.json`` (the prompts so far), so ``session/load`` works
after the session home is restored (set ``FAKE_ACP_NO_LOAD=1`` to not offer ``loadSession``,
``FAKE_ACP_LOAD_FAILS=1`` to make it fail as Gemini CLI 0.61.0's does, ``FAKE_ACP_LATE_REPLAY=1``
to send the last replayed answer after the answer to ``session/load``, as Gemini CLI 0.61.0
sometimes does).

Prompts: ``hello`` (a thought, then text in chunks), ``remember`` (the earlier prompts of this
session), ``tool`` (a terminal command, a file written and read through the client, an edit with a
diff), ``ask`` (asks permission, then writes ``asked.txt`` only if allowed), ``chaos`` (malformed
lines, unknown update kinds, out-of-order and empty tool updates, plan, usage, commands),
``die`` (text, then exits 3 mid-prompt), ``sleep`` (text, a child ``sleep``, waits for
``session/cancel``), ``escape`` (tries to read and write outside the workspace), ``refuse``,
``whoami`` (the session's mode and model, as text).

Each session advertises its slash commands (``available_commands_update``), modes and models, and
honours ``session/set_mode`` / ``session/set_model``; every call of those is appended to
``$HOME/.fakeacp/switches.jsonl`` (what the agent was asked, for the tests).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from typing import Any

_lock = threading.Lock()
_next = [1000]
_waiting: dict[int, list[Any]] = {}
cancelled = threading.Event()
#: Set once a late replay's tail is sent: a prompt answers after it (Gemini's model call is slower).
replay_done = threading.Event()
replay_done.set()


def send(message: dict[str, Any]) -> None:
    with _lock:
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
        sys.stdout.flush()


def raw(text: str) -> None:
    with _lock:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def update(session: str, body: dict[str, Any]) -> None:
    send({"method": "session/update", "params": {"sessionId": session, "update": body}})


def call(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """A request to the client; blocks until its answer (read by the main loop)."""
    with _lock:
        _next[0] += 1
        request_id = _next[0]
    slot: list[Any] = [threading.Event(), None]
    _waiting[request_id] = slot
    send({"id": request_id, "method": method, "params": params})
    slot[0].wait()
    return slot[1]


def text(session: str, piece: str, kind: str = "agent_message_chunk") -> None:
    update(session, {"sessionUpdate": kind, "content": {"type": "text", "text": piece}})


def store_path(session: str) -> str:
    return os.path.join(os.environ["HOME"], ".fakeacp", f"{session}.json")


def history(session: str) -> list[str]:
    try:
        with open(store_path(session)) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return []


def remember(session: str, prompt: str) -> None:
    said = [*history(session), prompt]
    os.makedirs(os.path.dirname(store_path(session)), exist_ok=True)
    with open(store_path(session), "w") as handle:
        json.dump(said, handle)


MODES = [{"id": "default", "name": "Default", "description": "Asks before edits"},
         {"id": "plan", "name": "Plan", "description": "Plans, changes nothing"}]
MODELS = [{"modelId": "fake-large", "name": "Fake Large", "description": "Slow and careful"},
          {"modelId": "fake-small", "name": "Fake Small", "description": "Fast"}]
COMMANDS = [{"name": "init", "description": "Create AGENTS.md"},
            {"name": "review", "description": "Review the changes", "input": {"hint": "what to look at"}}]


def settings_path(session: str) -> str:
    return os.path.join(os.environ["HOME"], ".fakeacp", f"{session}.settings.json")


def settings(session: str) -> dict[str, str]:
    try:
        with open(settings_path(session)) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {"mode": "default", "model": "fake-large"}


def offers(session: str) -> dict[str, Any]:
    """What ``session/new`` and ``session/load`` answer with."""
    now = settings(session)
    return {"modes": {"currentModeId": now["mode"], "availableModes": MODES},
            "models": {"currentModelId": now["model"], "availableModels": MODELS}}


def switch(request_id: Any, params: dict[str, Any], what: str, key: str, allowed: list[str]) -> None:
    session, wanted = str(params.get("sessionId")), params.get(key)
    os.makedirs(os.path.join(os.environ["HOME"], ".fakeacp"), exist_ok=True)
    with open(os.path.join(os.environ["HOME"], ".fakeacp", "switches.jsonl"), "a") as handle:
        handle.write(json.dumps({"method": f"session/set_{what}", "params": params}) + "\n")
    if wanted not in allowed:
        send({"id": request_id, "error": {"code": -32602, "message": f"no {what} {wanted}"}})
        return
    now = settings(session)
    now[what] = str(wanted)
    with open(settings_path(session), "w") as handle:
        json.dump(now, handle)
    send({"id": request_id, "result": {}})
    if what == "mode":
        update(session, {"sessionUpdate": "current_mode_update", "currentModeId": wanted})


def advertise(session: str) -> None:
    # Right after the answer, as real agents do (Claude Code's adapter sends it after session/new).
    update(session, {"sessionUpdate": "available_commands_update", "availableCommands": COMMANDS})


def prompt(request_id: Any, params: dict[str, Any]) -> None:
    replay_done.wait()
    session = params["sessionId"]
    words = "".join(b.get("text", "") for b in params.get("prompt") or []).strip()
    first = words.split()[0] if words else ""
    earlier = history(session)
    remember(session, words)
    stop = "end_turn"
    if first == "hello":
        text(session, "Let me think.", "agent_thought_chunk")
        for piece in ("Hel", "lo ", "from ", "the fake ", "agent."):
            text(session, piece)
    elif first == "remember":
        text(session, "Earlier: " + " | ".join(earlier))
    elif first == "tool":
        workspace = os.getcwd()
        update(session, {"sessionUpdate": "tool_call", "toolCallId": "call-1", "title": "Run echo", "kind": "execute",
                         "status": "pending", "rawInput": {"command": "echo hi; echo err >&2"}})
        created = call("terminal/create", {"sessionId": session, "command": "echo hi; echo err >&2"})
        terminal = created["result"]["terminalId"]
        update(session, {"sessionUpdate": "tool_call_update", "toolCallId": "call-1", "status": "in_progress",
                         "content": [{"type": "terminal", "terminalId": terminal}]})
        exit_status = call("terminal/wait_for_exit", {"sessionId": session, "terminalId": terminal})["result"]
        output = call("terminal/output", {"sessionId": session, "terminalId": terminal})["result"]
        call("terminal/release", {"sessionId": session, "terminalId": terminal})
        update(session, {"sessionUpdate": "tool_call_update", "toolCallId": "call-1", "status": "completed",
                         "rawOutput": {"exitCode": exit_status.get("exitCode"), "output": output["output"]}})
        path = os.path.join(workspace, "notes.txt")
        call("fs/write_text_file", {"sessionId": session, "path": path, "content": "one\ntwo\nthree\n"})
        read = call("fs/read_text_file", {"sessionId": session, "path": path, "line": 2, "limit": 1})["result"]
        update(session, {"sessionUpdate": "tool_call", "toolCallId": "call-2", "title": "Edit notes.txt",
                         "kind": "edit", "status": "completed", "locations": [{"path": path, "line": 2}],
                         "content": [{"type": "diff", "path": path, "oldText": "one\ntwo\nthree\n",
                                      "newText": "one\n2\nthree\n"}]})
        text(session, f"Line two was {read['content'].strip()}.")
    elif first == "ask":
        update(session, {"sessionUpdate": "tool_call", "toolCallId": "call-ask", "title": "Write asked.txt",
                         "kind": "edit", "status": "pending", "rawInput": {"path": "asked.txt"}})
        answer = call("session/request_permission", {
            "sessionId": session,
            "toolCall": {"toolCallId": "call-ask", "title": "Write asked.txt", "kind": "edit"},
            "options": [{"optionId": "yes", "name": "Allow", "kind": "allow_once"},
                        {"optionId": "always", "name": "Always allow", "kind": "allow_always"},
                        {"optionId": "no", "name": "Reject", "kind": "reject_once"}],
        })
        outcome = answer.get("result", {}).get("outcome", {})
        chosen = outcome.get("optionId") if outcome.get("outcome") == "selected" else outcome.get("outcome")
        if chosen in ("yes", "always"):
            with open("asked.txt", "w") as handle:
                handle.write("allowed\n")
            update(session, {"sessionUpdate": "tool_call_update", "toolCallId": "call-ask", "status": "completed",
                             "content": [{"type": "content", "content": {"type": "text", "text": "wrote asked.txt"}}]})
        else:
            update(session, {"sessionUpdate": "tool_call_update", "toolCallId": "call-ask", "status": "failed",
                             "content": [{"type": "content", "content": {"type": "text", "text": "rejected"}}]})
        text(session, f"Answer: {chosen}.")
    elif first == "chaos":
        raw("this is not json")
        raw("[1, 2, 3]")
        send({"id": 424242, "result": {}})
        update(session, {"sessionUpdate": "brand_new_kind", "stuff": 1})
        update(session, {"sessionUpdate": "tool_call_update", "toolCallId": "late", "status": "in_progress",
                         "content": [{"type": "content", "content": {"type": "text", "text": "partial out"}}]})
        update(session, {"sessionUpdate": "tool_call", "toolCallId": "late", "title": "Read late.txt", "kind": "read",
                         "status": "pending"})
        update(session, {"sessionUpdate": "tool_call_update", "toolCallId": "late", "status": "completed", "content": []})
        update(session, {"sessionUpdate": "plan", "entries": [
            {"content": "Look around", "priority": "high", "status": "completed"},
            {"content": "Fix it", "priority": "medium", "status": "in_progress"}]})
        update(session, {"sessionUpdate": "usage_update", "used": 1200, "size": 200000,
                         "cost": {"amount": 0.25, "currency": "USD"}})
        update(session, {"sessionUpdate": "available_commands_update", "availableCommands": [
            {"name": "init", "description": "Create AGENTS.md"}]})
        send({"method": "session/update", "params": {"sessionId": session}})
        text(session, "Still here.")
    elif first == "die":
        text(session, "About to go")
        sys.stderr.write("fake agent: out of cheese\n")
        sys.stderr.flush()
        os._exit(3)
    elif first == "sleep":
        child = subprocess.Popen(["sleep", "1000"])
        with open(os.path.join(os.getcwd(), "sleeper.pid"), "w") as handle:
            handle.write(str(child.pid))
        text(session, "Sleeping")
        cancelled.wait()
        child.kill()
        stop = "cancelled"
    elif first == "escape":
        outside = call("fs/read_text_file", {"sessionId": session, "path": "/etc/hostname"})
        written = call("fs/write_text_file", {"sessionId": session, "path": "../escaped.txt", "content": "x"})
        text(session, f"read: {'error' if 'error' in outside else 'ok'}; write: {'error' if 'error' in written else 'ok'}")
    elif first == "refuse":
        stop = "refusal"
    elif first == "whoami":
        now = settings(session)
        text(session, f"mode={now['mode']} model={now['model']}")
    else:
        text(session, f"You said: {words}")
    send({"id": request_id, "result": {"stopReason": stop,
                                        "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15}}})


def handle(message: dict[str, Any]) -> None:
    method, request_id, params = message.get("method"), message.get("id"), message.get("params") or {}
    if method == "initialize":
        load = os.environ.get("FAKE_ACP_NO_LOAD") != "1"
        send({"id": request_id, "result": {"protocolVersion": 1, "agentCapabilities": {"loadSession": load},
                                           "agentInfo": {"name": "fake-acp", "version": "0.1"}, "authMethods": []}})
    elif method == "session/new":
        # Not the pid: inside bubblewrap's PID namespace every agent gets the same small pid.
        session = f"fake-{uuid.uuid4().hex[:12]}"
        remember(session, "(new)")
        send({"id": request_id, "result": {"sessionId": session, **offers(session)}})
        advertise(session)
    elif method == "session/load":
        session = params.get("sessionId")
        if os.environ.get("FAKE_ACP_LOAD_FAILS") == "1" or not os.path.exists(store_path(str(session))):
            send({"id": request_id, "error": {"code": -32603, "message": "Internal error",
                                              "data": {"details": "session not found"}}})
            return
        late = os.environ.get("FAKE_ACP_LATE_REPLAY") == "1"
        said_before = history(str(session))
        for said in said_before:
            text(str(session), said, "user_message_chunk")
            if not late:
                text(str(session), "(an old answer)")
        send({"id": request_id, "result": offers(str(session))})
        if late:  # as Gemini CLI's un-awaited streamHistory: the tail comes a moment later
            def tail() -> None:
                text(str(session), "(an old answer)")
                replay_done.set()

            replay_done.clear()
            threading.Timer(0.01, tail).start()
        advertise(str(session))
    elif method == "session/set_mode":
        switch(request_id, params, "mode", "modeId", [m["id"] for m in MODES])
    elif method == "session/set_model":
        switch(request_id, params, "model", "modelId", [m["modelId"] for m in MODELS])
    elif method == "session/prompt":
        threading.Thread(target=prompt, args=(request_id, params), daemon=True).start()
    elif method == "session/cancel":
        cancelled.set()
    elif request_id is not None and method is None:
        slot = _waiting.pop(request_id, None)
        if slot is not None:
            slot[1] = message
            slot[0].set()
    elif request_id is not None:
        send({"id": request_id, "error": {"code": -32601, "message": f"{method} not found"}})


def main() -> None:
    for line in sys.stdin:
        if line.strip():
            handle(json.loads(line))


if __name__ == "__main__":
    main()
