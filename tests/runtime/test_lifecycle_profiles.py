"""Idle timeout, manual terminate, delete, and TOML agent profiles."""

from __future__ import annotations

from pathlib import Path

from runtime import AgentRuntime
from tests.helpers import collect_until, make_config, query_end


async def test_idle_sandbox_is_terminated_and_recreated_on_the_next_message(tmp_path: Path) -> None:
    async with AgentRuntime(make_config(tmp_path, idle_timeout_ms=300)) as runtime:
        session = await runtime.create_session({"architecture": "shell"})
        sid = session.session_id
        message_id, _ = await runtime.send_message(sid, "echo first > keep.txt")
        await collect_until(runtime, sid, query_end(message_id))
        events = await collect_until(runtime, sid, lambda e: e.type == "ee:terminated")
        assert events[-1].payload == {"reason": "idle"}
        summary = await runtime.get_summary(sid)
        assert summary.runtime.execution_environment and summary.runtime.execution_environment.status == "terminated"
        message_id, _ = await runtime.send_message(sid, "cat keep.txt")
        events = await collect_until(runtime, sid, query_end(message_id), after_seq=events[-1].seq)
        assert [e.type for e in events if e.type.startswith("ee:")][-1] == "ee:ready"
        detail = await runtime.get_session(sid)
        # The local workspace survives a sandbox's end.
        assert [b.output for b in detail.blocks if b.type == "tool_result"][-1] == "first\n"


async def test_terminate_then_delete_leaves_nothing(runtime: AgentRuntime) -> None:
    session = await runtime.create_session({"architecture": "shell"})
    sid = session.session_id
    message_id, _ = await runtime.send_message(sid, "echo x > f.txt")
    await collect_until(runtime, sid, query_end(message_id))
    state = await runtime.terminate_environment(sid)
    assert state.execution_environment and state.execution_environment.status == "terminated"
    folder = runtime.config.resolved_data_dir() / sid
    assert (folder / "workspace" / "f.txt").exists() and not (folder / "home").exists()
    await runtime.delete_session(sid)
    assert await runtime.list_sessions() == []
    assert await runtime.store.load_session(sid) is None
    assert await runtime.store.load_events(sid) == []
    assert not folder.exists()


async def test_toml_profiles_are_listed_and_their_files_seed_the_workspace(tmp_path: Path) -> None:
    profiles = tmp_path / "config" / "profiles"
    profiles.mkdir(parents=True)
    (profiles / "reviewer.toml").write_text(
        'name = "Reviewer"\ndescription = "Reads code"\nsystemPrompt = "Be terse."\n'
        'allowedTools = ["Read"]\npermissionMode = "ask"\n\n[files]\n"NOTES.md" = "# notes\\n"\n'
    )
    (profiles / "broken.toml").write_text("name = [unterminated")
    async with AgentRuntime(make_config(tmp_path)) as runtime:
        infos = {p.id: p for p in await runtime.list_profiles()}
        assert set(infos) == {"default", "reviewer"}
        assert infos["reviewer"].name == "Reviewer" and infos["reviewer"].description == "Reads code"
        assert runtime.profiles.get("reviewer").permission_mode == "ask"
        assert any("broken.toml" in path for path in runtime.profiles.errors)
        session = await runtime.create_session({"architecture": "shell", "agentProfileRef": "reviewer"})
        assert session.agent_profile_ref == "reviewer"
        message_id, _ = await runtime.send_message(session.session_id, "cat NOTES.md")
        await collect_until(runtime, session.session_id, query_end(message_id))
        detail = await runtime.get_session(session.session_id)
        assert [b.output for b in detail.blocks if b.type == "tool_result"][-1] == "# notes\n"
