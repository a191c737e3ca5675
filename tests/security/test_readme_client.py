"""The README's JavaScript client, run as written (node + socket.io-client under tests/node) against a
real ``agent-tui serve``: once finding the token in the server's token file, once from the environment."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.tui.servers import ServeProcess

NODE_MODULES = ROOT / "tests" / "node" / "node_modules"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (NODE_MODULES / "socket.io-client").is_dir(),
    reason="node and tests/node/node_modules are needed",
)

#: Appended to the snippet: wait (with a deadline set by the test) until the command's query completed.
EPILOGUE = """
const seen = new Set();
socket.on("stream:event", ({ event }) => seen.add(event.type));
while (!seen.has("query:completed")) {
  await socket.emitWithAck("session:join", { sessionId: session.sessionId, afterSeq: 0 });
  await new Promise((resolve) => setTimeout(resolve, 100));
}
socket.close();
"""


def readme_snippet() -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"```js\n(.*?)```", readme, re.S)
    assert match, "README.md has no ```js block"
    return match.group(1)


async def run_snippet(folder: Path, env: dict[str, str]) -> str:
    folder.mkdir(exist_ok=True)
    (folder / "node_modules").symlink_to(NODE_MODULES)  # ESM resolves packages beside the script
    (folder / "client.mjs").write_text(readme_snippet() + EPILOGUE)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_TUI_", "XDG_"))}
    process = await asyncio.create_subprocess_exec(
        "node", "client.mjs", cwd=folder, env={**base, "HOME": str(folder), **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()[-2000:]
    return out.decode()


async def test_the_readme_js_client_works_with_the_token_file_and_with_the_environment(tmp_path: Path) -> None:
    server = ServeProcess(tmp_path)
    url = await server.start()
    try:
        out = await run_snippet(tmp_path / "from-file", {"XDG_STATE_HOME": os.environ["XDG_STATE_HOME"],
                                                         "AGENT_TUI_PORT": str(server.port)})
        assert "query:completed" in out and "hello" in out
        out = await run_snippet(tmp_path / "from-env", {"AGENT_TUI_URL": url, "AGENT_TUI_TOKEN": server.token,
                                                        "XDG_STATE_HOME": str(tmp_path / "empty")})
        assert "query:completed" in out and "hello" in out
    finally:
        assert await server.stop() == 0
