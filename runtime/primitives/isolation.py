"""Bubblewrap isolation of a ``local`` sandbox: the policy, and the ``bwrap`` argv built from it.

A local agent runs as the user; without a boundary it can read the runtime's database, the
server's token files and every other session. Under ``bwrap`` (what Claude Code's own sandbox
uses on Linux) it sees the host read-only, with the runtime's own folders, the user's home and
``/tmp`` replaced by empty tmpfs mounts, and only its session's ``workspace/`` and ``home/``
bound back writable (``app/``, the runner, read-only). See docs/isolation.md.

``bwrap_argv`` is a pure function of the policy and the session's paths (unit-tested); the
runtime builds the policy once at start (``build_policy``) and checks bwrap works (``detect``).
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..models import WireModel

#: bwrap exits ``128 + N`` when its child died of signal N.
SIGNAL_EXIT_BASE = 128


class IsolationState(WireModel):
    """Whether local sandboxes run isolated, and why not (shown by the TUI when they are not)."""

    enabled: bool
    reason: str = ""


@dataclass(frozen=True)
class SandboxPolicy:
    """What a local sandbox may see. Paths are real paths (symlinks resolved)."""

    #: Absolute path of the ``bwrap`` executable.
    bwrap: str
    #: Folders covered by an empty tmpfs: the data dir, the database's folder, the state and
    #: config dirs, the user's home, the user's runtime dir. ``/tmp`` is always private.
    hidden: tuple[str, ...] = ()
    #: Folders inside hidden ones bound back read-only so the runner's Python and the agent
    #: CLIs still run (a CLI installed under the home, say).
    expose: tuple[str, ...] = ()
    #: Whether the sandbox shares the host's network (agents call their model APIs).
    network: bool = True

    def with_network(self, network: bool) -> SandboxPolicy:
        return replace(self, network=network)


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _outermost(paths: Iterable[str]) -> list[str]:
    """Each folder once, without those inside another of them (a tmpfs over the outer one
    already hides them), outer first."""
    kept: list[str] = []
    for path in sorted(set(paths), key=lambda p: (p.count("/"), p)):
        if not any(_inside(path, outer) for outer in kept):
            kept.append(path)
    return kept


def bwrap_argv(
    policy: SandboxPolicy, session_root: str, argv: Sequence[str], cwd: str, *, info_fd: int | None = None
) -> list[str]:
    """The command line running ``argv`` in ``cwd`` inside the sandbox of ``session_root``
    (which holds ``app/``, ``workspace/`` and ``home/``; all paths real and absolute).
    ``info_fd``: where bwrap writes the host pid of the sandbox's init (``{"child-pid": N}``).

    Mount order matters: bwrap applies them in order, so the host goes in read-only first, the
    tmpfs mounts then cover the secrets, and the session's own folders are bound back last.
    """
    root = session_root.rstrip("/")
    return [
        *_frame(policy),
        "--ro-bind", f"{root}/app", f"{root}/app",
        "--bind", f"{root}/workspace", f"{root}/workspace",
        "--bind", f"{root}/home", f"{root}/home",
        *_seal(policy),
        *(["--info-fd", str(info_fd)] if info_fd is not None else []),
        "--chdir", cwd,
        "--",
        *argv,
    ]  # fmt: skip


def _hidden(policy: SandboxPolicy) -> list[str]:
    return [p for p in _outermost([*policy.hidden, "/tmp"]) if p != "/tmp"]


def _seal(policy: SandboxPolicy) -> list[str]:
    """The tmpfs mounts read-only once the session's folders are bound into them (the binds
    stay writable): nothing written beside them, even to a scratch copy nobody would see."""
    args: list[str] = []
    for path in _hidden(policy):
        args += ["--remount-ro", path]
    return args


def _frame(policy: SandboxPolicy) -> list[str]:
    """Everything but the session's own folders and the command."""
    args = [
        policy.bwrap,
        "--ro-bind", "/", "/",
        "--dev", "/dev",
        "--proc", "/proc",
        "--tmpfs", "/tmp",
        # Its own PID namespace, ended with us: when the host SIGKILLs bwrap (or agent-tui dies),
        # the kernel kills every process in it, including ones that left the process group.
        "--unshare-pid",
        "--unshare-ipc",
        "--die-with-parent",
        # A session (and process group) of its own inside: the runner's SIGTERM to its group
        # (a graceful interrupt) must reach the agent, not bwrap itself. Also stops TIOCSTI.
        "--new-session",
    ]  # fmt: skip
    if not policy.network:
        args.append("--unshare-net")
    for path in _hidden(policy):
        args += ["--tmpfs", path]
    for path in _outermost(policy.expose):
        args += ["--ro-bind", path, path]
    return args


def exit_code(code: int) -> int:
    """bwrap's exit code as a plain process's wait would read it, where that is knowable. bwrap
    reports a child killed by signal N as ``128 + N``, which a runner passing on an agent's own
    exit code (Gemini CLI exits 144, say) can also produce. Only SIGKILL is translated: it is
    the crash that matters (the OOM killer, ``kill -9``), and an agent exiting 137 was itself
    SIGKILLed (that is how a shell reports it), so "killed by signal 9" is true either way."""
    return -signal.SIGKILL if code == SIGNAL_EXIT_BASE + signal.SIGKILL else code


# --------------------------------------------------------------------------- policy


def _real(path: str | Path) -> str:
    return os.path.realpath(os.path.expanduser(str(path)))


def secret_dirs(
    *, data_dir: Path, db_path: Path | None, config_dir: Path, app_name: str = "agent-tui"
) -> list[str]:
    """The runtime's own folders: the sandboxes (every session's), the database's folder, the
    token files (the state dir) and the profiles (the config dir), both as configured and at
    their platform defaults. Never ``/``: a database at the root is hidden by its own name."""
    import platformdirs

    folders = [
        data_dir,
        config_dir,
        Path(platformdirs.user_data_dir(app_name)),
        Path(platformdirs.user_state_dir(app_name)),
        Path(platformdirs.user_config_dir(app_name)),
    ]
    if db_path is not None:
        folders.append(db_path.parent)
    return [p for p in (_real(f) for f in folders) if p != "/"]


def exposure_candidates(python: str, binaries: Iterable[str | None], bin_dirs: Iterable[str]) -> list[list[str]]:
    """Folders the runner and the agent CLIs need, each as a list of choices (widest first): the
    Python prefix; a CLI's ``node_modules`` (its dependencies live beside it), else its folder;
    each ``PATH`` / ``agent_bin_dirs`` folder, with its prefix when it is a ``bin``. The file
    alone is the last choice, for one that shares its folder with the runtime's secrets."""
    choices: list[list[str]] = []
    real_python = Path(_real(python))
    choices.append([str(real_python.parent.parent), str(real_python.parent), str(real_python)])
    # The runner is started by the path as given (a venv's bin/python, a link to the interpreter
    # above): that path must resolve inside the sandbox too, e.g. a checkout under the private /tmp.
    given = Path(os.path.abspath(os.path.expanduser(python)))
    if str(given) != str(real_python):
        choices.append([str(given.parent.parent), str(given.parent), str(given)])
    for binary in binaries:
        if not binary:
            continue
        real = Path(_real(binary))
        options = [str(p) for p in real.parents if p.name == "node_modules"][-1:]
        choices.append([*options, str(real.parent), str(real)])
    for folder in bin_dirs:
        if not folder or not os.path.isabs(folder):  # "." on PATH would expose wherever we started
            continue
        real = Path(_real(folder))
        choices.append([str(real.parent), str(real)] if real.name == "bin" else [str(real)])
    return choices


def pick_exposed(
    choices: Iterable[list[str]], hidden: Sequence[str], secrets: Sequence[str], database: str | None = None
) -> list[str]:
    """For each need, the widest choice that lies inside a hidden folder (else nothing to do) and
    shows none of the runtime's secrets: not a secret folder, not inside one, not above one, and
    never a whole hidden folder (the home itself). The database's folder is hidden too, but only
    its files (``<db>``, ``<db>-wal``, ...) are secret: a runner beside it may be exposed alone."""
    db_folder = os.path.dirname(database) if database else None
    picked: list[str] = []
    for options in choices:
        for option in options:
            if not any(_inside(option, h) and option != h for h in hidden):
                continue
            if any(_inside(s, option) for s in secrets):
                continue  # it would show a secret folder
            if any(_inside(option, s) for s in secrets if s != db_folder):
                continue
            if database and (option.startswith(database) or (db_folder and _inside(db_folder, option))):
                continue
            picked.append(option)
            break
    return picked


def build_policy(
    bwrap: str,
    *,
    data_dir: Path,
    db_path: Path | None,
    config_dir: Path,
    python: str,
    binaries: Iterable[str | None] = (),
    bin_dirs: Iterable[str] = (),
    home: str | None = None,
) -> SandboxPolicy:
    """The policy for this runtime: hide its folders, the user's home and runtime dir; expose
    back what the runner and the agent CLIs need to start."""
    secrets = secret_dirs(data_dir=data_dir, db_path=db_path, config_dir=config_dir)
    hidden = list(secrets)
    home = home if home is not None else os.environ.get("HOME") or str(Path.home())
    if home and _real(home) != "/":
        hidden.append(_real(home))
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    if os.path.isdir(runtime_dir):
        # The user's session bus lives here: `systemd-run --user` through it runs outside.
        hidden.append(_real(runtime_dir))
    choices = exposure_candidates(python, binaries, bin_dirs)
    expose = pick_exposed(choices, [*hidden, "/tmp"], secrets, _real(db_path) if db_path is not None else None)
    return SandboxPolicy(bwrap=bwrap, hidden=tuple(dict.fromkeys(hidden)), expose=tuple(dict.fromkeys(expose)))


def existing(policy: SandboxPolicy) -> SandboxPolicy:
    """The policy without folders that do not exist (bwrap cannot mount over a missing path on a
    read-only root); checked per start, as the state dir may appear after the runtime started."""
    return replace(
        policy,
        hidden=tuple(p for p in policy.hidden if os.path.isdir(p)),
        expose=tuple(p for p in policy.expose if os.path.exists(p)),
    )


@functools.cache
def _probe(bwrap: str) -> str:
    """'' when ``bwrap`` can build a sandbox like ours here, else why not (no user namespaces in
    a container, say). Once per process: ~10 ms."""
    probe = [*_frame(SandboxPolicy(bwrap=bwrap)), "--", "true"]
    try:
        result = subprocess.run(probe, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap ({bwrap}) could not start: {exc}"
    if result.returncode != 0:
        detail = result.stderr.decode("utf-8", "replace").strip().splitlines()
        return f"bubblewrap ({bwrap}) does not work here: {detail[-1] if detail else result.returncode}"
    return ""


def detect(enabled: bool = True, path: str | None = None) -> tuple[IsolationState, str | None]:
    """Whether local sandboxes can be isolated, and with which ``bwrap``. ``enabled=False`` is
    ``--no-isolation``; ``path`` is the ``PATH`` searched (default: this process's)."""
    if not enabled:
        return IsolationState(enabled=False, reason="isolation turned off (--no-isolation)"), None
    bwrap = shutil.which("bwrap", path=path)
    if bwrap is None:
        return (
            IsolationState(
                enabled=False,
                reason="bubblewrap (bwrap) is not installed; install it (apt install bubblewrap) to isolate local sandboxes",
            ),
            None,
        )
    failure = _probe(bwrap)
    if failure:
        return IsolationState(enabled=False, reason=failure), None
    return IsolationState(enabled=True, reason=f"local sandboxes run under bubblewrap ({bwrap})"), bwrap
