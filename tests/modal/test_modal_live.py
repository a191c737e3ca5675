"""Live tests on real Modal sandboxes: run only with Modal credentials (``MODAL_TOKEN_ID``/
``MODAL_TOKEN_SECRET`` or ``~/.modal.toml``), e.g. ``scripts/test -m modal_live tests/modal``.

They cost a little money (a few sandbox-minutes) and the first run builds the image (minutes).
Every sandbox they start is ended before they return, and a final sweep checks none leaked.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from runtime import AgentRuntime, RuntimeConfig
from runtime.architectures import npm_pins
from runtime.config import ModalConfig
from runtime.primitives import modal as adapter
from runtime.primitives.modal import ModalPrimitive, modal_available, sweep_orphans
from tests.helpers import ROOT, collect_until, make_config, query_end

# Read before the autouse fixture points HOME at a temp dir (the SDK looks for ~/.modal.toml).
_MODAL_TOML = Path(os.environ.get("MODAL_CONFIG_PATH") or Path.home() / ".modal.toml")
_HAVE_CREDENTIALS = modal_available(RuntimeConfig())[0]

pytestmark = [
    pytest.mark.modal_live,
    pytest.mark.skipif(
        not _HAVE_CREDENTIALS, reason="needs Modal credentials (MODAL_TOKEN_ID/SECRET or ~/.modal.toml)"
    ),
    pytest.mark.timeout(1800),  # the first run builds the image
]

APP_NAME = "agent-tui-tests"
FAKE_SERVER = ROOT / "tests" / "fakes" / "anthropic_server.py"
PORT = 8765


@pytest.fixture(autouse=True)
def _real_modal_credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if _MODAL_TOML.is_file():
        monkeypatch.setenv("MODAL_CONFIG_PATH", str(_MODAL_TOML))
    adapter.reset_caches()
    yield
    adapter.reset_caches()


def live_config(tmp_path: Path, **overrides: object) -> RuntimeConfig:
    values: dict[str, object] = {
        "primitive": "modal",
        "modal": ModalConfig(app_name=APP_NAME, timeout_s=30 * 60),
    }
    values.update(overrides)
    return make_config(tmp_path, **values)


@pytest.fixture
async def no_leaks(tmp_path: Path) -> AsyncIterator[None]:
    yield
    # Every sandbox of this test's store must be gone: the sweep finds nothing left to end.
    assert await sweep_orphans(live_config(tmp_path), set()) == 0


async def run(runtime: AgentRuntime, session_id: str, content: str, timeout: float = 600) -> list:
    after = (await runtime.get_summary(session_id)).last_seq
    message_id, _ = await runtime.send_message(session_id, content)
    return await collect_until(runtime, session_id, query_end(message_id), after_seq=after, timeout=timeout)


async def test_primitive_contract_basics_on_a_real_sandbox(tmp_path: Path, no_leaks: None) -> None:
    primitive = ModalPrimitive("ses-live-primitive", live_config(tmp_path), npm_pins())
    await primitive.start()
    try:
        await primitive.write_files({"workspace/a.txt": b"A", "workspace/d/b.txt": b"B"})
        assert await primitive.read_file("workspace/d/b.txt") == b"B"
        assert [f.path for f in await primitive.list_files()] == ["a.txt", "d/b.txt"]
        process = await primitive.exec(
            ["sh", "-c", "echo out; echo err >&2; sleep 60 & wait"], cwd="workspace"
        )
        assert await asyncio.wait_for(anext(process.stdout_lines()), 60) == b"out"
        assert await asyncio.wait_for(anext(process.stderr_lines()), 60) == b"err"
        await process.kill()
        assert await asyncio.wait_for(process.wait(), 60) != 0
        timed = await primitive.exec(["sleep", "30"], timeout_s=2)
        assert await asyncio.wait_for(timed.wait(), 60) == -1
    finally:
        await primitive.terminate()
        await primitive.terminate()


async def test_shell_architecture_in_a_real_sandbox(tmp_path: Path, no_leaks: None) -> None:
    async with AgentRuntime(live_config(tmp_path)) as runtime:
        session = await runtime.create_session({"architecture": "shell"})
        events = await run(
            runtime,
            session.session_id,
            "echo hello from modal && python3 --version && node --version && claude --version "
            "&& echo notes > notes.txt",
        )
        assert events[-1].type == "query:completed", events[-1]
        assert any(e.type == "ee:ready" for e in events)
        detail = await runtime.get_session(session.session_id)
        output = [b for b in detail.blocks if b.type == "tool_result"][-1].output
        assert "hello from modal" in output and "Python 3." in output
        assert [f.path for f in await runtime.list_files(session.session_id)] == ["notes.txt"], output
        assert await runtime.read_file(session.session_id, "notes.txt") == b"notes\n"
        state = await runtime.terminate_environment(session.session_id)
        assert state.execution_environment.status == "terminated"


@pytest.mark.skipif(not FAKE_SERVER.is_file(), reason="tests/fakes/anthropic_server.py is not there yet")
async def test_claude_code_against_the_fake_model_server_in_the_same_sandbox(
    tmp_path: Path, no_leaks: None
) -> None:
    from runtime.architectures import ARCHITECTURES

    if "claude-code" not in ARCHITECTURES:
        pytest.skip("the claude-code architecture is not there yet")
    host_env = {"ANTHROPIC_BASE_URL": f"http://127.0.0.1:{PORT}", "ANTHROPIC_API_KEY": "sk-ant-fake-key"}
    async with AgentRuntime(live_config(tmp_path, host_env=host_env)) as runtime:
        session = await runtime.create_session({"architecture": "claude-code"})
        assert runtime.sessions is not None
        environment = runtime.sessions.get(session.session_id).environment
        # Start the sandbox first, then the fake model server inside it, on its loopback.
        primitive = await environment.ensure_ready()
        environment.query_ended()
        await primitive.write_files(
            {
                "app/tests/__init__.py": b"",
                "app/tests/fakes/__init__.py": b"",
                "app/tests/fakes/anthropic_server.py": FAKE_SERVER.read_bytes(),
                "app/tests/fakes/scripted_server.py": (FAKE_SERVER.parent / "scripted_server.py").read_bytes(),
            }
        )
        pip = await primitive.exec(["python3", "-m", "pip", "install", "-q", "aiohttp>=3.13,<4"])
        await pip.close_stdin()
        assert await asyncio.wait_for(pip.wait(), 600) == 0
        server = await primitive.exec(
            [
                "python3",
                "-m",
                "tests.fakes.anthropic_server",
                "--port",
                str(PORT),
                "--text",
                "Hello from the sandbox.",
            ],
            cwd="app",
            env={"PYTHONPATH": f"{primitive.session_dir}/app", "PATH": adapter.SANDBOX_PATH},
        )
        banner = await asyncio.wait_for(anext(server.stdout_lines()), 120)
        assert b"fake Anthropic API on" in banner

        events = await run(runtime, session.session_id, "Say hello.")
        assert events[-1].type == "query:completed", [e.payload for e in events if e.type in ("log", "error")]
        detail = await runtime.get_session(session.session_id)
        texts = [b.content for b in detail.blocks if b.type == "assistant_text"]
        assert any("Hello from the sandbox." in (t or "") for t in texts), texts
        await server.kill()
