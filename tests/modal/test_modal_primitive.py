"""The modal adapter over the fake SDK: what it asks Modal for, and how it behaves when Modal says no."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import types
from pathlib import Path

import pytest

from runtime import AgentRuntime
from runtime.architectures import npm_pins
from runtime.config import ModalConfig
from runtime.errors import SandboxError
from runtime.models import AgentProfile
from runtime.primitives import modal as adapter
from runtime.primitives.modal import ModalPrimitive, modal_available, owner_tag, sweep_orphans
from runtime.sessions.environment import runner_bundle
from tests.helpers import ROOT, make_config
from tests.modal.support import modal_config


async def started(config, session_id: str = "ses-unit", **configure) -> ModalPrimitive:  # type: ignore[no-untyped-def]
    primitive = ModalPrimitive(session_id, config, npm_pins())
    if configure:
        primitive.configure(**configure)
    await primitive.start()
    return primitive


async def test_sandbox_is_created_as_spec_section_6_says(
    fake_modal: types.ModuleType, tmp_path: Path
) -> None:
    config = modal_config(
        tmp_path,
        idle_timeout_ms=5 * 60 * 1000,
        host_env={"SECRET_A": "s3cret", "OTHER": "x"},
        modal=ModalConfig(token_id="ak-1", token_secret="as-1", app_name="my-app", timeout_s=10**7),
    )
    statuses: list[str] = []

    async def status(message: str) -> None:
        statuses.append(message)

    profile = AgentProfile(id="p", name="p", env=["SECRET_A", "NOT_SET"])
    primitive = await started(config, "ses-abc", status=status, profile=profile)
    try:
        [(app_args, app_kwargs)] = fake_modal.calls("App.lookup")
        assert app_args == ("my-app",) and app_kwargs["create_if_missing"] is True
        assert app_kwargs["client"].token_id == "ak-1"
        [(_, build)] = fake_modal.calls("Image.build")
        assert build["app"].name == "my-app"
        [(args, kwargs)] = fake_modal.calls("Sandbox.create")
        assert args == ("sleep", "infinity")
        assert kwargs["name"] == "agent-tui-ses-abc"
        assert kwargs["tags"] == {"app": "agent-tui", "session": "ses-abc", "owner": owner_tag(config)}
        assert kwargs["timeout"] == 24 * 60 * 60  # capped at Modal's maximum
        assert kwargs["idle_timeout"] == 5 * 60 + adapter.IDLE_MARGIN_S
        assert kwargs["workdir"] == adapter.SANDBOX_ROOT
        assert [s.env for s in kwargs["secrets"]] == [{"SECRET_A": "s3cret"}]
        steps = dict(kwargs["image"].steps)
        assert steps["from_registry"] == (adapter.BASE_IMAGE, adapter.PYTHON_VERSION)
        install = " ".join(steps["run_commands"])
        for package, version in npm_pins().items():
            assert f"{package}@{version}" in install
        assert primitive.environment_id == fake_modal.running()[0]
        assert primitive.session_dir == f"{adapter.SANDBOX_ROOT}/ses-abc"
        # The secret is in the sandbox's environment.
        process = await primitive.exec(["sh", "-c", 'echo "$SECRET_A"'])
        assert [line async for line in process.stdout_lines()] == [b"s3cret"]
        assert statuses == [
            "Connecting to Modal",
            "Looking up the sandbox image (built on first use, then cached by Modal)",
            "Scheduling the Modal sandbox",
            f"Sandbox {primitive.environment_id} is running",
        ]
    finally:
        await primitive.terminate()
    assert fake_modal.running() == []


async def test_client_app_and_image_are_looked_up_once(fake_modal: types.ModuleType, tmp_path: Path) -> None:
    config = modal_config(tmp_path, idle_timeout_ms=0)
    first = await started(config, "ses-one")
    second = await started(config, "ses-two")
    assert len(fake_modal.calls("App.lookup")) == 1
    assert len(fake_modal.calls("Image.build")) == 1
    assert len(fake_modal.calls("Client.from_credentials")) == 1
    assert [k["idle_timeout"] for _, k in fake_modal.calls("Sandbox.create")] == [None, None]
    assert sorted(fake_modal.running()) == sorted([first.environment_id, second.environment_id])
    await first.terminate()
    await second.terminate()


async def test_without_credentials_the_primitive_says_so_before_calling_modal(
    fake_modal: types.ModuleType, tmp_path: Path
) -> None:
    config = make_config(tmp_path, primitive="modal")
    assert modal_available(config) == (False, "modal unavailable: no credentials")
    with pytest.raises(SandboxError) as caught:
        await ModalPrimitive("ses-x", config).start()
    assert caught.value.code == "MODAL_UNAVAILABLE"
    assert caught.value.message == "modal unavailable: no credentials"
    assert fake_modal.registry.calls == []
    assert await sweep_orphans(config, set()) == 0
    assert await ModalPrimitive("ses-x", config).attach("sb-1") is False


def test_credentials_come_from_config_env_or_modal_toml(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, _isolated_home: Path
) -> None:
    for name in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_PROFILE", "MODAL_CONFIG_PATH"):
        monkeypatch.delenv(name, raising=False)
    bare = make_config(tmp_path)
    assert modal_available(bare)[0] is False
    assert modal_available(make_config(tmp_path, modal=ModalConfig(token_id="a", token_secret="b")))[0]
    monkeypatch.setenv("MODAL_TOKEN_ID", "a")
    assert modal_available(bare)[0] is False  # both are needed
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "b")
    assert modal_available(bare) == (True, None)
    monkeypatch.delenv("MODAL_TOKEN_ID")
    toml = _isolated_home / ".modal.toml"
    toml.write_text('[work]\ntoken_id = "ak-x"\ntoken_secret = "as-x"\nactive = true\n')
    assert modal_available(bare) == (True, None)
    monkeypatch.setenv("MODAL_PROFILE", "other")
    assert modal_available(bare)[0] is False
    toml.write_text("not toml [")
    monkeypatch.delenv("MODAL_PROFILE")
    assert modal_available(bare)[0] is False


async def test_list_architectures_reports_missing_credentials(
    tmp_path: Path, fake_modal: types.ModuleType
) -> None:
    async with AgentRuntime(make_config(tmp_path, primitive="modal")) as runtime:
        infos = await runtime.list_architectures()
    assert infos and all(not i.available and i.reason == "modal unavailable: no credentials" for i in infos)
    async with AgentRuntime(modal_config(tmp_path / "ok")) as runtime:
        shell = next(i for i in await runtime.list_architectures() if i.id == "shell")
    assert shell.available


async def test_exec_timeout_is_exit_code_minus_one(fake_modal: types.ModuleType, tmp_path: Path) -> None:
    primitive = await started(modal_config(tmp_path))
    try:
        process = await primitive.exec(["sleep", "30"], timeout_s=1)
        began = time.monotonic()
        assert await asyncio.wait_for(process.wait(), 10) == -1
        assert time.monotonic() - began < 8
    finally:
        await primitive.terminate()


async def test_exec_runs_in_the_session_folder_with_the_image_path(
    fake_modal: types.ModuleType, tmp_path: Path
) -> None:
    primitive = await started(modal_config(tmp_path))
    try:
        process = await primitive.exec(["sh", "-c", 'pwd; echo "$PATH"'], env={"PATH": "/opt/custom"})
        lines = [line.decode() async for line in process.stdout_lines()]
        assert lines[0] == primitive.session_dir
        assert lines[1].startswith("/opt/custom:") and "/usr/bin" in lines[1].split(":")
        # Only what the command prints reaches stderr: the process-group marker is consumed.
        process = await primitive.exec(["sh", "-c", "echo only >&2"])
        assert [line async for line in process.stderr_lines()] == [b"only"]
        assert await process.wait() == 0
    finally:
        await primitive.terminate()


async def test_runner_bundle_installs_in_one_round_trip(fake_modal: types.ModuleType, tmp_path: Path) -> None:
    primitive = await started(modal_config(tmp_path))
    try:
        before = len(fake_modal.registry.calls)
        sandbox = fake_modal.registry.sandboxes[primitive.environment_id]
        execs_before = len(sandbox.execs)
        bundle = runner_bundle()
        await primitive.write_files(bundle)
        assert len(sandbox.execs) == execs_before + 1  # one exec: tar -x fed by one tar stream
        assert len(fake_modal.registry.calls) == before
        for path, data in bundle.items():
            assert (Path(primitive.session_dir) / path).read_bytes() == data
        process = await primitive.exec(
            ["python3", "-c", "import agent_runner, sys; print('ok')"],
            cwd="app",
            env={"PYTHONPATH": f"{primitive.session_dir}/app"},
        )
        assert [line async for line in process.stdout_lines()] == [b"ok"]
    finally:
        await primitive.terminate()


async def test_attach_takes_over_a_live_sandbox_of_the_same_session(
    fake_modal: types.ModuleType, tmp_path: Path
) -> None:
    config = modal_config(tmp_path)
    original = await started(config, "ses-keep")
    sandbox_id = original.environment_id
    assert sandbox_id
    await original.write_file("workspace/kept.txt", b"still here")

    again = ModalPrimitive("ses-keep", config)
    assert await again.attach(sandbox_id) is True
    assert again.environment_id == sandbox_id and await again.is_running()
    assert await again.read_file("workspace/kept.txt") == b"still here"

    assert await ModalPrimitive("ses-other", config).attach(sandbox_id) is False  # not its sandbox
    assert await ModalPrimitive("ses-keep", config).attach("sb-doesnotexist") is False
    fake_modal.crash(sandbox_id)
    assert await ModalPrimitive("ses-keep", config).attach(sandbox_id) is False
    assert await again.is_running() is False
    await again.terminate()


async def test_a_leftover_sandbox_with_the_same_name_is_replaced(
    fake_modal: types.ModuleType, tmp_path: Path
) -> None:
    config = modal_config(tmp_path)
    app = await fake_modal.App.lookup.aio("agent-tui", create_if_missing=True)
    leftover = await fake_modal.Sandbox.create.aio("sleep", "infinity", app=app, name="agent-tui-ses-dup")
    primitive = await started(config, "ses-dup")
    assert fake_modal.running() == [primitive.environment_id]
    assert leftover.object_id != primitive.environment_id
    await primitive.terminate()


async def test_sweep_ends_only_this_stores_unowned_sandboxes(
    fake_modal: types.ModuleType, tmp_path: Path
) -> None:
    config = modal_config(tmp_path)
    owned = await started(config, "ses-owned")
    app = await fake_modal.App.lookup.aio("agent-tui", create_if_missing=True)
    mine = {"app": "agent-tui", "owner": owner_tag(config)}
    orphan = await fake_modal.Sandbox.create.aio(
        "sleep", "infinity", app=app, tags={**mine, "session": "ses-gone"}
    )
    theirs = await fake_modal.Sandbox.create.aio(
        "sleep",
        "infinity",
        app=app,
        tags={"app": "agent-tui", "owner": "another-agent-tui", "session": "ses-x"},
    )
    unrelated = await fake_modal.Sandbox.create.aio(
        "sleep", "infinity", app=app, tags={"app": "something-else"}
    )

    assert await sweep_orphans(config, {owned.environment_id or ""}) == 1
    assert sorted(fake_modal.running()) == sorted(
        [owned.environment_id, theirs.object_id, unrelated.object_id]
    )
    assert orphan.object_id not in fake_modal.running()
    assert owner_tag(config) != owner_tag(modal_config(tmp_path / "elsewhere"))
    await owned.terminate()


async def test_operations_on_a_dead_sandbox_fail_as_sandbox_errors(
    fake_modal: types.ModuleType, tmp_path: Path
) -> None:
    primitive = await started(modal_config(tmp_path))
    running = await primitive.exec(["sleep", "30"])
    fake_modal.crash(primitive.environment_id)
    assert await asyncio.wait_for(running.wait(), 10) != 0
    assert await primitive.is_running() is False
    with pytest.raises(SandboxError):
        await primitive.exec(["true"])
    with pytest.raises(SandboxError):
        await primitive.read_file("workspace/x")
    await primitive.terminate()
    await primitive.terminate()


def test_blocking_calls_are_refused_by_the_fake(fake_modal: types.ModuleType) -> None:
    with pytest.raises(fake_modal.BlockingCallError):
        fake_modal.Sandbox.create("sleep", "infinity")
    with pytest.raises(fake_modal.BlockingCallError):
        fake_modal.App.lookup("agent-tui")


async def test_no_slow_callbacks_on_the_event_loop(
    fake_modal: types.ModuleType, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """asyncio debug mode logs every callback that holds the loop longer than
    ``slow_callback_duration``: nothing the adapter does may (a blocking Modal call would)."""
    loop = asyncio.get_running_loop()
    caplog.set_level(logging.WARNING, logger="asyncio")
    loop.set_debug(True)
    loop.slow_callback_duration = 0.15
    try:
        # The detector works: a deliberately blocking callback is reported.
        loop.call_soon(time.sleep, 0.2)
        await asyncio.sleep(0.05)
        assert any("took" in r.getMessage() for r in caplog.records)
        caplog.clear()

        config = modal_config(tmp_path)
        primitive = await started(config, "ses-debug")
        await primitive.write_files({**runner_bundle(), "workspace/big.bin": b"z" * (4 << 20)})
        assert len(await primitive.read_file("workspace/big.bin")) == 4 << 20
        await primitive.write_file("workspace/a.txt", b"a")
        assert [f.path for f in await primitive.list_files()] == ["a.txt", "big.bin"]
        process = await primitive.exec(["sh", "-c", "cat; head -c 3000000 /dev/zero | tr '\\0' 'y'"])
        await process.write_stdin(b"hello\n" * 1000)
        await process.close_stdin()
        lines = [line async for line in process.stdout_lines()]
        assert lines[0] == b"hello" and await process.wait() == 0
        sleeper = await primitive.exec(["sleep", "30"])
        await sleeper.kill()
        await sleeper.wait()
        again = ModalPrimitive("ses-debug", config)
        assert await again.attach(primitive.environment_id or "")
        assert await sweep_orphans(config, {primitive.environment_id or ""}) == 0
        await primitive.terminate()
    finally:
        loop.set_debug(False)
    slow = [r.getMessage() for r in caplog.records if r.name == "asyncio" and "took" in r.getMessage()]
    assert not slow, slow


def test_image_pins_the_same_agent_clis_as_the_tests() -> None:
    pinned = json.loads((ROOT / "tests" / "node" / "package.json").read_text())["dependencies"]
    for package, version in npm_pins().items():
        assert pinned[package] == version, package
