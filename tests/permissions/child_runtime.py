"""A separate agent-tui process for the restart test: runs an AgentRuntime on the given folders,
sends one message to a new Claude Code session with profile ``ask`` and prints every event as a
JSON line, until it is killed.

python -m tests.permissions.child_runtime TMP_PATH FAKE_URL PROMPT
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from types import SimpleNamespace

from runtime import AgentRuntime
from tests.claude.conftest import claude_host_env
from tests.helpers import NODE_BIN, make_config
from tests.permissions.conftest import ASK_PROFILE, write_profiles


async def main(tmp_path: Path, fake_url: str, prompt: str) -> None:
    # The fake runs in the test process; only its address is needed here.
    fake = SimpleNamespace(url=fake_url)
    host_env = claude_host_env(fake)  # type: ignore[arg-type]
    config = make_config(tmp_path, agent_bin_dirs=[str(NODE_BIN)], host_env=host_env)
    write_profiles(Path(config.config_dir))  # type: ignore[arg-type]
    runtime = AgentRuntime(config)
    await runtime.start()
    session = await runtime.create_session({"architecture": "claude-code", "agentProfileRef": ASK_PROFILE})
    subscription = runtime.subscribe(session.session_id)
    await runtime.send_message(session.session_id, prompt)
    async for event in subscription:
        print(json.dumps({"sessionId": session.session_id, "event": event.wire()}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3]))
