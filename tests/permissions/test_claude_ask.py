"""Tool approvals end to end: the real Claude Code CLI (2.1.332) with profile ``permissionMode:
"ask"``, asked for ``Bash`` by the fake model server, answered by real clients of a real server
(python-socketio, HTTP) or by the runtime itself (interrupt, sandbox end, timeout, restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio

from runtime import AgentRuntime, SessionEvent
from runtime.errors import AlreadyResolved
from tests.claude.conftest import needs_claude
from tests.fakes.anthropic_server import FakeAnthropic, Text, ToolUse, Turn, for_main, for_subagent
from tests.helpers import ROOT
from tests.permissions.conftest import ASK_BASH_ALLOWED_PROFILE, ASK_PROFILE, ClientFactory, RuntimeFactory
from tests.permissions.support import (
    Watcher,
    answer_over_http,
    bash,
    closed_by_us,
    interrupted,
    is_type,
    query_end,
    resolved,
    session_processes,
    tool_then_text,
    workspace,
)
from tests.server.clients import Collector

pytestmark = [pytest.mark.claude, needs_claude]


async def new_session(runtime: AgentRuntime, profile: str = ASK_PROFILE) -> str:
    summary = await runtime.create_session({"architecture": "claude-code", "agentProfileRef": profile})
    return summary.session_id


async def test_allow_from_a_socketio_client_runs_the_tool(
    ask_runtime: AgentRuntime, fake: FakeAnthropic, sio_client: ClientFactory
) -> None:
    runtime = ask_runtime
    client = await sio_client()
    seen = Collector(client)
    ack = await client.call(
        "session:create", {"architecture": "claude-code", "agentProfileRef": ASK_PROFILE}, timeout=10
    )
    sid = ack["session"]["sessionId"]
    tool = bash("echo hi > hello.txt && cat hello.txt", "Write hello.txt")
    fake.script(*tool_then_text(tool, "Done: the file says hi."))
    watcher = Watcher(runtime, sid)
    ack = await client.call("session:message", {"sessionId": sid, "content": "Make hello.txt"}, timeout=10)
    message_id = ack["messageId"]

    requested = await watcher.wait_for(is_type("permission:requested"))
    request_id = requested.payload["requestId"]
    assert requested.payload["toolName"] == "Bash"
    assert requested.payload["input"] == tool.input and requested.payload["toolUseId"] == tool.id
    assert requested.payload["title"] == "Write hello.txt"
    # Needs input: the request is part of the session's runtime state, for every client.
    summary = await runtime.get_summary(sid)
    assert [p.request_id for p in summary.runtime.pending_permissions] == [request_id]
    assert summary.runtime.pending_permissions[0].tool_name == "Bash"
    assert summary.runtime.active_query is not None
    await seen.wait_for(
        lambda: any(
            p["requestId"] == request_id for s in seen.statuses for p in s["runtime"]["pendingPermissions"]
        )
    )
    # The CLI really waits for the answer: nothing has run.
    assert not (workspace(runtime, sid) / "hello.txt").exists()

    ack = await client.call(
        "session:permission", {"sessionId": sid, "requestId": request_id, "decision": "allow"}, timeout=10
    )
    assert ack == {"success": True}
    await completed(watcher, message_id)
    answer = watcher.find(resolved(request_id))
    assert answer is not None
    assert answer.payload == {"requestId": request_id, "decision": "allow", "by": "socket.io client"}
    assert (workspace(runtime, sid) / "hello.txt").read_text() == "hi\n"
    detail = await runtime.get_session(sid)
    result = next(b for b in detail.blocks if b.type == "tool_result")
    assert result.output.strip() == "hi" and result.is_error is False
    assert (
        detail.blocks[-1].type == "assistant_text" and detail.blocks[-1].content == "Done: the file says hi."
    )
    assert detail.runtime.pending_permissions == []
    await seen.wait_for(lambda: seen.statuses[-1]["runtime"]["pendingPermissions"] == [])
    watcher.close()


async def test_deny_over_http_skips_the_tool_and_the_query_completes(
    ask_runtime: AgentRuntime, fake: FakeAnthropic, http: aiohttp.ClientSession
) -> None:
    runtime = ask_runtime
    async with http.post(
        "/sessions", json={"architecture": "claude-code", "agentProfileRef": ASK_PROFILE}
    ) as r:
        assert r.status == 201
        sid = (await r.json())["sessionId"]
    tool = bash("echo hi > denied.txt", "Write denied.txt")
    fake.script(*tool_then_text(tool, "Understood, I left it alone."))
    watcher = Watcher(runtime, sid)
    async with http.post(f"/sessions/{sid}/messages", json={"content": "Make denied.txt"}) as r:
        assert r.status == 202
        message_id = (await r.json())["messageId"]
    requested = await watcher.wait_for(is_type("permission:requested"))
    request_id = requested.payload["requestId"]
    async with http.get(f"/sessions/{sid}") as r:
        pending = (await r.json())["runtime"]["pendingPermissions"]
    assert [p["requestId"] for p in pending] == [request_id] and pending[0]["toolName"] == "Bash"

    assert await answer_over_http(http, sid, request_id, "deny", "Not in this folder") == (
        200,
        {"success": True},
    )
    status, body = await answer_over_http(http, sid, request_id, "allow")
    assert status == 409 and body["code"] == "ALREADY_RESOLVED"
    status, body = await answer_over_http(http, sid, "no-such-request", "allow")
    assert status == 404 and body["code"] == "PERMISSION_NOT_FOUND"

    await completed(watcher, message_id)
    assert not (workspace(runtime, sid) / "denied.txt").exists()
    detail = await runtime.get_session(sid)
    result = next(b for b in detail.blocks if b.type == "tool_result")
    assert result.is_error is True and "Not in this folder" in result.output
    assert detail.blocks[-1].content == "Understood, I left it alone."
    # The model was told why.
    assert "Not in this folder" in fake.conversation_requests()[-1].text()
    answers = watcher.of_type("permission:resolved")
    assert [a.payload for a in answers] == [
        {"requestId": request_id, "decision": "deny", "message": "Not in this folder", "by": "http client"}
    ]
    watcher.close()


async def test_three_clients_answer_at_once_and_exactly_one_wins(
    ask_runtime: AgentRuntime, fake: FakeAnthropic, sio_client: ClientFactory, http: aiohttp.ClientSession
) -> None:
    runtime = ask_runtime
    sid = await new_session(runtime)
    a, b = await sio_client(), await sio_client()
    rounds = 3
    tools = [bash(f"echo {i} > race-{i}.txt", f"Write race-{i}.txt") for i in range(rounds)]
    fake.script(*(Turn(tool) for tool in tools), Turn(Text("All asked.")))
    watcher = Watcher(runtime, sid)
    message_id, _ = await runtime.send_message(sid, "Write the race files")

    async def over_socket(client: socketio.AsyncClient, request_id: str, decision: str) -> dict[str, Any]:
        payload = {"sessionId": sid, "requestId": request_id, "decision": decision}
        return await client.call("session:permission", payload, timeout=10)

    async def over_http(request_id: str, decision: str) -> dict[str, Any]:
        return (await answer_over_http(http, sid, request_id, decision))[1]

    start = 0
    for i in range(rounds):
        requested = await watcher.wait_for(is_type("permission:requested"), start=start)
        start = watcher.events.index(requested) + 1
        request_id = requested.payload["requestId"]
        assert requested.payload["input"]["command"] == tools[i].input["command"]
        # Three different clients answer the same request at the same moment, differently.
        acks = await asyncio.gather(
            over_socket(a, request_id, "allow"),
            over_socket(b, request_id, "deny"),
            over_http(request_id, "deny"),
        )
        winners = [ack for ack in acks if ack.get("success")]
        losers = [ack for ack in acks if not ack.get("success")]
        assert winners == [{"success": True}], acks
        assert [ack["code"] for ack in losers] == ["ALREADY_RESOLVED"] * 2, acks
        answer = await watcher.wait_for(resolved(request_id))
        winner = ("allow", "socket.io client") if acks[0].get("success") else ("deny", None)
        assert answer.payload["decision"] == winner[0]
        if winner[1]:
            assert answer.payload["by"] == winner[1]
        # What the agent did follows the winning answer, and only it.
        result = await watcher.wait_for(
            lambda e, tool_id=tools[i].id: (
                e.type == "block:upsert" and e.payload["block"].get("id") == f"{tool_id}:result"
            )
        )
        assert result.payload["block"]["isError"] is (winner[0] == "deny")
        assert (workspace(runtime, sid) / f"race-{i}.txt").exists() is (winner[0] == "allow")

    await completed(watcher, message_id)
    answers = watcher.of_type("permission:resolved")
    assert len(answers) == rounds == len({a.payload["requestId"] for a in answers})
    watcher.close()


async def completed(watcher: Watcher, message_id: str) -> SessionEvent:
    """The end of the query of ``message_id``, which must have completed."""
    end = await watcher.wait_for(query_end(message_id))
    assert end.type == "query:completed", end.payload
    return end


async def watched_session(runtime: AgentRuntime) -> tuple[str, Watcher]:
    """A new session that asks, and a watcher of its events."""
    sid = await new_session(runtime)
    return sid, Watcher(runtime, sid)


async def started_session(make_runtime: RuntimeFactory) -> tuple[AgentRuntime, str, Watcher]:
    """A runtime of its own (to restart it later), a session that asks, and a watcher."""
    runtime = await make_runtime()
    return runtime, *await watched_session(runtime)


async def pending_request(runtime: AgentRuntime, fake: FakeAnthropic, watcher: Watcher, sid: str) -> tuple[str, str]:
    """Send a message whose tool the profile asks about; the message id and the open request's."""
    fake.script(*tool_then_text(bash("echo hi > never.txt", "Write never.txt"), "unreachable"))
    message_id, _ = await runtime.send_message(sid, "Make never.txt")
    requested = await watcher.wait_for(is_type("permission:requested"), start=len(watcher.events))
    return message_id, requested.payload["requestId"]


async def still_usable(runtime: AgentRuntime, fake: FakeAnthropic, watcher: Watcher, sid: str) -> None:
    fake.script(Turn(Text("Still here.")))
    message_id, _ = await runtime.send_message(sid, "Are you there?")
    await completed(watcher, message_id)


async def test_interrupt_while_pending_denies_and_interrupts_the_query(runtime: AgentRuntime,
                                                                     fake: FakeAnthropic) -> None:
    sid, watcher = await watched_session(runtime)
    message_id, request_id = await pending_request(runtime, fake, watcher, sid)

    assert await runtime.interrupt(sid) is True
    end = await watcher.wait_for(query_end(message_id))
    assert end.type == "query:interrupted" and end.payload["reason"] == "user"
    assert closed_by_us(watcher, request_id, end) == interrupted(request_id)
    assert not (workspace(runtime, sid) / "never.txt").exists()
    assert session_processes(runtime, sid) == []
    assert (await runtime.get_summary(sid)).runtime.pending_permissions == []
    # A late answer finds the request closed.
    with pytest.raises(AlreadyResolved):
        await runtime.resolve_permission(sid, request_id, "allow")

    await still_usable(runtime, fake, watcher, sid)
    watcher.close()


async def test_sandbox_ending_while_pending_denies_with_a_reason(
    ask_runtime: AgentRuntime, fake: FakeAnthropic
) -> None:
    runtime = ask_runtime
    sid, watcher = await watched_session(runtime)

    # 1. Terminated on purpose (the runtime stops the query first, then the sandbox).
    message_id, request_id = await pending_request(runtime, fake, watcher, sid)
    await runtime.terminate_environment(sid)
    end = await watcher.wait_for(query_end(message_id))
    assert closed_by_us(watcher, request_id, end) == interrupted(request_id)
    assert (await runtime.get_summary(sid)).runtime.pending_permissions == []
    await still_usable(runtime, fake, watcher, sid)

    # 2. The sandbox dies under the waiting agent (every process in it killed).
    message_id, request_id = await pending_request(runtime, fake, watcher, sid)
    victims = session_processes(runtime, sid)
    assert victims
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    end = await watcher.wait_for(query_end(message_id))
    assert end.type == "query:failed" and end.payload["code"] == "AGENT_CRASHED"
    assert "stopped unexpectedly" in closed_by_us(watcher, request_id, end)["message"]
    assert (await runtime.get_summary(sid)).runtime.pending_permissions == []
    assert not (workspace(runtime, sid) / "never.txt").exists()
    await still_usable(runtime, fake, watcher, sid)
    watcher.close()


async def test_an_unanswered_request_is_denied_after_the_configured_timeout(
    make_runtime: RuntimeFactory, fake: FakeAnthropic
) -> None:
    runtime = await make_runtime(permission_timeout_s=0.5)
    sid = await new_session(runtime)
    fake.script(*tool_then_text(bash("echo hi > late.txt", "Write late.txt"), "Nobody answered."))
    watcher = Watcher(runtime, sid)
    message_id, _ = await runtime.send_message(sid, "Make late.txt")
    requested = await watcher.wait_for(is_type("permission:requested"))
    answer = await watcher.wait_for(resolved(requested.payload["requestId"]), timeout=10)
    assert answer.payload == {
        "requestId": requested.payload["requestId"],
        "decision": "deny",
        "message": "no answer within 0.5 s",
        "by": "agent-tui",
    }
    await completed(watcher, message_id)
    assert not (workspace(runtime, sid) / "late.txt").exists()
    assert "no answer within 0.5 s" in fake.conversation_requests()[-1].text()
    watcher.close()


async def test_allow_always_is_not_asked_again_in_this_session(
    make_runtime: RuntimeFactory, fake: FakeAnthropic
) -> None:
    runtime, sid, watcher = await started_session(make_runtime)

    # Two Bash calls in one run: the first is asked and allowed always, the second is not asked.
    fake.script(
        Turn(bash("echo 1 > one.txt", "Write one.txt")),
        Turn(bash("echo 2 > two.txt", "Write two.txt")),
        Turn(Text("Both written.")),
    )
    message_id, _ = await runtime.send_message(sid, "Write one and two")
    requested = await watcher.wait_for(is_type("permission:requested"))
    await runtime.resolve_permission(sid, requested.payload["requestId"], "allow_always", by="test user")
    end = await completed(watcher, message_id)
    assert len(watcher.of_type("permission:requested")) == 1
    assert (workspace(runtime, sid) / "one.txt").exists() and (workspace(runtime, sid) / "two.txt").exists()

    # The next run of the CLI gets Bash as allowed; another tool is still asked (and denied here).
    target = workspace(runtime, sid) / "notes.md"
    fake.script(
        Turn(bash("echo 3 > three.txt", "Write three.txt")),
        Turn(Text("Now a file."), _write(str(target), "# notes\n")),
        Turn(Text("Fine.")),
    )
    message_id, _ = await runtime.send_message(sid, "Write three and notes")
    asked = await watcher.wait_for(is_type("permission:requested"), start=watcher.events.index(end) + 1)
    assert asked.payload["toolName"] == "Write"
    await runtime.resolve_permission(sid, asked.payload["requestId"], "deny")
    end = await completed(watcher, message_id)
    assert (workspace(runtime, sid) / "three.txt").exists() and not target.exists()
    assert len(watcher.of_type("permission:requested")) == 2
    watcher.close()

    # Still allowed after agent-tui restarts (kept in the session's record).
    await runtime.shutdown()
    runtime = await make_runtime()
    watcher = Watcher(runtime, sid, (await runtime.get_summary(sid)).last_seq)
    fake.script(*tool_then_text(bash("echo 4 > four.txt", "Write four.txt"), "Four."))
    message_id, _ = await runtime.send_message(sid, "Write four")
    end = await completed(watcher, message_id)
    assert watcher.of_type("permission:requested") == []
    assert (workspace(runtime, sid) / "four.txt").read_text() == "4\n"
    watcher.close()


async def test_tools_the_profile_allows_are_never_asked(
    ask_runtime: AgentRuntime, fake: FakeAnthropic
) -> None:
    runtime = ask_runtime
    sid = await new_session(runtime, ASK_BASH_ALLOWED_PROFILE)
    fake.script(*tool_then_text(bash("echo ok > allowed.txt", "Write allowed.txt"), "Done."))
    watcher = Watcher(runtime, sid)
    message_id, _ = await runtime.send_message(sid, "Make allowed.txt")
    await completed(watcher, message_id)
    assert watcher.of_type("permission:requested") == []
    assert (workspace(runtime, sid) / "allowed.txt").read_text() == "ok\n"
    watcher.close()


def _write(path: str, content: str) -> Any:
    from tests.fakes.anthropic_server import ToolUse

    return ToolUse("Write", {"file_path": path, "content": content})


async def test_restart_while_pending_closes_the_request_and_the_session_goes_on(
    tmp_path: Path, make_runtime: RuntimeFactory, fake: FakeAnthropic
) -> None:
    # agent-tui itself dies (SIGKILL) while the agent waits for an answer.
    fake.script(*tool_then_text(bash("echo hi > never.txt", "Write never.txt"), "unreachable"))
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.permissions.child_runtime",
        str(tmp_path),
        fake.url,
        "Make never.txt",
        cwd=str(ROOT),
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    sid = request_id = None
    try:
        async with asyncio.timeout(60):
            async for line in child.stdout:
                data = json.loads(line)
                if data["event"]["type"] == "permission:requested":
                    sid, request_id = data["sessionId"], data["event"]["payload"]["requestId"]
                    break
    finally:
        child.kill()
        await child.wait()
    assert sid is not None and request_id is not None

    runtime = await make_runtime()
    summary = await runtime.get_summary(sid)
    assert summary.runtime.pending_permissions == [] and summary.runtime.active_query is None
    events, _ = await runtime.get_events(sid)
    answer = next(e for e in events if e.type == "permission:resolved")
    assert answer.payload == {
        "requestId": request_id,
        "decision": "deny",
        "by": "agent-tui",
        "message": "agent-tui restarted while this request was pending",
    }
    failed = next(e for e in events if e.type == "query:failed")
    assert failed.payload["code"] == "INTERRUPTED_BY_RESTART" and answer.seq < failed.seq
    # The orphaned runner and CLI were swept; nothing ran.
    assert session_processes(runtime, sid) == []
    assert not (workspace(runtime, sid) / "never.txt").exists()
    with pytest.raises(AlreadyResolved):
        await runtime.resolve_permission(sid, request_id, "allow")

    fake.script(Turn(Text("Back after the restart.")))
    watcher = Watcher(runtime, sid, summary.last_seq)
    message_id, queued = await runtime.send_message(sid, "Are you back?")
    assert queued is False
    await completed(watcher, message_id)
    assert (await runtime.get_session(sid)).blocks[-1].content == "Back after the restart."
    watcher.close()


async def test_shutdown_while_pending_closes_the_request(
    make_runtime: RuntimeFactory, fake: FakeAnthropic
) -> None:
    runtime, sid, watcher = await started_session(make_runtime)
    message_id, request_id = await pending_request(runtime, fake, watcher, sid)
    watcher.close()
    await runtime.shutdown()

    runtime = await make_runtime()
    events, _ = await runtime.get_events(sid)
    answers = [e for e in events if e.type == "permission:resolved"]
    assert [a.payload for a in answers] == [
        {
            "requestId": request_id,
            "decision": "deny",
            "by": "agent-tui",
            "message": "agent-tui shut down while this request was pending",
        }
    ]
    end = next(e for e in events if query_end(message_id)(e))
    assert end.type == "query:interrupted" and end.payload["reason"] == "shutdown"
    assert (await runtime.get_summary(sid)).runtime.pending_permissions == []


async def test_a_background_subagent_asks_after_the_main_agents_result(
    ask_runtime: AgentRuntime, fake: FakeAnthropic
) -> None:
    runtime = ask_runtime
    sid = await new_session(runtime)
    agent = ToolUse(
        "Agent", {"description": "Write", "prompt": "Write sub.txt", "subagent_type": "general-purpose"}
    )
    fake.script(
        Turn(Text("Delegating."), agent, match=for_main),
        # Slow, so that its question comes after the main agent's first result (the CLI's stdin
        # must still be open then, or the question fails with "Stream closed").
        Turn(Text("Writing."), bash("echo x > sub.txt", "Write sub.txt"), match=for_subagent, delay_s=0.1),
        Turn(Text("Written."), match=for_subagent),
        Turn(Text("Waiting for the subagent."), match=for_main),
        Turn(Text("The subagent wrote it."), match=for_main),
    )
    watcher = Watcher(runtime, sid)
    message_id, _ = await runtime.send_message(sid, "Delegate the file")
    requested = await watcher.wait_for(is_type("permission:requested"))
    assert requested.payload["input"]["command"] == "echo x > sub.txt"
    await runtime.resolve_permission(sid, requested.payload["requestId"], "allow")
    await completed(watcher, message_id)
    assert (workspace(runtime, sid) / "sub.txt").read_text() == "x\n"
    [thread] = (await runtime.get_session(sid)).subagents
    result = next(b for b in thread.blocks if b.type == "tool_result")
    assert result.is_error is False and thread.status == "completed"
    watcher.close()
