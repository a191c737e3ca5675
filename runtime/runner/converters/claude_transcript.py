"""A stored Claude Code transcript -> the events (and so the blocks) the live stream produced.

The transcript is what ``runner/claude_transcript.py`` saved: Claude Code's session ``.jsonl``
plus its subagents' files. Its ``assistant`` and ``user`` entries hold the same messages as the
stream-json lines, so they go through the same ``ClaudeCodeConverter`` methods and get the same
block ids (``apiBlockIndex`` is the stream's content index). Use it to rebuild a conversation
from the agent's own record (import, or checking that nothing was lost). Stdlib only.
"""

from __future__ import annotations

import json
import re

from .base import make_event
from .claude_code import ClaudeCodeConverter

# ``typing`` only for the type checker: importing it costs the runner ~2.5 ms of start-up per query.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_TAG = re.compile(r"<(task-id|tool-use-id|status|summary)>(.*?)</\1>", re.S)
_SUBAGENT_FILE = re.compile(r"(?:^|/)subagents/agent-([^/]+)\.jsonl$")


def _entries(text: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if not isinstance(text, str):
        return out
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a torn last line (the CLI was killed mid-write) is skipped, not fatal
        if isinstance(entry, dict):
            out.append(entry)
    return out


def _prompt_text(message: Any) -> str | None:
    if not isinstance(message, dict):
        return None
    content = message.get("content")
    if isinstance(content, str):
        text = content
    elif (
        isinstance(content, list)
        and content
        and all(isinstance(i, dict) and i.get("type") == "text" for i in content)
    ):
        text = "\n".join(str(i.get("text", "")) for i in content)
    else:
        return None
    # The CLI's own injections (notifications, slash-command echoes) are not the user's words.
    return None if text.lstrip().startswith("<") else text


def _entry_events(
    converter: ClaudeCodeConverter, entry: dict[str, Any], conversation: str, include_prompts: bool
) -> list[dict[str, Any]]:
    kind = entry.get("type")
    if kind == "assistant":
        index = entry.get("apiBlockIndex")
        try:
            position = int(index) if index is not None else None
        except (TypeError, ValueError):
            position = None
        return converter.assistant(
            entry.get("message"),
            conversation,
            entry.get("timestamp"),
            api_error=bool(entry.get("isApiErrorMessage") or entry.get("error")),
            index=position,
        )
    if kind == "user":
        events = converter.user(
            entry.get("message"), conversation, entry.get("timestamp"), entry.get("toolUseResult")
        )
        if (
            include_prompts
            and conversation == "main"
            and not entry.get("isMeta")
            and not entry.get("isCompactSummary")
        ):
            text = _prompt_text(entry.get("message"))
            if text is not None:
                block = {
                    "id": f"user-{entry.get('uuid')}",
                    "type": "user_message",
                    "content": text,
                    "status": "complete",
                }
                events.insert(0, make_event("block:upsert", {"block": block}))
        return events
    if kind == "queue-operation" and entry.get("operation") == "enqueue":
        content = entry.get("content")
        if isinstance(content, str) and "<task-notification>" in content:
            tags = {name: value.strip() for name, value in _TAG.findall(content)}
            return converter.task_notification(
                tags.get("tool-use-id"), tags.get("status"), tags.get("task-id"), tags.get("summary")
            )
        return []
    if kind == "system" and entry.get("subtype") == "compact_boundary":
        return converter.convert({**entry, "compact_metadata": entry.get("compactMetadata")})
    return []


def transcript_events(transcript: Any, *, include_prompts: bool = True) -> list[dict[str, Any]]:
    """Events (without ``seq``) that rebuild the conversation of a stored transcript.

    ``include_prompts`` adds the user's prompts as ``user_message`` blocks (``user-<uuid>`` ids;
    the live stream does not repeat them, the runtime records them itself)."""
    if not isinstance(transcript, dict) or not isinstance(transcript.get("files"), dict):
        return []
    files: dict[str, Any] = transcript["files"]
    claude_id = transcript.get("claudeSessionId")
    main_name = (
        f"{claude_id}.jsonl"
        if f"{claude_id}.jsonl" in files
        else next((name for name in files if "/" not in name and name.endswith(".jsonl")), None)
    )
    if main_name is None:
        return []
    main = _entries(files[main_name])

    # Which tool use started which subagent file: its meta file says, or the launch result does.
    by_agent: dict[str, str] = {}
    for entry in main:
        result = entry.get("toolUseResult")
        content = (
            (entry.get("message") or {}).get("content") if isinstance(entry.get("message"), dict) else None
        )
        if isinstance(result, dict) and isinstance(result.get("agentId"), str) and isinstance(content, list):
            for item in content:
                if isinstance(item, dict) and item.get("type") == "tool_result":
                    by_agent[result["agentId"]] = str(item.get("tool_use_id"))
    threads: dict[str, list[dict[str, Any]]] = {}
    for name, text in files.items():
        match = _SUBAGENT_FILE.search(name)
        if not match:
            continue
        tool_id = None
        try:
            meta = json.loads(files.get(name[: -len(".jsonl")] + ".meta.json") or "null")
            tool_id = meta.get("toolUseId") if isinstance(meta, dict) else None
        except ValueError:
            pass
        tool_id = tool_id or by_agent.get(match.group(1))
        if isinstance(tool_id, str):
            threads.setdefault(tool_id, []).extend(_entries(text))

    converter = ClaudeCodeConverter({})
    events: list[dict[str, Any]] = []

    def add(batch: list[dict[str, Any]]) -> None:
        for event in batch:
            events.append(event)
            if event["type"] == "subagent:spawned":
                # The subagent's own conversation right after its start, as it happened live.
                tool_id = event["payload"].get("toolUseId")
                for sub_entry in threads.pop(tool_id, []):
                    add(_entry_events(converter, sub_entry, tool_id, False))

    for entry in main:
        add(_entry_events(converter, entry, "main", include_prompts))
    for tool_id, leftover in threads.items():  # subagents whose start is not in the main file
        for sub_entry in leftover:
            add(_entry_events(converter, sub_entry, tool_id, False))
    return events
