"""Unread is the server's count: one client marking a session read clears it for every client."""

from __future__ import annotations

import asyncio
from pathlib import Path

from runtime import AgentRuntime
from runtime.agent_runtime import SessionsChanged
from runtime.remote import RemoteRuntime
from runtime.server.app import start_server
from tests.helpers import make_config
from tests.scale.test_lazy_logs import _reply

TOKEN = "scale-token-0123456789"


async def test_a_remote_client_marks_read_and_every_client_hears_it(tmp_path: Path) -> None:
    runtime = AgentRuntime(make_config(tmp_path, evict_after_s=0))
    await runtime.start()
    server = await start_server(runtime, host="127.0.0.1", port=0, token=TOKEN)
    try:
        assert runtime.bus is not None
        sid = (await runtime.create_session({"architecture": "shell", "name": "s"})).session_id
        async with RemoteRuntime(server.url, TOKEN) as reader, RemoteRuntime(server.url, TOKEN) as other:
            heard: asyncio.Queue[int] = asyncio.Queue()
            other.add_observer(lambda n: isinstance(n, SessionsChanged) and n.session.session_id == sid
                               and heard.put_nowait(n.session.unread))
            await runtime.bus.publish(sid, _reply("m1", 1))
            await runtime.bus.publish(sid, _reply("m2", 2, end="query:failed"))
            assert [s.unread for s in await reader.list_sessions()] == [2]
            assert (await reader.get_summary(sid)).status == "error"
            summary = await reader.mark_read(sid)
            assert summary.unread == 0
            while (await asyncio.wait_for(heard.get(), 10)) != 0:
                pass  # the replies' own notices came first
            assert [s.unread for s in await other.list_sessions()] == [0]
    finally:
        await server.stop()
        await runtime.shutdown()
    # Persisted: right after a restart, without replaying anything.
    again = AgentRuntime(make_config(tmp_path, evict_after_s=0))
    await again.start()
    try:
        assert (await again.get_summary(sid)).unread == 0
        assert again.sessions is not None and again.sessions.get(sid).loaded is False
    finally:
        await again.shutdown()
