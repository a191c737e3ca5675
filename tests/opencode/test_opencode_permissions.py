"""Tool approvals with OpenCode: profile ``permissionMode: "ask"``, the real CLI (opencode-ai
1.18.33) driven through ``opencode serve``, asked for ``bash`` by the fake model server and
answered through the runtime (the same path the HTTP route and the Socket.IO event take,
docs/permissions.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runtime import AgentRuntime
from tests.agent_support import require_cli, started_runtime
from tests.fakes.openai_server import FakeOpenAI, Text, ToolCall, Turn
from tests.helpers import NODE_BIN, make_config
from tests.opencode.conftest import MODEL, OPENCODE_BIN, needs_opencode, opencode_host_env
from tests.permissions.support import Watcher, is_type, query_end, resolved

pytestmark = [needs_opencode]

ASK = 'name = "Ask"\npermissionMode = "ask"\nenv = ["OPENAI_API_KEY", "OPENAI_BASE_URL"]\n'


@pytest.fixture
async def ask_runtime(tmp_path: Path, fake: FakeOpenAI) -> AsyncIterator[AgentRuntime]:
    require_cli(OPENCODE_BIN, "OpenCode CLI")
    config = make_config(tmp_path, agent_bin_dirs=[str(NODE_BIN)], host_env=opencode_host_env(fake))
    profiles = Path(config.config_dir) / "profiles"  # type: ignore[arg-type]
    profiles.mkdir(parents=True, exist_ok=True)
    (profiles / "ask.toml").write_text(ASK, encoding="utf-8")
    async with started_runtime(config) as runtime:
        yield runtime


async def new_session(runtime: AgentRuntime) -> str:
    summary = await runtime.create_session(
        {"architecture": "opencode", "agentProfileRef": "ask", "sessionOptions": {"model": MODEL}})
    return summary.session_id


def workspace(runtime: AgentRuntime, sid: str) -> Path:
    return Path(runtime.config.resolved_data_dir()) / sid / "workspace"


async def test_allow_runs_the_tool_and_deny_fails_it_with_the_users_reason(
        ask_runtime: AgentRuntime, fake: FakeOpenAI) -> None:
    runtime = ask_runtime
    sid = await new_session(runtime)
    watcher = Watcher(runtime, sid)
    write = ToolCall("bash", {"command": "echo hi > hello.txt", "description": "Write hello.txt"})
    fake.script(Turn(write), Turn(Text("Wrote it.")))
    message_id, _ = await runtime.send_message(sid, "Make hello.txt")

    requested = await watcher.wait_for(is_type("permission:requested"))
    request_id = requested.payload["requestId"]
    assert requested.payload["toolName"] == "bash" and requested.payload["toolUseId"] == write.id
    assert requested.payload["input"]["command"] == "echo hi > hello.txt"
    assert requested.payload["title"] == "bash: echo hi > hello.txt"
    summary = await runtime.get_summary(sid)
    assert [p.request_id for p in summary.runtime.pending_permissions] == [request_id]
    assert not (workspace(runtime, sid) / "hello.txt").exists()  # OpenCode really waits

    await runtime.resolve_permission(sid, request_id, "allow")
    end = await watcher.wait_for(query_end(message_id))
    assert end.type == "query:completed", end.payload
    assert (workspace(runtime, sid) / "hello.txt").read_text() == "hi\n"
    assert len([e for e in watcher.events if resolved(request_id)(e)]) == 1
    assert (await runtime.get_summary(sid)).runtime.pending_permissions == []

    # Denied with a reason: the tool fails with it, the model is told, the query still completes.
    start = len(watcher.events)
    remove = ToolCall("bash", {"command": "rm hello.txt", "description": "Remove hello.txt"})
    fake.script(Turn(remove), Turn(Text("Understood, I left it.")))
    message_id, _ = await runtime.send_message(sid, "Remove hello.txt")
    requested = await watcher.wait_for(is_type("permission:requested"), start=start)
    await runtime.resolve_permission(sid, requested.payload["requestId"], "deny", "keep that file")
    end = await watcher.wait_for(query_end(message_id), start=start)
    assert end.type == "query:completed", end.payload
    assert (workspace(runtime, sid) / "hello.txt").exists()
    detail = await runtime.get_session(sid)
    [result] = [b for b in detail.blocks if b.type == "tool_result" and b.tool_use_id == remove.id]
    assert result.is_error is True
    assert "keep that file" in fake.conversation_requests()[-1].text()
    watcher.close()


async def test_allow_always_is_not_asked_again_in_the_session(ask_runtime: AgentRuntime, fake: FakeOpenAI) -> None:
    runtime = ask_runtime
    sid = await new_session(runtime)
    watcher = Watcher(runtime, sid)
    fake.script(Turn(ToolCall("bash", {"command": "echo one > one.txt", "description": "one"})), Turn(Text("1")))
    message_id, _ = await runtime.send_message(sid, "First")
    requested = await watcher.wait_for(is_type("permission:requested"))
    await runtime.resolve_permission(sid, requested.payload["requestId"], "allow_always")
    assert (await watcher.wait_for(query_end(message_id))).type == "query:completed"

    start = len(watcher.events)
    fake.script(Turn(ToolCall("bash", {"command": "echo two > two.txt", "description": "two"})), Turn(Text("2")))
    message_id, _ = await runtime.send_message(sid, "Second")
    end = await watcher.wait_for(query_end(message_id), start=start)
    assert end.type == "query:completed", end.payload
    assert watcher.find(is_type("permission:requested"), start) is None
    assert (workspace(runtime, sid) / "two.txt").read_text() == "two\n"
    watcher.close()


async def test_a_plain_deny_ends_the_turn_but_not_as_a_failure(ask_runtime: AgentRuntime, fake: FakeOpenAI) -> None:
    """Without a reason OpenCode stops its loop at the refused call (the model is not asked
    again); the query still completes, with the refused tool shown as failed."""
    runtime = ask_runtime
    sid = await new_session(runtime)
    watcher = Watcher(runtime, sid)
    remove = ToolCall("bash", {"command": "rm -rf /tmp/nothing-here", "description": "Clean up"})
    fake.script(Turn(remove))
    message_id, _ = await runtime.send_message(sid, "Clean up")
    requested = await watcher.wait_for(is_type("permission:requested"))
    await runtime.resolve_permission(sid, requested.payload["requestId"], "deny")
    end = await watcher.wait_for(query_end(message_id))
    assert end.type == "query:completed", end.payload
    detail = await runtime.get_session(sid)
    [result] = [b for b in detail.blocks if b.type == "tool_result" and b.tool_use_id == remove.id]
    assert result.is_error is True
    assert (await runtime.get_summary(sid)).runtime.pending_permissions == []
    watcher.close()
