"""Issue 21 #9: what a live idle session holds.

Every small object a live session keeps can pin one of Python's 1 MiB allocator arenas after the
session is deleted (docs/reliability.md #9), so an idle session holds only its record, its
sandbox handle and its summary: its message queue, permission broker, store recovery, load lock
and reduced log are made when a message, a tool request or a client's view needs them.
"""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

from runtime import AgentRuntime
from tests.helpers import collect_until, make_config

SESSIONS = 300
#: Bytes of Python objects per idle shell session (runtime only, no server). Measured 3.4 KB,
#: of which 1.1 KB is the store's own digest of the log; 9.6 KB before the helpers were made
#: lazily (and a fresh session held an empty reduced log and digest of its own).
PER_SESSION_BOUND = 4_500


async def test_an_idle_session_holds_few_small_objects(tmp_path: Path) -> None:
    async with AgentRuntime(make_config(tmp_path)) as runtime:
        for _ in range(20):  # warm up: imports, caches, the store's statements
            await runtime.delete_session((await runtime.create_session({"architecture": "shell"})).session_id)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            ids = [(await runtime.create_session({"architecture": "shell"})).session_id for _ in range(SESSIONS)]
            gc.collect()
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        held = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
        per_session = held / SESSIONS
        assert per_session <= PER_SESSION_BOUND, f"{per_session:.0f} bytes per idle session"
        assert len(ids) == SESSIONS


async def test_a_new_session_made_lazily_still_runs_and_lists_as_before(tmp_path: Path) -> None:
    async with AgentRuntime(make_config(tmp_path, isolation=False)) as runtime:
        summary = await runtime.create_session({"architecture": "shell"})
        sid = summary.session_id
        assert summary.runtime.active_query is None and summary.last_seq == 0
        assert (await runtime.get_session(sid)).blocks == []
        await runtime.send_message(sid, "echo lazily-made")
        events = await collect_until(runtime, sid, lambda e: e.type in ("query:completed", "query:failed"))
        assert events[-1].type == "query:completed", events[-1].payload
        detail = await runtime.get_session(sid)
        assert any("lazily-made" in str(block.get("content", "")) for block in detail.model_dump()["blocks"])
        assert (await runtime.get_summary(sid)).last_seq == detail.last_seq
