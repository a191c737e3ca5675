"""Exact replay: clients joining (and rejoining) in the middle of a fast stream get every seq once, in order."""

from __future__ import annotations

import asyncio
import os
import random

from runtime import AgentRuntime
from tests.server.clients import Collector
from tests.server.conftest import ClientFactory

N = 5_000


async def test_three_clients_join_at_random_points_of_a_5000_event_stream(
    sio_client: ClientFactory, runtime: AgentRuntime
) -> None:
    seed = int(os.environ.get("REPLAY_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    session = await runtime.create_session({"architecture": "shell"})
    sid = session.session_id
    assert runtime.bus is not None
    bus = runtime.bus
    joins = sorted(rng.sample(range(0, N - 500), 3))
    leave_at = rng.randrange(joins[2] + 1, N - 100)
    published = 0
    reached: dict[int, asyncio.Event] = {k: asyncio.Event() for k in (*joins, leave_at)}

    async def produce() -> None:
        nonlocal published
        while published < N:
            size = min(rng.randint(1, 60), N - published)
            await bus.publish(
                sid,
                [
                    {"type": "block:delta", "payload": {"blockId": "b", "delta": f"{published + i} "}}
                    for i in range(size)
                ],
            )
            published += size
            for threshold, event in reached.items():
                if published >= threshold:
                    event.set()
            await asyncio.sleep(0)

    async def join(at: int, batch: bool) -> Collector:
        await reached[at].wait()
        client = await sio_client()
        seen = Collector(client)
        ack = await client.call("session:join", {"sessionId": sid, "batch": batch}, timeout=10)
        assert ack["success"], ack
        return seen

    producer = asyncio.create_task(produce())
    first, second, third = await asyncio.gather(
        join(joins[0], False), join(joins[1], True), join(joins[2], False)
    )

    # The third client drops its connection mid-stream and comes back on a new one with its last seq.
    await reached[leave_at].wait()
    await third.client.disconnect()
    last = third.seqs(sid)[-1] if third.seqs(sid) else 0
    again = await sio_client()
    rejoined = Collector(again)
    ack = await again.call(
        "session:join", {"sessionId": sid, "afterSeq": last, "batch": rng.random() < 0.5}, timeout=10
    )
    assert ack["success"]
    await producer

    for seen in (first, second, rejoined):
        await seen.wait_for(lambda seen=seen: (seen.seqs(sid) or [0])[-1] >= N, timeout=60)
    assert first.seqs(sid) == list(range(1, N + 1)), seed
    assert second.seqs(sid) == list(range(1, N + 1)), seed
    assert second.singles == 0
    assert third.seqs(sid) + rejoined.seqs(sid) == list(range(1, N + 1)), seed
    assert (await runtime.get_summary(sid)).last_seq == N


async def test_clients_joining_a_real_shell_session_mid_query_see_the_whole_log(
    sio_client: ClientFactory, runtime: AgentRuntime
) -> None:
    session = await runtime.create_session({"architecture": "shell"})
    sid = session.session_id
    early = await sio_client()
    early_seen = Collector(early)
    await early.call("session:join", {"sessionId": sid}, timeout=10)
    await runtime.send_message(sid, "for i in $(seq 1 60); do echo line-$i; sleep 0.01; done")
    late_clients: list[Collector] = []
    for batch in (False, True):
        # Join while output is streaming: wait until some of it was delivered to the early client.
        target = len(early_seen.seqs(sid)) + 3
        await early_seen.wait_for(lambda target=target: len(early_seen.seqs(sid)) >= target)
        client = await sio_client()
        seen = Collector(client)
        assert (await client.call("session:join", {"sessionId": sid, "batch": batch}, timeout=10))["success"]
        late_clients.append(seen)

    def finished(seen: Collector) -> bool:
        return any(e["type"] == "query:completed" for e in seen.events.get(sid, []))

    for seen in (early_seen, *late_clients):
        await seen.wait_for(lambda seen=seen: finished(seen))
    stored, _ = await runtime.get_events(sid)
    expected = [e.wire() for e in stored]
    for seen in (early_seen, *late_clients):
        assert seen.events[sid] == expected
    output = "".join(e["payload"].get("delta", "") for e in expected if e["type"] == "block:delta")
    assert output.split() == [f"line-{i}" for i in range(1, 61)]
