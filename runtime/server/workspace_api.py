"""The workspace surface of the server (SPEC §10): HTTP handlers, request/response models and
Socket.IO events for changes, diff, commit, merge and discard.

Kept apart from ``http.py``/``sockets.py`` so those only list these entries; every handler calls
the public ``AgentRuntime`` method of the same meaning.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import ConfigDict, Field, StrictStr

from ..agent_runtime import AgentRuntime
from ..models import MergeStrategy, WireModel, WorkspaceChanges
from ..workspaces.workspace import MAX_CONTEXT
from .schemas import SessionRef, StrictWire

#: Most paths one discard takes (a client wanting more discards everything).
MAX_PATHS = 10_000

# --------------------------------------------------------------------------- models


class DiffQuery(StrictWire):
    """Query string of ``GET /sessions/{id}/diff`` (values arrive as strings; coerced here)."""

    model_config = ConfigDict(strict=False)

    path: str | None = Field(default=None, min_length=1, max_length=4096)
    context: int = Field(default=3, ge=0, le=MAX_CONTEXT)


class CommitRequest(StrictWire):
    message: StrictStr = Field(min_length=1, max_length=100_000, pattern=r"\S")


class MergeRequest(StrictWire):
    into: StrictStr | None = Field(default=None, min_length=1, max_length=200)
    strategy: MergeStrategy = "merge"


class DiscardRequest(StrictWire):
    paths: list[StrictStr] | None = Field(default=None, max_length=MAX_PATHS)


class CommitResponse(WireModel):
    commit: str


class MergeResponse(WireModel):
    commit: str
    into: str


class DiscardResponse(WireModel):
    paths: list[str]


class SocketDiffRequest(SessionRef):
    path: StrictStr | None = Field(default=None, min_length=1, max_length=4096)
    context: int = Field(default=3, ge=0, le=MAX_CONTEXT)


class SocketCommitRequest(SessionRef, CommitRequest):
    pass


class SocketMergeRequest(SessionRef, MergeRequest):
    pass


class SocketDiscardRequest(SessionRef, DiscardRequest):
    pass


# --------------------------------------------------------------------------- HTTP handlers


def _id(request: web.Request) -> str:
    return request.match_info["id"]


async def get_changes(runtime: AgentRuntime, request: web.Request, _: Any) -> dict[str, Any]:
    return (await runtime.get_changes(_id(request))).wire()


async def get_diff(runtime: AgentRuntime, request: web.Request, query: DiffQuery) -> web.Response:
    text = await runtime.get_diff(_id(request), query.path, query.context)
    return web.Response(
        body=text.encode("utf-8", "surrogateescape"),
        content_type="text/x-diff",
        charset="utf-8",
        headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"},
    )


async def commit(runtime: AgentRuntime, request: web.Request, body: CommitRequest) -> dict[str, Any]:
    return {"commit": await runtime.commit(_id(request), body.message)}


async def merge(runtime: AgentRuntime, request: web.Request, body: MergeRequest) -> dict[str, Any]:
    result = await runtime.merge(_id(request), body.into, body.strategy)
    return {"commit": result["commit"], "into": result["into"]}


async def discard(runtime: AgentRuntime, request: web.Request, body: DiscardRequest) -> dict[str, Any]:
    return {"paths": await runtime.discard(_id(request), body.paths)}


# --------------------------------------------------------------------------- Socket.IO

Ack = dict[str, Any]
SocketHandler = Callable[[Any, Any], Awaitable[Ack]]


def socket_events(runtime: AgentRuntime) -> dict[str, tuple[type[StrictWire], SocketHandler]]:
    """``session:changes|diff|commit|merge|discard``: the same calls, acked as ``{success, ...}``."""

    async def changes(_conn: Any, req: SessionRef) -> Ack:
        result: WorkspaceChanges = await runtime.get_changes(req.session_id)
        return {"success": True, "changes": result.wire()}

    async def diff(_conn: Any, req: SocketDiffRequest) -> Ack:
        return {"success": True, "diff": await runtime.get_diff(req.session_id, req.path, req.context)}

    async def commit_(_conn: Any, req: SocketCommitRequest) -> Ack:
        return {"success": True, "commit": await runtime.commit(req.session_id, req.message)}

    async def merge_(_conn: Any, req: SocketMergeRequest) -> Ack:
        result = await runtime.merge(req.session_id, req.into, req.strategy)
        return {"success": True, "commit": result["commit"], "into": result["into"]}

    async def discard_(_conn: Any, req: SocketDiscardRequest) -> Ack:
        return {"success": True, "paths": await runtime.discard(req.session_id, req.paths)}

    return {
        "session:changes": (SessionRef, changes),
        "session:diff": (SocketDiffRequest, diff),
        "session:commit": (SocketCommitRequest, commit_),
        "session:merge": (SocketMergeRequest, merge_),
        "session:discard": (SocketDiscardRequest, discard_),
    }
