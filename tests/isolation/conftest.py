"""Fixtures for the isolation tests: a runtime whose every folder lies OUTSIDE ``/tmp``.

Inside the sandbox ``/tmp`` is a private tmpfs, so a secret under the host's ``/tmp`` would be
hidden whatever else the policy did; these tests put the database, the sandboxes, the state and
config dirs and a fake home under ``/var/tmp`` so that each hiding mount is what a test checks.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runtime import AgentRuntime, RuntimeConfig
from runtime.primitives.isolation import detect

#: Where the tests' folders go: anywhere on the host but under /tmp.
OUTSIDE_TMP = os.environ.get("AGENT_TUI_TEST_OUTSIDE_TMP", "/var/tmp")


def bwrap_or_skip() -> str:
    state, bwrap = detect()
    if bwrap is None:
        pytest.skip(f"no working bubblewrap here: {state.reason}")
    return bwrap


@dataclass
class Machine:
    """The host as the runtime sees it, rooted outside /tmp."""

    base: Path
    home: Path  # the user's (fake) real home
    data: Path  # XDG_DATA_HOME: the database lives in <data>/agent-tui/
    state: Path  # XDG_STATE_HOME: token files in <state>/agent-tui/
    config: Path  # XDG_CONFIG_HOME: profiles in <config>/agent-tui/profiles/
    sandboxes: Path  # the runtime's data dir (one folder per session)

    @property
    def db(self) -> Path:
        return self.data / "agent-tui" / "agent-tui.db"

    @property
    def token_file(self) -> Path:
        return self.state / "agent-tui" / "token-8123"

    def runtime_config(self, **overrides: object) -> RuntimeConfig:
        values: dict[str, object] = {"data_dir": self.sandboxes}
        values.update(overrides)
        return RuntimeConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[Machine]:
    base = Path(tempfile.mkdtemp(prefix="agent-tui-iso-", dir=OUTSIDE_TMP))
    try:
        m = Machine(
            base=base,
            home=base / "home",
            data=base / "xdg-data",
            state=base / "xdg-state",
            config=base / "xdg-config",
            sandboxes=base / "srv" / "sandboxes",
        )
        for folder in (m.home, m.data, m.state / "agent-tui", m.config / "agent-tui" / "profiles", m.sandboxes):
            folder.mkdir(parents=True)
        (m.home / "secret.txt").write_text("home-secret")
        # A profile that turns the sandbox's network off.
        (m.config / "agent-tui" / "profiles" / "offline.toml").write_text('name = "Offline"\nnetwork = false\n')
        m.token_file.write_text("token-secret")
        m.token_file.chmod(0o600)
        monkeypatch.setenv("HOME", str(m.home))
        monkeypatch.setenv("XDG_DATA_HOME", str(m.data))
        monkeypatch.setenv("XDG_STATE_HOME", str(m.state))
        monkeypatch.setenv("XDG_CONFIG_HOME", str(m.config))
        yield m
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
async def isolated_runtime(machine: Machine) -> AsyncIterator[AgentRuntime]:
    bwrap_or_skip()
    runtime = AgentRuntime(machine.runtime_config())
    await runtime.start()
    try:
        assert runtime.isolation.enabled, runtime.isolation.reason
        yield runtime
    finally:
        await runtime.shutdown()
