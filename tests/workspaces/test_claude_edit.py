"""Claude Code (the real pinned CLI, against the fake model API) edits a repository file with its
Edit tool: file events, ``workspace:changes`` and the diff show the edit (SPEC §10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime import AgentRuntime
from tests.claude.conftest import PROFILE_ID, claude_runtime, fake, loopback_only, needs_claude  # noqa: F401
from tests.fakes.anthropic_server import FakeAnthropic, Text, ToolUse, Turn
from tests.helpers import collect_until, query_end
from tests.workspaces.conftest import head, status

pytestmark = [pytest.mark.claude, needs_claude]


async def test_claude_edit_tool_shows_in_events_changes_and_diff(
    claude_runtime: AgentRuntime, fake: FakeAnthropic, repo: Path  # noqa: F811
) -> None:
    runtime = claude_runtime
    before = head(repo)
    summary = await runtime.create_session(
        {"architecture": "claude-code", "agentProfileRef": PROFILE_ID, "name": "edit",
         "workspace": {"project": str(repo)}}
    )
    sid = summary.session_id
    target = f"{summary.workspace.path}/src/app.py"
    fake.script(
        Turn(ToolUse("Read", {"file_path": target})),
        Turn(ToolUse("Edit", {"file_path": target, "old_string": "print('v1')", "new_string": "print('v2')"})),
        Turn(Text("Edited.")),
    )
    message_id, _ = await runtime.send_message(sid, "Change v1 to v2 in src/app.py")
    events = await collect_until(runtime, sid, query_end(message_id), timeout=120)
    assert events[-1].type == "query:completed", events[-1].payload
    results = [e.payload["block"] for e in events
               if e.type == "block:upsert" and e.payload["block"].get("type") == "tool_result"]
    assert results and not any(r.get("isError") for r in results), results
    assert ("file:modified", "src/app.py") in {(e.type, e.payload.get("path")) for e in events}
    changes = [e.payload for e in events if e.type == "workspace:changes"]
    assert [f["path"] for f in changes[-1]["files"]] == ["src/app.py"]
    assert changes[-1]["files"][0]["additions"] == 1 and changes[-1]["files"][0]["deletions"] == 1
    diff = await runtime.get_diff(sid, "src/app.py")
    assert "-print('v1')" in diff and "+print('v2')" in diff
    # The agent worked in its own worktree: the user's checkout is as it was.
    assert status(repo) == "" and head(repo) == before
    assert (repo / "src" / "app.py").read_text() == "print('v1')\n"
