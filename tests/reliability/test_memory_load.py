"""Issue 21 #2 and #9: memory across clients has one bound, and memory is given back.

The server is a subprocess (``python -m runtime.server``); RSS is read from /proc. Figures are
recorded with ``record_property`` for docs/reliability.md. ``--long`` runs the 10,000-session case.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from runtime import AgentRuntime
from tests.helpers import make_config
from tests.reliability.harness import TOKEN, Http, ServeProcess, Watcher
from tests.server.clients import RawSocketIO

pytestmark = pytest.mark.timeout(300)

MIB = 1024 * 1024
#: The large log the attack used (8.8 MB): 4,000 events of ~2.2 KB.
LOG_EVENTS = 4_000
EVENT_TEXT = 2_150
CLIENTS = 200
#: ``--memory-budget`` of the server under test (MiB): small, so that 200 clients pass it.
BUDGET_MIB = 16
#: RSS the server may reach above its start with 200 non-reading clients. The budget counts encoded
#: events; their strings, packets and transport buffers cost more than that, and so do the clients'
#: connections. Without the budget (each client held to its replay window only) this run peaks at
#: about +100 MiB.
RSS_BOUND_MIB = 4 * BUDGET_MIB


async def _seed_large_log(tmp_path: Path) -> str:
    async with AgentRuntime(make_config(tmp_path, data_dir=tmp_path / "sandboxes")) as runtime:
        session = await runtime.create_session({"architecture": "shell"})
        sid = session.session_id
        assert runtime.bus is not None
        filler = "x" * EVENT_TEXT
        for start in range(0, LOG_EVENTS, 500):
            await runtime.bus.publish(
                sid,
                [
                    {"type": "log", "payload": {"level": "info", "message": f"{n} {filler}"}}
                    for n in range(start, start + 500)
                ],
            )
    return sid


async def _non_reader(port: int, sid: str) -> RawSocketIO:
    """A client that joins the session, reads its ack and then nothing (its socket is not read)."""
    client = await RawSocketIO.open(port, rcvbuf=4096, offer_deflate=False)
    await client.handshake(TOKEN)
    await client.emit("session:join", {"sessionId": sid}, ack_id=1)
    while not (await client.read_text()).startswith("431"):
        pass  # session:status and the first events may come before the ack
    client.writer.transport.pause_reading()
    return client


async def _sample_until_settled(
    server: ServeProcess, bound_kib: int, settled: Callable[[], Awaitable[bool]], timeout: float
) -> int:
    """Peak RSS (KiB), sampled until ``settled()`` holds and RSS stopped rising for 2 s. Fails as
    soon as RSS passes ``bound_kib`` (an unbounded server would take GBs of this machine)."""
    peak = server.rss_kib()
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    while True:
        rss = server.rss_kib()
        assert rss <= bound_kib, (
            f"server RSS {rss / 1024:.0f} MiB passed the bound {bound_kib / 1024:.0f} MiB"
        )
        if rss > peak + 1024:
            quiet_since = time.monotonic()
        peak = max(peak, rss)
        if time.monotonic() - quiet_since > 2.0 and await settled():
            return peak
        assert time.monotonic() < deadline, f"server did not settle within {timeout:g} s"
        await asyncio.sleep(0.1)


async def test_clients_that_stop_reading_share_one_memory_budget_and_memory_is_given_back(
    tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    sid = await _seed_large_log(tmp_path)
    server = ServeProcess(
        db=tmp_path / "agent-tui.db",
        data_dir=tmp_path / "sandboxes",
        home=tmp_path / "home",
        args=["--memory-budget", str(BUDGET_MIB)],
    )
    await server.start()
    port = int(server.url.rsplit(":", 1)[1])
    clients: list[RawSocketIO] = []
    reader = Watcher("reader", keep_payloads=False)
    try:
        # Warm up: a client reads the whole log once (imports, caches, the allocator's heaps).
        warm = Watcher("warm-up", keep_payloads=False)
        await warm.connect(server.url)
        await warm.join(sid, batch=True)
        await warm.wait_for(lambda: warm.last_seq(sid) == LOG_EVENTS, 60, "the whole log")
        await warm.close()
        start_kib = server.rss_kib()

        gate = asyncio.Semaphore(20)

        async def one() -> RawSocketIO:
            async with gate:
                return await _non_reader(port, sid)

        clients = list(await asyncio.gather(*(one() for _ in range(CLIENTS))))

        # A client that reads, joined last: it must get the whole log while the others hold on.
        await reader.connect(server.url)
        await reader.join(sid, batch=True)

        async def reader_done() -> bool:
            return reader.last_seq(sid) == LOG_EVENTS

        peak_kib = await _sample_until_settled(
            server, start_kib + RSS_BOUND_MIB * 1024, reader_done, timeout=120
        )
        assert reader.seqs[sid] == list(range(1, LOG_EVENTS + 1))
        assert not reader.disconnected.is_set()
        log = server.log_text()
        dropped = log.count("(server budget")
        assert dropped > 0, "200 clients x 8.8 MB: the server budget must have dropped some"
        assert "resume with afterSeq" in log
        # Each non-reader holds about one replay window, not the whole log (8.8 MB, over half the
        # budget): so many of them fit in the budget and stay connected.
        assert dropped <= CLIENTS - 10, f"{dropped} of {CLIENTS} dropped"

        for client in clients:
            client.close()
        await reader.close()
        # The issue asks for 20%. Measured (RSS once it is within 20%, eight runs, with idle
        # sessions holding 2 KB): +8% to +19% of a 76 MiB start; before, +11% to +25%, depending on
        # which small objects survive in Python's allocator arenas (docs/reliability.md #2);
        # without the release passes it stays at +45-60%. 30% guards that memory is given back
        # without failing CI on the arenas' luck (the worst of the eight was 0.6 MiB under 20%).
        bound = start_kib * 1.3

        async def given_back() -> bool:
            return server.rss_kib() <= bound

        deadline = time.monotonic() + 30
        while not await given_back():
            assert time.monotonic() < deadline, (
                f"RSS {server.rss_kib() / 1024:.1f} MiB after the clients left, start "
                f"{start_kib / 1024:.1f} MiB (bound +30%)"
            )
            await asyncio.sleep(0.1)
        after_kib = server.rss_kib()
        record_property("start_rss_mib", round(start_kib / 1024, 1))
        record_property("peak_rss_mib", round(peak_kib / 1024, 1))
        record_property("after_rss_mib", round(after_kib / 1024, 1))
        record_property("clients_dropped_by_budget", dropped)
    finally:
        for client in clients:
            client.close()
        await reader.close()
        await server.kill()


#: RSS after / before the burst: the issue's 1.3 in every mode. The few objects that outlive the
#: burst (caches of recent requests) pin the 1 MiB arenas it touched, so what bounds this is how
#: little a live idle session holds: 9.6 KB of small objects made +73..+88% after 10,000 sessions;
#: 2.0 KB (helpers made lazily, one shared empty digest, no per-session closures) makes +26%
#: (docs/reliability.md #9). Under ``PYTHONMALLOC=malloc`` glibc's trim gives it back: +12..+15%.
DELETE_BOUNDS = {("pymalloc", False): 1.3, ("pymalloc", True): 1.3, ("malloc", True): 1.3}


@pytest.mark.parametrize("allocator", ["pymalloc", "malloc"])
async def test_creating_then_deleting_many_sessions_gives_the_memory_back(
    tmp_path: Path, long_mode: bool, allocator: str, record_property: pytest.RecordProperty
) -> None:
    if (allocator, long_mode) not in DELETE_BOUNDS:
        pytest.skip("the system-allocator case runs with --long only (CI time)")
    count = 10_000 if long_mode else 2_000
    server = ServeProcess(
        db=tmp_path / "agent-tui.db",
        data_dir=tmp_path / "sandboxes",
        home=tmp_path / "home",
        env={"PYTHONMALLOC": allocator},
    )
    url = await server.start()
    try:
        async with Http(url) as http:
            for _ in range(50):  # warm up
                warm = await http.create("shell")
                assert (await http.call("DELETE", f"/sessions/{warm}"))[0] == 200
            start_kib = server.rss_kib()
            sids = [await http.create("shell") for _ in range(count)]
            peak_kib = server.rss_kib()
            for sid in sids:
                status, body = await http.call("DELETE", f"/sessions/{sid}")
                assert status == 200, body
        bound = start_kib * DELETE_BOUNDS[allocator, long_mode]

        def given_back() -> bool:
            # The releaser has run once after the deletes (RSS only falls with later passes): the
            # 2,000-session peak alone can be under the bound, so RSS under it is not enough.
            return "gave memory back" in server.log_text() and server.rss_kib() <= bound

        deadline = time.monotonic() + 30
        while not given_back() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert "gave memory back" in server.log_text(), "the memory releaser did not run"
        after_kib = server.rss_kib()
        record_property("sessions", count)
        record_property("allocator", allocator)
        record_property("start_rss_mib", round(start_kib / 1024, 1))
        record_property("peak_rss_mib", round(peak_kib / 1024, 1))
        record_property("after_rss_mib", round(after_kib / 1024, 1))
        assert after_kib <= bound, (
            f"RSS {after_kib / 1024:.1f} MiB after deleting {count} sessions, start "
            f"{start_kib / 1024:.1f} MiB (bound {bound / start_kib - 1:.0%})"
        )
    finally:
        await server.kill()
