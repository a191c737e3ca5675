"""In-memory persistence adapter: same behaviour as SQLite, nothing on disk. For tests and embedding."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from ..models import AgentProfile, SessionEvent
from .base import SessionRecord
from .summaries import DigestCache, summary_fields


class MemoryStore:
    def __init__(self) -> None:
        self._sessions: dict[str, SessionRecord] = {}
        self._events: dict[str, list[SessionEvent]] = {}
        self._transcripts: dict[tuple[str, str], Any] = {}
        self._files: dict[str, dict[str, bytes]] = {}
        self._profiles: dict[str, AgentProfile] = {}
        self._digests = DigestCache()
        self._unread: dict[str, int] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def list_sessions(self) -> list[SessionRecord]:
        records = sorted(self._sessions.values(), key=lambda r: r["createdAt"])
        return [self._with_summary(r) for r in records]

    async def load_session(self, session_id: str) -> SessionRecord | None:
        record = self._sessions.get(session_id)
        return self._with_summary(record) if record else None

    def _with_summary(self, record: SessionRecord) -> SessionRecord:
        sid = record["sessionId"]
        summary = self._digests.get(sid).to_json()
        return {**copy.deepcopy(record), **summary_fields(summary, self._unread.get(sid, 0))}

    async def mark_read(self, session_id: str) -> None:
        if session_id in self._sessions:
            self._unread[session_id] = 0

    async def create_session(self, record: SessionRecord) -> None:
        self._sessions[record["sessionId"]] = copy.deepcopy(record)
        self._events.setdefault(record["sessionId"], [])
        self._digests.put_new(record["sessionId"])

    async def update_session(self, session_id: str, changes: Mapping[str, Any]) -> None:
        if session_id in self._sessions:
            self._sessions[session_id].update(copy.deepcopy(dict(changes)))

    async def delete_session(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)
        self._events.pop(session_id, None)
        self._files.pop(session_id, None)
        self._digests.drop(session_id)
        self._unread.pop(session_id, None)
        for key in [k for k in self._transcripts if k[0] == session_id]:
            del self._transcripts[key]

    async def append_events(self, session_id: str, events: Sequence[SessionEvent]) -> None:
        await self.append_batch([(session_id, e) for e in events])

    async def append_batch(
        self, batch: Sequence[tuple[str, SessionEvent]], payloads: Sequence[str] | None = None
    ) -> None:
        # Keeps the events themselves: the encoded ``payloads`` are not needed.
        # Validate the whole batch first so a bad one appends nothing (as a SQLite transaction would).
        expected: dict[str, int] = {}
        for session_id, event in batch:
            last = expected.get(session_id, self._last(session_id))
            if event.seq != last + 1:
                raise ValueError(f"seq {event.seq} does not follow {last} in session {session_id}")
            expected[session_id] = event.seq
        folded = self._digests.fold(batch)
        for session_id, event in batch:
            self._events.setdefault(session_id, []).append(event)
        self._digests.commit(folded)
        for session_id, (_, unread) in folded.items():
            self._unread[session_id] = self._unread.get(session_id, 0) + unread

    def _last(self, session_id: str) -> int:
        events = self._events.get(session_id)
        return events[-1].seq if events else 0

    async def load_events(
        self, session_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[SessionEvent]:
        events = self._events.get(session_id, [])
        # seq is gapless from 1, so the position of seq s is s - 1.
        selected = events[max(after_seq, 0) :]
        return list(selected if limit is None else selected[:limit])

    async def last_seq(self, session_id: str) -> int:
        return self._last(session_id)

    async def save_transcript(self, session_id: str, architecture: str, transcript: Any) -> None:
        self._transcripts[(session_id, architecture)] = copy.deepcopy(transcript)

    async def load_transcript(self, session_id: str, architecture: str) -> Any | None:
        return copy.deepcopy(self._transcripts.get((session_id, architecture)))

    async def save_workspace_file(self, session_id: str, path: str, content: bytes) -> None:
        self._files.setdefault(session_id, {})[path] = bytes(content)

    async def delete_workspace_file(self, session_id: str, path: str) -> None:
        self._files.get(session_id, {}).pop(path, None)

    async def list_workspace_files(self, session_id: str) -> dict[str, bytes]:
        return dict(self._files.get(session_id, {}))

    async def list_agent_profiles(self) -> list[AgentProfile]:
        return list(self._profiles.values())

    async def load_agent_profile(self, profile_id: str) -> AgentProfile | None:
        return self._profiles.get(profile_id)

    async def save_agent_profile(self, profile: AgentProfile) -> None:
        self._profiles[profile.id] = profile
