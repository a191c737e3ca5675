"""Forking a session from one of its checkpoints (SPEC §10, docs/workspaces.md "Fork").

The fork is a new session with its own worktree and branch: the branch starts where the source's
branch was when the checkpoint was taken, and the worktree holds the checkpoint's files on top as
uncommitted changes, so its change set (against the same base) is the source's at that moment.

Its event log does not copy the source's events (their seqs, sandbox and checkpoint events belong
to the source): it starts with one ``workspace:forked`` event, then the source's conversation up to
the end of the checkpoint's query as one ``block:upsert`` per block (complete), then
``workspace:changes``.

The agent's own conversation: Claude Code gets a copy of its session file cut after that query and
resumes it with ``--resume <source> --fork-session --session-id <fork>`` on the fork's first query;
the shell architecture has no conversation; any other agent starts afresh, and the fork's first
message is prefixed with a note saying what the branch holds.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..errors import NoWorkspace
from ..models import CreateSessionArgs, SessionEvent, WorkspaceSpec
from ..reducer import SessionState, apply_event
from ..workspaces.checkpoints import Checkpoint, find_checkpoint
from ..workspaces.git import run_git

if TYPE_CHECKING:
    from .manager import SessionManager
    from .session import AgentSession

QUERY_ENDS = ("query:completed", "query:failed", "query:interrupted")
_PAGE = 5000


async def fork_session(
    manager: SessionManager,
    source: AgentSession,
    checkpoint: Any,
    *,
    name: str | None = None,
    branch: str | None = None,
) -> AgentSession:
    workspace = source.workspace
    if workspace is None or not workspace.is_worktree:
        raise NoWorkspace("only a session with a worktree has checkpoints to fork from")
    found = await find_checkpoint(workspace, checkpoint)
    record = workspace.record
    repo = str(record["repoRoot"])
    base = workspace.base_commit
    if (await run_git(["merge-base", "--is-ancestor", base, found.head], repo, check=False)).code != 0:
        base = found.head  # the source merged since: its base moved past this checkpoint
    args = CreateSessionArgs(
        agent_profile_ref=source.record.get("agentProfileRef", "default"),
        architecture=source.record["architecture"],
        session_options=dict(source.record.get("sessionOptions") or {}),
        name=name or f"{source.record['name']} (fork)"[:200],
        primitive=source.record.get("primitive"),
        workspace=WorkspaceSpec(project=str(record["project"]), base_ref=found.head, branch=branch),
    )
    events, prompts = await _events_until(manager, source, found)
    fork = await manager.create(args)
    try:
        entry = fork.workspace.record  # type: ignore[union-attr]
        entry.update(baseRef=record.get("baseRef"), baseCommit=base, target=record.get("target"))
        origin = {"sessionId": source.id, "checkpoint": found.name, "commit": found.commit}
        fork.record["forkedFrom"] = origin
        updates: dict[str, Any] = {"workspace": entry, "forkedFrom": origin}
        conversation = _conversation(source, events, found)
        updates.update(await _agent_conversation(manager, source, fork, prompts, found, conversation))
        fork.record.update(updates)
        await manager.store.update_session(fork.id, updates)
        assert fork.workspace is not None
        await fork.workspace.start_from(found.commit)
        await fork.publish("workspace:forked", {**origin, "branch": entry["branch"]})
        if conversation:
            await manager.bus.publish(fork.id, [{"type": "block:upsert", "payload": {"block": b}} for b in conversation])
        await fork.workspace.publish_changes()
    except BaseException:
        await manager.delete(fork.id)
        raise
    return fork


async def _events_until(
    manager: SessionManager, source: AgentSession, found: Checkpoint
) -> tuple[list[SessionEvent], list[tuple[int, str]]]:
    """The source's events up to the end of the checkpoint's query (none for ``base``; all for
    ``pre-restore``, which is the state after everything so far), and every query's
    ``(seq, prompt)`` in the whole log (where to cut the agent's own conversation)."""
    last = source.state.last_seq
    events: list[SessionEvent] = []
    prompts: list[tuple[int, str]] = []
    message_id: str | None = None
    done = found.name == "base"
    after = 0
    while after < last:
        page = await manager.store.load_events(source.id, after, _PAGE)
        if not page:
            break
        for event in page:
            if event.type == "query:started":
                prompts.append((event.seq, str(event.payload.get("content") or "")))
            if done:
                continue
            events.append(event)
            if found.seq is None:
                continue
            if event.seq == found.seq and event.type == "query:started":
                message_id = event.payload.get("messageId")
            elif message_id is not None and event.type in QUERY_ENDS and event.payload.get("messageId") == message_id:
                done = True
        after = page[-1].seq
    return events, prompts


def _conversation(source: AgentSession, events: list[SessionEvent], found: Checkpoint) -> list[dict[str, Any]]:
    """The main conversation's blocks as they stood: messages not yet started then are left out;
    subagents' own blocks are not copied (their ``subagent`` block, with its output, is)."""
    state = SessionState()
    for event in events:
        apply_event(state, event)
    waiting = {*state.queued, *state.unstarted}
    blocks = []
    for block in state.blocks:
        if block.get("id") in waiting:
            continue
        blocks.append({**block, "status": "error" if block.get("status") == "error" else "complete"})
    return blocks


async def _agent_conversation(
    manager: SessionManager,
    source: AgentSession,
    fork: AgentSession,
    prompts: list[tuple[int, str]],
    found: Checkpoint,
    conversation: list[dict[str, Any]],
) -> dict[str, Any]:
    """Record fields that make the fork's agent continue the conversation (or be told about it)."""
    architecture = source.record["architecture"]
    if architecture == "shell" or not conversation:
        return {}
    if architecture == "claude-code":
        transcript = await manager.store.load_transcript(source.id, architecture)
        if isinstance(transcript, dict) and isinstance(transcript.get("files"), dict):
            cut = cut_claude_transcript(transcript, prompts, found.seq)
            if cut is not None:
                await manager.store.save_transcript(fork.id, architecture, cut)
                # A source that is itself a fork not yet run holds the copy under its own source's
                # conversation id: resume that one.
                return {"hasQueried": True, "forkOf": source.record.get("forkOf") or source.id}
    return {"forkNote": _note(source, found)}


def cut_claude_transcript(transcript: dict[str, Any], prompts: list[tuple[int, str]],
                          seq: int | None) -> dict[str, Any] | None:
    """A copy of Claude Code's stored session with the main file cut before the first prompt sent
    after query ``seq`` (``None``: nothing cut). Prompts are matched in order, by text, with the
    file's user entries; a query the CLI never recorded (stopped early) is skipped."""
    claude_id = transcript.get("claudeSessionId")
    files = transcript["files"]
    main = files.get(f"{claude_id}.jsonl")
    if not isinstance(main, str):
        return None
    lines = main.splitlines(keepends=True)
    starts: dict[int, int] = {}  # index in prompts -> line where that prompt was recorded
    pointer = 0
    for number, line in enumerate(lines):
        text = _prompt_text(line)
        if text is None:
            continue
        for position in range(pointer, len(prompts)):
            if prompts[position][1].strip() == text.strip():
                starts[position] = number
                pointer = position + 1
                break
    later = [starts[i] for i, (started, _) in enumerate(prompts) if seq is not None and started > seq and i in starts]
    if later:
        lines = lines[: min(later)]
    return {**transcript, "files": {**files, f"{claude_id}.jsonl": "".join(lines)}}


def _prompt_text(line: str) -> str | None:
    """The text of a user's prompt entry in a Claude Code session file (not a tool result, not a
    subagent's, not the CLI's own meta entries); ``None`` for any other line."""
    if '"user"' not in line:
        return None
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    if not isinstance(entry, dict) or entry.get("type") != "user" or entry.get("isSidechain") or entry.get("isMeta"):
        return None
    message = entry.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return content
    if isinstance(content, list) and content and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return "".join(str(p.get("text") or "") for p in content)
    return None


def _note(source: AgentSession, found: Checkpoint) -> str:
    where = "its base commit" if found.name == "base" else f"checkpoint {found.name}"
    return (
        f"[agent-tui] This session is a fork of session {source.record['name']!r} at {where}. "
        "The working tree already holds that session's changes up to then (see `git status` and "
        "`git diff`); its earlier conversation is not available to you. Continue from there."
    )
