"""The session layer acts on a backend's DECLARED capabilities, for a backend it has never heard of.

The ``fake`` backend (tests/primitives/fake.py) has every optional hook on its primitive but
declares none; ``fake-reattach`` declares ``reattach``. A real AgentRuntime, real SQLite, the real
runner and bash. If the session layer went back to probing the object (``getattr(primitive,
"attach")``, ``liveness_check_s``) or to name checks (``!= "local"``), these fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime import AgentRuntime, InvalidRequest, SessionEvent
from runtime.primitives import registry
from tests.helpers import collect_until, make_config, query_end
from tests.primitives.fake import FakeKind, ReattachingFakeKind


@pytest.fixture
def fake() -> Iterator[FakeKind]:
    with registry.registered(FakeKind()) as kind:
        assert isinstance(kind, FakeKind)
        yield kind


@pytest.fixture
def fake_reattach() -> Iterator[FakeKind]:
    with registry.registered(ReattachingFakeKind()) as kind:
        assert isinstance(kind, FakeKind)
        yield kind


async def run(runtime: AgentRuntime, session_id: str, command: str) -> list[SessionEvent]:
    after = (await runtime.get_summary(session_id)).last_seq
    message_id, _ = await runtime.send_message(session_id, command)
    return await collect_until(runtime, session_id, query_end(message_id), after_seq=after)


def of_type(events: list[SessionEvent], kind: str) -> list[dict[str, Any]]:
    return [e.payload for e in events if e.type == kind]


async def crash_after_a_query(tmp_path: Path, primitive: str) -> tuple[str, str]:
    """A session on ``primitive`` with a ready sandbox, then agent-tui dies without a shutdown.
    Returns (session id, environment id)."""
    first = AgentRuntime(make_config(tmp_path))
    await first.start()
    session = await first.create_session({"architecture": "shell", "primitive": primitive})
    events = await run(first, session.session_id, "echo ok")
    assert events[-1].type == "query:completed", events[-1]
    [ready] = of_type(events, "ee:ready")
    assert ready["primitive"] == primitive
    assert first.sessions is not None and first.bus is not None
    for s in first.sessions.sessions.values():
        s.environment._cancel_idle()
    await first.bus.close()
    await first.store.close()
    return session.session_id, ready["eeId"]


async def test_without_declared_reattach_a_restart_closes_the_sandbox_cleanly(
    tmp_path: Path, fake: FakeKind
) -> None:
    session_id, old = await crash_after_a_query(tmp_path, "fake")

    async with AgentRuntime(make_config(tmp_path)) as second:
        detail = await second.get_session(session_id)
        assert detail.runtime.execution_environment is not None
        assert detail.runtime.execution_environment.status == "terminated"
        assert fake.hook_calls("attach") == [], "the session layer probed attach() the kind does not declare"
        events = await run(second, session_id, "echo fresh")
        assert events[-1].type == "query:completed"
        [again] = of_type(events, "ee:ready")
        assert again["eeId"] != old and of_type(events, "ee:creating")


async def test_a_declared_reattach_takes_the_sandbox_over_after_a_restart(
    tmp_path: Path, fake_reattach: FakeKind
) -> None:
    session_id, old = await crash_after_a_query(tmp_path, "fake-reattach")

    async with AgentRuntime(make_config(tmp_path)) as second:
        detail = await second.get_session(session_id)
        assert detail.runtime.execution_environment is not None
        assert detail.runtime.execution_environment.status == "ready"
        assert fake_reattach.hook_calls("attach") == [("attach", old)]
        events = await run(second, session_id, "echo same")
        assert events[-1].type == "query:completed"
        assert not of_type(events, "ee:creating")  # the same sandbox, re-attached


async def test_without_declared_liveness_checks_no_polling_during_a_query(tmp_path: Path, fake: FakeKind) -> None:
    async with AgentRuntime(make_config(tmp_path)) as runtime:
        session = await runtime.create_session({"architecture": "shell", "primitive": "fake"})
        assert (await run(runtime, session.session_id, "true"))[-1].type == "query:completed"
        fake.calls.clear()
        events = await run(runtime, session.session_id, "sleep 0.5")
        assert events[-1].type == "query:completed"
        # ensure_ready asks once per query; the primitive's own liveness_check_s (0.01 s) is not
        # declared, so nothing polls while the agent runs.
        assert len(fake.hook_calls("is_running")) <= 1, fake.calls


async def test_workspaces_need_the_capabilities_they_use(tmp_path: Path, fake: FakeKind) -> None:
    async with AgentRuntime(make_config(tmp_path)) as runtime:
        for mode, says in (("in-place", "cannot"), ("worktree", "cannot hold a workspace")):
            with pytest.raises(InvalidRequest, match=says) as caught:
                await runtime.create_session(
                    {"architecture": "shell", "primitive": "fake", "workspace": {"project": str(tmp_path), "mode": mode}}
                )
            assert caught.value.code == "INVALID_REQUEST"
        assert await runtime.list_sessions() == []
        assert fake.calls == []


async def test_an_unknown_primitive_is_refused_naming_the_registered_ones(tmp_path: Path, fake: FakeKind) -> None:
    async with AgentRuntime(make_config(tmp_path)) as runtime:
        with pytest.raises(InvalidRequest, match=r"unknown primitive 'docker' \(known: local, modal, fake\)"):
            await runtime.create_session({"architecture": "shell", "primitive": "docker"})
        created = await runtime.create_session({"architecture": "shell", "primitive": "fake"})
        assert created.primitive == "fake"


async def test_a_session_whose_plugin_is_gone_is_kept_untouched_until_it_is_back(tmp_path: Path) -> None:
    with registry.registered(FakeKind()):
        async with AgentRuntime(make_config(tmp_path)) as runtime:
            created = await runtime.create_session({"architecture": "shell", "primitive": "fake"})
            kept = await runtime.create_session({"architecture": "shell"})
    async with AgentRuntime(make_config(tmp_path)) as runtime:  # the plugin was uninstalled
        assert [s.session_id for s in await runtime.list_sessions()] == [kept.session_id]
        assert await runtime.store.load_session(created.session_id) is not None
    with registry.registered(FakeKind()):
        async with AgentRuntime(make_config(tmp_path)) as runtime:
            assert {s.session_id for s in await runtime.list_sessions()} == {created.session_id, kept.session_id}
