"""Session lifecycle on the modal primitive, over the fake SDK: a real AgentRuntime, real SQLite,
the real runner and bash in "sandboxes" that are local processes."""

from __future__ import annotations

import re
import types
from pathlib import Path
from typing import Any

from runtime import AgentRuntime, CreateSessionArgs, SessionEvent
from runtime.primitives.modal import owner_tag
from tests.helpers import collect_until, query_end
from tests.modal.support import modal_config


async def run(runtime: AgentRuntime, session_id: str, command: str) -> list[SessionEvent]:
    after = (await runtime.get_summary(session_id)).last_seq
    message_id, _ = await runtime.send_message(session_id, command)
    return await collect_until(runtime, session_id, query_end(message_id), after_seq=after)


def last_output(events: list[SessionEvent]) -> str:
    text = ""
    for event in events:
        if event.type == "block:delta":
            text += event.payload.get("delta", "")
        elif event.type == "block:upsert" and event.payload["block"].get("type") == "tool_result":
            text = event.payload["block"].get("output") or text
    return text


def of_type(events: list[SessionEvent], kind: str) -> list[dict[str, Any]]:
    return [e.payload for e in events if e.type == kind]


async def test_sandbox_is_created_lazily_with_progress_and_ended_on_shutdown(
    fake_modal: types.ModuleType, tmp_path: Path
) -> None:
    async with AgentRuntime(modal_config(tmp_path)) as runtime:
        session = await runtime.create_session(CreateSessionArgs(architecture="shell"))
        assert session.primitive == "modal"
        assert fake_modal.calls("Sandbox.create") == [] and fake_modal.running() == []

        events = await run(runtime, session.session_id, "echo hello from modal")
        assert events[-1].type == "query:completed"
        assert "hello from modal" in last_output(events)
        statuses = [p["statusMessage"] for p in of_type(events, "ee:creating")]
        assert all(re.search(r" \(\d+\.\d+s\)$", s) for s in statuses), statuses
        phases = [re.sub(r" \(\d+\.\d+s\)$", "", s) for s in statuses]
        [ready] = of_type(events, "ee:ready")
        assert phases[:5] == [
            "Creating modal sandbox",
            "Connecting to Modal",
            "Looking up the sandbox image (built on first use, then cached by Modal)",
            "Scheduling the Modal sandbox",
            f"Sandbox {ready['eeId']} is running",
        ]
        assert "Installing the runner" in phases
        assert ready["primitive"] == "modal" and fake_modal.running() == [ready["eeId"]]
        detail = await runtime.get_session(session.session_id)
        assert detail.runtime.execution_environment.status == "ready"
        assert detail.runtime.execution_environment.id == ready["eeId"]

        # Same sandbox for the next message; the workspace is readable through the runtime.
        events = await run(runtime, session.session_id, "echo data > notes.txt && pwd")
        assert not of_type(events, "ee:creating")
        assert last_output(events).strip().endswith("/workspace")
        assert [f.path for f in await runtime.list_files(session.session_id)] == ["notes.txt"]
        assert await runtime.read_file(session.session_id, "notes.txt") == b"data\n"
    assert fake_modal.running() == []  # shutdown ended it: nothing left to pay for


async def test_idle_sandbox_is_terminated_and_recreated_on_the_next_message(
    fake_modal: types.ModuleType, tmp_path: Path
) -> None:
    async with AgentRuntime(modal_config(tmp_path, idle_timeout_ms=300)) as runtime:
        session = await runtime.create_session({"architecture": "shell"})
        events = await run(runtime, session.session_id, "echo one")
        [first] = of_type(events, "ee:ready")
        after = events[-1].seq
        idle = await collect_until(
            runtime, session.session_id, lambda e: e.type == "ee:terminated", after_seq=after, timeout=15
        )
        assert idle[-1].payload == {"reason": "idle"}
        assert fake_modal.running() == []
        [(_, create)] = fake_modal.calls("Sandbox.create")
        assert create["idle_timeout"] == 60  # Modal's own backstop: our idle time plus a margin

        events = await run(runtime, session.session_id, "echo two")
        [second] = of_type(events, "ee:ready")
        assert second["eeId"] != first["eeId"] and events[-1].type == "query:completed"
        assert "two" in last_output(events)


async def test_restart_reattaches_the_live_sandbox_and_sweeps_orphans(
    fake_modal: types.ModuleType, tmp_path: Path
) -> None:
    config = modal_config(tmp_path)
    first = AgentRuntime(config)
    await first.start()
    session = await first.create_session({"architecture": "shell"})
    events = await run(first, session.session_id, "echo before > kept.txt; echo ok")
    [ready] = of_type(events, "ee:ready")
    # agent-tui dies (no shutdown: its sandboxes keep running, as after a crash or SIGKILL).
    assert first.sessions is not None and first.bus is not None
    for s in first.sessions.sessions.values():
        s.environment._cancel_idle()
    await first.bus.close()
    await first.store.close()

    # Meanwhile: a sandbox of this store that no session owns (its session was lost), and one of
    # another agent-tui on the same Modal account.
    app = await fake_modal.App.lookup.aio("agent-tui", create_if_missing=True)
    orphan = await fake_modal.Sandbox.create.aio(
        "sleep",
        "infinity",
        app=app,
        tags={"app": "agent-tui", "owner": owner_tag(config), "session": "ses-lost"},
    )
    foreign = await fake_modal.Sandbox.create.aio(
        "sleep", "infinity", app=app, tags={"app": "agent-tui", "owner": "someone-else", "session": "ses-x"}
    )

    async with AgentRuntime(config) as second:
        assert sorted(fake_modal.running()) == sorted([ready["eeId"], foreign.object_id])
        assert orphan.object_id not in fake_modal.running()
        detail = await second.get_session(session.session_id)
        assert detail.runtime.execution_environment.status == "ready"
        assert detail.runtime.execution_environment.id == ready["eeId"]

        events = await run(second, session.session_id, "cat kept.txt")
        assert events[-1].type == "query:completed"
        assert not of_type(events, "ee:creating")  # the same sandbox, re-attached
        assert last_output(events).strip() == "before"
        assert fake_modal.calls("Sandbox.from_id")[-1][0] == (ready["eeId"],)
    assert fake_modal.running() == [foreign.object_id]


async def test_restart_after_the_sandbox_died_creates_a_new_one(
    fake_modal: types.ModuleType, tmp_path: Path
) -> None:
    config = modal_config(tmp_path)
    first = AgentRuntime(config)
    await first.start()
    session = await first.create_session({"architecture": "shell"})
    [ready] = of_type(await run(first, session.session_id, "true"), "ee:ready")
    assert first.bus is not None
    await first.bus.close()
    await first.store.close()
    fake_modal.crash(ready["eeId"])

    async with AgentRuntime(config) as second:
        detail = await second.get_session(session.session_id)
        assert detail.runtime.execution_environment.status == "terminated"
        events = await run(second, session.session_id, "echo fresh")
        assert events[-1].type == "query:completed" and "fresh" in last_output(events)
        [again] = of_type(events, "ee:ready")
        assert again["eeId"] != ready["eeId"]


async def test_crashed_sandbox_is_unhealthy_and_recreated(
    fake_modal: types.ModuleType, tmp_path: Path
) -> None:
    async with AgentRuntime(modal_config(tmp_path)) as runtime:
        session = await runtime.create_session({"architecture": "shell"})
        [first] = of_type(await run(runtime, session.session_id, "echo one"), "ee:ready")

        # Between queries: noticed at the next message.
        fake_modal.crash(first["eeId"])
        events = await run(runtime, session.session_id, "echo two")
        kinds = [e.type for e in events]
        assert of_type(events, "ee:terminated") == [{"reason": "unhealthy"}]
        assert kinds.index("ee:terminated") < kinds.index("ee:creating") < kinds.index("ee:ready")
        [second] = of_type(events, "ee:ready")
        assert second["eeId"] != first["eeId"]
        assert events[-1].type == "query:completed" and "two" in last_output(events)

        # During a query: the query fails and the sandbox is marked unhealthy.
        after = events[-1].seq
        message_id, _ = await runtime.send_message(session.session_id, "echo started; sleep 60")
        await collect_until(
            runtime,
            session.session_id,
            lambda e: e.type == "block:delta" and "started" in e.payload.get("delta", ""),
            after_seq=after,
        )
        fake_modal.crash(second["eeId"])
        events = await collect_until(
            runtime, session.session_id, lambda e: e.type == "ee:terminated", after_seq=after, timeout=30
        )
        [failed] = of_type(events, "query:failed")
        assert failed["messageId"] == message_id and failed["code"] == "AGENT_CRASHED"
        assert events[-1].payload == {"reason": "unhealthy"}

        events = await run(runtime, session.session_id, "echo three")
        assert events[-1].type == "query:completed" and "three" in last_output(events)
        assert len(fake_modal.running()) == 1


async def test_terminate_environment_and_delete_end_the_sandbox(
    fake_modal: types.ModuleType, tmp_path: Path
) -> None:
    async with AgentRuntime(modal_config(tmp_path)) as runtime:
        session = await runtime.create_session({"architecture": "shell"})
        await run(runtime, session.session_id, "true")
        state = await runtime.terminate_environment(session.session_id)
        assert state.execution_environment.status == "terminated"
        assert fake_modal.running() == []
        await run(runtime, session.session_id, "true")
        assert len(fake_modal.running()) == 1
        await runtime.delete_session(session.session_id)
        assert fake_modal.running() == []


async def test_interrupt_stops_the_running_command_in_the_sandbox(
    fake_modal: types.ModuleType, tmp_path: Path
) -> None:
    async with AgentRuntime(modal_config(tmp_path)) as runtime:
        session = await runtime.create_session({"architecture": "shell"})
        after = (await runtime.get_summary(session.session_id)).last_seq
        message_id, _ = await runtime.send_message(session.session_id, "echo started; sleep 60; echo never")
        await collect_until(
            runtime,
            session.session_id,
            lambda e: e.type == "block:delta" and "started" in e.payload.get("delta", ""),
            after_seq=after,
        )
        assert await runtime.interrupt(session.session_id) is True
        events = await collect_until(
            runtime, session.session_id, query_end(message_id), after_seq=after, timeout=30
        )
        assert events[-1].type == "query:interrupted" and events[-1].payload["reason"] == "user"
        # The sandbox survives an interrupt, and takes the next message.
        events = await run(runtime, session.session_id, "echo after")
        assert events[-1].type == "query:completed" and "after" in last_output(events)
        assert not of_type(events, "ee:creating") and len(fake_modal.running()) == 1
