"""Request and response models of the HTTP and Socket.IO surface (SPEC §3, §4, §10).

Every body the server accepts is validated by one of these, and ``/openapi.json`` is generated
from them, so the document and the behaviour cannot drift. The operation table (``runtime/api.py``)
names them per operation; they live outside ``runtime/server`` because the remote client and the
team server's forwarding read the same table. Core types (``SessionSummary``,
``SessionEvent`` ...) are reused from ``runtime.models``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator

from .models import (
    ArchitectureInfo,
    CreateSessionArgs,
    FileInfo,
    MergeStrategy,
    PermissionDecision,
    ProfileInfo,
    SessionEvent,
    SessionRuntime,
    SessionSummary,
    WireModel,
)
from .sessions.session import MAX_CONTENT
from .workspaces.workspace import MAX_CONTEXT

#: Most paths one discard takes (a client wanting more discards everything).
MAX_PATHS = 10_000
#: Largest page of ``GET /sessions/{id}/events`` (and the default ``limit``).
MAX_EVENTS_PAGE = 10_000


class StrictWire(WireModel):
    """Request bodies: unknown fields are ignored (forward compatibility), wrong types are refused."""

    model_config = ConfigDict(strict=True)


#: How deep client-supplied free-form objects (``sessionOptions``) may nest: they are stored and
#: sent back in every summary, so junk must not get in that cannot be serialized again.
MAX_NESTING = 32


def check_nesting(value: Any, depth: int = 0) -> Any:
    """Free-form JSON a client may store: bounded depth, only text UTF-8 can carry (JSON's
    ``"\\ud800"`` escapes decode to lone surrogates, which the store cannot write), 64-bit integers
    and finite numbers (what every JSON reader and the store accept)."""
    if depth > MAX_NESTING:
        raise ValueError(f"nested deeper than {MAX_NESTING} levels")
    if isinstance(value, str):
        _check_text(value)
    elif isinstance(value, bool):
        pass
    elif isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise ValueError("integer outside the 64-bit range")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("NaN and infinite numbers are not JSON")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            check_nesting(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_nesting(item, depth + 1)
    return value


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("contains a lone surrogate (not valid Unicode text)") from exc


def known_architectures() -> list[str]:
    """Architecture ids (and aliases) this runtime knows, for the OpenAPI document."""
    from .architectures import ALIASES, ARCHITECTURES

    return sorted({*ARCHITECTURES, *ALIASES})


def primitive_names() -> list[str]:
    """Sandbox backends this runtime has (the primitive registry), for validation and OpenAPI."""
    from .primitives.registry import names

    return names()


# --------------------------------------------------------------------------- errors


class ErrorResponse(WireModel):
    error: str
    code: str
    details: Any = None


# --------------------------------------------------------------------------- requests


class CreateSessionRequest(CreateSessionArgs):
    """``CreateSessionArgs`` (plus ``primitive``: a registered backend, default: the server's)."""

    model_config = ConfigDict(strict=True)

    # Bounded, so an error message that names the value stays small.
    agent_profile_ref: StrictStr = Field(default="default", max_length=200)
    architecture: StrictStr = Field(
        min_length=1,
        max_length=100,
        pattern=r"\S",
        json_schema_extra=lambda schema: schema.update(enum=known_architectures()),
    )
    # Checked against the primitive registry (not a Literal: plugins add names); OpenAPI lists them.
    primitive: (
        Annotated[StrictStr, Field(json_schema_extra=lambda schema: schema.update(enum=primitive_names()))] | None
    ) = None

    @field_validator("primitive")
    @classmethod
    def _known_primitive(cls, value: str | None) -> str | None:
        if value is not None and value not in primitive_names():
            raise ValueError(f"unknown primitive {value[:100]!r} (known: {', '.join(primitive_names())})")
        return value

    @field_validator("session_options")
    @classmethod
    def _nesting(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_nesting(value)


class SendMessageRequest(StrictWire):
    content: StrictStr = Field(min_length=1, max_length=MAX_CONTENT)


class UpdateOptionsRequest(StrictWire):
    session_options: dict[str, Any]

    @field_validator("session_options")
    @classmethod
    def _nesting(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_nesting(value)


class RenameSessionRequest(StrictWire):
    name: StrictStr = Field(min_length=1, max_length=200)


class PermissionRequest(StrictWire):
    decision: PermissionDecision
    message: StrictStr | None = Field(default=None, max_length=100_000)


class EventsQuery(StrictWire):
    """Query string of ``GET /sessions/{id}/events`` (values arrive as strings; coerced here)."""

    model_config = ConfigDict(strict=False)

    after: int = Field(default=0, ge=0, le=2**53)
    limit: int = Field(default=MAX_EVENTS_PAGE, ge=1, le=MAX_EVENTS_PAGE)


# --------------------------------------------------------------------------- responses


class HealthResponse(WireModel):
    status: Literal["ok"]
    version: str
    uptime_s: float
    sessions_loaded: int


class ProbeResponse(WireModel):
    """``/health/ready`` and ``/health/live`` (503 with the standard error shape when not ready)."""

    status: Literal["ready", "live"]


class SessionListResponse(WireModel):
    sessions: list[SessionSummary]


class DeleteSessionResponse(WireModel):
    success: Literal[True] = True
    session_id: str
    #: Sessions with a worktree: ``{branch, branchKept}`` (a branch with unmerged work is kept).
    workspace: dict[str, Any] | None = None


class SendMessageResponse(WireModel):
    success: Literal[True] = True
    session_id: str
    message_id: str
    queued: bool


class InterruptResponse(WireModel):
    success: Literal[True] = True
    interrupted: bool


class TerminateResponse(WireModel):
    success: Literal[True] = True
    session_id: str
    runtime: SessionRuntime


class UpdateOptionsResponse(WireModel):
    success: Literal[True] = True
    session_id: str
    session_options: dict[str, Any]


class SuccessResponse(WireModel):
    success: Literal[True] = True


class EventsResponse(WireModel):
    events: list[SessionEvent]
    #: The session's high-water mark; page on with ``after=events[-1].seq`` while it is larger.
    last_seq: int
    has_more: bool


class FilesResponse(WireModel):
    files: list[FileInfo]


class ProfilesResponse(WireModel):
    profiles: list[ProfileInfo]


class ArchitecturesResponse(WireModel):
    architectures: list[ArchitectureInfo]


# --------------------------------------------------------------------------- Socket.IO payloads


class SessionRef(StrictWire):
    session_id: StrictStr = Field(min_length=1, max_length=200)


class JoinRequest(SessionRef):
    after_seq: StrictInt = Field(default=0, ge=0, le=2**53)
    batch: StrictBool = False


class SocketCreateRequest(CreateSessionRequest):
    #: Deliver this session's events to the creating socket as ``stream:events`` batches.
    batch: StrictBool = False


class SocketMessageRequest(SessionRef):
    content: StrictStr = Field(min_length=1, max_length=MAX_CONTENT)


class SocketPermissionRequest(SessionRef):
    request_id: StrictStr = Field(min_length=1, max_length=200)
    decision: PermissionDecision
    message: StrictStr | None = Field(default=None, max_length=100_000)


class SocketRenameRequest(SessionRef):
    name: StrictStr = Field(min_length=1, max_length=200)


class SocketOptionsRequest(SessionRef):
    session_options: dict[str, Any]

    @field_validator("session_options")
    @classmethod
    def _nesting(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_nesting(value)


class EmptyRequest(StrictWire):
    pass


# --------------------------------------------------------------------------- workspaces (SPEC §10)


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



# --------------------------------------------------------------------------- checkpoints (restore, fork)


class ForkRequest(StrictWire):
    """``POST /sessions/{id}/fork``: the checkpoint (a query seq, its full ref, or ``"base"``),
    and optionally the new session's name and branch."""

    checkpoint: StrictStr | StrictInt = Field(union_mode="left_to_right")
    name: StrictStr | None = Field(default=None, min_length=1, max_length=200)
    branch: StrictStr | None = Field(default=None, min_length=1, max_length=200)


class SocketRestoreRequest(SessionRef):
    checkpoint: StrictStr | StrictInt = Field(union_mode="left_to_right")


class SocketForkRequest(SessionRef, ForkRequest):
    pass
