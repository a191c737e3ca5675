"""The workspace surface of the server (SPEC §10): HTTP handlers, request/response models and
Socket.IO events for changes, diff, commit, merge and discard.

Kept apart from ``http.py``/``sockets.py`` so those only list these entries; every handler calls
the public ``AgentRuntime`` method of the same meaning.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import ConfigDict, Field, StrictInt, StrictStr

from ..agent_runtime import AgentRuntime
from ..models import MergeStrategy, RestoreResult, WireModel, WorkspaceChanges
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


class ForkRequest(StrictWire):
    """``POST /sessions/{id}/fork``: the checkpoint (a query seq, its full ref, or ``"base"``),
    and optionally the new session's name and branch."""

    checkpoint: StrictStr | StrictInt = Field(union_mode="left_to_right")
    name: StrictStr | None = Field(default=None, min_length=1, max_length=200)
    branch: StrictStr | None = Field(default=None, min_length=1, max_length=200)


class SocketDiffRequest(SessionRef):
    path: StrictStr | None = Field(default=None, min_length=1, max_length=4096)
    context: int = Field(default=3, ge=0, le=MAX_CONTEXT)


class SocketCommitRequest(SessionRef, CommitRequest):
    pass


class SocketMergeRequest(SessionRef, MergeRequest):
    pass


class SocketDiscardRequest(SessionRef, DiscardRequest):
    pass


class SocketRestoreRequest(SessionRef):
    checkpoint: StrictStr | StrictInt = Field(union_mode="left_to_right")


class SocketForkRequest(SessionRef, ForkRequest):
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


async def restore(runtime: AgentRuntime, request: web.Request, _: Any) -> dict[str, Any]:
    result: RestoreResult = await runtime.restore_checkpoint(_id(request), request.match_info["checkpoint"])
    return result.wire()


async def fork(runtime: AgentRuntime, request: web.Request, body: ForkRequest) -> dict[str, Any]:
    summary = await runtime.fork_session(_id(request), body.checkpoint, name=body.name, branch=body.branch)
    return summary.wire()


# --------------------------------------------------------------------------- Socket.IO

Ack = dict[str, Any]
SocketHandler = Callable[[Any, Any], Awaitable[Ack]]


def socket_events(runtime: AgentRuntime) -> dict[str, tuple[type[StrictWire], SocketHandler]]:
    """``session:changes|diff|commit|merge|discard|restore|fork``: the same calls, acked as ``{success, ...}``."""

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

    async def restore_(_conn: Any, req: SocketRestoreRequest) -> Ack:
        result = await runtime.restore_checkpoint(req.session_id, req.checkpoint)
        return {"success": True, **result.wire()}

    async def fork_(_conn: Any, req: SocketForkRequest) -> Ack:
        summary = await runtime.fork_session(req.session_id, req.checkpoint, name=req.name, branch=req.branch)
        return {"success": True, "session": summary.wire()}

    return {
        "session:restore": (SocketRestoreRequest, restore_),
        "session:fork": (SocketForkRequest, fork_),
        "session:changes": (SessionRef, changes),
        "session:diff": (SocketDiffRequest, diff),
        "session:commit": (SocketCommitRequest, commit_),
        "session:merge": (SocketMergeRequest, merge_),
        "session:discard": (SocketDiscardRequest, discard_),
    }
