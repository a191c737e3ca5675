"""One contract for every environment primitive (SPEC §6), run against every registered backend
(the primitive registry: ``local``, ``modal``, any installed plugin) plus ``fake``, a third backend
this module registers; backends that declare ``isolation`` run it once more isolated.

``modal`` runs over tests/fakes/fake_modal.py, installed as ``sys.modules["modal"]`` for every
backend (so none needs a per-name setup here): the adapter is the real one, and below the SDK
surface the processes and files are real.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import types
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from runtime.errors import FileNotFound, InvalidPath, SandboxError
from runtime.primitives import registry
from runtime.primitives.base import EnvironmentPrimitive, SandboxProcess
from runtime.primitives.isolation import SandboxPolicy, build_policy, detect
from runtime.primitives.kind import HOOKS, PrimitiveContext, PrimitiveKind
from runtime.primitives.local import MAX_LINE, _sandbox_processes
from tests.modal.support import modal_config
from tests.primitives.fake import FakeKind

STEP_TIMEOUT = 20.0
#: Backends this module adds to the registry's own for the duration of its tests.
EXTRA_KINDS: tuple[PrimitiveKind, ...] = (FakeKind(),)


def _backends() -> list[PrimitiveKind]:
    return [*registry.kinds(), *(k for k in EXTRA_KINDS if k.name not in registry.names())]


def _variants() -> list[object]:
    variants: list[object] = []
    for kind in _backends():
        variants.append(pytest.param((kind.name, False), id=kind.name))
        if kind.capabilities.isolation:
            variants.append(pytest.param((kind.name, True), id=f"{kind.name}-isolated"))
    return variants


@pytest.fixture(autouse=True)
def _extra_kinds_registered() -> Iterator[None]:
    added = [registry.register(k) for k in EXTRA_KINDS if k.name not in registry.names()]
    try:
        yield
    finally:
        for kind in added:
            registry.unregister(kind.name)


def _context(tmp_path: Path, name: str, policy: SandboxPolicy | None) -> PrimitiveContext:
    # Modal credentials are harmless to the others; the fake SDK is installed for everyone.
    return PrimitiveContext(modal_config(tmp_path, primitive=name, data_dir=tmp_path / "local"), lambda: policy)


@pytest.fixture(params=_variants())
async def primitive(
    request: pytest.FixtureRequest, tmp_path: Path, fake_modal: types.ModuleType
) -> AsyncIterator[EnvironmentPrimitive]:
    name, isolated = request.param
    policy = None
    if isolated:
        state, bwrap = detect()
        if bwrap is None:
            pytest.skip(state.reason)
        policy = build_policy(
            bwrap, data_dir=tmp_path / "local", db_path=None, config_dir=tmp_path / "config", python=sys.executable
        )
    prim = registry.get(name).create("ses-contract", _context(tmp_path, name, policy))
    assert (getattr(prim, "policy", None) is not None) == isolated
    await prim.start()
    try:
        yield prim
    finally:
        await prim.terminate()


@pytest.mark.parametrize("kind", _backends(), ids=lambda k: k.name)
def test_declared_capabilities_have_their_hooks(kind: PrimitiveKind, tmp_path: Path) -> None:
    prim = kind.create("ses-hooks", _context(tmp_path, kind.name, None))
    assert prim.name == kind.name
    for capability in kind.capabilities.names():
        owner, hook = HOOKS.get(capability, ("", ""))
        if owner:
            target = prim if owner == "primitive" else kind
            assert callable(getattr(target, hook, None)), f"{kind.name} declares {capability} without {hook}()"


async def collect(process: SandboxProcess) -> tuple[list[bytes], list[bytes], int]:
    async def lines(iterator: AsyncIterator[bytes]) -> list[bytes]:
        return [line async for line in iterator]

    out, err = await asyncio.wait_for(
        asyncio.gather(lines(process.stdout_lines()), lines(process.stderr_lines())), STEP_TIMEOUT
    )
    code = await asyncio.wait_for(process.wait(), STEP_TIMEOUT)
    return out, err, code


async def sh(
    prim: EnvironmentPrimitive, script: str, cwd: str | None = None
) -> tuple[list[bytes], list[bytes], int]:
    process = await prim.exec(["sh", "-c", script], cwd=cwd)
    await process.close_stdin()
    return await collect(process)


async def next_line(iterator: AsyncIterator[bytes]) -> bytes:
    return await asyncio.wait_for(anext(iterator), STEP_TIMEOUT)


# ---------------------------------------------------------------------------- exec


async def test_start_gives_an_id_and_the_session_folders(primitive: EnvironmentPrimitive) -> None:
    assert primitive.environment_id
    assert await primitive.is_running()
    out, _, code = await sh(primitive, "ls -d app workspace home")
    assert code == 0 and sorted(out) == [b"app", b"home", b"workspace"]


async def test_exec_streams_stdout_and_stderr_as_lines(primitive: EnvironmentPrimitive) -> None:
    out, err, code = await sh(primitive, "printf 'one\\ntwo\\n'; printf 'err1\\nerr2\\n' >&2; printf 'tail'")
    assert out == [b"one", b"two", b"tail"]
    assert err == [b"err1", b"err2"]
    assert code == 0


async def test_output_arrives_while_the_process_runs(primitive: EnvironmentPrimitive) -> None:
    process = await primitive.exec(["sh", "-c", 'echo ready; read line; echo "got $line"; echo bye >&2'])
    stdout = process.stdout_lines()
    assert await next_line(stdout) == b"ready"  # before it could exit: it waits for our line
    await process.write_stdin(b"ping\n")
    assert await next_line(stdout) == b"got ping"
    await process.close_stdin()
    assert [line async for line in stdout] == []
    assert [line async for line in process.stderr_lines()] == [b"bye"]
    assert await process.wait() == 0


@pytest.mark.parametrize("code", [0, 1, 7, 255])
async def test_exit_codes(primitive: EnvironmentPrimitive, code: int) -> None:
    assert (await sh(primitive, f"exit {code}"))[2] == code


async def test_exec_cwd_and_env(primitive: EnvironmentPrimitive) -> None:
    import os

    process = await primitive.exec(
        ["sh", "-c", 'pwd; echo "$FOO"'], cwd="workspace", env={"FOO": "bar baz", "PATH": os.environ["PATH"]}
    )
    out, _, code = await collect(process)
    assert code == 0
    assert out[0].endswith(b"/workspace") and out[1] == b"bar baz"


async def test_stdin_is_written_drained_and_closed(primitive: EnvironmentPrimitive) -> None:
    process = await primitive.exec(["cat"])
    await process.write_stdin(b"a\nb\n")
    await process.write_stdin(b"c")
    await process.close_stdin()
    await process.close_stdin()  # idempotent
    out, err, code = await collect(process)
    assert (out, err, code) == ([b"a", b"b", b"c"], [], 0)


async def test_large_stdin_is_delivered_whole(primitive: EnvironmentPrimitive) -> None:
    # Larger than the Modal SDK's 16 MiB stdin buffer: the adapter must drain in chunks.
    size = 17 * 1024 * 1024 + 3
    process = await primitive.exec(["wc", "-c"])
    await process.write_stdin(b"x" * size)
    await process.close_stdin()
    out, _, code = await collect(process)
    assert code == 0 and int(out[0]) == size


async def test_huge_line_is_delivered_in_pieces(primitive: EnvironmentPrimitive) -> None:
    length = 3 * MAX_LINE + 10
    process = await primitive.exec(
        ["python3", "-c", f"import sys; sys.stdout.write('x' * {length} + '\\nend\\n')"]
    )
    out, _, code = await collect(process)
    assert code == 0
    assert out[-1] == b"end"
    assert all(len(piece) <= MAX_LINE for piece in out)
    assert b"".join(out[:-1]) == b"x" * length


async def test_stderr_is_drained_even_when_nobody_reads_it_yet(primitive: EnvironmentPrimitive) -> None:
    # 2 MB on stderr would fill a pipe and block the writer if it were not drained continuously.
    process = await primitive.exec(["sh", "-c", "head -c 2000000 /dev/zero | tr '\\0' 'e' >&2; echo done"])
    assert await next_line(process.stdout_lines()) == b"done"
    err = [line async for line in process.stderr_lines()]
    assert sum(len(line) for line in err) == 2_000_000
    assert await process.wait() == 0


async def test_kill_ends_the_process_and_its_group(primitive: EnvironmentPrimitive) -> None:
    process = await primitive.exec(
        ["sh", "-c", "sleep 60 & echo $! > child.pid; echo started; wait"], cwd="workspace"
    )
    assert await next_line(process.stdout_lines()) == b"started"
    started = time.monotonic()
    await process.kill()
    code = await asyncio.wait_for(process.wait(), STEP_TIMEOUT)
    assert code != 0 and time.monotonic() - started < 10
    await process.kill()  # idempotent
    # Alive = exists and is not a zombie (an orphan's zombie may linger when pid 1 does not reap).
    alive_check = (
        'p=$(cat child.pid); for i in $(seq 50); do s=$(cut -d" " -f3 /proc/$p/stat 2>/dev/null); '
        '{ [ -z "$s" ] || [ "$s" = Z ]; } && exit 1; sleep 0.1; done; exit 0'
    )
    if getattr(primitive, "policy", None) is not None:
        # Its pid means nothing in a new sandbox (a new PID namespace): look from the host.
        folder = os.path.realpath(primitive.session_dir)
        assert _sandbox_processes(folder, True) == [], "a process of the killed sandbox survived"
        return
    _, _, alive = await sh(primitive, alive_check, cwd="workspace")
    assert alive != 0, "the child in the killed process group survived"


async def test_signal_group_delivers_sigterm(primitive: EnvironmentPrimitive) -> None:
    process = await primitive.exec(
        ["bash", "-c", "trap 'echo term; exit 5' TERM; echo ready; while :; do sleep 0.05; done"]
    )
    stdout = process.stdout_lines()
    assert await next_line(stdout) == b"ready"
    await process.signal_group(signal.SIGTERM)
    assert [line async for line in stdout] == [b"term"]
    assert await asyncio.wait_for(process.wait(), STEP_TIMEOUT) == 5


# ---------------------------------------------------------------------------- files


async def test_write_and_read_a_file(primitive: EnvironmentPrimitive) -> None:
    await primitive.write_file("workspace/a/b.txt", b"hello")
    assert await primitive.read_file("workspace/a/b.txt") == b"hello"
    await primitive.write_file("workspace/a/b.txt", b"\x00\xffbinary")
    assert await primitive.read_file("workspace/a/b.txt") == b"\x00\xffbinary"
    assert await primitive.read_file("workspace/./a//b.txt") == b"\x00\xffbinary"
    out, _, _ = await sh(primitive, "cat workspace/a/b.txt | wc -c")
    assert out == [b"8"]


async def test_reading_what_is_not_a_file_is_file_not_found(primitive: EnvironmentPrimitive) -> None:
    with pytest.raises(FileNotFound):
        await primitive.read_file("workspace/missing.txt")
    with pytest.raises(FileNotFound):
        await primitive.read_file("workspace")


async def test_bulk_write_and_list(primitive: EnvironmentPrimitive) -> None:
    blob = bytes(range(256)) * 40
    await primitive.write_files(
        {
            "workspace/x.txt": b"1",
            "workspace/d/e/y.bin": blob,
            "workspace/space name.txt": "ü".encode(),
            "app/pkg/__init__.py": b"",
        }
    )
    assert await primitive.read_file("workspace/d/e/y.bin") == blob
    assert await primitive.read_file("app/pkg/__init__.py") == b""
    files = await primitive.list_files("workspace")
    assert [(f.path, f.size) for f in files] == [
        ("d/e/y.bin", len(blob)),
        ("space name.txt", 2),
        ("x.txt", 1),
    ]
    assert all(abs(f.modified_at / 1000 - time.time()) < 3600 for f in files)
    shallow = await primitive.list_files("workspace", recursive=False)
    assert [f.path for f in shallow] == ["space name.txt", "x.txt"]
    assert [f.path for f in await primitive.list_files("workspace/d")] == ["e/y.bin"]
    assert await primitive.list_files("workspace/nothing-here") == []
    await primitive.write_files({})


async def test_listing_does_not_follow_or_show_symlinks(primitive: EnvironmentPrimitive) -> None:
    await primitive.write_file("workspace/real.txt", b"r")
    _, _, code = await sh(primitive, "ln -s real.txt link.txt && ln -s /usr linkdir", cwd="workspace")
    assert code == 0
    assert [f.path for f in await primitive.list_files("workspace")] == ["real.txt"]


# ---------------------------------------------------------------------------- confinement


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "workspace/../../x", "", "a\x00b", "..", "\\etc"])
async def test_paths_outside_the_session_folder_are_refused(
    primitive: EnvironmentPrimitive, bad: str
) -> None:
    with pytest.raises(InvalidPath):
        await primitive.read_file(bad)
    with pytest.raises(InvalidPath):
        await primitive.write_file(bad, b"x")
    with pytest.raises(InvalidPath):
        await primitive.write_files({"workspace/ok.txt": b"", bad: b"x"})
    with pytest.raises(InvalidPath):
        await primitive.list_files(bad)


async def test_symlinks_out_of_the_session_folder_are_refused(primitive: EnvironmentPrimitive) -> None:
    isolated = getattr(primitive, "policy", None) is not None
    outside = Path(primitive.session_dir).parent / "outside"
    if isolated:  # the sandbox cannot write beside its session folder: set it up from the host
        outside.mkdir()
        (outside / "secret").write_text("secret")
    _, _, code = await sh(
        primitive,
        ("true" if isolated else "mkdir -p ../outside && printf secret > ../outside/secret")
        + " && ln -s ../../outside workspace/link && ln -s ../../outside/secret workspace/s "
        "&& mkdir -p workspace/in && ln -s in workspace/inner",
    )
    assert code == 0
    for attempt in (
        primitive.read_file("workspace/link/secret"),
        primitive.read_file("workspace/s"),
        primitive.write_file("workspace/link/planted", b"x"),
        primitive.write_file("workspace/s", b"overwritten"),
        primitive.write_files({"workspace/link/planted": b"x"}),
        primitive.list_files("workspace/link"),
    ):
        with pytest.raises(InvalidPath):
            await attempt
    # Nor may a path under workspace/ reach the rest of the session folder (the agent's home).
    await primitive.write_file("home/private", b"p")
    _, _, code = await sh(primitive, "ln -s ../home workspace/h")
    assert code == 0
    for attempt in (
        primitive.read_file("workspace/h/private"),
        primitive.write_file("workspace/h/planted", b"x"),
        primitive.write_files({"workspace/h/planted": b"x"}),
        primitive.list_files("workspace/h"),
    ):
        with pytest.raises(InvalidPath):
            await attempt
    if isolated:
        assert [p.name for p in outside.iterdir()] == ["secret"] and (outside / "secret").read_text() == "secret"
    else:
        out, _, _ = await sh(primitive, "ls ../outside; cat ../outside/secret")
        assert out == [b"secret", b"secret"], "something was written outside the session folder"
    # A symlink that stays inside is fine.
    await primitive.write_file("workspace/inner/ok.txt", b"ok")
    assert await primitive.read_file("workspace/in/ok.txt") == b"ok"


# ---------------------------------------------------------------------------- terminate


async def test_a_declared_reattach_takes_over_a_running_sandbox(
    primitive: EnvironmentPrimitive, tmp_path: Path
) -> None:
    kind = registry.get(primitive.name)
    if not kind.capabilities.reattach:
        pytest.skip(f"{kind.name} does not declare reattach")
    await primitive.write_file("workspace/kept.txt", b"kept")
    context = _context(tmp_path, kind.name, None)
    again = kind.create("ses-contract", context)
    assert await again.attach(primitive.environment_id or "")  # type: ignore[attr-defined]
    assert again.environment_id == primitive.environment_id
    out, _, code = await sh(again, "cat workspace/kept.txt")
    assert (out, code) == ([b"kept"], 0)
    assert not await kind.create("ses-other", context).attach(primitive.environment_id or "")  # type: ignore[attr-defined]


async def test_terminate_is_idempotent_and_ends_everything(primitive: EnvironmentPrimitive) -> None:
    process = await primitive.exec(["sleep", "60"])
    await primitive.terminate()
    await primitive.terminate()
    assert not await primitive.is_running()
    assert primitive.environment_id is None
    assert await asyncio.wait_for(process.wait(), STEP_TIMEOUT) != 0
    with pytest.raises(SandboxError):
        await primitive.exec(["true"])
    with pytest.raises(SandboxError):
        await primitive.write_files({"workspace/x": b""})
