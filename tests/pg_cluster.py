"""A throwaway Postgres cluster for the tests: ``initdb`` + ``pg_ctl`` once per test session.

Unix socket only (no TCP port to collide with), trust auth, fsync off. initdb refuses to run as
root, so when the tests run as root the cluster belongs to the ``postgres`` system user. Missing
binaries skip the Postgres cases, except in CI (``CI=true``) where they fail.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("AGENT_TUI_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresCluster:
    #: Throwaway data: no fsync at all (the bench passes durable settings instead).
    TEST_SETTINGS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"

    def __init__(self, root: Path, user: str | None, settings: str = TEST_SETTINGS) -> None:
        self.settings = settings
        self.root = root
        self.data = root / "data"
        self.socket_dir = root
        # Only names the socket file (.s.PGSQL.<port>); nothing listens on TCP.
        self.port = _free_port()
        self._user = user
        self.log = root / "postgres.log"

    def _run(self, *args: str, timeout: float = 60) -> None:
        cmd = [str(PG_BIN / args[0]), *args[1:]]
        if self._user is not None:
            cmd = ["runuser", "-u", self._user, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=timeout)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.start()

    def start(self) -> None:
        options = f"-k {self.socket_dir} -p {self.port} -c listen_addresses='' -c max_connections=300 {self.settings}"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self.stop("fast")
        self.start()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}&port={self.port}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        cmd = [
            str(PG_BIN / "createdb"),
            "-h",
            str(self.socket_dir),
            "-p",
            str(self.port),
            "-U",
            "postgres",
            name,
        ]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
        return self.url(name)


def _owner() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "postgres"], check=True, capture_output=True
        )
    return "postgres"


def start_cluster(settings: str = PostgresCluster.TEST_SETTINGS) -> PostgresCluster:
    """initdb + start in a new temp dir (``cluster.stop("immediate")`` and remove ``root`` after)."""
    # Not under pytest's tmp dir: that is private to root and the postgres user must reach it.
    root = Path(tempfile.mkdtemp(prefix="agent-tui-pg-"))
    user = _owner()
    if user is not None:
        shutil.chown(root, user=user)
    root.chmod(0o700)
    cluster = PostgresCluster(root, user, settings)
    try:
        cluster.init()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return cluster


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    if not (PG_BIN / "initdb").exists():
        message = f"needs the Postgres server binaries in {PG_BIN} (Debian: apt install postgresql)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        cluster = start_cluster()
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"could not start Postgres: {exc.stderr.decode(errors='replace')}")
    try:
        yield cluster
    finally:
        try:
            cluster.stop("immediate")
        except Exception:  # noqa: BLE001 - already stopped by a test
            pass
        shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """A fresh, empty database in the session's cluster."""
    return postgres_cluster.create_database()
