"""From a real shell session under bubblewrap: what the agent can and cannot reach.

Every folder of the runtime lies outside /tmp (conftest), so each hidden path is hidden by its
own mount, not by the private /tmp.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import uuid
from pathlib import Path

from runtime import AgentRuntime, CreateSessionArgs
from tests.isolation.conftest import Machine
from tests.isolation.support import shell, verdicts

READ_PROBE = 'r() { if cat "$2" >/dev/null 2>&1; then echo "$1:readable"; else echo "$1:hidden"; fi; }\n'
WRITE_PROBE = 'w() { if (echo x > "$2") 2>/dev/null; then echo "$1:written"; else echo "$1:refused"; fi; }\n'


async def test_the_runtimes_secrets_other_sessions_and_the_home_are_not_visible(
    isolated_runtime: AgentRuntime, machine: Machine
) -> None:
    runtime = isolated_runtime
    other = await runtime.create_session(CreateSessionArgs(architecture="shell", name="other"))
    _, code = await shell(runtime, other.session_id, "printf other-secret > mine.txt")
    assert code == 0
    other_file = machine.sandboxes / other.session_id / "workspace" / "mine.txt"
    assert other_file.read_text() == "other-secret"
    profile = machine.config / "agent-tui" / "profiles" / "p.toml"
    profile.write_text('name = "p"\n')
    host_tmp = Path("/tmp") / f"agent-tui-iso-{uuid.uuid4().hex}"
    host_tmp.write_text("tmp-secret")
    assert machine.db.is_file() and machine.token_file.is_file()

    session = await runtime.create_session(CreateSessionArgs(architecture="shell", name="probe"))
    targets = {
        "database": machine.db,
        "wal": Path(f"{machine.db}-wal"),
        "token": machine.token_file,
        "other-session": other_file,
        "real-home": machine.home / "secret.txt",
        "config": profile,
        "host-tmp": host_tmp,
    }
    try:
        script = READ_PROBE + "".join(f"r {name} {shlex.quote(str(path))}\n" for name, path in targets.items())
        script += "r own-workspace mine.txt\n"
        output, _ = await shell(runtime, session.session_id, "printf mine > mine.txt\n" + script)
    finally:
        host_tmp.unlink()
    seen = verdicts(output)
    assert seen == {**{name: "hidden" for name in targets}, "own-workspace": "readable"}, output
    # Not even the names: the sandboxes folder shows this session only.
    listing, _ = await shell(runtime, session.session_id, f"ls -a {shlex.quote(str(machine.sandboxes))}")
    assert listing.split() == [".", "..", session.session_id]


async def test_only_the_workspace_and_home_are_writable(isolated_runtime: AgentRuntime, machine: Machine) -> None:
    runtime = isolated_runtime
    session = await runtime.create_session(CreateSessionArgs(architecture="shell"))
    folder = machine.sandboxes / session.session_id
    outside = {
        "beside-the-runtime": machine.base / "planted",
        "sandboxes": machine.sandboxes / "planted",
        "session-folder": folder / "planted",
        "runner": folder / "app" / "planted",
        "real-home": machine.home / "planted",
        "system": Path("/usr/planted"),
    }
    script = WRITE_PROBE + "".join(f"w {name} {shlex.quote(str(path))}\n" for name, path in outside.items())
    script += 'w workspace in-workspace.txt\nw home "$HOME/in-home.txt"\nw tmp /tmp/in-tmp.txt\n'
    output, _ = await shell(runtime, session.session_id, script)
    assert verdicts(output) == {
        **{name: "refused" for name in outside},
        "workspace": "written",
        "home": "written",
        "tmp": "written",  # the sandbox's own /tmp
    }, output
    assert not any(path.exists() for path in outside.values())
    assert (folder / "workspace" / "in-workspace.txt").read_text() == "x\n"
    assert (folder / "home" / "in-home.txt").read_text() == "x\n"
    assert not Path("/tmp/in-tmp.txt").exists()


async def test_the_process_tree_is_in_its_own_pid_namespace(isolated_runtime: AgentRuntime) -> None:
    session = await isolated_runtime.create_session(CreateSessionArgs(architecture="shell"))
    output, _ = await shell(
        isolated_runtime, session.session_id, f"kill -0 {os.getpid()} 2>/dev/null && echo host-seen; cat /proc/1/comm"
    )
    assert output.split() == ["bwrap"]  # our pid is not there; its init is bwrap's


async def test_network_is_on_by_default_and_off_for_a_profile_that_says_so(
    isolated_runtime: AgentRuntime, machine: Machine
) -> None:
    runtime = isolated_runtime
    assert runtime.profiles.get("offline").network is False  # profiles/offline.toml (conftest)

    connections: list[bool] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(True)
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    probe = f"if (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null; then echo net:connected; else echo net:refused; fi"
    try:
        online = await runtime.create_session(CreateSessionArgs(architecture="shell"))
        offline = await runtime.create_session(
            CreateSessionArgs(architecture="shell", agent_profile_ref="offline")
        )
        assert verdicts((await shell(runtime, online.session_id, probe))[0]) == {"net": "connected"}
        assert verdicts((await shell(runtime, offline.session_id, probe))[0]) == {"net": "refused"}
    finally:
        server.close()
        await server.wait_closed()
    assert connections == [True]


async def _priority_seen_by_the_agent(runtime: AgentRuntime) -> tuple[str, str]:
    session = await runtime.create_session(CreateSessionArgs(architecture="shell", name="nice"))
    output, code = await shell(runtime, session.session_id,
                               "echo nice:$(nice); echo group:$(cat /proc/self/autogroup 2>/dev/null || echo none)")
    assert code == 0, output
    seen = verdicts(output)
    return seen["nice"], seen["group"]


async def test_a_sandbox_yields_the_cpu_to_the_app_under_bubblewrap(isolated_runtime: AgentRuntime) -> None:
    # The whole sandbox (its scheduler group and each process) runs below the app's priority, so
    # the TUI and the server answer keys and clients while agents keep the cores busy
    # (runtime/runner/__main__.py, yield_cpu; bench/scale.py's keystroke figures).
    niceness, group = await _priority_seen_by_the_agent(isolated_runtime)
    assert niceness == str(min(19, os.nice(0) + 10))
    if Path("/proc/self/autogroup").exists():
        assert group.endswith("nice 10"), group


async def test_a_sandbox_yields_the_cpu_to_the_app_without_isolation(tmp_path: Path) -> None:
    from tests.helpers import make_config

    async with AgentRuntime(make_config(tmp_path, isolation=False)) as runtime:
        niceness, group = await _priority_seen_by_the_agent(runtime)
    assert niceness == str(min(19, os.nice(0) + 10))
    if Path("/proc/self/autogroup").exists():
        assert group.endswith("nice 10"), group
