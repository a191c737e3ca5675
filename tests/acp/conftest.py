"""Fixtures for the ACP tests: a runtime whose profiles run the fake ACP agent (``fake_acp_agent.py``)
under the generic ``acp`` architecture, on real SQLite and the local primitive."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runtime import AgentRuntime
from tests.agent_support import started_runtime
from tests.helpers import make_config

FAKE_AGENT = Path(__file__).resolve().parent / "fake_acp_agent.py"


def acp_profile(name: str, mode: str = "bypass", env: dict[str, str] | None = None) -> str:
    command = json.dumps([sys.executable, str(FAKE_AGENT)])
    table = ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in (env or {}).items())
    return (f'name = "{name}"\npermissionMode = "{mode}"\n'
            f'acp = {{ command = {command}, env = {{ {table} }}, state = [".fakeacp"] }}\n')


PROFILES = {
    "fake": acp_profile("Fake ACP agent"),
    "fake-ask": acp_profile("Fake ACP agent, asks", "ask"),
    "fake-noload": acp_profile("Fake ACP agent without loadSession", env={"FAKE_ACP_NO_LOAD": "1"}),
    "fake-loadfails": acp_profile("Fake ACP agent whose session/load fails", env={"FAKE_ACP_LOAD_FAILS": "1"}),
    "fake-latereplay": acp_profile("Fake ACP agent replaying after its session/load answer",
                                   env={"FAKE_ACP_LATE_REPLAY": "1"}),
}


def write_profiles(config_dir: Path) -> None:
    folder = config_dir / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    for profile_id, text in PROFILES.items():
        (folder / f"{profile_id}.toml").write_text(text, encoding="utf-8")


@pytest.fixture
async def acp_runtime(tmp_path: Path) -> AsyncIterator[AgentRuntime]:
    # The fake agent's folder is one the agent needs: bubblewrap hides the checkout when it lies
    # under /tmp or the home (as in CI), and agent_bin_dirs is how a user shows such a folder.
    config = make_config(tmp_path, host_env={"PATH": "/usr/bin:/bin"}, agent_bin_dirs=[str(FAKE_AGENT.parent)])
    write_profiles(config.config_dir)  # type: ignore[arg-type]
    async with started_runtime(config) as runtime:
        yield runtime


async def new_session(runtime: AgentRuntime, profile: str = "fake") -> str:
    session = await runtime.create_session({"architecture": "acp", "agentProfileRef": profile})
    return session.session_id
