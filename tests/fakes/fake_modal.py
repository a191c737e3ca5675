"""A fake ``modal`` SDK: the part agent-tui's adapter uses, with the installed SDK's call signatures.

Installed at exactly the adapter's boundary, ``sys.modules["modal"]`` (see ``install``), so
``runtime/primitives/modal.py`` runs unchanged on top of it. Below the SDK surface everything is
real: a "sandbox" is a ``sleep infinity`` process, ``Sandbox.exec`` starts real local processes
(in the sandbox's environment, in their own session), ``sandbox.filesystem`` reads and writes real
files. Absolute sandbox paths are host paths: tests point the adapter's ``SANDBOX_ROOT`` at a temp
dir.

Like synchronicity's wrappers, every remote call has a blocking form and an ``.aio`` form. Here
the blocking form raises ``BlockingCallError``: agent-tui runs on an event loop and must only use
``.aio``. ``tests/modal/test_fake_signatures.py`` checks each signature against the installed
``modal`` package, so the fake cannot drift from the SDK.

State is module-level (``registry``) so a sandbox outlives the runtime that created it, as a real
one outlives agent-tui: ``Sandbox.from_id`` after a "restart" finds it. ``reset()`` ends them all.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import enum
import functools
import itertools
import os
import signal
import subprocess
import sys
import types
from collections.abc import AsyncGenerator, Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__version__ = "1.6.4"

#: Environment variables marking every process of a fake sandbox (for ``terminate``/``crash``)
#: and of one exec (for its timeout), whatever process group it moved to.
MARKER = "FAKE_MODAL_SANDBOX_ID"
EXEC_MARKER = "FAKE_MODAL_EXEC_ID"
_TASK_ROUTER_MAX_BUFFER = 16 * 1024 * 1024


class BlockingCallError(AssertionError):
    """A blocking Modal call was made: on the event loop only ``.aio`` forms are allowed."""


# ---------------------------------------------------------------------------- exceptions


class _Exceptions(types.SimpleNamespace):
    pass


class Error(Exception):
    pass


class AlreadyExistsError(Error):
    pass


class InvalidError(Error):
    pass


class NotFoundError(Error):
    pass


class ClientClosed(Error):
    pass


class SandboxTerminatedError(Error):
    pass


class TimeoutError(Error):  # noqa: A001 - the SDK's name
    pass


class ExecTimeoutError(TimeoutError):
    pass


class SandboxFilesystemError(Error):
    pass


class SandboxFilesystemNotFoundError(SandboxFilesystemError):
    pass


class SandboxFilesystemIsADirectoryError(SandboxFilesystemError):
    pass


class SandboxFilesystemNotADirectoryError(SandboxFilesystemError):
    pass


class SandboxFilesystemPermissionError(SandboxFilesystemError):
    pass


class SandboxFilesystemDirectoryNotEmptyError(SandboxFilesystemError):
    pass


class SandboxFilesystemFileTooLargeError(SandboxFilesystemError):
    pass


exception = _Exceptions(
    **{
        cls.__name__: cls
        for cls in (
            Error,
            AlreadyExistsError,
            InvalidError,
            NotFoundError,
            ClientClosed,
            SandboxTerminatedError,
            TimeoutError,
            ExecTimeoutError,
            SandboxFilesystemError,
            SandboxFilesystemNotFoundError,
            SandboxFilesystemIsADirectoryError,
            SandboxFilesystemNotADirectoryError,
            SandboxFilesystemPermissionError,
            SandboxFilesystemDirectoryNotEmptyError,
            SandboxFilesystemFileTooLargeError,
        )
    }
)


class StreamType(enum.Enum):
    DEVNULL = -3
    PIPE = -1
    STDOUT = -2


stream_type = types.SimpleNamespace(StreamType=StreamType)


# ---------------------------------------------------------------------------- blocking vs .aio


class _WithAio:
    """A callable whose plain call is the (forbidden) blocking form and whose ``.aio`` is async."""

    def __init__(self, fn: Callable[..., Any], name: str) -> None:
        self.aio = fn
        self._name = name
        functools.update_wrapper(self, fn)

    def __call__(self, *_args: Any, **_kwargs: Any) -> Any:
        raise BlockingCallError(
            f"blocking Modal call {self._name}(): use {self._name}.aio(...) on the event loop"
        )


class _aio_static:  # noqa: N801 - used like staticmethod
    def __init__(self, fn: Callable[..., Any]) -> None:
        self._fn = fn

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = f"{owner.__name__}.{name}"

    def __get__(self, obj: Any, owner: type | None = None) -> _WithAio:
        return _WithAio(self._fn, self._name)


class _aio_classmethod(_aio_static):  # noqa: N801
    def __get__(self, obj: Any, owner: type | None = None) -> _WithAio:
        return _WithAio(types.MethodType(self._fn, owner if owner is not None else type(obj)), self._name)


class _aio_method(_aio_static):  # noqa: N801
    def __get__(self, obj: Any, owner: type | None = None) -> _WithAio:
        if obj is None:
            return _WithAio(self._fn, self._name)
        return _WithAio(types.MethodType(self._fn, obj), self._name)


# ---------------------------------------------------------------------------- registry


@dataclass
class _SandboxState:
    object_id: str
    app_id: str
    name: str | None
    tags: dict[str, str]
    workdir: str
    env: dict[str, str]
    main: subprocess.Popen[bytes]
    create_kwargs: dict[str, Any]
    execs: list[ContainerProcess] = field(default_factory=list)
    returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            code = self.main.poll()
            if code is not None:
                self.returncode = 128 - code if code < 0 else code
        return self.returncode


@dataclass
class _Registry:
    apps: dict[str, str] = field(default_factory=dict)  # name -> app id
    sandboxes: dict[str, _SandboxState] = field(default_factory=dict)
    #: Every remote call made, as (name, args, kwargs), for tests to inspect.
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = field(default_factory=list)


registry = _Registry()
_ids = itertools.count(1)


def _new_id(prefix: str) -> str:
    # Unique across processes too: ``terminate`` finds a sandbox's processes by this id, and two
    # test runs on one machine must not end each other's sandboxes.
    return f"{prefix}-fake{os.getpid()}x{next(_ids):04d}"


def _record(call: str, /, *args: Any, **kwargs: Any) -> None:
    registry.calls.append((call, args, kwargs))


def calls(name: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    return [(a, k) for n, a, k in registry.calls if n == name]


def _marked_pids(object_id: str, marker: str = MARKER) -> list[int]:
    """Every process (any group, any session) started in the fake sandbox (or exec) ``object_id``."""
    needle = f"{marker}={object_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
    return found


def _kill_all(state: _SandboxState) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(state.main.pid, signal.SIGKILL)
    for process in state.execs:
        process._kill_group()
    for pid in _marked_pids(state.object_id):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        state.main.wait(timeout=5)


def crash(object_id: str) -> None:
    """Test helper: the sandbox dies under its owner (OOM, Modal-side failure)."""
    state = registry.sandboxes[object_id]
    _kill_all(state)
    state.poll()


def running() -> list[str]:
    """Test helper: ids of the fake sandboxes still running."""
    return [i for i, s in registry.sandboxes.items() if s.poll() is None]


def reset() -> None:
    """Test helper: end every fake sandbox and forget all state."""
    for state in registry.sandboxes.values():
        _kill_all(state)
    registry.apps.clear()
    registry.sandboxes.clear()
    registry.calls.clear()


def install(monkeypatch: Any) -> types.ModuleType:
    """Replace ``modal`` with this module for one test (``monkeypatch`` undoes it)."""
    module = sys.modules[__name__]
    monkeypatch.setitem(sys.modules, "modal", module)
    return module


# ---------------------------------------------------------------------------- client, app, secret, image


class Client:
    def __init__(self, token_id: str, token_secret: str) -> None:
        self.token_id = token_id
        self.token_secret = token_secret

    @_aio_classmethod
    async def from_credentials(cls, token_id: str, token_secret: str) -> Client:
        _record("Client.from_credentials", token_id)
        return cls(token_id, token_secret)


class App:
    def __init__(self, name: str, app_id: str) -> None:
        self.name = name
        self._app_id = app_id

    @property
    def app_id(self) -> str | None:
        return self._app_id

    @_aio_static
    async def lookup(
        name: str,
        *,
        client: Client | None = None,
        environment_name: str | None = None,
        create_if_missing: bool = False,
    ) -> App:
        _record("App.lookup", name, client=client, create_if_missing=create_if_missing)
        if name not in registry.apps:
            if not create_if_missing:
                raise NotFoundError(f"App {name!r} not found")
            registry.apps[name] = _new_id("ap")
        return App(name, registry.apps[name])


class Secret:
    def __init__(self, env: dict[str, str | None]) -> None:
        self.env = env

    @staticmethod
    def from_dict(env_dict: dict[str, str | None] = {}) -> Secret:  # noqa: B006 - the SDK's signature
        return Secret(dict(env_dict))


class Image:
    """Records its definition; the fake "builds" nothing (the sandbox is this machine)."""

    def __init__(self, steps: tuple[tuple[str, Any], ...]) -> None:
        self.steps = steps
        self.object_id: str | None = None

    def _then(self, step: str, value: Any) -> Image:
        return Image((*self.steps, (step, value)))

    @staticmethod
    def debian_slim(python_version: str | None = None, force_build: bool = False) -> Image:
        return Image((("debian_slim", python_version),))

    @staticmethod
    def from_registry(
        tag: str,
        secret: Secret | None = None,
        *,
        setup_dockerfile_commands: list[str] = [],  # noqa: B006 - the SDK's signature
        force_build: bool = False,
        add_python: str | None = None,
        **kwargs: Any,
    ) -> Image:
        return Image((("from_registry", (tag, add_python)),))

    def apt_install(
        self,
        *packages: str | list[str],
        force_build: bool = False,
        env: dict[str, str | None] | None = None,
        secrets: Collection[Secret] | None = None,
        gpu: str | None = None,
    ) -> Image:
        return self._then("apt_install", packages)

    def run_commands(
        self,
        *commands: str | list[str],
        env: dict[str, str | None] | None = None,
        secrets: Collection[Secret] | None = None,
        volumes: dict[str, Any] | None = None,
        gpu: str | None = None,
        force_build: bool = False,
    ) -> Image:
        return self._then("run_commands", commands)

    def env(self, vars: dict[str, str]) -> Image:  # noqa: A002 - the SDK's name
        return self._then("env", dict(vars))

    @_aio_method
    async def build(self, app: App | None = None) -> Image:
        _record("Image.build", app=app)
        self.object_id = self.object_id or _new_id("im")
        return self


# ---------------------------------------------------------------------------- streams and processes


class StreamReader:
    def __init__(self, stream: asyncio.StreamReader | None, text: bool) -> None:
        self._stream = stream
        self._text = text
        self._decoder = codecs.getincrementaldecoder("utf-8")()

    async def _chunks(self) -> AsyncGenerator[Any, None]:
        if self._stream is None:
            return
        while True:
            # Arbitrary chunk boundaries, as the real stream has: lines are the adapter's job.
            data = await self._stream.read(65536)
            if not data:
                break
            if self._text:
                text = self._decoder.decode(data)
                if text:
                    yield text
            else:
                yield data
        if self._text:
            rest = self._decoder.decode(b"", final=True)
            if rest:
                yield rest

    def __aiter__(self) -> AsyncGenerator[Any, None]:
        return self._chunks()

    @_aio_method
    async def read(self) -> Any:
        parts = [part async for part in self._chunks()]
        return "".join(parts) if self._text else b"".join(parts)


class StreamWriter:
    def __init__(self, stream: asyncio.StreamWriter | None) -> None:
        self._stream = stream
        self._buffer = bytearray()
        self._eof = False

    def write(self, data: bytes | bytearray | memoryview | str) -> None:
        if self._eof:
            raise ValueError("Stdin is closed. Cannot write to it.")
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, not {type(data).__name__}")
        if len(self._buffer) + len(data) > _TASK_ROUTER_MAX_BUFFER:
            raise BufferError("Buffer size exceed limit. Call drain to flush the buffer.")
        self._buffer.extend(data)

    def write_eof(self) -> None:
        self._eof = True

    @_aio_method
    async def drain(self) -> None:
        stream = self._stream
        data, self._buffer = bytes(self._buffer), bytearray()
        if stream is None:
            return
        # Like the real command router: writing to a process that has exited is not an error.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            if data and not stream.is_closing():
                stream.write(data)
                await stream.drain()
            if self._eof and not stream.is_closing():
                stream.close()


class ContainerProcess:
    """An exec'd process. It is a plain ``Popen`` started in a worker thread with its pipes attached
    to the loop, so (like the real SDK, whose work happens off the loop) the fake itself never
    holds the event loop: forking a big test process can take a while."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        streams: tuple[asyncio.StreamReader, asyncio.StreamReader, asyncio.StreamWriter],
        *,
        text: bool,
        timeout: int | None,
        exec_id: str,
    ) -> None:
        self._proc = proc
        self._exec_id = exec_id
        self._returncode: int | None = None
        self._timed_out = False
        stdout, stderr, stdin = streams
        self._stdout = StreamReader(stdout, text)
        self._stderr = StreamReader(stderr, text)
        self._stdin = StreamWriter(stdin)
        self._watchdog = asyncio.get_running_loop().call_later(timeout, self._time_out) if timeout else None

    @classmethod
    async def spawn(
        cls, argv: list[str], *, cwd: str, env: dict[str, str], text: bool, timeout: int | None, exec_id: str
    ) -> ContainerProcess:
        proc = await asyncio.to_thread(
            subprocess.Popen,
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        loop = asyncio.get_running_loop()
        readers = []
        for pipe in (proc.stdout, proc.stderr):
            reader = asyncio.StreamReader(limit=1 << 20)
            await loop.connect_read_pipe(lambda r=reader: asyncio.StreamReaderProtocol(r), pipe)
            readers.append(reader)
        transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, proc.stdin)
        writer = asyncio.StreamWriter(transport, protocol, None, loop)
        return cls(proc, (readers[0], readers[1], writer), text=text, timeout=timeout, exec_id=exec_id)

    def _time_out(self) -> None:
        # Modal ends the whole exec on its timeout, including children in other process groups.
        self._timed_out = True
        self._kill_group()
        for pid in _marked_pids(self._exec_id, EXEC_MARKER):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def _kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)

    @property
    def stdout(self) -> StreamReader:
        return self._stdout

    @property
    def stderr(self) -> StreamReader:
        return self._stderr

    @property
    def stdin(self) -> StreamWriter:
        return self._stdin

    @property
    def returncode(self) -> int:
        if self._returncode is None:
            raise InvalidError("You must call wait() before accessing the returncode.")
        return self._returncode

    def _code(self, raw: int) -> int:
        if self._timed_out:
            return -1  # the SDK's way of saying "exec timeout"
        return 128 - raw if raw < 0 else raw

    @_aio_method
    async def poll(self) -> int | None:
        raw = self._proc.poll()
        if raw is None:
            return None
        self._returncode = self._code(raw)
        return self._returncode

    @_aio_method
    async def wait(self) -> int:
        raw = await asyncio.to_thread(self._proc.wait)
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._returncode = self._code(raw)
        return self._returncode


# ---------------------------------------------------------------------------- filesystem


def _absolute(path: str, operation: str) -> Path:
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidError(f"{operation}: remote path must be absolute, got {path!r}")
    return Path(path)


def _fs_errors(path: str) -> Any:
    @contextlib.contextmanager
    def translate() -> Any:
        try:
            yield
        except FileNotFoundError as exc:
            raise SandboxFilesystemNotFoundError(f"No such file or directory: {path}") from exc
        except IsADirectoryError as exc:
            raise SandboxFilesystemIsADirectoryError(f"Is a directory: {path}") from exc
        except NotADirectoryError as exc:
            raise SandboxFilesystemNotADirectoryError(f"Not a directory: {path}") from exc
        except PermissionError as exc:
            raise SandboxFilesystemPermissionError(f"Permission denied: {path}") from exc
        except OSError as exc:
            raise SandboxFilesystemError(f"{exc}: {path}") from exc

    return translate()


@dataclass
class FileInfo:
    name: str
    path: str
    type: str
    size: int
    modified_time: float


class SandboxFilesystem:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    @_aio_method
    async def read_bytes(self, remote_path: str) -> bytes:
        self._sandbox._live()
        target = _absolute(remote_path, "read_bytes")
        with _fs_errors(remote_path):
            return await asyncio.to_thread(target.read_bytes)

    @_aio_method
    async def write_bytes(self, data: bytes | bytearray | memoryview, remote_path: str) -> None:
        self._sandbox._live()
        target = _absolute(remote_path, "write_bytes")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("data must be bytes-like")

        def write() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(bytes(data))

        with _fs_errors(remote_path):
            await asyncio.to_thread(write)

    @_aio_method
    async def make_directory(self, remote_path: str, *, create_parents: bool = True) -> None:
        self._sandbox._live()
        target = _absolute(remote_path, "make_directory")
        with _fs_errors(remote_path):
            await asyncio.to_thread(target.mkdir, parents=create_parents, exist_ok=create_parents)

    @_aio_method
    async def remove(self, remote_path: str, *, recursive: bool = False) -> None:
        import shutil

        self._sandbox._live()
        target = _absolute(remote_path, "remove")
        with _fs_errors(remote_path):
            if target.is_dir() and not target.is_symlink():
                await asyncio.to_thread(shutil.rmtree if recursive else os.rmdir, target)
            else:
                await asyncio.to_thread(target.unlink)

    @_aio_method
    async def list_files(self, remote_path: str) -> list[FileInfo]:
        self._sandbox._live()
        target = _absolute(remote_path, "list_files")

        def scan() -> list[FileInfo]:
            out = []
            for entry in sorted(target.iterdir()):
                st = entry.lstat()
                kind = "symlink" if entry.is_symlink() else "directory" if entry.is_dir() else "file"
                out.append(FileInfo(entry.name, str(entry), kind, st.st_size, st.st_mtime))
            return out

        with _fs_errors(remote_path):
            return await asyncio.to_thread(scan)


# ---------------------------------------------------------------------------- sandbox


class Sandbox:
    def __init__(self, state: _SandboxState) -> None:
        self._state = state
        self._attached = True
        self._filesystem: SandboxFilesystem | None = None

    def _live(self) -> _SandboxState:
        if not self._attached:
            raise ClientClosed("Unable to perform operation on a detached sandbox")
        if self._state.poll() is not None:
            raise SandboxTerminatedError(f"Sandbox {self._state.object_id} has finished")
        return self._state

    @property
    def object_id(self) -> str:
        return self._state.object_id

    @property
    def filesystem(self) -> SandboxFilesystem:
        if not self._attached:
            raise ClientClosed("Unable to perform operation on a detached sandbox")
        if self._filesystem is None:
            self._filesystem = SandboxFilesystem(self)
        return self._filesystem

    @property
    def returncode(self) -> int | None:
        return self._state.poll()

    @_aio_static
    async def create(
        *args: str,
        app: App | None = None,
        name: str | None = None,
        tags: dict[str, str] | None = None,
        image: Image | None = None,
        env: dict[str, str | None] | None = None,
        secrets: Collection[Secret] | None = None,
        network_file_systems: dict[Any, Any] = {},  # noqa: B006 - the SDK's signature
        timeout: int | None = 300,
        idle_timeout: int | None = None,
        workdir: str | None = None,
        gpu: str | None = None,
        cloud: str | None = None,
        region: str | Sequence[str] | None = None,
        cpu: float | tuple[float, float] | None = None,
        memory: int | tuple[int, int] | None = None,
        runtime: str | None = None,
        block_network: bool = False,
        outbound_cidr_allowlist: Sequence[str] | None = None,
        outbound_domain_allowlist: Sequence[str] | None = None,
        _experimental_outbound_policy: Any = None,
        inbound_cidr_allowlist: Sequence[str] | None = None,
        volumes: dict[Any, Any] = {},  # noqa: B006
        pty: bool = False,
        encrypted_ports: Sequence[int] = [],  # noqa: B006
        h2_ports: Sequence[int] = [],  # noqa: B006
        unencrypted_ports: Sequence[int] = [],  # noqa: B006
        custom_domain: str | None = None,
        proxy: Any = None,
        include_oidc_identity_token: bool = False,
        readiness_probe: Any = None,
        verbose: bool = False,
        experimental_options: dict[str, Any] | None = None,
        _experimental_enable_snapshot: bool = False,
        _experimental_persistent: bool = False,
        client: Client | None = None,
        environment_name: str | None = None,
        pty_info: Any = None,
        cidr_allowlist: Sequence[str] | None = None,
    ) -> Sandbox:
        kwargs = {
            "app": app,
            "name": name,
            "tags": tags,
            "image": image,
            "env": env,
            "secrets": secrets,
            "timeout": timeout,
            "idle_timeout": idle_timeout,
            "workdir": workdir,
            "client": client,
        }
        _record("Sandbox.create", *args, **kwargs)
        if app is None:
            raise InvalidError("Sandboxes require an App when created outside of a Modal container.")
        if pty or pty_info is not None:
            raise NotImplementedError("the fake has no pty (and agent-tui must not use one)")
        if timeout is not None and not 0 < timeout <= 24 * 60 * 60:
            raise InvalidError("timeout must be between 1 second and 24 hours")
        if idle_timeout is not None and idle_timeout <= 0:
            raise InvalidError("idle_timeout must be positive")
        if name is not None:
            for other in registry.sandboxes.values():
                if other.name == name and other.app_id == app.app_id and other.poll() is None:
                    raise AlreadyExistsError(f"Sandbox with name {name!r} already exists")
        if workdir is not None:
            _absolute(workdir, "workdir")
            Path(workdir).mkdir(parents=True, exist_ok=True)
        object_id = _new_id("sb")
        sandbox_env = {k: v for k, v in os.environ.items() if k not in (MARKER, EXEC_MARKER)}
        for secret in secrets or ():
            sandbox_env.update({k: v for k, v in secret.env.items() if v is not None})
        sandbox_env.update({k: v for k, v in (env or {}).items() if v is not None})
        sandbox_env[MARKER] = object_id
        main = await asyncio.to_thread(
            subprocess.Popen,
            list(args) or ["sleep", "infinity"],
            cwd=workdir or "/",
            env=sandbox_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        state = _SandboxState(
            object_id=object_id,
            app_id=app.app_id or "",
            name=name,
            tags=dict(tags or {}),
            workdir=workdir or "/",
            env=sandbox_env,
            main=main,
            create_kwargs=kwargs,
        )
        registry.sandboxes[object_id] = state
        return Sandbox(state)

    @_aio_static
    async def from_id(sandbox_id: str, client: Client | None = None) -> Sandbox:
        _record("Sandbox.from_id", sandbox_id)
        state = registry.sandboxes.get(sandbox_id)
        if state is None:
            raise NotFoundError(f"Sandbox {sandbox_id} not found")
        return Sandbox(state)

    @_aio_static
    async def from_name(
        app_name: str,
        name: str,
        *,
        environment_name: str | None = None,
        include_terminated: bool = False,
        client: Client | None = None,
    ) -> Sandbox:
        _record("Sandbox.from_name", app_name, name)
        app_id = registry.apps.get(app_name)
        for state in registry.sandboxes.values():
            if state.app_id == app_id and state.name == name and (include_terminated or state.poll() is None):
                return Sandbox(state)
        raise NotFoundError(f"Sandbox {name!r} not found in app {app_name!r}")

    @_aio_static
    async def list(
        *, app_id: str | None = None, tags: dict[str, str] | None = None, client: Client | None = None
    ) -> AsyncGenerator[Sandbox, None]:
        _record("Sandbox.list", app_id=app_id, tags=tags)
        for state in list(registry.sandboxes.values()):
            if state.poll() is not None:
                continue  # include_finished=False, as the SDK asks
            if app_id is not None and state.app_id != app_id:
                continue
            if any(state.tags.get(k) != v for k, v in (tags or {}).items()):
                continue
            yield Sandbox(state)

    @_aio_method
    async def poll(self) -> int | None:
        if not self._attached:
            raise ClientClosed("Unable to perform operation on a detached sandbox")
        return self._state.poll()

    @_aio_method
    async def get_tags(self) -> dict[str, str]:
        if not self._attached:
            raise ClientClosed("Unable to perform operation on a detached sandbox")
        return dict(self._state.tags)

    @_aio_method
    async def terminate(self, *, wait: bool = False) -> int | None:
        if not self._attached:
            raise ClientClosed("Unable to perform operation on a detached sandbox")
        _record("Sandbox.terminate", self._state.object_id)
        state = self._state
        if state.poll() is None:
            await asyncio.to_thread(_kill_all, state)
            state.returncode = 137
        return state.poll() if wait else None

    @_aio_method
    async def detach(self) -> None:
        self._attached = False

    @_aio_method
    async def exec(
        self,
        *args: str,
        stdout: StreamType = StreamType.PIPE,
        stderr: StreamType = StreamType.PIPE,
        timeout: int | None = None,
        workdir: str | None = None,
        env: dict[str, str | None] | None = None,
        secrets: Collection[Secret] | None = None,
        text: bool = True,
        bufsize: int = -1,
        pty: bool = False,
        _pty_info: Any = None,
        pty_info: Any = None,
    ) -> ContainerProcess:
        state = self._live()
        if pty or pty_info is not None or _pty_info is not None:
            raise NotImplementedError("the fake has no pty (and agent-tui must not use one)")
        if stdout != StreamType.PIPE or stderr != StreamType.PIPE:
            raise NotImplementedError("agent-tui always pipes stdout and stderr")
        if workdir is not None:
            _absolute(workdir, "exec workdir")
        merged = dict(state.env)
        for secret in secrets or ():
            merged.update({k: v for k, v in secret.env.items() if v is not None})
        for key, value in (env or {}).items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        merged[MARKER] = state.object_id
        exec_id = _new_id("ex")
        merged[EXEC_MARKER] = exec_id
        try:
            process = await ContainerProcess.spawn(
                list(args),
                cwd=workdir or state.workdir,
                env=merged,
                text=text,
                timeout=timeout,
                exec_id=exec_id,
            )
        except OSError as exc:
            raise InvalidError(f"exec failed: {exc}") from exc
        state.execs.append(process)
        return process
