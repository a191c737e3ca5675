"""A third-party agent package as one would write it: an ``AgentSpec`` for an ACP agent (the fake
one, tests/acp/fake_acp_agent.py, run by ``python3``) whose sandbox side is the runner's ACP
converter, named only in the spec (no built-in table knows ``fake-acp``)."""

from __future__ import annotations

from runtime.architectures import AgentSpec
from runtime.architectures.acp import BuiltinAcp
from tests.acp.conftest import FAKE_AGENT


def fake_acp() -> BuiltinAcp:
    return BuiltinAcp("fake-acp", "Fake ACP agent (a plugin)", ("python3",), "AGENT_TUI_FAKE_ACP_PYTHON",
                      (str(FAKE_AGENT),), "pip install agent-tui-fake-acp", [".fakeacp"], has_transcript=False)


SPEC = AgentSpec(id="fake-acp", architecture=fake_acp, aliases=("fake-acp-alias",), converter="acp")
#: Claims a name a built-in has.
CLASH = AgentSpec(id="shell", architecture=fake_acp)
NOT_A_SPEC = object()
