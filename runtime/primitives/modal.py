"""The ``modal`` primitive: one Modal sandbox per session (SPEC §6).

Every call into the Modal SDK in agent-tui is in this module, and always through its ``.aio``
async form: the blocking form would stall the event loop (and with it the TUI) for a network
round trip. ``import modal`` happens only when a Modal sandbox is really used (``_sdk()``), so
``import runtime`` and the local primitive never pay its ~0.3 s import.

Layout inside a sandbox: ``SANDBOX_ROOT/<session id>/{app,workspace,home}``. The sandbox's main
process is ``sleep infinity``; everything else runs through ``Sandbox.exec``.

Modal has no call to kill one exec'd process, so every ``exec`` runs its command as the leader of
a process group of its own (bash job control, ``set -m``) and reports that group's id as the first
line of stderr (``_PGID_MARKER``); ``kill``/``signal_group`` send the signal to the whole group
through another short exec. This is also what the runner expects: it shares its group with the
agent and stops both with one ``killpg``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import logging
import os
import signal
import socket
import tarfile
import time
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from ..config import ModalConfig, RuntimeConfig
from ..errors import FileNotFound, InvalidPath, SandboxError
from .base import RemoteFile
from .local import MAX_LINE
from .paths import clean_relative

log = logging.getLogger(__name__)

StatusCallback = Callable[[str], Awaitable[None]]

#: The ``app`` tag of every sandbox agent-tui creates (SPEC §6), whatever the Modal app's name.
APP_TAG = "agent-tui"
#: Parent of the session folders inside a sandbox. Tests point it at a temp dir, where the fake
#: ``modal`` module runs the "sandbox" as local processes.
SANDBOX_ROOT = "/agent-tui"
#: Modal's own upper bound on a sandbox's life.
MAX_TIMEOUT_S = 24 * 60 * 60
#: Modal's idle timeout is a backstop for when agent-tui itself dies: the runtime's own idle timer
#: normally ends the sandbox first (and says ``ee:terminated {reason: "idle"}``), so Modal's is
#: set a little later.
IDLE_MARGIN_S = 60

#: Node 22 from the official image (Debian's nodejs is too old for the agent CLIs), plus a
#: standalone CPython for the stdlib-only runner.
BASE_IMAGE = "node:22-bookworm-slim"
PYTHON_VERSION = "3.12"
#: PATH dirs of the image, appended to an exec's PATH (the runner's env is built from the host's).
SANDBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_PGID_MARKER = b"\x00agent-tui-pgid:"
#: Runs ``"$@"`` as a job of its own (so its own process group: bash job control), after the job
#: printed its pid (= the group id) as the very first line of stderr. ``wait``'s and the exit's
#: job notices are silenced, so stderr carries only what the command writes.
_GROUP_WRAPPER = (
    'set -m; { printf \'\\0agent-tui-pgid:%s\\n\' "$BASHPID" >&2; exec "$@"; } & '
    'p=$!; wait "$p" 2>/dev/null; r=$?; exec 2>&-; exit "$r"'
)
#: ``$1`` root, ``$2`` target: prints the target's real path (symlinks resolved) or exits 3 when it
#: is outside the root.
_CONFINE = (
    'root=$(realpath -m -- "$1") && t=$(realpath -m -- "$2") || exit 4; '
    'case "$t/" in "$root"/*) printf %s "$t" ;; *) exit 3 ;; esac'
)
#: ``$1`` root, ``$2`` folder, ``$3`` max depth (empty: unlimited): regular files under the folder
#: as NUL-separated (relative path, size, mtime) triples; symlinks are never followed.
_LIST = (
    'root=$(realpath -m -- "$1") && b=$(realpath -m -- "$2") || exit 4; '
    'case "$b/" in "$root"/*) ;; *) exit 3 ;; esac; [ -d "$b" ] || exit 0; '
    'if [ -n "$3" ]; then set -- -maxdepth "$3"; else set --; fi; '
    'exec find "$b" -mindepth 1 "$@" -type f -printf \'%P\\0%s\\0%T@\\0\''
)
#: ``$1`` session folder, then (confinement folder, relative path) pairs: refuse (exit 3) any path
#: that resolves outside its confinement folder, then extract the tar on stdin into the session folder.
_UNTAR = (
    'top=$(realpath -m -- "$1") || exit 4; shift; '
    'while [ "$#" -gt 1 ]; do root=$(realpath -m -- "$top/$1") && t=$(realpath -m -- "$top/$2") || exit 4; '
    'case "$t/" in "$root"/*) ;; *) printf "%s\\n" "$2" >&2; exit 3 ;; esac; shift 2; done; '
    'exec tar -x -f - -C "$top" --no-same-owner'
)
_OUTSIDE = 3
_STDIN_CHUNK = 8 << 20  # the SDK buffers at most 16 MiB between drains
_STREAM_QUEUE = 256
_HOUSEKEEPING_TIMEOUT_S = 300
_PGID_WAIT_S = 30.0


def _sdk() -> ModuleType:
    """The Modal SDK, imported on first use (and replaceable in tests through ``sys.modules``)."""
    import modal

    return modal


# ---------------------------------------------------------------------------- credentials


def _modal_toml_has_token() -> bool:
    path = Path(os.environ.get("MODAL_CONFIG_PATH") or Path.home() / ".modal.toml").expanduser()
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, ValueError):
        return False
    wanted = os.environ.get("MODAL_PROFILE")
    for name, profile in data.items():
        if wanted and name != wanted:
            continue
        if isinstance(profile, dict) and profile.get("token_id") and profile.get("token_secret"):
            return True
    return False


def modal_available(config: RuntimeConfig) -> tuple[bool, str | None]:
    """Whether Modal credentials are configured: ``RuntimeConfig.modal`` tokens, the
    ``MODAL_TOKEN_ID``/``MODAL_TOKEN_SECRET`` variables or ``~/.modal.toml``. Never imports modal."""
    modal_config = config.modal
    if modal_config is not None and modal_config.token_id and modal_config.token_secret:
        return True, None
    if os.environ.get("MODAL_TOKEN_ID") and os.environ.get("MODAL_TOKEN_SECRET"):
        return True, None
    if _modal_toml_has_token():
        return True, None
    return False, "modal unavailable: no credentials"


def _modal_config(config: RuntimeConfig) -> ModalConfig:
    return config.modal or ModalConfig()


def owner_tag(config: RuntimeConfig) -> str:
    """Which agent-tui store the sandboxes belong to: the start-up sweep only ends sandboxes of
    its own store, never those of another agent-tui (another machine or database) on the same
    Modal account."""
    store = config.persistence
    if store is None:
        where = str(config.resolved_db_path().resolve())
    else:
        path = getattr(store, "path", None) or getattr(store, "db_path", None)
        # A store without a file (memory) has no past to sweep: a tag of this process only.
        where = str(Path(path).resolve()) if path else f"process-{os.getpid()}-{id(store)}"
    return hashlib.sha256(f"{socket.gethostname()}\0{where}".encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------- connection


@dataclass
class _Connection:
    client: Any
    app: Any = None
    image: Any = None


#: One client/app/image per (SDK module, credentials, app name): looked up once per process.
_connections: dict[tuple[int, str | None, str], _Connection] = {}


def reset_caches() -> None:
    """Forget cached clients, apps and images (tests that swap the SDK module call this)."""
    _connections.clear()


async def _client(modal: ModuleType, config: RuntimeConfig) -> _Connection:
    modal_config = _modal_config(config)
    key = (id(modal), modal_config.token_id, modal_config.app_name)
    connection = _connections.get(key)
    if connection is None:
        client = None
        if modal_config.token_id and modal_config.token_secret:
            client = await modal.Client.from_credentials.aio(modal_config.token_id, modal_config.token_secret)
        # None: the SDK reads MODAL_TOKEN_ID/SECRET or ~/.modal.toml itself.
        connection = _connections.setdefault(key, _Connection(client=client))
    return connection


async def _app(modal: ModuleType, config: RuntimeConfig) -> _Connection:
    connection = await _client(modal, config)
    if connection.app is None:
        connection.app = await modal.App.lookup.aio(
            _modal_config(config).app_name, client=connection.client, create_if_missing=True
        )
    return connection


def sandbox_image(modal: ModuleType, agent_packages: Mapping[str, str]) -> Any:
    """The image every session's sandbox runs: defined in code, so Modal builds it once and reuses
    it. ``agent_packages``: the agents' npm pins (``AgentSpec.npm``), baked in."""
    clis = " ".join(f"{name}@{version}" for name, version in sorted(agent_packages.items()))
    return (
        modal.Image.from_registry(BASE_IMAGE, add_python=PYTHON_VERSION)
        .apt_install("bash", "ca-certificates", "coreutils", "findutils", "git", "procps", "ripgrep", "tar")
        .run_commands(f"npm install -g --no-audit --no-fund {clis}", f"mkdir -p {SANDBOX_ROOT}")
        .env({"DISABLE_AUTOUPDATER": "1", "NPM_CONFIG_UPDATE_NOTIFIER": "false", "LANG": "C.UTF-8"})
    )


async def _built_image(modal: ModuleType, connection: _Connection, agent_packages: Mapping[str, str]) -> Any:
    if connection.image is None:
        # Built on first use, then a cache hit on Modal's side (same definition, same image).
        connection.image = await sandbox_image(modal, agent_packages).build.aio(connection.app)
    return connection.image


def _sdk_error(modal: ModuleType) -> type[BaseException]:
    return modal.exception.Error


# ---------------------------------------------------------------------------- process


def _split_lines(pending: bytes, chunk: bytes) -> tuple[list[bytes], bytes]:
    """Append ``chunk``; return the complete lines (and pieces of over-long ones) and the rest."""
    pending += chunk
    lines: list[bytes] = []
    if b"\n" in chunk:
        *lines, pending = pending.split(b"\n")
    while len(pending) >= MAX_LINE:
        lines.append(pending[:MAX_LINE])
        pending = pending[MAX_LINE:]
    return lines, pending


class ModalProcess:
    """A process exec'd in a Modal sandbox; its stdout and stderr are drained from the start."""

    pid: int | None = None

    def __init__(self, primitive: ModalPrimitive, handle: Any, modal: ModuleType) -> None:
        self._primitive = primitive
        self._handle = handle
        self._error = _sdk_error(modal)
        loop = asyncio.get_running_loop()
        self._pgid: asyncio.Future[int | None] = loop.create_future()
        self._stdout: asyncio.Queue[bytes | None] = asyncio.Queue(_STREAM_QUEUE)
        self._stderr: asyncio.Queue[bytes | None] = asyncio.Queue(_STREAM_QUEUE)
        self._stdin_lock = asyncio.Lock()
        self._stdin_closed = False
        self._returncode: int | None = None
        self._pumps = [
            loop.create_task(self._pump(handle.stdout, self._stdout, marker=False)),
            loop.create_task(self._pump(handle.stderr, self._stderr, marker=True)),
        ]

    async def _pump(self, stream: Any, queue: asyncio.Queue[bytes | None], *, marker: bool) -> None:
        pending = b""
        expect_marker = marker
        try:
            async for chunk in stream:
                if isinstance(chunk, str):
                    chunk = chunk.encode()
                lines, pending = _split_lines(pending, chunk)
                if expect_marker and lines:
                    expect_marker = False
                    if lines[0].startswith(_PGID_MARKER):
                        self._set_pgid(lines.pop(0)[len(_PGID_MARKER) :])
                for line in lines:
                    await queue.put(line)
            if pending:
                await queue.put(pending)
        except asyncio.CancelledError:
            # Abandoned (the sandbox was terminated): the reader still gets its end of stream,
            # even if that costs a line nobody was reading anyway.
            while True:
                try:
                    queue.put_nowait(None)
                    break
                except asyncio.QueueFull:
                    queue.get_nowait()
            raise
        except Exception as exc:  # noqa: BLE001 - a lost stream ends the output; it must not kill the pump
            log.debug("output stream of a Modal exec ended: %r", exc)
        finally:
            if marker and not self._pgid.done():
                self._pgid.set_result(None)
        await queue.put(None)

    def _set_pgid(self, raw: bytes) -> None:
        if not self._pgid.done():
            try:
                self._pgid.set_result(int(raw.strip()))
            except ValueError:
                self._pgid.set_result(None)

    async def _lines(self, queue: asyncio.Queue[bytes | None]) -> AsyncIterator[bytes]:
        while True:
            line = await queue.get()
            if line is None:
                return
            yield line

    def stdout_lines(self) -> AsyncIterator[bytes]:
        return self._lines(self._stdout)

    def stderr_lines(self) -> AsyncIterator[bytes]:
        return self._lines(self._stderr)

    async def write_stdin(self, data: bytes) -> None:
        async with self._stdin_lock:
            if self._stdin_closed or self._returncode is not None:
                return
            try:
                for start in range(0, len(data), _STDIN_CHUNK):
                    self._handle.stdin.write(data[start : start + _STDIN_CHUNK])
                    await self._handle.stdin.drain.aio()
            except (self._error, ValueError, OSError) as exc:
                # The process is gone (as a broken pipe is for a local process): nothing to tell.
                log.debug("stdin of a Modal exec: %r", exc)

    async def close_stdin(self) -> None:
        async with self._stdin_lock:
            if self._stdin_closed:
                return
            self._stdin_closed = True
            try:
                self._handle.stdin.write_eof()
                await self._handle.stdin.drain.aio()
            except (self._error, ValueError, OSError) as exc:
                log.debug("closing stdin of a Modal exec: %r", exc)

    async def wait(self) -> int:
        """The exit code: ``128 + n`` for a signal n, ``-1`` for an exec timeout or a lost sandbox."""
        if self._returncode is None:
            try:
                code = await self._handle.wait.aio()
            except Exception as exc:  # noqa: BLE001 - e.g. the sandbox is gone: the process is too
                log.warning("waiting for a Modal exec: %r", exc)
                code = -1
            self._returncode = code
        await asyncio.gather(*self._pumps, return_exceptions=True)
        self._primitive._processes.discard(self)
        return self._returncode

    async def signal_group(self, signum: int) -> None:
        try:
            pgid = await asyncio.wait_for(asyncio.shield(self._pgid), _PGID_WAIT_S)
        except TimeoutError:
            pgid = None
        if pgid is None:
            return
        await self._primitive._signal_group(pgid, signum)

    async def kill(self) -> None:
        """Kill the process group. When the process has already exited this only sweeps up what it
        left behind, so it runs in the background (a query's end does not wait a round trip)."""
        if self._returncode is not None:
            self._primitive._background(self.signal_group(signal.SIGKILL))
            return
        await self.signal_group(signal.SIGKILL)

    def _abandon(self) -> None:
        for pump in self._pumps:
            pump.cancel()


# ---------------------------------------------------------------------------- primitive


class ModalPrimitive:
    """A Modal sandbox per session. ``environment_id`` is the sandbox's object id (``sb-...``)."""

    name = "modal"

    def __init__(self, session_id: str, config: RuntimeConfig, agent_packages: Mapping[str, str] | None = None) -> None:
        self.session_id = session_id
        self.config = config
        #: npm package -> version installed in the image (the registered agents' pins).
        self.agent_packages: Mapping[str, str] = agent_packages or {}
        self.session_dir = f"{SANDBOX_ROOT.rstrip('/')}/{session_id}"
        self._sandbox: Any = None
        self._modal: ModuleType | None = None
        self._id: str | None = None
        self._status: StatusCallback | None = None
        self._secret_env: dict[str, str] = {}
        self._processes: set[ModalProcess] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def environment_id(self) -> str | None:
        return self._id

    def configure(self, *, status: StatusCallback | None = None, profile: Any = None) -> None:
        """Called by ``ExecutionEnvironment`` before ``start``: where to report each phase of a cold
        start, and the agent profile whose ``env`` names become the sandbox's secret."""
        self._status = status
        if profile is not None:
            host_env = self.config.host_env if self.config.host_env is not None else os.environ
            self._secret_env = {
                name: host_env[name] for name in getattr(profile, "env", []) if name in host_env
            }

    async def _report(self, message: str) -> None:
        if self._status is not None:
            await self._status(message)

    def tags(self) -> dict[str, str]:
        return {"app": APP_TAG, "session": self.session_id, "owner": owner_tag(self.config)}

    def _timeouts(self) -> tuple[int, int | None]:
        timeout = int(min(max(_modal_config(self.config).timeout_s, 60), MAX_TIMEOUT_S))
        idle_s = self.config.idle_timeout_ms / 1000
        idle = int(min(idle_s + IDLE_MARGIN_S, timeout)) if idle_s > 0 else None
        return timeout, idle

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        available, reason = modal_available(self.config)
        if not available:
            raise SandboxError(reason or "modal unavailable", code="MODAL_UNAVAILABLE")
        modal = self._modal = _sdk()
        try:
            await self._report("Connecting to Modal")
            connection = await _app(modal, self.config)
            await self._report("Looking up the sandbox image (built on first use, then cached by Modal)")
            image = await _built_image(modal, connection, self.agent_packages)
            await self._report("Scheduling the Modal sandbox")
            sandbox = await self._create(modal, connection, image)
            self._sandbox, self._id = sandbox, sandbox.object_id
            await asyncio.gather(
                *(
                    sandbox.filesystem.make_directory.aio(f"{self.session_dir}/{sub}")
                    for sub in ("app", "workspace", "home")
                )
            )
        except modal.exception.Error as exc:
            await self.terminate()
            raise SandboxError(f"modal: {type(exc).__name__}: {exc}", code="MODAL_ERROR") from exc
        await self._report(f"Sandbox {self._id} is running")

    async def _create(self, modal: ModuleType, connection: _Connection, image: Any) -> Any:
        timeout, idle_timeout = self._timeouts()
        name = f"agent-tui-{self.session_id}"
        secrets = [modal.Secret.from_dict(dict(self._secret_env))] if self._secret_env else []
        for attempt in (1, 2):
            try:
                return await modal.Sandbox.create.aio(
                    "sleep",
                    "infinity",
                    app=connection.app,
                    image=image,
                    secrets=secrets,
                    workdir=SANDBOX_ROOT,
                    timeout=timeout,
                    idle_timeout=idle_timeout,
                    name=name,
                    tags=self.tags(),
                    client=connection.client,
                )
            except modal.exception.AlreadyExistsError:
                if attempt == 2:
                    raise
                # A sandbox of this session outlived its owner (a failed terminate): it is ours,
                # and names are unique in an app, so end it and take the name.
                old = await modal.Sandbox.from_name.aio(
                    _modal_config(self.config).app_name, name, client=connection.client
                )
                await old.terminate.aio()
        raise AssertionError("unreachable")

    async def attach(self, environment_id: str) -> bool:
        """Take over this session's sandbox after a restart of agent-tui, if it still runs."""
        if not modal_available(self.config)[0]:
            return False
        modal = self._modal = _sdk()
        try:
            connection = await _client(modal, self.config)
            sandbox = await modal.Sandbox.from_id.aio(environment_id, client=connection.client)
            if await sandbox.poll.aio() is not None:
                return False
            if (await sandbox.get_tags.aio()).get("session") != self.session_id:
                log.warning("sandbox %s does not belong to session %s", environment_id, self.session_id)
                return False
        except modal.exception.Error as exc:
            log.info(
                "sandbox %s of session %s cannot be re-attached: %r", environment_id, self.session_id, exc
            )
            return False
        self._sandbox, self._id = sandbox, environment_id
        return True

    async def is_running(self) -> bool:
        sandbox, modal = self._sandbox, self._modal
        if sandbox is None or modal is None:
            return False
        try:
            return await sandbox.poll.aio() is None
        except modal.exception.Error as exc:
            log.warning("polling sandbox %s: %r", self._id, exc)
            return False

    async def terminate(self) -> None:
        sandbox, modal = self._sandbox, self._modal
        self._sandbox = None
        self._id = None
        for process in list(self._processes):
            process._abandon()
        self._processes.clear()
        for task in list(self._tasks):
            task.cancel()
        if sandbox is None or modal is None:
            return
        try:
            await sandbox.terminate.aio()
        except modal.exception.Error as exc:
            log.warning("terminating a Modal sandbox: %r", exc)
        with contextlib.suppress(modal.exception.Error):
            await sandbox.detach.aio()

    def _require(self) -> tuple[Any, ModuleType]:
        if self._sandbox is None or self._modal is None:
            raise SandboxError("sandbox is not running", code="SANDBOX_NOT_RUNNING")
        return self._sandbox, self._modal

    def _background(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ exec

    def _exec_env(self, env: Mapping[str, str] | None) -> dict[str, str | None] | None:
        if env is None:
            return None
        merged: dict[str, str | None] = dict(env)
        path = env.get("PATH") or ""
        missing = [d for d in SANDBOX_PATH.split(":") if d not in path.split(":")]
        merged["PATH"] = ":".join(p for p in (path, *missing) if p)
        return merged

    async def exec(
        self,
        argv: list[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout_s: int | None = None,
    ) -> ModalProcess:
        """Start ``argv`` in its own process group. ``timeout_s`` ends it with exit code -1 (Modal's
        exec timeout, which the SDK reports as that return code rather than an exception)."""
        sandbox, modal = self._require()
        workdir = f"{self.session_dir}/{clean_relative(cwd)}" if cwd else self.session_dir
        try:
            handle = await sandbox.exec.aio(
                "bash",
                "-c",
                _GROUP_WRAPPER,
                "agent-tui-exec",
                *argv,
                workdir=workdir,
                env=self._exec_env(env),
                timeout=timeout_s,
                text=False,
            )
        except modal.exception.Error as exc:
            raise SandboxError(f"could not start {argv[0]!r}: {exc}", code="EXEC_FAILED") from exc
        process = ModalProcess(self, handle, modal)
        self._processes.add(process)
        return process

    async def _run(
        self, argv: list[str], stdin: bytes | None = None, timeout_s: int = _HOUSEKEEPING_TIMEOUT_S
    ) -> tuple[int, bytes, bytes]:
        """Run a short housekeeping command to completion; returns (code, stdout, stderr)."""
        sandbox, modal = self._require()
        try:
            handle = await sandbox.exec.aio(*argv, workdir=SANDBOX_ROOT, timeout=timeout_s, text=False)

            async def feed() -> None:
                if stdin:
                    for start in range(0, len(stdin), _STDIN_CHUNK):
                        handle.stdin.write(stdin[start : start + _STDIN_CHUNK])
                        await handle.stdin.drain.aio()
                handle.stdin.write_eof()
                await handle.stdin.drain.aio()

            _, out, err, code = await asyncio.gather(
                feed(), handle.stdout.read.aio(), handle.stderr.read.aio(), handle.wait.aio()
            )
        except modal.exception.Error as exc:
            raise SandboxError(f"modal: {type(exc).__name__}: {exc}", code="MODAL_ERROR") from exc
        if code == -1:
            raise SandboxError(f"{argv[0]} timed out in the sandbox", code="SANDBOX_TIMEOUT")
        return code, out, err

    async def run_capture(self, argv: list[str], stdin: bytes | None = None) -> tuple[int, bytes, bytes]:
        """Run a short command to completion, binary-safe; ``(code, stdout, stderr)`` (workspace sync)."""
        return await self._run(argv, stdin)

    async def _signal_group(self, pgid: int, signum: int) -> None:
        if self._sandbox is None:
            return
        with contextlib.suppress(SandboxError):
            await self._run(
                [
                    "bash",
                    "-c",
                    'kill -n "$1" -- "-$2" 2>/dev/null; exit 0',
                    "kill",
                    str(int(signum)),
                    str(int(pgid)),
                ],
                timeout_s=60,
            )

    # ------------------------------------------------------------------ files

    async def _confine(self, relative: str) -> str:
        """The real path of ``session_dir/relative`` in the sandbox; InvalidPath if a symlink leads out."""
        code, out, err = await self._run(
            [
                "bash",
                "-c",
                _CONFINE,
                "confine",
                f"{self.session_dir}/{_confinement(relative)}",
                f"{self.session_dir}/{relative}",
            ]
        )
        if code == _OUTSIDE:
            raise InvalidPath(f"path escapes the workspace: {relative!r}")
        if code != 0:
            raise SandboxError(f"could not resolve {relative!r}: {err.decode(errors='replace')[-500:]}")
        return out.decode("utf-8", "surrogateescape")

    async def read_file(self, path: str) -> bytes:
        relative = clean_relative(path)
        sandbox, modal = self._require()
        target = await self._confine(relative)
        errors = modal.exception
        try:
            return await sandbox.filesystem.read_bytes.aio(target)
        except (
            errors.SandboxFilesystemNotFoundError,
            errors.SandboxFilesystemIsADirectoryError,
            errors.SandboxFilesystemNotADirectoryError,
        ) as exc:
            raise FileNotFound(f"no such file: {path}") from exc
        except errors.Error as exc:
            raise SandboxError(f"could not read {path!r}: {exc}", code="FILE_READ_FAILED") from exc

    async def write_file(self, path: str, data: bytes) -> None:
        relative = clean_relative(path)
        sandbox, modal = self._require()
        target = await self._confine(relative)
        try:
            await sandbox.filesystem.write_bytes.aio(data, target)
        except modal.exception.Error as exc:
            raise SandboxError(f"could not write {path!r}: {exc}", code="FILE_WRITE_FAILED") from exc

    async def write_files(self, files: Mapping[str, bytes]) -> None:
        """All files in one round trip: one tar, piped into ``tar -x`` in the sandbox."""
        cleaned = {clean_relative(p): bytes(d) for p, d in files.items()}
        self._require()
        if not cleaned:
            return
        archive = await asyncio.to_thread(_tar, cleaned)
        code, _, err = await self._run(
            ["bash", "-c", _UNTAR, "untar", self.session_dir, *_pairs(cleaned)], stdin=archive
        )
        if code == _OUTSIDE:
            raise InvalidPath(f"path escapes the workspace: {err.decode(errors='replace').strip()!r}")
        if code != 0:
            raise SandboxError(
                f"could not write files: {err.decode(errors='replace')[-500:]}", code="FILE_WRITE_FAILED"
            )

    async def list_files(self, path: str = "workspace", *, recursive: bool = True) -> list[RemoteFile]:
        relative = clean_relative(path)
        self._require()
        code, out, err = await self._run(
            [
                "bash",
                "-c",
                _LIST,
                "list",
                f"{self.session_dir}/{_confinement(relative)}",
                f"{self.session_dir}/{relative}",
                "" if recursive else "1",
            ]
        )
        if code == _OUTSIDE:
            raise InvalidPath(f"path escapes the workspace: {path!r}")
        if code != 0:
            raise SandboxError(f"could not list {path!r}: {err.decode(errors='replace')[-500:]}")
        fields = out.split(b"\0")
        files = [
            RemoteFile(
                fields[i].decode("utf-8", "surrogateescape"),
                int(fields[i + 1]),
                int(float(fields[i + 2]) * 1000),
            )
            for i in range(0, len(fields) - 2, 3)
        ]
        files.sort(key=lambda f: f.path)
        return files


def _confinement(relative: str) -> str:
    """The folder a path must stay in: ``app/``, ``workspace/`` or ``home/`` for paths inside one
    of them (as the local primitive does: a symlink in the workspace must not reach the agent's
    home), else the session folder itself."""
    top, _, rest = relative.partition("/")
    return top if top in ("app", "workspace", "home") and rest else "."


def _pairs(relatives: Mapping[str, bytes]) -> list[str]:
    return [item for relative in relatives for item in (_confinement(relative), relative)]


def _tar(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, now
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# ---------------------------------------------------------------------------- start-up sweep


async def sweep_orphans(config: RuntimeConfig, owned_environment_ids: set[str]) -> int:
    """Terminate this store's sandboxes (tagged ``app=agent-tui`` and our ``owner``) that no session
    owns: a sandbox left running by an agent-tui that died costs money until its timeout."""
    if not modal_available(config)[0]:
        return 0
    modal = _sdk()
    connection = await _app(modal, config)
    swept = 0
    async for sandbox in modal.Sandbox.list.aio(
        app_id=connection.app.app_id,
        client=connection.client,
        tags={"app": APP_TAG, "owner": owner_tag(config)},
    ):
        if sandbox.object_id in owned_environment_ids:
            continue
        try:
            await sandbox.terminate.aio()
            swept += 1
        except modal.exception.Error as exc:
            log.warning("could not terminate orphaned sandbox %s: %r", sandbox.object_id, exc)
    if swept:
        log.info("terminated %d orphaned Modal sandbox(es)", swept)
    return swept


__all__ = [
    "ModalPrimitive",
    "ModalProcess",
    "modal_available",
    "owner_tag",
    "reset_caches",
    "sandbox_image",
    "sweep_orphans",
]
