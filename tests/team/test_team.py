"""A team server of three ``serve`` nodes on one Postgres and one Redis (docs/deploy.md)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from tests.server.clients import Collector
from tests.team.conftest import Team, until
from tests.workspaces.conftest import git, make_repo

ENDS = {"query:completed", "query:failed", "query:interrupted"}


def _ends(seen: Collector, session_id: str) -> list[dict[str, Any]]:
    return [e for e in seen.events.get(session_id, []) if e["type"] in ENDS]


def _gapless(seqs: list[int]) -> bool:
    return seqs == list(range(1, len(seqs) + 1))


async def test_clients_on_different_nodes_create_stream_and_join_any_session_with_exact_replay(
    team: Team,
) -> None:
    n0, n1, n2 = team.nodes
    c0, seen0 = await team.client(n0)
    c1, seen1 = await team.client(n1)
    c2, seen2 = await team.client(n2)
    s0 = (await c0.call("session:create", {"architecture": "shell"}, timeout=10))["session"]["sessionId"]
    s1 = (await c1.call("session:create", {"architecture": "shell"}, timeout=10))["session"]["sessionId"]
    assert await team.owner(s0) == n0.url and await team.owner(s1) == n1.url
    await c0.call("session:message", {"sessionId": s0, "content": "echo from-node0"}, timeout=10)
    await c1.call(
        "session:message", {"sessionId": s1, "content": "for i in 1 2 3 4 5; do echo n1-$i; done"}, timeout=10
    )
    await seen0.wait_for(lambda: bool(_ends(seen0, s0)))
    await seen1.wait_for(lambda: bool(_ends(seen1, s1)))

    # A client of node2 joins both (owned elsewhere): the whole log, exactly, then live.
    for sid, owner_seen in ((s0, seen0), (s1, seen1)):
        ack = await c2.call("session:join", {"sessionId": sid, "afterSeq": 0}, timeout=10)
        assert ack["success"] is True and ack["lastSeq"] == len(owner_seen.events[sid])
        await seen2.wait_for(
            lambda sid=sid, o=owner_seen: len(seen2.events.get(sid, [])) == len(o.events[sid])
        )
        assert seen2.events[sid] == owner_seen.events[sid]
    # Mid-log join: exactly the rest.
    _, late = await team.client(n1)
    await late.client.call("session:join", {"sessionId": s0, "afterSeq": 3}, timeout=10)
    await late.wait_for(lambda: late.seqs(s0) == seen0.seqs(s0)[3:])

    # Commands sent to a node that does not own the session run on its owner; everyone sees them.
    ack = await c2.call("session:message", {"sessionId": s0, "content": "echo forwarded"}, timeout=15)
    assert ack["success"] is True, ack
    await seen0.wait_for(lambda: len(_ends(seen0, s0)) == 2)
    await seen2.wait_for(lambda: len(_ends(seen2, s0)) == 2)
    await late.wait_for(lambda: len(_ends(late, s0)) == 2)
    assert "forwarded" in str(seen0.events[s0][-6:])
    assert seen2.events[s0] == seen0.events[s0] and _gapless(seen2.seqs(s0))
    renamed = await c2.call("session:rename", {"sessionId": s1, "name": "renamed via node2"}, timeout=10)
    assert renamed["success"] is True and renamed["session"]["name"] == "renamed via node2"
    assert await team.owner(s0) == n0.url  # commands moved nothing

    # HTTP on any node: the list, details and event pages come from Postgres.
    for node in team.nodes:
        listed = {s["sessionId"]: s for s in (await team.get(node, "/sessions"))["sessions"]}
        assert set(listed) == {s0, s1} and listed[s1]["name"] == "renamed via node2"
        page = await team.get(node, f"/sessions/{s0}/events?after=0")
        assert page["events"] == seen0.events[s0] and page["lastSeq"] == len(seen0.events[s0])
        detail = await team.get(node, f"/sessions/{s1}")
        assert "n1-5" in str(detail["blocks"])


async def test_sigkill_of_the_owner_mid_stream_fails_over_within_5s_with_one_gapless_log(team: Team) -> None:
    n0, n1, _ = team.nodes
    owner_client, owner_seen = await team.client(n0)
    watcher, watched = await team.client(n1)
    sid = (await owner_client.call("session:create", {"architecture": "shell"}, timeout=10))["session"][
        "sessionId"
    ]
    await watcher.call("session:join", {"sessionId": sid}, timeout=10)
    long = "for i in $(seq 1 400); do echo tick-$i; sleep 0.05; done"
    first = await owner_client.call("session:message", {"sessionId": sid, "content": long}, timeout=10)
    queued = await owner_client.call(
        "session:message", {"sessionId": sid, "content": "echo after-failover"}, timeout=10
    )
    assert queued["queued"] is True
    await watched.wait_for(lambda: "tick-5" in str(watched.events.get(sid, [])))

    team.node_at(await team.owner(sid)).kill()
    killed = time.monotonic()
    new_owner = await until(lambda: _new_owner(team, sid, n0.url), timeout=10)
    took = time.monotonic() - killed
    assert took < 5.0, f"failover took {took:.2f} s"
    assert new_owner in (n.url for n in team.nodes[1:])

    # The clients of the dead node reconnect to a surviving one and resume where they were.
    resumed, resumed_seen = await team.client(team.nodes[2])
    await resumed.call(
        "session:join", {"sessionId": sid, "afterSeq": len(owner_seen.events.get(sid, []))}, timeout=10
    )

    def settled(seen: Collector) -> bool:
        return len(_ends(seen, sid)) == 2

    await watched.wait_for(lambda: settled(watched), timeout=30)
    await resumed_seen.wait_for(lambda: settled(resumed_seen), timeout=30)
    ends = {e["payload"]["messageId"]: e for e in _ends(watched, sid)}
    assert ends[first["messageId"]]["type"] == "query:failed"
    assert ends[first["messageId"]]["payload"]["code"] == "INTERRUPTED_BY_RESTART"
    assert ends[queued["messageId"]]["type"] == "query:completed"  # the queued message ran
    assert "after-failover" in str(watched.events[sid])
    assert _gapless(watched.seqs(sid))
    joined = owner_seen.seqs(sid) + resumed_seen.seqs(sid)
    assert joined == watched.seqs(sid)  # before the kill + after the reconnect: one gapless log
    page = await team.get(team.nodes[2], f"/sessions/{sid}/events?after=0")
    assert page["events"] == watched.events[sid]


async def _new_owner(team: Team, sid: str, old: str) -> str | None:
    owner = await team.owner(sid)
    return owner if owner not in (None, old) else None


async def test_a_hundred_sessions_spread_over_the_nodes(team: Team) -> None:
    created = await asyncio.gather(
        *(
            team.post(team.nodes[i % 3], "/sessions", {"architecture": "shell"}, status=201)
            for i in range(100)
        )
    )
    ids = {c["sessionId"] for c in created}
    assert len(ids) == 100
    conn = await team.db()
    try:
        rows = await conn.fetch(
            "SELECT node_url, count(*) FROM session_leases WHERE expires_at > now() GROUP BY node_url"
        )
    finally:
        await conn.close()
    per_node = {r[0]: r[1] for r in rows}
    assert sum(per_node.values()) == 100 and set(per_node) == {n.url for n in team.nodes}
    assert min(per_node.values()) >= 30, per_node
    for node in team.nodes:
        assert {s["sessionId"] for s in (await team.get(node, "/sessions"))["sessions"]} == ids
    # A message to each of a sample, sent to a node that mostly does not own it, runs on its owner.
    sample = sorted(ids)[:9]
    acks = await asyncio.gather(
        *(
            team.post(team.nodes[i % 3], f"/sessions/{sid}/messages", {"content": f"echo m{i}"}, status=202)
            for i, sid in enumerate(sample)
        )
    )
    assert all(a["success"] for a in acks)

    async def all_done() -> bool:
        for sid in sample:
            page = await team.get(team.nodes[0], f"/sessions/{sid}/events?after=0")
            if not any(e["type"] == "query:completed" for e in page["events"]):
                return False
        return True

    await until(all_done, timeout=60, interval=0.2)


async def test_a_postgres_restart_mid_stream_loses_no_accepted_event(
    team: Team, postgres_cluster: Any
) -> None:
    n0 = team.nodes[0]
    client, seen = await team.client(n0)
    sid = (await client.call("session:create", {"architecture": "shell"}, timeout=10))["session"]["sessionId"]
    await client.call(
        "session:message",
        {"sessionId": sid, "content": "for i in $(seq 1 60); do echo p-$i; sleep 0.05; done"},
        timeout=10,
    )
    await seen.wait_for(lambda: "p-3" in str(seen.events.get(sid, [])))
    await asyncio.to_thread(postgres_cluster.restart)
    # The query ends one way or the other (completed, or failed with the store error, recorded
    # once Postgres is back); then the session takes new work.
    await seen.wait_for(lambda: bool(_ends(seen, sid)), timeout=60)
    ack = await client.call(
        "session:message", {"sessionId": sid, "content": "echo after-restart"}, timeout=30
    )
    assert ack["success"] is True, ack

    async def done() -> bool:
        page = await team.get(team.nodes[1], f"/sessions/{sid}/events?after=0")
        return "after-restart" in str(page["events"]) and page["events"][-1]["type"] in ENDS

    await until(done, timeout=60, interval=0.2)
    stored = (await team.get(team.nodes[1], f"/sessions/{sid}/events?after=0"))["events"]
    assert _gapless([e["seq"] for e in stored])
    # Every event a client was sent was stored, identical, at the same seq.
    await seen.wait_for(
        lambda: len(seen.events[sid]) >= len(stored) or seen.seqs(sid)[-1] >= stored[-1]["seq"], timeout=30
    )
    delivered = seen.events[sid]
    assert _gapless([e["seq"] for e in delivered])
    assert delivered == stored[: len(delivered)]


async def test_a_delete_sent_to_any_node_runs_on_the_owner_and_every_node_forgets_the_session(
    team: Team,
) -> None:
    n0, n1, n2 = team.nodes
    c0, seen0 = await team.client(n0)
    c1, seen1 = await team.client(n1)
    c2, _ = await team.client(n2)
    sid = (await c0.call("session:create", {"architecture": "shell"}, timeout=10))["session"]["sessionId"]
    await c1.call("session:join", {"sessionId": sid}, timeout=10)
    ack = await c2.call("session:delete", {"sessionId": sid}, timeout=15)
    assert ack == {"success": True, "sessionId": sid}
    for seen in (seen0, seen1):
        await seen.wait_for(lambda s=seen: any(c["action"] == "deleted" for c in s.changes))
    for node in team.nodes:
        assert (await team.get(node, "/sessions"))["sessions"] == []
        async with team.http.get(f"{node.url}/sessions/{sid}") as response:
            assert response.status == 404 and (await response.json())["code"] == "SESSION_NOT_FOUND"
    again = await c1.call("session:message", {"sessionId": sid, "content": "echo x"}, timeout=15)
    assert again["success"] is False and again["code"] == "SESSION_NOT_FOUND"
    assert await team.owner(sid) is None


async def test_interrupt_and_options_sent_to_another_node_reach_the_owner(team: Team) -> None:
    n0, n1, n2 = team.nodes
    c0, seen0 = await team.client(n0)
    c1, _ = await team.client(n1)
    c2, _ = await team.client(n2)
    sid = (await c0.call("session:create", {"architecture": "shell"}, timeout=10))["session"]["sessionId"]
    sent = await c0.call(
        "session:message", {"sessionId": sid, "content": "echo run$((40 + 2)); sleep 30"}, timeout=10
    )
    await seen0.wait_for(lambda: "run42" in str(seen0.events.get(sid, [])))  # the output, not the command
    ack = await c1.call("session:interrupt", {"sessionId": sid}, timeout=15)
    assert ack == {"success": True, "interrupted": True}
    await seen0.wait_for(lambda: bool(_ends(seen0, sid)), timeout=20)
    end = _ends(seen0, sid)[0]
    assert end["type"] == "query:interrupted" and end["payload"]["messageId"] == sent["messageId"]
    ack = await c2.call("session:options", {"sessionId": sid, "sessionOptions": {"model": "m-1"}}, timeout=15)
    assert ack["success"] is True and ack["sessionOptions"] == {"model": "m-1"}
    await seen0.wait_for(lambda: any(e["type"] == "options:update" for e in seen0.events[sid]))
    assert (await team.get(n1, f"/sessions/{sid}"))["sessionOptions"] == {"model": "m-1"}
    assert await team.owner(sid) == n0.url


async def test_a_node_stopped_with_sigterm_hands_its_sessions_over_at_once(team: Team) -> None:
    n0, n1, _ = team.nodes
    c0, _ = await team.client(n0)
    c1, seen1 = await team.client(n1)
    sid = (await c0.call("session:create", {"architecture": "shell"}, timeout=10))["session"]["sessionId"]
    await c1.call("session:join", {"sessionId": sid}, timeout=10)
    await n0.stop()
    assert n0.process.returncode == 0 and b"Traceback" not in n0.stderr, n0.stderr.decode()[-4000:]
    team.nodes.remove(n0)
    # Its lease was released on the way out: the next command is taken by a surviving node
    # without waiting for a lease to run out.
    started = asyncio.get_running_loop().time()
    ack = await c1.call("session:message", {"sessionId": sid, "content": "echo handed-over"}, timeout=15)
    assert ack["success"] is True, ack
    assert asyncio.get_running_loop().time() - started < 2.0
    assert await team.owner(sid) in {n.url for n in team.nodes}
    await seen1.wait_for(lambda: bool(_ends(seen1, sid)), timeout=30)
    assert _ends(seen1, sid)[0]["type"] == "query:completed"
    assert _gapless(seen1.seqs(sid))


async def test_workspace_operations_sent_to_another_node_reach_the_owners_worktree(
    team: Team, tmp_path: Path
) -> None:
    """Forwarded because runtime/api.py marks them so: nothing in the cluster lists them by hand."""
    n0, n1, n2 = team.nodes
    project = make_repo(tmp_path / "project")
    created = await team.post(
        n0, "/sessions", {"architecture": "shell", "workspace": {"project": str(project)}}, 201
    )
    sid, worktree = created["sessionId"], Path(created["workspace"]["path"])
    assert await team.owner(sid) == n0.url
    async with team.http.post(f"{n1.url}/sessions/{sid}/commit", json={"message": "nothing yet"}) as response:
        assert response.status == 409 and (await response.json())["code"] == "NOTHING_TO_COMMIT"
    (worktree / "notes.json").write_text('{"a": 1}\n')
    changes = await team.get(n1, f"/sessions/{sid}/changes")
    assert [f["path"] for f in changes["files"]] == ["notes.json"]
    async with team.http.get(f"{n2.url}/api/sessions/{sid}/diff", params={"path": "notes.json"}) as response:
        assert response.status == 200 and response.content_type == "text/x-diff"
        assert '+{"a": 1}' in await response.text()
    async with team.http.get(f"{n2.url}/sessions/{sid}/files/notes.json") as response:
        assert await response.read() == b'{"a": 1}\n'  # bytes, though the owner typed it JSON
    committed = await team.post(n2, f"/sessions/{sid}/commit", {"message": "notes from another node"})
    assert git(worktree, "log", "-1", "--format=%H %s").split(" ", 1) == [
        committed["commit"],
        "notes from another node\n",
    ]
    c1, _ = await team.client(n1)
    ack = await c1.call("session:discard", {"sessionId": sid}, timeout=15)
    assert ack == {"success": True, "paths": ["notes.json"]}  # back to the base commit
    assert not (worktree / "notes.json").exists()
    assert await team.owner(sid) == n0.url
