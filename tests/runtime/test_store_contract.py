"""The persistence adapter contract (SPEC §7), run unchanged on memory, SQLite and Postgres."""

from __future__ import annotations

import asyncio

import pytest

from runtime import EventBus
from runtime.models import AgentProfile, make_event
from runtime.store.base import SessionStore
from tests.helpers import store_record


def _events(start: int, n: int, text: str = "x") -> list:
    return [
        make_event(
            s, "block:delta", {"blockId": "b", "delta": f"{text}{s}"}, f"2026-01-01T00:00:{s % 60:02d}Z"
        )
        for s in range(start, start + n)
    ]


async def test_sessions_are_created_listed_in_creation_order_updated_and_deleted(
    any_store: SessionStore,
) -> None:
    await any_store.create_session(store_record("ses-b", 2000))
    await any_store.create_session(store_record("ses-a", 1000, name="é 🚀 \u0000 nul"))
    assert [r["sessionId"] for r in await any_store.list_sessions()] == ["ses-a", "ses-b"]
    await any_store.update_session("ses-a", {"sessionOptions": {"model": "m"}, "environmentId": "env-1"})
    await any_store.update_session("ses-a", {"hasQueried": True})
    await any_store.update_session("missing", {"name": "x"})  # no such session: nothing happens
    loaded = await any_store.load_session("ses-a")
    assert loaded is not None
    assert loaded["name"] == "é 🚀 \u0000 nul"
    assert (loaded["sessionOptions"], loaded["environmentId"], loaded["hasQueried"]) == (
        {"model": "m"},
        "env-1",
        True,
    )
    assert await any_store.load_session("missing") is None

    await any_store.append_events("ses-a", _events(1, 3))
    await any_store.save_transcript("ses-a", "claude-code", [{"role": "user"}])
    await any_store.save_workspace_file("ses-a", "a.txt", b"\x00\xff")
    await any_store.delete_session("ses-a")
    assert await any_store.load_session("ses-a") is None
    assert await any_store.load_events("ses-a") == []
    assert await any_store.last_seq("ses-a") == 0
    assert await any_store.load_transcript("ses-a", "claude-code") is None
    assert await any_store.list_workspace_files("ses-a") == {}
    assert [r["sessionId"] for r in await any_store.list_sessions()] == ["ses-b"]


async def test_events_round_trip_exactly_and_page_by_seq(any_store: SessionStore) -> None:
    await any_store.create_session(store_record("s1", 1))
    odd = {
        "blockId": "b",
        "delta": "\u0000 nul, é, 🚀, \\u0000 literal",
        "n": [1, 2.5, None, True],
        "deep": {"k": {}},
    }
    events = [
        make_event(1, "block:delta", odd, "2026-01-01T00:00:00.123Z", "conv-2", "agent"),
        *_events(2, 99),
    ]
    await any_store.append_batch([("s1", e) for e in events[:40]] + [("other", e) for e in _events(1, 5)])
    await any_store.append_events("s1", events[40:])
    loaded = await any_store.load_events("s1")
    assert [e.model_dump() for e in loaded] == [e.model_dump() for e in events]
    assert [e.seq for e in await any_store.load_events("s1", 10, 5)] == [11, 12, 13, 14, 15]
    assert await any_store.load_events("s1", 100) == []
    assert await any_store.last_seq("s1") == 100
    assert await any_store.last_seq("other") == 5
    assert await any_store.last_seq("never") == 0


async def test_a_duplicate_seq_is_refused_and_the_whole_batch_appends_nothing(
    any_store: SessionStore,
) -> None:
    await any_store.append_events("s1", _events(1, 3))
    with pytest.raises(Exception):  # noqa: B017 - each store names it its own way; nothing may land
        await any_store.append_batch([("s2", _events(1, 1)[0]), ("s1", _events(3, 1, "again")[0])])
    assert await any_store.last_seq("s2") == 0
    assert [e.payload["delta"] for e in await any_store.load_events("s1")] == ["x1", "x2", "x3"]
    await any_store.append_events("s1", _events(4, 1))  # and the store still takes writes
    assert await any_store.last_seq("s1") == 4


async def test_transcripts_files_and_profiles_are_replaced_in_place(any_store: SessionStore) -> None:
    await any_store.save_transcript("s1", "claude-code", {"v": 1})
    await any_store.save_transcript("s1", "claude-code", {"v": 2, "text": "é\u0000"})
    await any_store.save_transcript("s1", "gemini", [1])
    assert await any_store.load_transcript("s1", "claude-code") == {"v": 2, "text": "é\u0000"}
    assert await any_store.load_transcript("s1", "opencode") is None
    await any_store.save_workspace_file("s1", "a/b.bin", bytes(range(256)))
    await any_store.save_workspace_file("s1", "c.txt", b"1")
    await any_store.save_workspace_file("s1", "c.txt", b"2")
    await any_store.delete_workspace_file("s1", "a/b.bin")
    await any_store.delete_workspace_file("s1", "never")
    assert await any_store.list_workspace_files("s1") == {"c.txt": b"2"}
    profile = AgentProfile(id="p1", name="One", allowed_tools=["Bash"], env=["KEY"])
    await any_store.save_agent_profile(profile)
    await any_store.save_agent_profile(profile.model_copy(update={"name": "Uno"}))
    assert [p.name for p in await any_store.list_agent_profiles()] == ["Uno"]
    assert (await any_store.load_agent_profile("p1")) == profile.model_copy(update={"name": "Uno"})
    assert await any_store.load_agent_profile("p2") is None


async def test_the_bus_group_commits_many_publishers_gaplessly(any_store: SessionStore) -> None:
    bus = EventBus(any_store)
    drafts = [{"type": "block:delta", "payload": {"blockId": "b", "delta": "d"}}]
    published = await asyncio.gather(*(bus.publish(f"s{i % 7}", drafts * (1 + i % 3)) for i in range(300)))
    assert sum(len(p) for p in published) == sum(1 + i % 3 for i in range(300))
    for n in range(7):
        seqs = [e.seq for e in await any_store.load_events(f"s{n}")]
        assert seqs == list(range(1, len(seqs) + 1)) and seqs
    await bus.close()
