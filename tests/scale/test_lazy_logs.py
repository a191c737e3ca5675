"""Cost follows the screen (issue #17): the runtime starts from stored summaries, reads a session's
log only when it is opened, and drops it again after a while unlooked-at.

The store is the real SQLite store, counting which logs it is asked to read.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from runtime import AgentRuntime, SQLiteStore
from runtime.models import SessionEvent
from tests.helpers import make_config

SESSIONS = 200


class CountingStore(SQLiteStore):
    """The SQLite store, counting log reads per session."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.reads: Counter[str] = Counter()

    async def load_events(
        self, session_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[SessionEvent]:
        self.reads[session_id] += 1
        return await super().load_events(session_id, after_seq, limit)


def _reply(message: str, index: int, *, end: str = "query:completed") -> list[dict]:
    return [
        {"type": "block:upsert", "payload": {"block": {"id": message, "type": "user_message",
                                                       "content": "hi", "status": "pending"}}},
        {"type": "query:started", "payload": {"messageId": message}},
        {"type": "block:upsert", "payload": {"block": {"id": f"{message}-out", "type": "assistant_text",
                                                       "content": "", "status": "pending"}}},
        *({"type": "block:delta", "payload": {"blockId": f"{message}-out", "delta": f"line {i}\n"}}
          for i in range(20)),
        {"type": "metadata:update", "payload": {"costUsd": 0.01 * (index % 7 + 1)}},
        {"type": "query:failed" if end == "query:failed" else end,
         "payload": {"messageId": message, **({"error": "boom"} if end == "query:failed" else {})}},
    ]


async def _fill(tmp_path: Path) -> dict[str, dict]:
    """``SESSIONS`` sessions with 1-3 replies each; one left mid-query (as a crash leaves it)."""
    runtime = AgentRuntime(make_config(tmp_path, evict_after_s=0))
    await runtime.start()
    try:
        assert runtime.bus is not None
        ids = []
        for i in range(SESSIONS):
            summary = await runtime.create_session({"architecture": "shell", "name": f"s{i}"})
            ids.append(summary.session_id)
            for q in range(i % 3 + 1):
                await runtime.bus.publish(summary.session_id, _reply(f"m{i}-{q}", i + q,
                                                                     end="query:failed" if q == 2 else
                                                                     "query:completed"))
        await runtime.mark_read(ids[1])
        # Left running: a restart must close it, so its log is read at start.
        await runtime.bus.publish(ids[0], _reply("m0-open", 0)[:3])
        return {s.session_id: s.model_dump() for s in await runtime.list_sessions()}
    finally:
        await runtime.shutdown()


async def test_start_reads_no_quiet_log_and_the_list_is_right_without_replay(tmp_path: Path) -> None:
    before = await _fill(tmp_path)
    store = CountingStore(tmp_path / "agent-tui.db")
    runtime = AgentRuntime(make_config(tmp_path, persistence=store, evict_after_s=0))
    await runtime.start()
    try:
        ids = list(before)
        # Only the session a restart had to close was read.
        assert set(store.reads) == {ids[0]}
        listed = {s.session_id: s for s in await runtime.list_sessions()}
        assert set(store.reads) == {ids[0]}
        for sid in ids[1:]:
            now, then = listed[sid], before[sid]
            assert now.metadata.cost_usd == then["metadata"]["cost_usd"], sid
            assert (now.unread, now.last_seq, now.last_activity) == (
                then["unread"], then["last_seq"], then["last_activity"]), sid
            assert now.runtime.active_query is None and now.runtime.queued_messages == 0
        assert listed[ids[1]].unread == 0  # marked read before the restart
        assert [listed[ids[i]].unread for i in (2, 3, 4)] == [3, 1, 2]
        # The interrupted query was closed by recovery: its end counts as a reply.
        assert listed[ids[0]].unread == before[ids[0]]["unread"] + 1

        detail = await runtime.get_session(ids[5])
        assert set(store.reads) == {ids[0], ids[5]}
        assert [b.id for b in detail.blocks][:2] == ["m5-0", "m5-0-out"]
    finally:
        await runtime.shutdown()


async def test_an_evicted_session_reopens_exactly_as_it_was(tmp_path: Path) -> None:
    before = await _fill(tmp_path)
    store = CountingStore(tmp_path / "agent-tui.db")
    runtime = AgentRuntime(make_config(tmp_path, persistence=store, evict_after_s=0))
    await runtime.start()
    try:
        assert runtime.sessions is not None and runtime.bus is not None
        sid = list(before)[8]
        shown = await runtime.get_session(sid)
        # Events while loaded, then after eviction (folded into the summary only).
        await runtime.bus.publish(sid, _reply("late-1", 3))
        loaded_view = (await runtime.get_session(sid)).model_dump()
        sub = runtime.subscribe(sid)  # a subscriber keeps it in memory
        assert sid not in runtime.sessions.evict_idle(0)
        sub.close()
        assert sid in runtime.sessions.evict_idle(0)
        assert runtime.sessions.get(sid).loaded is False
        assert (await runtime.get_summary(sid)).model_dump() == {
            k: v for k, v in loaded_view.items() if k not in ("blocks", "subagents", "changes")}
        await runtime.bus.publish(sid, _reply("late-2", 4, end="query:failed"))
        summary = await runtime.get_summary(sid)
        reads = store.reads[sid]
        reopened = (await runtime.get_session(sid)).model_dump()
        assert store.reads[sid] > reads
        # The same as a session that never left memory: a fresh runtime reading the whole log.
        assert len(reopened["blocks"]) > len(shown.blocks)
        assert {k: v for k, v in reopened.items() if k not in ("blocks", "subagents", "changes")} == \
            summary.model_dump()
    finally:
        await runtime.shutdown()
    fresh = AgentRuntime(make_config(tmp_path, evict_after_s=0))
    await fresh.start()
    try:
        assert (await fresh.get_session(sid)).model_dump() == reopened
    finally:
        await fresh.shutdown()
