"""The bwrap command line and the policy behind it (pure functions), and what they do for real:
a CLI installed in a hidden folder still runs, folders are private whatever the umask."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from runtime.primitives.isolation import SandboxPolicy, build_policy, bwrap_argv, detect, exit_code
from runtime.primitives.local import LocalPrimitive
from tests.isolation.conftest import Machine, bwrap_or_skip

ROOT = "/srv/data/sandboxes/ses-1"


def _mounts(argv: list[str]) -> list[tuple[str, str]]:
    """(option, target) for every mount option, in order."""
    out = []
    for i, arg in enumerate(argv):
        if arg in ("--tmpfs", "--remount-ro", "--dev", "--proc"):
            out.append((arg, argv[i + 1]))
        elif arg in ("--bind", "--ro-bind"):
            out.append((arg, argv[i + 2]))
    return out


def test_the_host_is_read_only_secrets_are_covered_then_the_session_bound_back_writable() -> None:
    policy = SandboxPolicy(
        bwrap="/usr/bin/bwrap",
        hidden=("/srv/data/sandboxes", "/home/u", "/home/u/.local/state/agent-tui", "/tmp/x"),
        expose=("/home/u/.nvm/versions/node/v22",),
    )
    argv = bwrap_argv(policy, ROOT, ["python3", "-m", "agent_runner"], f"{ROOT}/app")
    assert argv[0] == "/usr/bin/bwrap" and argv[-4:] == ["--", "python3", "-m", "agent_runner"]
    assert {"--unshare-pid", "--die-with-parent", "--new-session"} <= set(argv)
    assert "--unshare-net" not in argv
    assert argv[argv.index("--chdir") + 1] == f"{ROOT}/app"
    assert _mounts(argv) == [
        ("--ro-bind", "/"),
        ("--dev", "/dev"),
        ("--proc", "/proc"),
        ("--tmpfs", "/tmp"),
        # Nested ones (the state dir in the home, anything under /tmp) are covered by the outer.
        ("--tmpfs", "/home/u"),
        ("--tmpfs", "/srv/data/sandboxes"),
        ("--ro-bind", "/home/u/.nvm/versions/node/v22"),
        ("--ro-bind", f"{ROOT}/app"),
        ("--bind", f"{ROOT}/workspace"),
        ("--bind", f"{ROOT}/home"),
        ("--remount-ro", "/home/u"),
        ("--remount-ro", "/srv/data/sandboxes"),
    ]


def test_a_profile_without_network_unshares_it() -> None:
    policy = SandboxPolicy(bwrap="bwrap").with_network(False)
    assert "--unshare-net" in bwrap_argv(policy, ROOT, ["true"], ROOT)


def test_a_sigkilled_child_reads_as_without_bwrap_and_other_codes_pass_through() -> None:
    # 130: the runner's "interrupted"; 144: an exit code Gemini CLI uses.
    assert [exit_code(c) for c in (0, 1, 2, 130, 137, 144, 255)] == [0, 1, 2, 130, -9, 144, 255]


def test_what_agents_need_is_exposed_but_never_the_runtimes_folders(tmp_path: Path) -> None:
    home = tmp_path / "home"
    data = home / ".local" / "share" / "agent-tui"
    cli = home / ".npm-global" / "lib" / "node_modules" / "@x" / "cli" / "bin.js"
    python = data / "python"  # beside the database: only the file itself may be shown
    for path in (cli, python):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    (home / "bin").mkdir()
    policy = build_policy(
        "/usr/bin/bwrap",
        data_dir=data / "sandboxes",
        db_path=data / "agent-tui.db",
        config_dir=home / ".config" / "agent-tui",
        python=str(python),
        binaries=[str(cli)],
        bin_dirs=[str(home), str(home / "bin"), "/usr/bin"],  # someone put their home on PATH
        home=str(home),
    )
    assert str(home) in policy.hidden and str(data) in policy.hidden and str(data / "sandboxes") in policy.hidden
    assert set(policy.expose) == {str(python), str(home / ".npm-global" / "lib" / "node_modules"), str(home / "bin")}


def test_without_bubblewrap_or_with_no_isolation_it_is_off_and_says_why(tmp_path: Path) -> None:
    state, bwrap = detect(path=str(tmp_path))
    assert bwrap is None and not state.enabled and "apt install bubblewrap" in state.reason
    state, bwrap = detect(False)
    assert bwrap is None and not state.enabled and "--no-isolation" in state.reason


async def test_a_cli_installed_in_the_hidden_home_still_runs(machine: Machine) -> None:
    bwrap = bwrap_or_skip()
    tool = machine.home / "tools" / "bin" / "hello-agent"
    tool.parent.mkdir(parents=True)
    tool.write_text("#!/bin/sh\necho hello from the home\n")
    tool.chmod(0o755)

    def policy(binaries: list[str]) -> SandboxPolicy:
        return build_policy(
            bwrap,
            data_dir=machine.sandboxes,
            db_path=machine.db,
            config_dir=machine.config / "agent-tui",
            python=sys.executable,
            binaries=binaries,
        )

    async def run(prim: LocalPrimitive) -> tuple[list[bytes], int]:
        await prim.start()
        try:
            process = await prim.exec([str(tool)], cwd="workspace", env={"PATH": os.environ["PATH"]})
            out = [line async for line in process.stdout_lines()]
            return out, await process.wait()
        finally:
            await prim.terminate()

    assert await run(LocalPrimitive(machine.sandboxes, "ses-exposed", policy([str(tool)]))) == (
        [b"hello from the home"],
        0,
    )
    assert (await run(LocalPrimitive(machine.sandboxes, "ses-hidden", policy([]))))[1] != 0


@pytest.mark.parametrize("isolated", [False, True])
async def test_the_sandbox_folders_are_private_whatever_the_umask(machine: Machine, isolated: bool) -> None:
    policy = SandboxPolicy(bwrap=bwrap_or_skip()) if isolated else None
    old = os.umask(0)
    try:
        prim = LocalPrimitive(machine.base / "fresh" / "sandboxes", "ses-private", policy)
        await prim.start()
    finally:
        os.umask(old)
    root = Path(prim.session_dir)
    for folder in (root.parent, root, root / "app", root / "workspace", root / "home"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    await prim.destroy()


def test_a_venv_python_under_the_private_tmp_is_exposed_by_the_path_it_is_started_with(tmp_path: Path) -> None:
    """CI checks out under /tmp: the runner is started as <checkout>/.venv/bin/python, a link to an
    interpreter elsewhere, and bubblewrap's private /tmp would hide the link itself."""
    venv = Path("/tmp") / f"agent-tui-venv-test-{os.getpid()}" / ".venv"
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    try:
        link = venv / "bin" / "python"
        if not link.is_symlink():
            link.symlink_to(os.path.realpath(sys.executable))
        home = tmp_path / "home"
        policy = build_policy(
            "/usr/bin/bwrap",
            data_dir=home / "data" / "sandboxes",
            db_path=home / "data" / "agent-tui.db",
            config_dir=home / "config",
            python=str(link),
            home=str(home),
        )
        assert str(venv) in policy.expose
    finally:
        import shutil

        shutil.rmtree(venv.parent, ignore_errors=True)
