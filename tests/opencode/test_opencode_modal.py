"""OpenCode in a Modal sandbox, over the fake ``modal`` SDK (tests/fakes/fake_modal.py: the cloud
is the only fake; the sandbox's processes are real local ones): the driver, its ``opencode serve``
(started in a session of its own) and the agent's tools run through the adapter's exec and its
process-group wrapper. The reply streams, and an interrupt leaves nothing running in the sandbox
but its own main process."""

from __future__ import annotations

import os
import types
from pathlib import Path

import pytest

from runtime import AgentRuntime
from tests.agent_support import ask, require_cli, started_runtime
from tests.conformance.support import LONG_COMMAND, start_a_long_tool
from tests.fakes.openai_server import FakeOpenAI, Text, ToolCall, Turn
from tests.helpers import NODE_BIN, collect_until, query_end
from tests.modal.support import fake_modal, modal_config  # noqa: F401 - the fixture
from tests.opencode.conftest import MODEL, OPENCODE_BIN, needs_opencode, opencode_host_env

pytestmark = [needs_opencode]


async def test_opencode_streams_in_a_modal_sandbox_and_an_interrupt_leaves_only_the_sandbox(
        fake_modal: types.ModuleType, fake: FakeOpenAI, tmp_path: Path,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    require_cli(OPENCODE_BIN, "OpenCode CLI")
    # In a Modal sandbox the CLI is the one on the sandbox's PATH (the image installs it there).
    monkeypatch.setenv("PATH", f"{NODE_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}")
    config = modal_config(tmp_path, host_env=opencode_host_env(fake))
    async with started_runtime(config) as runtime:
        runtime: AgentRuntime
        session = await runtime.create_session({"architecture": "opencode", "sessionOptions": {"model": MODEL}})
        sid = session.session_id
        assert session.primitive == "modal"
        reply = "Hello from a Modal sandbox, streamed in several pieces by the fake model."
        fake.script(Turn(Text(reply, chunk=10)))
        _, events = await ask(runtime, sid, "Say hello", timeout=120)
        assert events[-1].type == "query:completed", events[-1].payload
        [ready] = [e.payload for e in events if e.type == "ee:ready"]
        deltas = [e.payload["delta"] for e in events if e.type == "block:delta"]
        assert len(deltas) >= 4 and "".join(deltas) in reply
        detail = await runtime.get_session(sid)
        assert [b.content for b in detail.blocks if b.type == "assistant_text"] == [reply]

        # A tool blocked on a FIFO, then an interrupt: no process of the query survives it.
        async def send() -> str:
            fake.script(Turn(ToolCall("bash", {"command": LONG_COMMAND, "description": "wait"})), Turn(Text("never")))
            return (await runtime.send_message(sid, "Wait a while"))[0]

        message_id, _pid = await start_a_long_tool(runtime, sid, send, fake_modal_root() / sid)
        assert await runtime.interrupt(sid) is True
        end = await collect_until(runtime, sid, query_end(message_id), timeout=10)
        assert end[-1].type == "query:interrupted"
        # The query ends only after the runner's group was killed and the driver had stopped
        # the server and the tool it started: what is left is the sandbox's own main process.
        state = fake_modal.registry.sandboxes[ready["eeId"]]
        left = [pid for pid in fake_modal._marked_pids(ready["eeId"]) if pid != state.main.pid]
        assert left == [], [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in left]


def fake_modal_root() -> Path:
    from runtime.primitives import modal as adapter

    return Path(adapter.SANDBOX_ROOT)
