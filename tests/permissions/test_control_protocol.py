"""The control protocol through the real runner and session, with a stand-in ``claude`` that
speaks it the way Claude Code does (``AGENT_TUI_CLAUDE_PATH``): what the real CLI rarely does on
cue (withdrawing a question, sending requests agent-tui does not handle) is scripted here."""

from __future__ import annotations

import json
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runtime import AgentRuntime
from runtime.errors import AlreadyResolved
from runtime.runner.converters.claude_code import DEFAULT_DENY_MESSAGE
from tests.helpers import make_config
from tests.permissions.conftest import ASK_PROFILE, write_profiles
from tests.permissions.support import Watcher, is_type, query_end, resolved

STAND_IN = """#!{python}
import json, sys

def out(message):
    print(json.dumps(message), flush=True)

def read():
    line = sys.stdin.readline()
    return json.loads(line) if line else None

seen = {{"argv": sys.argv[1:], "prompt": read()}}
out({{"type": "system", "subtype": "init", "model": "stand-in"}})
out({{"type": "control_request", "request_id": "hook-1", "request": {{"subtype": "hook_callback"}}}})
seen["hook"] = read()
out({{"type": "control_request", "request_id": "ask-1", "request": {{"subtype": "can_use_tool",
     "tool_name": "Bash", "input": {{"command": "sleep 1"}}, "tool_use_id": "toolu_1"}}}})
out({{"type": "control_cancel_request", "request_id": "ask-1"}})
for request_id, tool in (("ask-2", "Edit"), ("ask-3", "Write")):
    out({{"type": "control_request", "request_id": request_id, "request": {{"subtype": "can_use_tool",
         "tool_name": tool, "input": {{"file_path": "a.txt"}}, "title": tool + " a.txt"}}}})
    seen[request_id] = read()
out({{"type": "assistant", "message": {{"id": "m1", "model": "stand-in",
     "content": [{{"type": "text", "text": json.dumps(seen)}}]}}}})
out({{"type": "result", "subtype": "success", "is_error": False, "result": "ok", "usage": {{}}}})
# The runner closes stdin once the result is out; anything else left there is a bug.
sys.exit(0 if sys.stdin.read() == "" else 5)
"""


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[AgentRuntime]:
    claude = tmp_path / "claude"
    claude.write_text(STAND_IN.format(python=sys.executable))
    claude.chmod(claude.stat().st_mode | stat.S_IXUSR)
    config = make_config(tmp_path, host_env={"AGENT_TUI_CLAUDE_PATH": str(claude)})
    write_profiles(Path(config.config_dir))  # type: ignore[arg-type]
    async with AgentRuntime(config) as rt:
        yield rt


async def test_withdrawn_questions_unhandled_requests_and_answers(runtime: AgentRuntime) -> None:
    session = await runtime.create_session({"architecture": "claude-code", "agentProfileRef": ASK_PROFILE})
    sid = session.session_id
    watcher = Watcher(runtime, sid)
    message_id, _ = await runtime.send_message(sid, "Go")

    # ask-1 is withdrawn by the agent before anyone answers: closed for every client.
    withdrawn = await watcher.wait_for(resolved("ask-1"))
    assert withdrawn.payload == {
        "requestId": "ask-1",
        "decision": "deny",
        "by": "claude-code",
        "message": "Claude Code withdrew the request",
    }
    with pytest.raises(AlreadyResolved):
        await runtime.resolve_permission(sid, "ask-1", "allow")

    await watcher.wait_for(lambda e: e.type == "permission:requested" and e.payload["requestId"] == "ask-2")
    assert [p.request_id for p in (await runtime.get_summary(sid)).runtime.pending_permissions] == ["ask-2"]
    await runtime.resolve_permission(sid, "ask-2", "allow", by="tester")
    await watcher.wait_for(lambda e: e.type == "permission:requested" and e.payload["requestId"] == "ask-3")
    await runtime.resolve_permission(sid, "ask-3", "deny")

    end = await watcher.wait_for(query_end(message_id))
    assert end.type == "query:completed", end.payload
    seen = json.loads((await runtime.get_session(sid)).blocks[-1].content)
    assert "--" not in seen["argv"] and "Go" not in seen["argv"]
    assert seen["prompt"] == {"type": "user", "message": {"role": "user", "content": "Go"}}
    assert (
        seen["hook"]["response"]["subtype"] == "error" and seen["hook"]["response"]["request_id"] == "hook-1"
    )
    assert seen["ask-2"]["response"] == {
        "subtype": "success",
        "request_id": "ask-2",
        "response": {"behavior": "allow", "updatedInput": {"file_path": "a.txt"}},
    }
    assert seen["ask-3"]["response"]["response"] == {"behavior": "deny", "message": DEFAULT_DENY_MESSAGE}
    answers = [
        (e.payload["requestId"], e.payload["decision"], e.payload.get("by"))
        for e in watcher.of_type("permission:resolved")
    ]
    assert answers == [
        ("ask-1", "deny", "claude-code"),
        ("ask-2", "allow", "tester"),
        ("ask-3", "deny", None),
    ]
    assert len(watcher.of_type("permission:requested")) == 3
    assert watcher.find(is_type("query:failed")) is None
    watcher.close()
