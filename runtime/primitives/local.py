"""The ``local`` primitive: a folder per session on this machine, processes in their own group."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import signal
import stat
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import FileNotFound, FileTooLarge, InvalidPath, SandboxError
from .base import RemoteFile
from .isolation import SandboxPolicy, bwrap_argv, existing, exit_code
from .paths import check_served_file, clean_relative, confine, walk_files

if TYPE_CHECKING:
    from ..models import AgentProfile

#: A line longer than this is delivered in pieces (a runner printing 10 MB without a newline
#: must not make us buffer it whole).
MAX_LINE = 1 << 20
_READ_CHUNK = 1 << 16
_STREAM_QUEUE = 256


async def _pump(stream: asyncio.StreamReader, queue: asyncio.Queue[bytes | None]) -> None:
    """Split a byte stream into lines and queue them; never stop reading until EOF."""
    pending = b""
    try:
        while True:
            chunk = await stream.read(_READ_CHUNK)
            if not chunk:
                break
            pending += chunk
            if b"\n" in chunk:
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    await queue.put(line)
            while len(pending) >= MAX_LINE:
                await queue.put(pending[:MAX_LINE])
                pending = pending[MAX_LINE:]
        if pending:
            await queue.put(pending)
    except (ConnectionError, OSError):
        pass
    finally:
        await queue.put(None)


class LocalProcess:
    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        sweep: Callable[[], Awaitable[int]] | None = None,
        *,
        isolated: bool = False,
        info: asyncio.StreamReader | None = None,
    ) -> None:
        self._proc = proc
        self._sweep = sweep
        #: Started under bwrap: ``proc`` is bwrap; the sandbox is the process group of its child,
        #: the init of the sandbox's PID namespace, whose host pid bwrap writes to ``info``.
        self._isolated = isolated
        self._init: asyncio.Task[int | None] | None = (
            asyncio.create_task(_read_init_pid(info)) if info is not None else None
        )
        self.pid: int | None = proc.pid
        self._stdout: asyncio.Queue[bytes | None] = asyncio.Queue(_STREAM_QUEUE)
        self._stderr: asyncio.Queue[bytes | None] = asyncio.Queue(_STREAM_QUEUE)
        assert proc.stdout is not None and proc.stderr is not None
        self._pumps = [
            asyncio.create_task(_pump(proc.stdout, self._stdout)),
            asyncio.create_task(_pump(proc.stderr, self._stderr)),
        ]

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
        stdin = self._proc.stdin
        if stdin is None or stdin.is_closing():
            return
        try:
            stdin.write(data)
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass

    async def close_stdin(self) -> None:
        stdin = self._proc.stdin
        if stdin is not None and not stdin.is_closing():
            stdin.close()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await stdin.wait_closed()

    async def wait(self) -> int:
        code = await self._proc.wait()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        return exit_code(code) if self._isolated else code

    async def _init_pid(self) -> int | None:
        if self._init is None:
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(self._init), 5.0)
        except TimeoutError:
            return None

    async def signal_group(self, signum: int) -> None:
        if self._isolated:
            # The sandbox's init leads the sandbox's own session and group; bwrap itself would
            # just die of a SIGTERM (and take the sandbox down with it, ungracefully).
            init = await self._init_pid()
            if init is not None and self._proc.returncode is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(init, signum)
            if signum != signal.SIGKILL:
                return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signum)

    async def kill(self) -> None:
        await self.signal_group(signal.SIGKILL)
        # The leader may already be gone while its group lives on: the killpg above covers that.
        with contextlib.suppress(ProcessLookupError):
            self._proc.kill()
        init = await self._init_pid()
        if init is not None:
            # Nothing leaves a PID namespace, and its init ends only once the kernel has killed
            # everything in it; bwrap may exit before that (as soon as the init reports the
            # runner's exit status), so wait for the init itself.
            delay = 0.001
            for _ in range(200):
                if not _running(init, "bwrap"):
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.02)
        if self._sweep is not None:
            # What left the group (setsid, a daemonizing tool) while the runner, which would have
            # reaped it as a subreaper, was killed before it could.
            await self._sweep()


async def _read_init_pid(info: asyncio.StreamReader) -> int | None:
    """The host pid of the sandbox's init, from bwrap's ``--info-fd`` (None if bwrap failed)."""
    import json

    try:
        data = await info.read(1 << 16)  # bwrap writes one small JSON document, then closes it
        while data.count(b"{") > data.count(b"}"):
            more = await info.read(1 << 16)
            if not more:
                break
            data += more
        pid = json.loads(data).get("child-pid")
    except (ValueError, OSError, AttributeError):
        return None
    return pid if isinstance(pid, int) and pid > 1 else None


class LocalPrimitive:
    """A sandbox that is a folder under the data dir. With a ``policy`` its processes run under
    bubblewrap (``isolation.py``); without, isolation is by process group and ``HOME`` only."""

    name = "local"

    def __init__(self, root: Path, session_id: str, policy: SandboxPolicy | None = None) -> None:
        # Under bwrap the folders are bound at their real path: a symlink on the way to them
        # could lie inside a hidden folder.
        self.root = (Path(os.path.realpath(root)) if policy is not None else Path(root)) / session_id
        self.session_dir = str(self.root)
        self.policy = policy
        self._id: str | None = None
        self._processes: set[LocalProcess] = set()

    def configure(self, *, profile: AgentProfile | None = None, **_ignored: object) -> None:
        """Take the profile's network switch (``network = false``: no network in the sandbox)."""
        if self.policy is not None and profile is not None:
            self.policy = self.policy.with_network(profile.network)

    def expose_readonly(self, paths: list[str]) -> None:
        """Folders this sandbox may read although they lie in hidden ones (a worktree's
        repository git dir, for workspaces: docs/workspaces.md)."""
        if self.policy is not None:
            real = tuple(os.path.realpath(p) for p in paths)
            self.policy = replace(self.policy, expose=(*self.policy.expose, *real))

    @property
    def environment_id(self) -> str | None:
        return self._id

    async def start(self) -> None:
        await asyncio.to_thread(_make_private_dirs, self.root)
        self._id = f"local-{uuid.uuid4().hex[:12]}"

    def _require(self) -> None:
        if self._id is None or not self.root.is_dir():
            raise SandboxError("sandbox is not running", code="SANDBOX_NOT_RUNNING")

    async def exec(
        self, argv: list[str], *, cwd: str | None = None, env: Mapping[str, str] | None = None
    ) -> LocalProcess:
        self._require()
        workdir = confine(self.root, cwd) if cwd else self.root
        run_env = dict(env) if env is not None else None
        info_read = info_write = -1
        if self.policy is not None:
            info_read, info_write = os.pipe()
            os.set_inheritable(info_write, True)
            argv = bwrap_argv(existing(self.policy), str(self.root), argv, str(workdir), info_fd=info_write)
            if run_env is not None:
                # app/ is read-only inside: the runner's bytecode cache goes to its home.
                run_env.setdefault("PYTHONPYCACHEPREFIX", str(self.root / "home" / ".cache" / "agent-runner"))
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=str(workdir),
                env=run_env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # its own process group, killed as a group
                pass_fds=(info_write,) if info_write >= 0 else (),
            )
        except OSError as exc:
            if info_read >= 0:
                os.close(info_read)
            raise SandboxError(f"could not start {argv[0]!r}: {exc}", code="EXEC_FAILED") from exc
        finally:
            if info_write >= 0:
                os.close(info_write)
        info = await _reader(info_read) if info_read >= 0 else None
        process = LocalProcess(proc, sweep=self._sweep_escaped, isolated=self.policy is not None, info=info)
        self._processes.add(process)
        proc_wait = asyncio.ensure_future(proc.wait())
        proc_wait.add_done_callback(lambda _f: self._processes.discard(process))
        return process

    def _confine(self, path: str) -> Path:
        # Paths under app/, workspace/ or home/ are confined to that folder, so a symlink in the
        # workspace cannot reach the agent's home (or anything else in the session folder).
        relative = clean_relative(path)
        top, _, rest = relative.partition("/")
        if top in ("app", "workspace", "home") and rest:
            return confine(self.root / top, rest)
        return confine(self.root, relative)

    async def read_file(self, path: str) -> bytes:
        target = self._confine(path)
        top = clean_relative(path).partition("/")[0]
        root = self.root / top if top in ("app", "workspace", "home") else self.root
        return await asyncio.to_thread(_read_confined, root, target, path)

    async def write_file(self, path: str, data: bytes) -> None:
        await self.write_files({path: data})

    async def write_files(self, files: Mapping[str, bytes]) -> None:
        self._require()
        targets = {self._confine(p): d for p, d in files.items()}

        def write() -> None:
            for target, data in targets.items():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)

        await asyncio.to_thread(write)

    async def list_files(self, path: str = "workspace", *, recursive: bool = True) -> list[RemoteFile]:
        base = self._confine(path)

        def scan() -> list[RemoteFile]:
            out: list[RemoteFile] = []
            if not base.is_dir():
                return out
            # Symlinks are never followed (nor listed), hard-linked files not listed: paths.walk_files.
            for relative, st in walk_files(base, recursive=recursive):
                out.append(RemoteFile(relative, st.st_size, int(st.st_mtime * 1000)))
            return out

        return await asyncio.to_thread(scan)

    async def is_running(self) -> bool:
        return self._id is not None and self.root.is_dir()

    async def _sweep_escaped(self) -> int:
        # By environment only (HOME in this sandbox): never by working directory, which a user's
        # own shell open in the workspace may share.
        pids = await asyncio.to_thread(_sandbox_processes, os.path.realpath(self.root), False)
        return await _kill_and_wait(pids)

    async def terminate(self) -> None:
        """Kill every process and forget the sandbox's ``app/`` and ``home/`` (as a new Modal sandbox
        would), so a recreated sandbox really starts empty and must restore the agent's transcript.
        ``workspace/`` stays: on this machine it is the user's project folder."""
        for process in list(self._processes):
            await process.kill()
        self._processes.clear()
        if self._id is not None:
            self._id = None
            for sub in ("app", "home"):
                await asyncio.to_thread(shutil.rmtree, self.root / sub, True)

    async def destroy(self) -> None:
        """Terminate and remove the session folder (the session was deleted)."""
        await self.terminate()
        await asyncio.to_thread(shutil.rmtree, self.root, True)


async def _reader(fd: int) -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", 0))
    return reader


def _make_private_dirs(root: Path) -> None:
    """The session folder and its app/, workspace/, home/: the user's only (0700), whatever the
    umask; the sandboxes folder above them too when we create it."""
    if not root.parent.exists():
        root.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(root.parent, 0o700)
    for folder in (root, *(root / sub for sub in ("app", "workspace", "home"))):
        folder.mkdir(exist_ok=True)
        os.chmod(folder, 0o700)


#: Largest file ``read_file`` hands over (it is read into memory whole).
MAX_READ_BYTES = 256 * 1024 * 1024


def _read_confined(root: Path, target: Path, shown: str) -> bytes:
    """Read ``target`` (already confined to ``root`` by its real path) without following anything
    swapped in since that check: an agent can replace the file, or a folder on the way, with a
    symlink to outside between the check and the read. The final component is opened with
    ``O_NOFOLLOW`` and the file actually opened is checked again by its descriptor. Only regular
    files are read (a FIFO would block a thread forever), and only up to ``MAX_READ_BYTES``."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(target, flags)
    except FileNotFoundError as exc:
        raise FileNotFound(f"no such file: {shown}") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # the last component became a symlink
            raise InvalidPath(f"path escapes the workspace: {shown!r}") from exc
        if exc.errno == errno.ENAMETOOLONG:
            raise InvalidPath(f"path too long: {shown[:100]!r}...") from exc
        # Not a directory on the way, not readable, ...: as far as a client can tell, no such file.
        raise FileNotFound(f"no such file: {shown} ({exc.strerror})") from exc
    try:
        opened = f"/proc/self/fd/{fd}"
        if os.path.exists(opened):
            real = os.readlink(opened)
            root_real = os.path.realpath(root)
            if real != root_real and not real.startswith(root_real + os.sep):
                raise InvalidPath(f"path escapes the workspace: {shown!r}")
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileNotFound(f"no such file: {shown} (not a regular file)")
        check_served_file(info, root, shown)
        if info.st_size > MAX_READ_BYTES:
            raise FileTooLarge(
                f"{shown} is {info.st_size} bytes; files over {MAX_READ_BYTES} bytes are not served"
            )
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        remaining = MAX_READ_BYTES + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        if remaining <= 0:  # it grew past the limit while being read
            raise FileTooLarge(f"{shown} is over {MAX_READ_BYTES} bytes; not served")
        return b"".join(chunks)
    finally:
        os.close(fd)


async def sweep_orphans(root: Path, session_id: str) -> int:
    """Kill processes a dead agent-tui left running in a session's folder. Returns how many.

    A SIGKILLed agent-tui cannot kill its sandboxes' process groups, which outlive it (they are
    their own sessions); at the next start any process whose working directory is inside the
    session folder, or whose ``HOME`` is the sandbox's, is one of them.
    """
    folder = os.path.realpath(Path(root) / session_id)
    return await _kill_and_wait(await asyncio.to_thread(_sandbox_processes, folder, True))


def _sandbox_processes(folder: str, by_cwd: bool) -> list[int]:
    """Processes started in the sandbox at ``folder``: ``HOME`` is its ``home/`` (the runner and
    every agent process get that), or (``by_cwd``) the working directory is inside it."""
    found: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    home = f"HOME={folder}{os.sep}home".encode()
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        if by_cwd:
            try:
                cwd = os.readlink(entry / "cwd")
            except OSError:
                cwd = ""
            if cwd == folder or cwd.startswith(folder + os.sep):
                found.append(int(entry.name))
                continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if home in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


async def _kill_and_wait(pids: list[int]) -> int:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    # SIGKILL is asynchronous: wait (briefly) until they are really gone or zombies.
    for _ in range(200):
        if not any(_running(pid) for pid in pids):
            break
        await asyncio.sleep(0.01)
    return len(pids)


def _running(pid: int, name: str | None = None) -> bool:
    """Alive (not a zombie); with ``name``, and still that program (not a reused pid)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat_line = handle.read()
    except OSError:
        return False
    if name is not None and stat_line.partition("(")[2].rpartition(")")[0] != name:
        return False
    return stat_line.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")
