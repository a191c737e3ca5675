"""Forking a session whose agent cannot resume a copy of its conversation (Gemini CLI, the real
pinned CLI against the fake API): the fork's agent starts afresh, told by a note before the
first message what the branch holds; the log shows the message as typed."""

from __future__ import annotations

from pathlib import Path

from runtime import AgentRuntime
from tests.fakes.gemini_server import FakeGemini, Text, Turn
from tests.gemini.conftest import MODEL, fake, gemini_runtime, loopback_only, needs_gemini  # noqa: F401
from tests.helpers import collect_until, query_end

pytestmark = [needs_gemini]


async def ask(runtime: AgentRuntime, sid: str, prompt: str) -> None:
    message_id, _ = await runtime.send_message(sid, prompt)
    events = await collect_until(runtime, sid, query_end(message_id), timeout=120)
    assert events[-1].type == "query:completed", events[-1].payload


async def test_a_fork_of_a_gemini_session_starts_afresh_with_a_note(
    gemini_runtime: AgentRuntime, fake: FakeGemini, repo: Path  # noqa: F811
) -> None:
    runtime = gemini_runtime
    summary = await runtime.create_session({"architecture": "gemini-cli", "sessionOptions": {"model": MODEL},
                                            "name": "gem", "workspace": {"project": str(repo)}})
    sid = summary.session_id
    fake.script(Turn(Text("Hello from the source.")))
    await ask(runtime, sid, "PROMPT-SOURCE say hello")
    # The user's own edit, then a restore: "pre-restore" is a checkpoint holding everything so far.
    (Path(summary.workspace.path) / "mine.txt").write_text("mine\n")
    await runtime.restore_checkpoint(sid, "base")
    fork = await runtime.fork_session(sid, "pre-restore")
    assert (Path(fork.workspace.path) / "mine.txt").read_text() == "mine\n"
    fake.script(Turn(Text("Fork here.")), Turn(Text("Fork again.")))
    await ask(runtime, fork.session_id, "PROMPT-FORK-1 go on")
    sent = fake.conversation_requests()[-1].text()
    assert "[agent-tui] This session is a fork of session 'gem'" in sent and "PROMPT-FORK-1 go on" in sent
    assert "PROMPT-SOURCE" not in sent  # a fresh conversation: nothing to resume
    users = [b.content for b in (await runtime.get_session(fork.session_id)).blocks if b.type == "user_message"]
    assert users == ["PROMPT-SOURCE say hello", "PROMPT-FORK-1 go on"]  # copied block, then as typed
    # The note is said once: the next message goes as it is, in the fork's own conversation.
    await ask(runtime, fork.session_id, "PROMPT-FORK-2 more")
    sent = fake.conversation_requests()[-1].text()
    assert "PROMPT-FORK-1 go on" in sent and sent.count("This session is a fork") == 1
