"""The agent registry: built-ins from their specs, a third-party agent through a real
``agent_tui.agents`` entry point (a distribution's metadata on ``sys.path``) running a session, and
an agent that fails to load listed as unavailable and named when chosen, never silently missing."""

from __future__ import annotations

import logging
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runtime.architectures import registry
from runtime.errors import AgentLoadError
from runtime.remote import RemoteRuntime
from runtime.runner.converters import CONVERTER_MODULES
from runtime.runner.transcripts import HANDLERS
from runtime.server.app import start_server
from tests.agent_support import ask, started_runtime
from tests.entry_points import installer
from tests.helpers import make_config
from tests.server.conftest import TOKEN

ROOT = Path(__file__).resolve().parents[2]

Install = Callable[[str], None]


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Install]:
    yield from installer(tmp_path, monkeypatch, registry.ENTRY_POINT_GROUP, registry.reload)


def test_the_builtins_are_the_entry_points_pyproject_declares() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"][registry.ENTRY_POINT_GROUP]
    assert declared == registry.BUILTINS
    assert list(registry.ARCHITECTURES) == list(registry.BUILTINS)
    assert dict(registry.ALIASES) == {"claude-sdk": "claude-code"}


def test_each_builtin_spec_names_the_sandbox_modules_the_runner_has() -> None:
    for spec in registry.specs():
        if spec.converter is not None:
            assert (ROOT / "runtime" / "runner" / "converters" / f"{spec.converter}.py").is_file(), spec.id
            assert CONVERTER_MODULES[spec.id] == spec.converter
        if spec.transcript is not None:
            assert (ROOT / "runtime" / "runner" / f"{spec.transcript}.py").is_file(), spec.id
            assert HANDLERS[spec.id] == spec.transcript
        assert registry.get_architecture(spec.id).has_transcript == (spec.transcript is not None), spec.id


async def test_a_third_party_agent_runs_a_session(install: Install, tmp_path: Path) -> None:
    from runtime.wire import known_architectures

    assert "fake-acp" not in registry.ARCHITECTURES
    install("fake-acp = tests.agents.fake_plugin:SPEC")
    assert list(registry.ARCHITECTURES)[-1] == "fake-acp" and "fake-acp-alias" in known_architectures()
    tests_dir = str(ROOT / "tests" / "acp")
    config = make_config(tmp_path / "rt", host_env={"PATH": "/usr/bin:/bin"}, agent_bin_dirs=[tests_dir])
    async with started_runtime(config) as runtime:
        infos = {a.id: a for a in await runtime.list_architectures()}
        assert infos["fake-acp"].available
        session = await runtime.create_session({"architecture": "fake-acp-alias"})
        assert (await runtime.get_summary(session.session_id)).architecture == "fake-acp"
        _, events = await ask(runtime, session.session_id, "hello")
        assert events[-1].type == "query:completed", events[-1].payload
        detail = await runtime.get_session(session.session_id)
        # The ACP converter (named only by the spec) turned the agent's updates into blocks.
        assert [b.content for b in detail.blocks if b.type == "assistant_text"] == ["Hello from the fake agent."]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("fake-acp = tests.agents.no_such_module:SPEC", "ModuleNotFoundError: No module named 'tests.agents.no_such"),
        ("fake-acp = tests.agents.fake_plugin:NOT_A_SPEC", "is not an AgentSpec"),
        ("other = tests.agents.fake_plugin:SPEC", "the entry point's name must be the agent's id"),
    ],
)
async def test_an_agent_that_fails_to_load_is_an_error_not_missing(
    install: Install, tmp_path: Path, caplog: pytest.LogCaptureFixture, line: str, says: str
) -> None:
    name = line.split(" = ")[0]
    with caplog.at_level(logging.ERROR, logger=registry.__name__):
        install(line)
    assert any(f"agent {name!r}" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    with pytest.raises(registry.AgentLoadError, match=f"agent {name!r} failed to load: .*{says}"):
        registry.get_architecture(name)
    config = make_config(tmp_path / "rt", host_env={"PATH": "/usr/bin:/bin"})
    async with started_runtime(config) as runtime:
        info = {a.id: a for a in await runtime.list_architectures()}[name]
        assert not info.available and says.split(":")[0] in (info.reason or "")
        with pytest.raises(registry.AgentLoadError, match=f"agent {name!r} failed to load"):
            await runtime.create_session({"architecture": name})
        # The other agents are untouched.
        assert (await runtime.create_session({"architecture": "shell"})).session_id
        # A remote client gets the same error, by its code, through a real server.
        server = await start_server(runtime, host="127.0.0.1", port=0, token=TOKEN)
        try:
            async with RemoteRuntime(server.url, TOKEN) as remote:
                with pytest.raises(AgentLoadError, match=f"agent {name!r} failed to load"):
                    await remote.create_session({"architecture": name})
        finally:
            await server.stop()


def test_a_plugin_cannot_take_a_builtins_name(install: Install, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger=registry.__name__):
        install("shell = tests.agents.fake_plugin:CLASH")
    assert any("agent 'shell' (entry point 'shell'" in r.getMessage() and "is already registered" in r.getMessage()
               for r in caplog.records)
    with pytest.raises(registry.AgentLoadError, match="agent 'shell' is already registered"):
        registry.register(sys.modules["tests.agents.fake_plugin"].CLASH)
    # The built-in stays the one used.
    assert registry.get_architecture("shell").inner.display_name == "Shell (no model)"
