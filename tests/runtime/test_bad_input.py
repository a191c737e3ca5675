"""Bad input gets a clear, typed error or a log event; the process keeps running; nothing stored is lost."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from runtime import (
    AgentRuntime,
    InvalidPath,
    InvalidRequest,
    ProfileNotFound,
    SessionNotFound,
    UnknownArchitecture,
)
from tests.helpers import collect_until, make_config, query_end


async def test_unknown_architecture_profile_session_and_empty_messages(runtime: AgentRuntime) -> None:
    with pytest.raises(UnknownArchitecture, match="unknown architecture 'nope'") as info:
        await runtime.create_session({"architecture": "nope"})
    assert info.value.code == "UNKNOWN_ARCHITECTURE" and info.value.status == 400
    with pytest.raises(ProfileNotFound) as info2:
        await runtime.create_session({"architecture": "shell", "agentProfileRef": "ghost"})
    assert info2.value.status == 404
    with pytest.raises(ValidationError):
        await runtime.create_session({"architecture": ""})
    with pytest.raises(SessionNotFound):
        await runtime.send_message("ses-missing", "echo")
    session = await runtime.create_session({"architecture": "shell"})
    for content in ("", "   \n"):
        with pytest.raises(InvalidRequest, match="non-empty"):
            await runtime.send_message(session.session_id, content)
    with pytest.raises(InvalidRequest, match="larger than"):
        await runtime.send_message(session.session_id, "x" * (1024 * 1024 + 1))
    assert (await runtime.get_summary(session.session_id)).last_seq == 0  # nothing was logged
    assert [s.session_id for s in await runtime.list_sessions()] == [session.session_id]


@pytest.mark.parametrize("bad", ["/etc/passwd", "../secret.txt", "a/../../x", "link", "up/sandboxes", "..", "\x00"])
async def test_paths_escaping_the_workspace_are_refused(runtime: AgentRuntime, tmp_path: Path, bad: str) -> None:
    session = await runtime.create_session({"architecture": "shell"})
    sid = session.session_id
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    message_id, _ = await runtime.send_message(sid, f"echo ok > ok.txt; ln -s {secret} link; ln -s .. up")
    await collect_until(runtime, sid, query_end(message_id))
    assert await runtime.read_file(sid, "ok.txt") == b"ok\n"
    with pytest.raises(InvalidPath):
        await runtime.read_file(sid, bad)
    listed = [f.path for f in await runtime.list_files(sid)]
    assert listed == ["ok.txt"]  # symlinks are not followed out of the workspace


async def test_a_runner_printing_10mb_of_garbage_on_one_line_is_logged_and_the_query_goes_on(
    tmp_path: Path,
) -> None:
    # A stand-in for the sandbox's python that behaves like a broken runner for execute-query only.
    fake_python = tmp_path / "python"
    fake_python.write_text(
        "#!/bin/bash\n"
        'if [[ " $* " == *" execute-query "* ]]; then\n'
        "  head -c 10000000 /dev/zero | tr '\\0' 'x'\n"
        '  printf \'\\n{"type":"log","payload":{"level":"info","message":"still here"}}\\n\'\n'
        '  printf \'{"type":"query:completed","payload":{}}\\n\'\n'
        "  exit 1\n"
        "fi\n"
        f'exec {os.path.realpath(__import__("sys").executable)} "$@"\n'
    )
    fake_python.chmod(fake_python.stat().st_mode | stat.S_IEXEC)
    async with AgentRuntime(make_config(tmp_path, runner_python=str(fake_python))) as runtime:
        session = await runtime.create_session({"architecture": "shell"})
        message_id, _ = await runtime.send_message(session.session_id, "echo hi")
        events = await collect_until(runtime, session.session_id, query_end(message_id))
        warnings = [e for e in events if e.type == "log" and e.payload["level"] == "warn"]
        garbage = [w for w in warnings if "unparseable runner output" in w.payload["message"]]
        assert 1 <= len(garbage) <= 20  # delivered in bounded pieces, each summarized
        assert all(len(w.payload["message"]) < 3000 for w in garbage)
        assert any(e.type == "log" and e.payload["message"] == "still here" for e in events)
        assert any("does not accept" in w.payload["message"] for w in warnings)  # no forged query:completed
        assert events[-1].type == "query:failed"
        assert events[-1].payload["code"] == "AGENT_CRASHED"
    # A normal runtime on the same database still has everything.
    async with AgentRuntime(make_config(tmp_path)) as runtime:
        events, last = await runtime.get_events(session.session_id)
        assert [e.seq for e in events] == list(range(1, last + 1))
        message_id, _ = await runtime.send_message(session.session_id, "echo fine")
        done = await collect_until(runtime, session.session_id, query_end(message_id), after_seq=last)
        assert done[-1].type == "query:completed"


async def test_a_sandbox_that_fails_to_start_fails_the_query_with_a_clear_error(tmp_path: Path) -> None:
    async with AgentRuntime(make_config(tmp_path, runner_python=str(tmp_path / "no-such-python"))) as runtime:
        session = await runtime.create_session({"architecture": "shell"})
        message_id, _ = await runtime.send_message(session.session_id, "echo hi")
        events = await collect_until(runtime, session.session_id, query_end(message_id))
        assert any(e.type == "ee:error" for e in events)
        assert events[-1].type == "query:failed"
        assert events[-1].payload["code"] == "SANDBOX_START_FAILED"
        assert "no-such-python" in events[-1].payload["error"]
        summary = await runtime.get_summary(session.session_id)
        assert summary.runtime.execution_environment is not None
        assert summary.runtime.execution_environment.status == "error"
        assert summary.runtime.active_query is None


@pytest.mark.parametrize("bad", [{"model": "\ud800"}, {"n": 2**70}], ids=["lone-surrogate", "huge-int"])
async def test_unstorable_session_options_are_refused(runtime: AgentRuntime, bad: dict[str, object]) -> None:
    with pytest.raises(InvalidRequest, match="plain JSON"):
        await runtime.create_session({"architecture": "shell", "sessionOptions": bad})


async def test_unstorable_json_is_refused_from_callers_and_repaired_from_runners(runtime: AgentRuntime) -> None:
    session = await runtime.create_session({"architecture": "shell"})
    sid = session.session_id
    with pytest.raises(InvalidRequest, match="plain JSON"):
        await runtime.update_options(sid, {"x": "\udfff"})
    with pytest.raises(InvalidRequest, match="plain JSON"):
        await runtime.send_message(sid, "echo \ud800")
    with pytest.raises(InvalidRequest):
        await runtime.rename_session(sid, "bad \ud800 name")
    # An event that json.loads accepts but orjson cannot store (as a runner line may carry) is
    # repaired by the bus, never fatal to the group commit it shares with other sessions.
    other = await runtime.create_session({"architecture": "shell"})
    bus = runtime.bus
    assert bus is not None
    bad = {"type": "log", "payload": {"level": "info", "message": "lone \ud800", "n": 2**70}}
    good = {"type": "log", "payload": {"level": "info", "message": "fine"}}
    await asyncio.gather(bus.publish(sid, [bad]), bus.publish(other.session_id, [good]))
    stored = (await runtime.get_events(sid))[0][-1].payload
    assert stored == {"level": "info", "message": "lone \ufffd", "n": str(2**70)}
    assert (await runtime.get_events(other.session_id))[0][-1].payload == good["payload"]
    message_id, _ = await runtime.send_message(sid, "echo fine")
    events = await collect_until(runtime, sid, query_end(message_id))
    assert events[-1].type == "query:completed"
