"""The shell architecture end to end: real runner, real bash, real SQLite."""

from __future__ import annotations

from runtime import AgentRuntime, CreateSessionArgs
from tests.helpers import collect_until, query_end


def tool_events_in_order(events: list) -> bool:
    kinds = [(e.type, e.payload.get("block", {}).get("type")) for e in events if e.type.startswith("block:")]
    return (
        kinds.index(("block:upsert", "tool_use"))
        < kinds.index(("block:upsert", "tool_result"))
        < kinds.index(("block:delta", None))
    )


async def _run(runtime: AgentRuntime, session_id: str, command: str) -> tuple[str, list]:
    after = (await runtime.get_summary(session_id)).last_seq
    message_id, queued = await runtime.send_message(session_id, command)
    assert queued is False
    events = await collect_until(runtime, session_id, query_end(message_id), after_seq=after)
    return message_id, events


async def test_echo_streams_a_tool_pair_and_exit_3_is_a_failed_tool_not_a_failed_query(
    runtime: AgentRuntime,
) -> None:
    session = await runtime.create_session(CreateSessionArgs(architecture="shell", name="demo"))
    assert session.name == "demo" and session.runtime.execution_environment is None

    _, events = await _run(runtime, session.session_id, "echo hello")
    types = [e.type for e in events]
    assert types[:2] == ["block:upsert", "query:started"]
    assert "ee:creating" in types and "ee:ready" in types
    assert types[-1] == "query:completed"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert tool_events_in_order(events)

    detail = await runtime.get_session(session.session_id)
    tool_use = next(b for b in detail.blocks if b.type == "tool_use")
    tool_result = next(b for b in detail.blocks if b.type == "tool_result")
    assert tool_use.tool_name == "shell" and tool_use.input == {"command": "echo hello"}
    assert tool_result.output == "hello\n"
    assert tool_result.is_error is False
    assert tool_result.model_extra and tool_result.model_extra["exitCode"] == 0
    assert detail.runtime.execution_environment is not None
    assert detail.runtime.execution_environment.status == "ready"
    assert detail.runtime.active_query is None

    _, events = await _run(runtime, session.session_id, "echo oops >&2; exit 3")
    assert events[-1].type == "query:completed"
    detail = await runtime.get_session(session.session_id)
    result = [b for b in detail.blocks if b.type == "tool_result"][-1]
    assert result.is_error is True and result.status == "error"
    assert result.model_extra and result.model_extra["exitCode"] == 3
    assert "oops" in result.output

    # Still usable, in the same sandbox.
    _, events = await _run(runtime, session.session_id, "pwd && echo again")
    assert events[-1].type == "query:completed"
    assert not any(e.type == "ee:creating" for e in events)
    detail = await runtime.get_session(session.session_id)
    output = [b for b in detail.blocks if b.type == "tool_result"][-1].output
    assert output.splitlines()[0].endswith("/workspace") and output.splitlines()[1] == "again"


async def test_noisy_output_is_coalesced_and_truncated_with_a_marker(tmp_path) -> None:
    from tests.helpers import make_config

    limit = 200_000
    async with AgentRuntime(make_config(tmp_path, tool_output_limit=limit)) as runtime:
        session = await runtime.create_session({"architecture": "shell"})
        _, events = await _run(runtime, session.session_id, "yes | head -c 3000000")
        deltas = [e for e in events if e.type == "block:delta"]
        # Coalesced: far fewer events than the 1.5 million lines printed.
        assert 1 <= len(deltas) <= 20
        detail = await runtime.get_session(session.session_id)
        result = [b for b in detail.blocks if b.type == "tool_result"][-1]
        assert result.output.startswith("y\ny\n")
        assert f"[output truncated at {limit} bytes; the rest is dropped]" in result.output
        assert len(result.output) < limit + 100
        assert result.model_extra and result.model_extra["truncatedBytes"] == 3_000_000 - limit
        assert result.output.endswith(f"[{3_000_000 - limit} bytes dropped]\n")


async def test_output_cap_cuts_at_a_line_boundary_and_says_how_much_was_dropped(tmp_path) -> None:
    """Issue 21 #10: the last kept line is whole ("165669", never "16566")."""
    from tests.helpers import make_config

    limit = 200_000
    total = sum(len(f"{n}\n") for n in range(1, 300_001))
    async with AgentRuntime(make_config(tmp_path, tool_output_limit=limit)) as runtime:
        session = await runtime.create_session({"architecture": "shell"})
        await _run(runtime, session.session_id, "seq 1 300000")
        detail = await runtime.get_session(session.session_id)
        result = [b for b in detail.blocks if b.type == "tool_result"][-1]
        kept, marker = result.output.split("[output truncated at", 1)
        lines = kept.split("\n")
        assert lines[-1] == "", "the cut falls after a newline"
        numbers = [int(x) for x in lines[:-1]]
        assert numbers == list(range(1, len(numbers) + 1))
        assert len(kept.encode()) <= limit
        dropped = total - len(kept.encode())
        assert result.model_extra and result.model_extra["truncatedBytes"] == dropped
        assert marker.endswith(f"[{dropped} bytes dropped]\n")


async def test_agent_env_has_home_inside_the_sandbox(runtime: AgentRuntime, tmp_path) -> None:
    session = await runtime.create_session({"architecture": "shell"})
    _, _ = await _run(runtime, session.session_id, 'echo "$HOME"; echo hi > made.txt')
    detail = await runtime.get_session(session.session_id)
    home = [b for b in detail.blocks if b.type == "tool_result"][-1].output.strip()
    assert home == str(tmp_path / "sandboxes" / session.session_id / "home")
    assert await runtime.read_file(session.session_id, "made.txt") == b"hi\n"
    files = await runtime.list_files(session.session_id)
    assert [f.path for f in files] == ["made.txt"]
