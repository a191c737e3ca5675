"""What only the Postgres adapter does: migrations shared by nodes, lost connections, a second writer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from runtime import AgentRuntime, EventBus, StoreError
from runtime.models import make_event
from runtime.store.postgres import SCHEMA_VERSION, PostgresStore, redact
from tests.helpers import collect_until, make_config, query_end
from tests.pg_cluster import PostgresCluster


def _events(start: int, n: int) -> list:
    return [
        make_event(s, "block:delta", {"delta": str(s)}, "2026-01-01T00:00:00Z")
        for s in range(start, start + n)
    ]


async def test_nodes_starting_together_migrate_once_and_a_newer_schema_is_refused(postgres_url: str) -> None:
    stores = [PostgresStore(postgres_url) for _ in range(3)]
    await asyncio.gather(*(s.open() for s in stores))
    conn = await asyncpg.connect(postgres_url)
    try:
        versions = [r[0] for r in await conn.fetch("SELECT version FROM schema_version ORDER BY version")]
        assert versions == list(range(1, SCHEMA_VERSION + 1))
        await conn.execute("INSERT INTO schema_version VALUES ($1)", SCHEMA_VERSION + 1)
    finally:
        await conn.close()
    for store in stores:
        await store.close()
    with pytest.raises(StoreError, match="newer than this agent-tui"):
        await PostgresStore(postgres_url).open()


async def test_an_unreachable_database_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    url = f"postgresql://agent:s3cret@/nowhere?host={tmp_path}&port=1"
    with pytest.raises(StoreError, match="cannot connect to Postgres") as info:
        await PostgresStore(url).open()
    assert "s3cret" not in str(info.value) and "agent:***@" in str(info.value)
    assert redact("postgresql://u:p@h/db") == "postgresql://u:***@h/db"


async def test_while_postgres_is_down_writes_fail_clearly_and_resume_gaplessly_after(
    postgres_cluster: PostgresCluster, postgres_url: str
) -> None:
    store = PostgresStore(postgres_url, min_size=2, max_size=2)
    await store.open()
    bus = EventBus(store)
    sub = bus.subscribe("s1", 0)
    accepted: list[int] = []

    async def publish(n: int) -> None:
        await bus.publish("s1", [{"type": "block:delta", "payload": {"n": n}}])
        accepted.append(n)

    await publish(1)
    await asyncio.to_thread(postgres_cluster.stop)
    try:
        for n in (2, 3):
            with pytest.raises(StoreError, match="could not persist 1 events: Postgres is unreachable"):
                await publish(n)
    finally:
        await asyncio.to_thread(postgres_cluster.start)
    # Every connection of the pool died with the server: the pool reconnects on the next write.
    for n in (4, 5):
        await publish(n)
    seen: list = []
    while len(seen) < 3:
        seen.extend(await sub.next_batch())
    stored = await store.load_events("s1")
    assert [e.payload["n"] for e in stored] == accepted == [1, 4, 5]
    assert [e.seq for e in stored] == [1, 2, 3] == [e.seq for e in seen]
    await bus.close()
    await store.close()


async def test_a_second_writer_with_a_stale_high_water_mark_is_refused(postgres_url: str) -> None:
    a, b = PostgresStore(postgres_url), PostgresStore(postgres_url)
    await a.open()
    await b.open()
    try:
        await a.append_events("s1", _events(1, 5))
        with pytest.raises(StoreError, match="does not follow 5"):
            await b.append_events("s1", _events(7, 1))  # a gap
        with pytest.raises(StoreError, match="does not follow 5"):
            await b.append_events("s1", _events(3, 1))  # a seq already written
        assert [e.seq for e in await b.load_events("s1")] == [1, 2, 3, 4, 5]
    finally:
        await a.close()
        await b.close()


@pytest.mark.parametrize("batch", [1, 600], ids=["insert", "copy"])
async def test_a_node_can_append_only_to_sessions_it_holds_the_lease_on(
    postgres_url: str, batch: int
) -> None:
    a, b = PostgresStore(postgres_url), PostgresStore(postgres_url)
    a.fence_node_id, b.fence_node_id = "node-a", "node-b"
    await a.open()
    await b.open()
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(
            "INSERT INTO session_leases VALUES ('s1', 'node-a', 'http://a', now() + interval '1 h')"
        )
        await a.append_events("s1", _events(1, batch))
        with pytest.raises(StoreError, match="owned by another node now \\(node-a\\)"):
            await b.append_events("s1", _events(batch + 1, batch))
        with pytest.raises(StoreError, match="owned by another node now \\(nobody\\)"):
            await a.append_events("s2", _events(1, batch))  # no lease at all
        # B takes it over (as a claim does): from now on only B may write.
        await admin.execute("UPDATE session_leases SET node_id = 'node-b' WHERE session_id = 's1'")
        with pytest.raises(StoreError, match="owned by another node now \\(node-b\\)"):
            await a.append_events("s1", _events(batch + 1, batch))
        await b.append_events("s1", _events(batch + 1, batch))
        assert [e.seq for e in await a.load_events("s1")] == list(range(1, 2 * batch + 1))
    finally:
        await admin.close()
        await a.close()
        await b.close()


async def test_a_runtime_on_postgres_runs_a_query_and_a_new_runtime_replays_it(
    tmp_path: Path, postgres_url: str
) -> None:
    async with AgentRuntime(make_config(tmp_path, persistence=PostgresStore(postgres_url))) as runtime:
        session = await runtime.create_session({"architecture": "shell"})
        sid = session.session_id
        message_id, _ = await runtime.send_message(sid, "echo from-postgres")
        live = await collect_until(runtime, sid, query_end(message_id))
        assert live[-1].type == "query:completed"
    async with AgentRuntime(make_config(tmp_path, persistence=PostgresStore(postgres_url))) as again:
        events, last = await again.get_events(sid)
        # Exactly what was streamed, then what shutdown appended (the sandbox ended).
        assert [e.model_dump() for e in events[: len(live)]] == [e.model_dump() for e in live]
        assert [e.type for e in events[len(live) :]] == ["ee:terminated"]
        assert last == events[-1].seq == len(events)
        assert "from-postgres" in str([e.payload for e in events])


def test_the_cluster_fixture_runs_unix_socket_only(postgres_cluster: PostgresCluster) -> None:
    assert (postgres_cluster.socket_dir / f".s.PGSQL.{postgres_cluster.port}").exists()
