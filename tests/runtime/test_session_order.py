"""The session list keeps creation order across a restart, however fast sessions are created."""

from __future__ import annotations

from pathlib import Path

from runtime import AgentRuntime
from tests.helpers import make_config


async def test_sessions_created_within_one_millisecond_keep_their_order_after_a_restart(tmp_path: Path) -> None:
    async with AgentRuntime(make_config(tmp_path)) as runtime:
        created = [(await runtime.create_session({"architecture": "shell", "name": f"s{i}"})).session_id
                   for i in range(40)]
        assert [s.session_id for s in await runtime.list_sessions()] == created
    async with AgentRuntime(make_config(tmp_path)) as runtime:
        assert [s.session_id for s in await runtime.list_sessions()] == created
