"""Malformed, unknown and truncated CLI output through the real runner and session: the query
fails readably (or goes on), nothing crashes, and the session takes the next message.

A stand-in ``claude`` (configured with ``AGENT_TUI_CLAUDE_PATH``) prints what each prompt asks
for; a valid reply replays a golden capture of the real CLI."""

from __future__ import annotations

import sys
from pathlib import Path

from runtime import AgentRuntime
from tests import agent_support
from tests.agent_support import write_executable
from tests.claude.golden import DATA
from tests.helpers import make_config

STAND_IN = """#!{python}
import sys
prompt = sys.argv[-1]
if prompt == "garbage":
    print("this is not json at all")
    print('{{"type": "from_the_future", "payload": 1}}')
    print("[1, 2, 3]")
    print('{{"type":"stream_event","event":{{"type":"message_start","message":{{"id":"m1","model":"x"}}}}}}')
    print('{{"type":"stream_event","event":{{"type":"content_block_start","index":0,"content_block":{{"type":"text","text":""}}}}}}')
    print('{{"type":"stream_event","event":{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"half a rep"}}}}}}')
    sys.stdout.write('{{"type":"assistant","message":{{"id":"m1","content":[{{"type":"te')
    sys.stdout.flush()
    sys.exit(0)
if prompt == "crash":
    sys.stderr.write("stand-in: something broke badly\\n")
    sys.exit(3)
sys.stdout.write(open({golden!r}).read())
"""


async def test_bad_output_fails_the_query_readably_and_the_session_goes_on(tmp_path: Path) -> None:
    stand_in = STAND_IN.format(python=sys.executable, golden=str(DATA / "text" / "stream-1.jsonl"))
    claude = write_executable(tmp_path / "claude", stand_in)
    # The stand-in reads a golden file from the checkout, which bubblewrap hides when the checkout
    # is under /tmp or the home (CI): agent_bin_dirs shows that folder.
    config = make_config(tmp_path, host_env={"AGENT_TUI_CLAUDE_PATH": str(claude)}, agent_bin_dirs=[str(DATA / "text")])
    async with AgentRuntime(config) as runtime:
        session = await runtime.create_session({"architecture": "claude-code"})
        sid = session.session_id

        async def ask(prompt: str) -> list:
            return (await agent_support.ask(runtime, sid, prompt, timeout=30.0))[1]

        events = await ask("garbage")
        assert events[-1].type == "query:failed"
        assert events[-1].payload["code"] == "AGENT_NO_RESULT" and "cut short" in events[-1].payload["error"]
        warnings = [e.payload["message"] for e in events if e.type == "log" and e.payload["level"] == "warn"]
        assert any("this is not json" in w for w in warnings)
        assert any("[1, 2, 3]" in w for w in warnings)
        detail = await runtime.get_session(sid)
        partial = next(b for b in detail.blocks if b.type == "assistant_text")
        assert partial.content == "half a rep" and partial.status == "error"  # closed, not spinning

        events = await ask("crash")
        assert events[-1].type == "query:failed"
        assert events[-1].payload["code"] == "AGENT_EXITED"
        assert "code 3" in events[-1].payload["error"] and "something broke badly" in events[-1].payload["error"]

        events = await ask("a proper question")
        assert events[-1].type == "query:completed", events[-1].payload
        detail = await runtime.get_session(sid)
        assert detail.blocks[-1].type == "assistant_text"
        assert detail.blocks[-1].content == "Hello! This is the fake model, streaming in pieces."
        assert detail.runtime.execution_environment is not None
        assert detail.runtime.execution_environment.status == "ready"
