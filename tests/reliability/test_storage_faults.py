"""Storage faults: the database's disk fills up mid-query, a read-only database file, a corrupt
database at start-up.

What must hold (and what the runtime does about a store that fails mid-query, see
``StoreRecovery.failed``): the user gets a clear error (503 ``STORE_ERROR`` on the request,
an exit message from ``agent-tui serve``), no event reaches any client that is not in the store,
the server does not crash or crash-loop, the agent of a query whose events cannot be written is
stopped, the query ends as ``query:failed {code: STORE_ERROR}`` once the disk has room again (an
event clients receive like any other), and the session works afterwards. A corrupt file is never
overwritten: it is moved aside, byte for byte, and a new database is started.

The full disk is real where the machine allows it (a small tmpfs mounted for the test, as root);
the same scenario also runs in-process with SQLite's own ``max_page_count`` limit, which makes
SQLite return the same ``SQLITE_FULL`` ("database or disk is full") on any machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import os
import sqlite3
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from runtime import AgentRuntime, SQLiteStore
from runtime.server.app import start_server
from tests.helpers import make_config, sandbox_pid
from tests.reliability.harness import (
    Http,
    ServeProcess,
    Watcher,
    describe,
    ends_query,
    group_members,
    kill_all,
    processes_in,
    read_store,
    seq_problems,
    wait_until,
)

# --------------------------------------------------------------------------- mounts


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[bool]:
    """A tmpfs of ``size`` at ``path`` (yields False where mounting is not allowed)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = os.geteuid() == 0 and _mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextlib.contextmanager
def read_only_view(source: Path, target: Path) -> Iterator[str]:
    """``target`` shows ``source`` read-only: a read-only bind mount as root (file modes mean nothing
    to root), else file and folder modes. Yields how."""
    target.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0 and _mount("--bind", str(source), str(target)):
        if _mount("-o", "remount,bind,ro", str(target)):
            try:
                yield "read-only bind mount"
            finally:
                subprocess.run(["umount", "-l", str(target)], capture_output=True)
            return
        subprocess.run(["umount", "-l", str(target)], capture_output=True)
    modes = {p: p.stat().st_mode for p in (source, *source.iterdir())}
    for p in source.iterdir():
        p.chmod(0o444)
    source.chmod(0o555)
    target.rmdir()
    target.symlink_to(source)
    try:
        yield "file modes"
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- disk full


@dataclass
class FullDiskRig:
    """A served runtime whose database can be made to run out of room, and be given room again."""

    how: str
    url: str
    db: Path
    data_dir: Path
    server: ServeProcess | None = None
    runtime: AgentRuntime | None = None
    ballast: Path | None = None
    stopped: list[Any] = field(default_factory=list)

    async def fill(self) -> None:
        if self.how == "read-only":
            # Every write on the server's connection now fails (SQLITE_READONLY), small or large,
            # so the recorded end can only be written once it is lifted: the retry path.
            await self._store().db.execute("PRAGMA query_only = ON")
            return
        if self.ballast is not None:
            # Fill the filesystem completely, then give back a little: the next few hundred KB
            # of events (WAL frames) fail with SQLITE_FULL.
            chunk = b"\0" * (1 << 20)
            with open(self.ballast, "wb") as handle:
                while True:
                    try:
                        handle.write(chunk)
                        handle.flush()
                    except OSError as exc:
                        assert exc.errno == errno.ENOSPC, exc
                        break
            size = self.ballast.stat().st_size
            os.truncate(self.ballast, max(0, size - 256 * 1024))
        else:
            assert self.runtime is not None
            store = self.runtime.store
            assert isinstance(store, SQLiteStore)
            async with store.db.execute("PRAGMA page_count") as cursor:
                row = await cursor.fetchone()
            assert row is not None
            await store.db.execute(f"PRAGMA max_page_count = {int(row[0]) + 40}")

    def _store(self) -> SQLiteStore:
        assert self.runtime is not None
        store = self.runtime.store
        assert isinstance(store, SQLiteStore)
        return store

    async def make_room(self) -> None:
        if self.how == "read-only":
            await self._store().db.execute("PRAGMA query_only = OFF")
        elif self.ballast is not None:
            self.ballast.unlink()
        else:
            assert self.runtime is not None
            store = self.runtime.store
            assert isinstance(store, SQLiteStore)
            await store.db.execute("PRAGMA max_page_count = 1073741823")

    def alive(self) -> bool:
        return self.server.running if self.server is not None else True


@pytest.fixture(params=["tmpfs", "max_page_count", "read-only"])
async def full_disk(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[FullDiskRig]:
    data_dir = tmp_path / "sandboxes"
    if request.param == "tmpfs":
        with tmpfs(tmp_path / "disk", "6m") as mounted:
            if not mounted:
                pytest.skip("mounting a tmpfs is not allowed here (the max_page_count variant covers it)")
            db = tmp_path / "disk" / "agent-tui.db"
            server = ServeProcess(
                db=db, data_dir=data_dir, home=tmp_path / "home", log_path=tmp_path / "serve.log"
            )
            url = await server.start()
            try:
                yield FullDiskRig(
                    "tmpfs", url, db, data_dir, server=server, ballast=tmp_path / "disk" / "ballast"
                )
            finally:
                await server.kill()
                kill_all(processes_in(data_dir))
    else:
        config = make_config(tmp_path, token="reliability-token")
        runtime = AgentRuntime(config)
        await runtime.start()
        server_ = await start_server(runtime, host="127.0.0.1", port=0, token="reliability-token")
        try:
            yield FullDiskRig(
                request.param,
                server_.url,
                config.resolved_db_path(),
                config.resolved_data_dir(),
                runtime=runtime,
            )
        finally:
            await server_.stop()
            await runtime.shutdown()
            kill_all(processes_in(config.resolved_data_dir()))


async def test_the_disk_filling_up_mid_query_stops_the_agent_and_the_session_recovers(
    full_disk: FullDiskRig, record_property: Any
) -> None:
    rig = full_disk
    async with Http(rig.url) as http:
        busy = await http.create("shell", name="fills the disk")
        idle = await http.create("shell", name="bystander")
        watcher = Watcher("watcher")
        await watcher.connect(rig.url)
        for sid in (busy, idle):
            await watcher.join(sid)
        if rig.how != "read-only":
            await rig.fill()  # the disk fills up before the query; read-only strikes mid-query
        status, body = await http.send(
            busy,
            # 200 KB/s of output, without end: the store fails while the agent is still running.
            "echo $$ > bash.pid; x=$(printf 'x%.0s' $(seq 1 2000)); while true; do echo \"$x\"; sleep 0.01; done",
        )
        if status == 503:
            pytest.fail("the disk was already full before the query started: give the rig more room")
        assert status == 202, (status, body)
        message_id = body["messageId"]
        pid_file = rig.data_dir / busy / "workspace" / "bash.pid"
        await wait_until(lambda: pid_file.exists() and pid_file.read_text().strip() != "", 30, "bash.pid")
        host_pid = sandbox_pid(int(pid_file.read_text()), pid_file.parent.parent)  # bubblewrap numbers its own
        assert host_pid is not None
        pgid = os.getpgid(host_pid)
        if rig.how == "read-only":
            await rig.fill()
        # The store fails; the agent is stopped (its whole process group), the server stays up.
        await wait_until(lambda: not group_members(pgid), 60, "the agent's process group to be killed")
        assert rig.alive()
        leftovers = processes_in(rig.data_dir / busy)
        assert not leftovers, describe(leftovers)
        # While the store fails: whoever tries to write gets a clear error, and reads still work.
        # (With a full disk SQLite can still reuse room it already has, e.g. the WAL frames of the
        # failed transaction, so a small write may go through: then it is stored, and delivered.)
        probes = []
        for sid in (busy, idle):
            status, body = await http.send(sid, "echo while full")
            probes.append(status)
            assert status in ((503,) if rig.how == "read-only" else (202, 503)), (status, body)
            if status == 503:
                assert body["code"] == "STORE_ERROR", body
                assert "full" in body["error"] or "readonly" in body["error"], body
        status, body = await http.call("GET", "/sessions")
        assert status == 200 and len(body["sessions"]) == 2, body

        recorded_early = watcher.has_event(busy, ends_query(message_id))
        if rig.how == "read-only":
            assert not recorded_early  # nothing can be written: nothing was delivered either
        await rig.make_room()
        # The end of the failed query is recorded once there is room, and reaches the client.
        await watcher.wait_for(lambda: watcher.has_event(busy, ends_query(message_id)), 30, "query:failed")
        end = next(e for e in watcher.events[busy] if ends_query(message_id)(e))
        assert end["type"] == "query:failed" and end["payload"]["code"] == "STORE_ERROR", end
        assert "could not be saved" in end["payload"]["error"], end

        async def idle_again(sid: str) -> bool:
            runtime = (await http.summary(sid))["runtime"]
            return runtime["activeQuery"] is None and runtime["queuedMessages"] == 0

        for sid in (busy, idle):
            for _ in range(600):
                if await idle_again(sid):
                    break
                await asyncio.sleep(0.1)
            if not await idle_again(sid):
                tail = [(e["seq"], e["type"], e["payload"].get("code")) for e in await http.events(sid)]
                runtime = (await http.summary(sid))["runtime"]
                extra = ""
                if rig.runtime is not None and rig.runtime.sessions is not None:
                    # In-process: what the session itself holds, for the diagnosis.
                    session = rig.runtime.sessions.get(sid)
                    extra = f"(queued {session.state.queued}, worker {session.queue.worker})"
                pytest.fail(f"session {sid} never became idle again: {runtime} {tail[-15:]} {extra}")
        # Both sessions work again.
        for sid in (busy, idle):
            status, body = await http.send(sid, "echo after")
            assert status == 202, (status, body)
            done = await http.wait_for_event(sid, ends_query(body["messageId"]), timeout=60)
            assert done["type"] == "query:completed", done
            await watcher.wait_for(
                lambda s=sid, d=done: watcher.last_seq(s) >= d["seq"], 30, "the last event"
            )
        await watcher.close()
    # Nothing reached the client that is not stored, exactly, and the file is sound.
    snapshot = read_store(rig.db)
    assert snapshot.integrity == "ok"
    for sid in (busy, idle):
        assert seq_problems(watcher.seqs[sid], 1, snapshot.last_seq(sid)) is None, seq_problems(
            watcher.seqs[sid], 1, snapshot.last_seq(sid)
        )
        for event in watcher.events[sid]:
            assert snapshot.events[sid][event["seq"]] == event
    if rig.server is not None:
        assert await rig.server.stop() == 0
        assert "Traceback" not in rig.server.log_text()
    record_property("fill", rig.how)
    record_property("writes_while_failing", "/".join(map(str, probes)))
    record_property("end_recorded", "before room was made" if recorded_early else "after room was made")
    record_property("events_checked", sum(len(v) for v in watcher.events.values()))


# --------------------------------------------------------------------------- read-only file


def _serve_once(tmp_path: Path, db: Path, name: str) -> ServeProcess:
    return ServeProcess(
        db=db, data_dir=tmp_path / "sandboxes", home=tmp_path / "home", log_path=tmp_path / f"{name}.log"
    )


async def test_a_read_only_database_is_a_clear_error_at_start_and_is_left_untouched(
    tmp_path: Path, record_property: Any
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    server = _serve_once(tmp_path, real / "agent-tui.db", "first")
    url = await server.start()
    async with Http(url) as http:
        sid = await http.create("shell", name="kept")
        _status, body = await http.send(sid, "echo before")
        await http.wait_for_event(sid, ends_query(body["messageId"]))
    assert await server.stop() == 0
    before = {p.name: _sha(p) for p in real.iterdir()}
    with read_only_view(real, tmp_path / "ro") as how:
        for attempt in range(2):  # twice: the same clear refusal each time, nothing changed by it
            blocked = _serve_once(tmp_path, tmp_path / "ro" / "agent-tui.db", f"ro-{attempt}")
            code, out, err = await blocked.run_to_exit(timeout=60)
            assert code == 1, (code, out, err)
            assert "Traceback" not in err, err
            assert "agent-tui serve: " in err and "read-only" in err and "agent-tui.db" in err, err
            assert {p.name: _sha(p) for p in real.iterdir()} == before
    # Writable again: everything is there.
    server = _serve_once(tmp_path, real / "agent-tui.db", "again")
    url = await server.start()
    async with Http(url) as http:
        assert [s["name"] for s in (await http.call("GET", "/sessions"))[1]["sessions"]] == ["kept"]
    assert await server.stop() == 0
    record_property("read_only_by", how)


# --------------------------------------------------------------------------- corrupt file


async def _database_with_a_session(tmp_path: Path, db: Path) -> str:
    server = _serve_once(tmp_path, db, "seed-" + db.stem)
    url = await server.start()
    async with Http(url) as http:
        sid = await http.create("shell", name="old")
        for i in range(3):
            _status, body = await http.send(sid, f"for i in $(seq 1 2000); do echo {i} line $i; done")
            await http.wait_for_event(sid, ends_query(body["messageId"]))
    assert await server.stop() == 0
    return sid


def _truncated(db: Path) -> None:
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])


def _page_overwritten(db: Path) -> None:
    data = bytearray(db.read_bytes())
    page = 4096
    middle = (len(data) // page // 2) * page
    data[middle : middle + page] = os.urandom(page)
    db.write_bytes(bytes(data))


# A file that is not SQLite at all is not "corrupt": it is refused untouched (tests/runtime/test_sqlite_store.py).
CORRUPTIONS = {"truncated": _truncated, "page-overwritten": _page_overwritten}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
async def test_a_corrupt_database_is_moved_aside_untouched_and_a_new_one_serves(
    tmp_path: Path, kind: str
) -> None:
    db = tmp_path / "agent-tui.db"
    await _database_with_a_session(tmp_path, db)
    CORRUPTIONS[kind](db)
    corrupt = _sha(db)
    server = _serve_once(tmp_path, db, "corrupt")
    url = await server.start()
    async with Http(url) as http:
        moved = sorted(tmp_path.glob("agent-tui.db.corrupt-*"))
        moved = [p for p in moved if not p.name.endswith(("-wal", "-shm"))]
        assert len(moved) == 1, moved
        assert _sha(moved[0]) == corrupt  # byte for byte what was there
        log = server.log_text()
        assert "is corrupt" in log and str(moved[0]) in log, log[-2000:]
        sid = await http.create("shell", name="new")
        _status, body = await http.send(sid, "echo works")
        done = await http.wait_for_event(sid, ends_query(body["messageId"]))
        assert done["type"] == "query:completed"
    assert await server.stop() == 0
    # Started again: no second move, no loop, the new session is there.
    server = _serve_once(tmp_path, db, "after")
    url = await server.start()
    async with Http(url) as http:
        sessions = (await http.call("GET", "/sessions"))[1]["sessions"]
        assert [s["name"] for s in sessions] == ["new"]
    assert await server.stop() == 0
    assert len([p for p in tmp_path.glob("agent-tui.db.corrupt-*") if p.suffix not in (".db-wal",)]) >= 1
    assert _sha(moved[0]) == corrupt


async def test_a_garbage_wal_beside_a_sound_database_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "agent-tui.db"
    sid = await _database_with_a_session(tmp_path, db)
    before = read_store(db).events[sid]
    Path(str(db) + "-wal").write_bytes(os.urandom(64 * 1024))
    server = _serve_once(tmp_path, db, "wal")
    url = await server.start()
    async with Http(url) as http:
        events = await http.events(sid)
        assert {e["seq"]: e for e in events if e["seq"] in before} == before
    assert await server.stop() == 0
    assert not list(tmp_path.glob("agent-tui.db.corrupt-*"))


async def test_damaged_rows_in_a_sound_file_never_stop_the_server(tmp_path: Path) -> None:
    """A session row or an event whose JSON is damaged: the server starts, serves the rest, and
    leaves the damaged session in the file as it is (never a crash at every start)."""
    db = tmp_path / "agent-tui.db"
    good = await _database_with_a_session(tmp_path, db)
    broken_record = f"ses-{uuid.uuid4().hex[:20]}"
    broken_events = f"ses-{uuid.uuid4().hex[:20]}"
    with sqlite3.connect(db) as connection:
        connection.execute(
            "INSERT INTO sessions (session_id, data, created_at) VALUES (?, ?, ?)",
            (broken_record, '{"sessionId": "' + broken_record, 1),
        )
        record = json.dumps(
            {"sessionId": broken_events, "name": "bad events", "architecture": "shell", "createdAt": 2}
        )
        connection.execute(
            "INSERT INTO sessions (session_id, data, created_at) VALUES (?, ?, ?)", (broken_events, record, 2)
        )
        connection.execute(
            "INSERT INTO events VALUES (?, 1, 'log', '{not json', '2026-01-01T00:00:00Z', 'main', 'server')",
            (broken_events,),
        )
    for attempt in range(2):
        server = _serve_once(tmp_path, db, f"rows-{attempt}")
        url = await server.start()
        async with Http(url) as http:
            sessions = (await http.call("GET", "/sessions"))[1]["sessions"]
            # Listed from its summary (start-up reads no quiet log); opening it says what is wrong.
            assert [s["sessionId"] for s in sessions] == [broken_events, good]
            status, body = await http.call("GET", f"/sessions/{broken_events}")
            assert status == 503 and "its log is damaged" in body["error"]
            assert (await http.call("GET", f"/sessions/{good}"))[0] == 200
        assert await server.stop() == 0
        assert "could not be loaded" in server.log_text()
    with sqlite3.connect(db) as connection:
        kept = {r[0] for r in connection.execute("SELECT session_id FROM sessions")}
    assert {broken_record, broken_events} <= kept  # left in the file for a human to look at
