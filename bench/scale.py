#!/usr/bin/env python3
"""A thousand sessions (issue #17): does cost follow what is on screen, not the whole history?

1. Builds a database of ``--sessions`` shell sessions, each having run one command that printed
   ``--lines`` lines, through the public API (``AgentRuntime.create_session`` + ``send_message``,
   sandboxes without isolation, ``--jobs`` at a time). Kept and reused (``--db``) when it exists.
2. In a pseudo-terminal, the real ``agent-tui --db``: time to the first frame, to the session list
   shown (the first row's name drawn and no row still "…" loading), RSS after settling, and the
   switch to the next session until its last output line is drawn (median of ``--switches``).
3. ``agent-tui serve --db``: time until ``/health/ready`` answers, and its RSS.
4. ``agent-tui --db --serve``: ``--streams`` sessions stream output (driven through
   ``RemoteRuntime``) while keystrokes are typed into the composer; time from each keystroke to
   its echo in the terminal output (p50/p99).

Baselines: the issue's figures (main before #17, measured on a 1,000 x 5,000 database) are printed
beside ours; they are from another run, and only comparable at full size.

    .venv/bin/python bench/scale.py --sessions 100 --lines 500     # quick (~1 min incl. the build)
    .venv/bin/python bench/scale.py                                # 1,000 x 5,000 (the build is long)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EXE = ROOT / ".venv" / "bin" / "agent-tui"
SIZE = (40, 120)
#: Issue #17's figures for main before this work (1,000 sessions x 5,000 lines).
BASELINE = {"first_frame": 0.44, "list": 3.9, "rss": 341.0, "switch": 0.080, "serve_ready": 2.8, "serve_rss": 156.0}
END = re.compile(r"end-\d{4}")
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-B]|\x1b[=>]")


# --------------------------------------------------------------------------- build


async def build(db: Path, sessions: int, lines: int, jobs: int) -> None:
    from runtime import AgentRuntime, RuntimeConfig
    from runtime.errors import AgentTuiError

    runtime = AgentRuntime(RuntimeConfig(db_path=db, data_dir=db.parent / "data", isolation=False,
                                         config_dir=db.parent / "config", evict_after_s=0))
    await runtime.start()
    done: dict[str, asyncio.Event] = {}

    def notice(n: Any) -> None:
        session = getattr(n, "session", None)
        if session is not None and session.session_id in done and session.runtime.active_query is None \
                and session.last_seq > 3:
            done[session.session_id].set()

    runtime.add_observer(notice)
    limit = asyncio.Semaphore(jobs)
    started = time.perf_counter()

    async def one(index: int) -> None:
        async with limit:
            summary = await runtime.create_session({"architecture": "shell", "name": f"bench {index:04d}"})
            sid = summary.session_id
            done[sid] = asyncio.Event()
            await runtime.send_message(sid, f"seq 1 {lines}; echo end-{index:04d}")
            await asyncio.wait_for(done[sid].wait(), 300)
            try:
                await runtime.terminate_environment(sid)
            except AgentTuiError:
                pass
            if index % 100 == 99:
                print(f"  built {index + 1} sessions in {time.perf_counter() - started:.0f} s", flush=True)

    try:
        await asyncio.gather(*(one(i) for i in range(sessions)))
    finally:
        await runtime.shutdown()
    print(f"built {sessions} sessions x {lines} lines in {time.perf_counter() - started:.1f} s: "
          f"{db.stat().st_size / 1e6:.1f} MB")


# --------------------------------------------------------------------------- helpers


def rss_mib(pid: int) -> float:
    """RSS of ``pid`` and its descendants (sandboxes are children), MiB."""
    total = 0
    for p in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                out.append(int(child))
                out.extend(_children(int(child)))
    except OSError:
        pass
    return out


def env_for(home: Path) -> dict[str, str]:
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": f"{home}/data", "XDG_CONFIG_HOME": f"{home}/config",
           "XDG_STATE_HOME": f"{home}/state", "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    env.pop("AGENT_TUI_DB", None)
    return env


class Screen:
    """A pexpect child whose output is scanned as plain text (escape sequences removed)."""

    def __init__(self, child: Any) -> None:
        self.child = child
        self.text = ""  # since the last mark()
        self.all = ""

    def read(self, timeout: float = 0.05) -> str:
        import pexpect

        try:
            chunk = self.child.read_nonblocking(1 << 20, timeout)
        except pexpect.TIMEOUT:
            return ""
        plain = ANSI.sub("", chunk)
        self.text += plain
        self.all += plain
        return plain

    def wait(self, predicate: Any, timeout: float = 60.0, *, since_mark: bool = True) -> float:
        start = time.perf_counter()
        while not predicate(self.text if since_mark else self.all):
            if time.perf_counter() - start > timeout:
                raise TimeoutError(f"screen never matched (last output: {self.text[-300:]!r})")
            self.read()
        return time.perf_counter()

    def mark(self) -> None:
        self.text = ""


def spawn(exe: Path, args: list[str], home: Path) -> Any:
    import pexpect

    return pexpect.spawn(str(exe), args, env=env_for(home), dimensions=SIZE, encoding="utf-8", timeout=60)


def quit_child(child: Any) -> None:
    import pexpect

    child.sendcontrol("q")
    try:
        child.expect(pexpect.EOF, timeout=15)
    except pexpect.TIMEOUT:
        child.sendcontrol("q")
        child.expect(pexpect.EOF, timeout=15)
    child.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- measures


def measure_tui(exe: Path, db: Path, home: Path, switches: int) -> dict[str, float]:
    start = time.perf_counter()
    child = spawn(exe, ["--db", str(db), "--no-bell", "--no-isolation"], home)
    screen = Screen(child)
    first = screen.wait(lambda t: "SESSIONS" in t) - start
    listed = screen.wait(lambda t: "bench 0" in t) - start
    # Rows whose log is still being read show "…"; wait until a repaint shows none.
    loaded_at = None
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline:
        screen.mark()
        screen.read(0.2)
        if "…" not in screen.text:
            loaded_at = time.perf_counter()
            break
    listed = max(listed, (loaded_at or time.perf_counter()) - start - 0.2)
    end_line = screen.wait(lambda t: END.search(t), since_mark=False) - start
    shown = END.findall(screen.all)[-1]
    settle_until = time.perf_counter() + 3
    while time.perf_counter() < settle_until:
        screen.read(0.1)
    rss = rss_mib(child.pid)
    times = []
    for _ in range(switches):
        screen.mark()
        t0 = time.perf_counter()
        child.send("\x1b[1;5B")  # ctrl+down: the next session, drawn when its last line is
        times.append(screen.wait(lambda t, old=shown: any(m != old for m in END.findall(t)), 30) - t0)
        shown = next(m for m in END.findall(screen.text) if m != shown)
        time.sleep(0.3)
    quit_child(child)
    return {"first_frame": first, "list": listed, "first_log": end_line, "rss": rss,
            "switch": statistics.median(times), "switch_max": max(times)}


def measure_serve(exe: Path, db: Path, home: Path) -> dict[str, float]:
    import subprocess

    port = free_port()
    token = "bench-token-0123456789abcdef"
    start = time.perf_counter()
    proc = subprocess.Popen([str(exe), "serve", "--db", str(db), "--port", str(port), "--no-isolation",
                             "--token", token], env=env_for(home), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.perf_counter() - start > 60:
                raise TimeoutError("serve never became ready")
            time.sleep(0.01)
        ready = time.perf_counter() - start
        time.sleep(2)
        return {"serve_ready": ready, "serve_rss": rss_mib(proc.pid)}
    finally:
        proc.terminate()
        proc.wait(15)


async def _drive_streams(url: str, token: str, streams: int, stop: asyncio.Event) -> None:
    from runtime.remote import RemoteRuntime

    client = RemoteRuntime(url, token)
    await client.start()
    try:
        sessions = (await client.list_sessions())[1: streams + 1]
        for s in sessions:
            await client.send_message(s.session_id, "for i in $(seq 1 100000); do echo stream line $i; sleep 0.005; done")
        await stop.wait()
        for s in sessions:
            await client.interrupt(s.session_id)
    finally:
        await client.shutdown()


def measure_keystrokes(exe: Path, db: Path, home: Path, streams: int, keys: int) -> dict[str, float]:
    import threading

    port = free_port()
    token = "bench-token-0123456789abcdef"
    child = spawn(exe, ["--db", str(db), "--no-bell", "--no-isolation", "--serve", f"127.0.0.1:{port}",
                   "--token", token], home)
    screen = Screen(child)
    screen.wait(lambda t: END.search(t))
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    driver = threading.Thread(target=lambda: loop.run_until_complete(
        _drive_streams(f"http://127.0.0.1:{port}", token, streams, stop)), daemon=True)
    driver.start()
    warm = time.perf_counter() + 4
    while time.perf_counter() < warm:
        screen.read(0.1)
    latencies = []
    for i in range(keys):
        char = "§" if i % 2 == 0 else "¤"
        screen.read(0.0)
        screen.mark()
        t0 = time.perf_counter()
        child.send(char)
        latencies.append(screen.wait(lambda t, c=char: c in t, 10) - t0)
        time.sleep(0.03)
    loop.call_soon_threadsafe(stop.set)
    driver.join(30)
    child.send("\x15")  # ctrl+u: clear the composer
    quit_child(child)
    latencies.sort()
    return {"key_p50": latencies[len(latencies) // 2],
            "key_p99": latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))]}


def downgrade(db: Path, to: Path) -> None:
    """A copy of ``db`` in schema 1 (before summaries), which the baseline checkout opens."""
    import sqlite3

    shutil.copy(db, to)
    with sqlite3.connect(to) as conn:
        for column in ("status", "cost_usd", "last_activity", "last_seq", "unread", "needs_input", "summary"):
            conn.execute(f"ALTER TABLE sessions DROP COLUMN {column}")
        conn.execute("DELETE FROM schema_version WHERE version > 1")


def measure_all(exe: Path, db: Path, home: Path, args: argparse.Namespace) -> dict[str, float]:
    results = measure_tui(exe, db, home, args.switches)
    results.update(measure_serve(exe, db, home))
    if not args.skip_keys:
        results.update(measure_keystrokes(exe, db, home, args.streams, args.keys))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--jobs", type=int, default=8, help="sessions built at once")
    parser.add_argument("--db", type=Path, help="database to build or reuse (default: a temp file)")
    parser.add_argument("--switches", type=int, default=5)
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--skip-keys", action="store_true")
    parser.add_argument("--baseline", type=Path, default=Path("/work/main"),
                        help="a checkout before #17 (with its .venv) measured on a schema-1 copy of the same "
                             "database in this run; 'none' to skip")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    db = args.db or tmp / "scale.db"
    try:
        if not db.exists():
            asyncio.run(build(db, args.sessions, args.lines, args.jobs))
        print(f"database: {db} ({db.stat().st_size / 1e6:.1f} MB); load average {os.getloadavg()[0]:.2f} "
              f"on {os.cpu_count()} cores")
        home = tmp / "home"
        home.mkdir(exist_ok=True)
        results = measure_all(EXE, db, home, args)
        baseline: dict[str, float] = {}
        base_exe = args.baseline / ".venv" / "bin" / "agent-tui"
        if str(args.baseline) != "none" and base_exe.exists():
            old = tmp / "baseline.db"
            downgrade(db, old)
            baseline = measure_all(base_exe, old, home, args)
        full = args.sessions == 1000 and args.lines == 5000
        rows = [
            ("TUI first frame", "first_frame", "s"), ("session list shown", "list", "s"),
            ("shown session's last line", "first_log", "s"), ("TUI RSS after settling", "rss", "MiB"),
            ("switch to last line (median)", "switch", "s"), ("switch (max)", "switch_max", "s"),
            ("serve ready", "serve_ready", "s"), ("serve RSS", "serve_rss", "MiB"),
            (f"keystroke echo p50 ({args.streams} streaming)", "key_p50", "s"),
            (f"keystroke echo p99 ({args.streams} streaming)", "key_p99", "s"),
        ]
        def fmt(value: float | None, unit: str) -> str:
            if value is None:
                return ""
            return f"{value:.0f} {unit}" if unit == "MiB" else f"{value * 1000:.0f} ms"

        print(f"{'measure':42} {'this checkout':>14} {'baseline, this run':>19} {'issue #17 (1000x5000)':>22}")
        for label, key, unit in rows:
            if key not in results:
                continue
            issue = fmt(BASELINE.get(key), unit)
            print(f"{label:42} {fmt(results[key], unit):>14} {fmt(baseline.get(key), unit):>19} {issue:>22}")
        if not full:
            print("(the issue's figures are for 1,000 sessions x 5,000 lines)")
    finally:
        if args.db is None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
