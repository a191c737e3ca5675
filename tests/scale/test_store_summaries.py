"""Per-session summaries kept by every store as events are appended (runtime/store/summaries.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from runtime import SQLiteStore
from runtime.models import make_event
from runtime.store.base import SessionStore
from runtime.store.sqlite import _MIGRATIONS, _split_sql
from tests.helpers import store_record

TS = "2026-03-01T10:00:0{}Z"



def _query(start: int, message: str, *, cost: float, end: str = "query:completed") -> list:
    return [
        make_event(start, "block:upsert", {"block": {"id": message, "type": "user_message", "content": "hi",
                                                     "status": "pending"}}, TS.format(1)),
        make_event(start + 1, "query:started", {"messageId": message}, TS.format(2)),
        make_event(start + 2, "block:delta", {"blockId": "b", "delta": "out"}, TS.format(3)),
        make_event(start + 3, "metadata:update", {"costUsd": cost}, TS.format(4)),
        make_event(start + 4, end, {"messageId": message}, TS.format(5)),
    ]


def _by_id(records: list[dict]) -> dict[str, dict]:
    return {r["sessionId"]: r for r in records}


async def test_summaries_follow_appends_and_unread_is_marked_read(any_store: SessionStore) -> None:
    await any_store.create_session(store_record("ses-a"))
    await any_store.create_session(store_record("ses-b", 2000))
    # Two sessions in one batch (the bus's group commit): each summary gets its own events.
    await any_store.append_batch([("ses-a", e) for e in _query(1, "m1", cost=0.25)]
                                 + [("ses-b", e) for e in _query(1, "m9", cost=1.0, end="query:failed")])
    await any_store.append_events("ses-a", _query(6, "m2", cost=0.5))
    await any_store.append_events("ses-a", [
        make_event(11, "block:upsert", {"block": {"id": "m3", "type": "user_message", "content": "x",
                                                  "status": "pending"}}, TS.format(6)),
        make_event(12, "query:started", {"messageId": "m3"}, TS.format(7)),
        make_event(13, "permission:requested", {"requestId": "r1", "toolName": "Bash"}, TS.format(8)),
    ])
    records = _by_id(await any_store.list_sessions())
    a, b = records["ses-a"]["summary"], records["ses-b"]["summary"]
    assert (a["lastSeq"], a["costUsd"], a["activeQuery"]["message_id"]) == (13, 0.75, "m3")
    assert [p["request_id"] for p in a["pendingPermissions"]] == ["r1"]
    assert a["unstarted"] == [] and a["lastTimestamp"] == TS.format(8)
    assert (records["ses-a"]["unread"], records["ses-b"]["unread"]) == (2, 1)
    assert (b["lastSeq"], b["costUsd"], b["lastFailed"], b["activeQuery"]) == (5, 1.0, True, None)

    await any_store.mark_read("ses-a")  # type: ignore[attr-defined]
    loaded = await any_store.load_session("ses-a")
    assert loaded is not None and loaded["unread"] == 0 and loaded["summary"]["lastSeq"] == 13


async def test_a_refused_batch_leaves_the_summary_as_it_was(any_store: SessionStore) -> None:
    await any_store.create_session(store_record("ses-a"))
    await any_store.append_events("ses-a", _query(1, "m1", cost=0.25))
    try:
        await any_store.append_events("ses-a", _query(3, "m2", cost=9.0))  # seq 3 exists: refused
    except Exception:  # noqa: BLE001 - each store has its own error; what matters is what is left
        pass
    await any_store.append_events("ses-a", _query(6, "m3", cost=0.5))
    record = _by_id(await any_store.list_sessions())["ses-a"]
    assert (record["summary"]["costUsd"], record["summary"]["lastSeq"], record["unread"]) == (0.75, 10, 2)


async def test_an_old_schema_database_opens_with_summaries_backfilled(tmp_path: Path) -> None:
    """A schema-1 file (before summaries) is upgraded in place and its logs folded once."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for statement in _split_sql(_MIGRATIONS[1]):
            db.execute(statement)
        db.execute("INSERT INTO schema_version VALUES (1)")
        import json

        for sid, end in (("ses-a", "query:completed"), ("ses-b", "query:started")):
            db.execute("INSERT INTO sessions VALUES (?, ?, ?)", (sid, json.dumps(store_record(sid)), 1000))
            events = _query(1, "m1", cost=0.5)[: 5 if end == "query:completed" else 3]
            db.executemany(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(sid, e.seq, e.type, json.dumps(e.payload), e.timestamp, "main", "server") for e in events],
            )
    store = SQLiteStore(path)
    await store.open()
    try:
        records = _by_id(await store.list_sessions())
        a, b = records["ses-a"]["summary"], records["ses-b"]["summary"]
        assert (a["lastSeq"], a["costUsd"], a["activeQuery"], records["ses-a"]["unread"]) == (5, 0.5, None, 0)
        # Still running when the old process stopped: the runtime sees it must recover this one.
        assert (b["lastSeq"], b["activeQuery"]["message_id"]) == (3, "m1")
        await store.append_events("ses-a", _query(6, "m2", cost=0.25))
        after = _by_id(await store.list_sessions())["ses-a"]
        assert (after["summary"]["costUsd"], after["unread"]) == (0.75, 1)
    finally:
        await store.close()


async def test_an_old_schema_postgres_database_is_upgraded_with_summaries_backfilled(postgres_url: str) -> None:
    """A schema-2 Postgres database (before summaries) is upgraded and its logs folded once."""
    import asyncpg

    from runtime.store.postgres import _MIGRATIONS as PG_MIGRATIONS
    from runtime.store.postgres import PostgresStore

    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for version in (1, 2):
            await conn.execute(PG_MIGRATIONS[version])
            await conn.execute("INSERT INTO schema_version VALUES ($1)", version)
        import json

        await conn.execute("INSERT INTO sessions VALUES ($1, $2, $3)", "ses-a", json.dumps(store_record("ses-a")), 1000)
        await conn.executemany(
            "INSERT INTO events VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [("ses-a", e.seq, e.type, json.dumps(e.payload), e.timestamp, "main", "server")
             for e in _query(1, "m1", cost=0.5) + _query(6, "m2", cost=0.25)[:3]],
        )
    finally:
        await conn.close()
    store = PostgresStore(postgres_url)
    await store.open()
    try:
        record = _by_id(await store.list_sessions())["ses-a"]
        summary = record["summary"]
        assert (summary["lastSeq"], summary["costUsd"], record["unread"]) == (8, 0.5, 0)
        assert summary["activeQuery"]["message_id"] == "m2"
    finally:
        await store.close()


async def test_new_sessions_share_no_digest_state(any_store: SessionStore) -> None:
    # New sessions start from one shared empty digest (DigestCache.put_new): what one session's
    # events fold must never show in another's summary.
    for n, sid in enumerate(("ses-a", "ses-b", "ses-c")):
        await any_store.create_session(store_record(sid, 1000 + n))
    await any_store.append_events("ses-a", _query(1, "m1", cost=0.25))
    await any_store.append_events("ses-b", _query(1, "m2", cost=1.0, end="query:failed"))
    records = _by_id(await any_store.list_sessions())
    a, b, c = (records[s]["summary"] for s in ("ses-a", "ses-b", "ses-c"))
    assert (a["costUsd"], a["lastFailed"], b["costUsd"], b["lastFailed"]) == (0.25, False, 1.0, True)
    assert not c.get("costUsd") and not c.get("lastSeq") and records["ses-c"]["unread"] == 0
