"""The operation table: every operation of the runtime's remote API, written once.

Each ``Operation`` names the runtime method it calls, its HTTP method and path (path parameters,
success status, error statuses and codes), its request and response models (``runtime/wire.py``),
its Socket.IO event if it has one (SPEC §4, docs/protocol.md), and whether a team-server node
forwards it to the node that owns the session (``runtime/cluster/node.py``). From this table are
made, at the time they are built (so a table changed before a server starts is served):

- the HTTP routes, at ``/`` and under ``/api`` (``runtime/server/http.py`` ``routes()``);
- the Socket.IO request/ack handlers (``runtime/server/sockets.py`` ``SocketHub``);
- ``/openapi.json`` (``runtime/server/openapi.py``, from the routes);
- the remote client's calls (``runtime/remote.py`` ``RemoteRuntime.invoke``; its typed methods
  are one line each, kept for the ``RuntimeClient`` protocol);
- the team server's forwarding of commands to a session's owner (``forwarded=True``).

Adding an operation
-------------------
1. Write the ``AgentRuntime`` method (keyword names are the contract: path parameters map to
   them through ``PATH_PARAMS``, request fields by their Python names, or through ``rename``).
2. Add the request/response models to ``runtime/wire.py`` (a Socket.IO payload model is the HTTP
   body plus ``sessionId``: subclass ``SessionRef`` and the body model).
3. Add one ``Operation`` to ``OPERATIONS`` (its position is its place in ``/openapi.json``), with
   ``encode`` (runtime result -> the HTTP response body) and ``decode`` (that body -> the
   runtime result, for the remote client and forwarding). A Socket.IO ack is the HTTP body with
   ``success: true`` added, or the body under ``ack_key`` when the body is a bare model/text.
4. Add a typed one-line method to ``RemoteRuntime`` (and to ``RuntimeClient`` if the UI uses it)
   calling ``self.invoke("<name>", ...)``; document the route/event in docs/protocol.md.
Nothing else: tests/server/test_operation_table.py proves it for a made-up operation.

Kept by hand, and why
---------------------
- Health probes (``/health``, ``/health/live``, ``/health/ready``) and ``/openapi.json``
  (``http.py`` ``PROBES``): no runtime method (or a probe of the process itself), no auth.
- ``readFile``'s HTTP handler: its content type is guessed from the file name and active types are
  downgraded to text (a table ``raw`` type is one fixed type); the operation is still in the table
  for OpenAPI, the remote client and forwarding.
- The Socket.IO events that subscribe the socket to a session's stream, ``session:join`` /
  ``session:leave`` (no HTTP twin) and ``session:create``'s handler (it creates through the table's
  runtime method, then joins the new session's room before its first event): ``sockets.py``.
- The event pagination of the remote subscription (``RemoteSubscription``) uses ``listEvents``
  through ``invoke``; the streaming itself is Socket.IO.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import quote

from pydantic import BaseModel

from . import models, wire

#: Path parameter (as in the URL) -> (runtime keyword, description in /openapi.json).
PATH_PARAMS: dict[str, tuple[str, str]] = {
    "id": ("session_id", "Session id"),
    "requestId": ("request_id", "Permission request id"),
    "path": ("path", "Path relative to the workspace (may contain /)"),
    "checkpoint": ("checkpoint", 'A query\'s seq (last part of a workspace:checkpoint ref), its full ref, or "base"'),
}
#: Path parameters whose value may span several URL segments.
MULTI_SEGMENT = frozenset({"path"})

Encode = Callable[[Any, Mapping[str, Any]], Any]
Decode = Callable[[Any], Any]


def _wire(result: Any, _call: Mapping[str, Any]) -> Any:
    return result.wire()


def _same(body: Any) -> Any:
    return body


@dataclass(frozen=True, eq=False)
class Operation:
    """One operation of the remote API. ``eq=False``: identity is the entry (hashable for caches)."""

    #: OpenAPI operationId (``...Api`` for the ``/api`` copy); what ``RemoteRuntime.invoke`` takes.
    name: str
    #: The runtime method called, with keywords bound from the request.
    method: str
    #: ``"VERB /path/{param}"``: served at ``/`` and under ``/api``.
    http: str
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    #: Error statuses beyond the ones every route has (403, 500; 401 unless open; 400/413/415 with a body).
    errors: tuple[int, ...] = ()
    #: Error codes specific to the operation (``x-error-codes`` in /openapi.json).
    codes: tuple[str, ...] = ()
    #: Media type of a success body that is not JSON (``encode`` returns ``str`` or ``bytes``).
    raw: str | None = None
    #: Socket.IO request event (acked) and its payload model.
    event: str | None = None
    event_model: type[BaseModel] | None = None
    #: The ack carries the response body under this key (bare models, text) instead of spread.
    ack_key: str | None = None
    #: A team-server node runs it on the node owning the session (``session_id`` is required).
    forwarded: bool = False
    #: Request field (Python name) -> runtime keyword, where they differ.
    rename: Mapping[str, str] = field(default_factory=dict)
    #: The runtime takes the whole validated body as this keyword (instead of its fields).
    whole_body: str | None = None
    #: Runtime keyword told who called (``"http client"``, ``"socket.io client"``).
    caller_arg: str | None = None
    encode: Encode = _wire
    decode: Decode = _same

    def __post_init__(self) -> None:
        # A table mistake fails at import (or when a test builds an entry), not on a request.
        if (self.event is None) != (self.event_model is None):
            raise ValueError(f"{self.name}: an event and its payload model go together")
        unknown = [p for p in self.path_params if p not in PATH_PARAMS]
        if unknown or self.verb not in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            raise ValueError(f"{self.name}: bad {self.http!r} (path parameters must be in PATH_PARAMS)")

    @property
    def verb(self) -> str:
        return self.http.split(" ", 1)[0]

    @property
    def path(self) -> str:
        return self.http.split(" ", 1)[1]

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(re.findall(r"\{(\w+)\}", self.path))


def _ok(extra: Callable[[Any, Mapping[str, Any]], dict[str, Any]]) -> Encode:
    """``{success: true, sessionId, ...extra}``: the shape of the session commands' answers."""
    return lambda result, call: {"success": True, "sessionId": call["session_id"], **extra(result, call)}


def _events(result: tuple[list[models.SessionEvent], int], _call: Mapping[str, Any]) -> dict[str, Any]:
    events, last_seq = result
    has_more = bool(events) and events[-1].seq < last_seq
    return {"events": [e.wire() for e in events], "lastSeq": last_seq, "hasMore": has_more}


_WORKSPACE_WRITE = ("WORKSPACE_BUSY", "NO_WORKSPACE")

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "listSessions",
        "list_sessions",
        "GET /sessions",
        "All sessions",
        response=wire.SessionListResponse,
        event="sessions:list",
        event_model=wire.EmptyRequest,
        encode=lambda r, _: {"sessions": [s.wire() for s in r]},
        decode=lambda b: [models.SessionSummary.model_validate(s) for s in b.get("sessions", [])],
    ),
    Operation(
        "createSession",
        "create_session",
        "POST /sessions",
        "Create a session (its sandbox starts on the first message)",
        body=wire.CreateSessionRequest,
        response=models.SessionSummary,
        status=201,
        errors=(400, 404),
        codes=("UNKNOWN_ARCHITECTURE", "PROFILE_NOT_FOUND", "NOT_A_GIT_REPOSITORY"),
        event="session:create",  # handler in sockets.py: it also joins the new session's room
        event_model=wire.SocketCreateRequest,
        ack_key="session",
        whole_body="args",
        decode=models.SessionSummary.model_validate,
    ),
    Operation(
        "getSession",
        "get_session",
        "GET /sessions/{id}",
        "A session with its blocks and subagents",
        response=models.SessionDetail,
        errors=(404,),
        codes=("SESSION_NOT_FOUND",),
        event="session:get",
        event_model=wire.SessionRef,
        ack_key="session",
        decode=models.SessionDetail.model_validate,
    ),
    Operation(
        "renameSession",
        "rename_session",
        "PATCH /sessions/{id}",
        "Rename a session (extension)",
        body=wire.RenameSessionRequest,
        response=models.SessionSummary,
        errors=(400, 404),
        codes=("SESSION_NOT_FOUND",),
        event="session:rename",
        event_model=wire.SocketRenameRequest,
        ack_key="session",
        forwarded=True,
        decode=models.SessionSummary.model_validate,
    ),
    Operation(
        "deleteSession",
        "delete_session",
        "DELETE /sessions/{id}",
        "Terminate the sandbox and delete the session from storage",
        response=wire.DeleteSessionResponse,
        errors=(404,),
        codes=("SESSION_NOT_FOUND",),
        event="session:delete",
        event_model=wire.SessionRef,
        forwarded=True,
        # {branch, branchKept}: an unmerged session branch stays.
        encode=_ok(lambda kept, _: {"workspace": kept} if kept else {}),
        decode=lambda b: dict(b.get("workspace") or {}),
    ),
    Operation(
        "sendMessage",
        "send_message",
        "POST /sessions/{id}/messages",
        "Send a message; queued behind a running query, run in order",
        body=wire.SendMessageRequest,
        response=wire.SendMessageResponse,
        status=202,
        errors=(400, 404),
        codes=("SESSION_NOT_FOUND",),
        event="session:message",
        event_model=wire.SocketMessageRequest,
        forwarded=True,
        encode=_ok(lambda r, _: {"messageId": r[0], "queued": r[1]}),
        decode=lambda b: (str(b.get("messageId")), bool(b.get("queued"))),
    ),
    Operation(
        "interrupt",
        "interrupt",
        "POST /sessions/{id}/interrupt",
        "Interrupt the running query",
        response=wire.InterruptResponse,
        errors=(404,),
        codes=("SESSION_NOT_FOUND",),
        event="session:interrupt",
        event_model=wire.SessionRef,
        forwarded=True,
        encode=lambda r, _: {"success": True, "interrupted": r},
        decode=lambda b: bool(b.get("interrupted")),
    ),
    Operation(
        "markRead",
        "mark_read",
        "POST /sessions/{id}/read",
        "Mark the session's replies read for every client (its unread counter to 0)",
        response=models.SessionSummary,
        errors=(404,),
        codes=("SESSION_NOT_FOUND",),
        forwarded=True,
        decode=models.SessionSummary.model_validate,
    ),
    Operation(
        "terminateEnvironment",
        "terminate_environment",
        "POST /sessions/{id}/environment/terminate",
        "Terminate the session's sandbox (recreated on the next message)",
        response=wire.TerminateResponse,
        errors=(404,),
        codes=("SESSION_NOT_FOUND",),
        event="session:terminate",
        event_model=wire.SessionRef,
        forwarded=True,
        encode=_ok(lambda r, _: {"runtime": r.wire()}),
        decode=lambda b: models.SessionRuntime.model_validate(b.get("runtime") or {}),
    ),
    Operation(
        "updateOptions",
        "update_options",
        "PATCH /sessions/{id}/options",
        "Merge session options (null removes a key)",
        body=wire.UpdateOptionsRequest,
        response=wire.UpdateOptionsResponse,
        errors=(400, 404),
        codes=("SESSION_NOT_FOUND",),
        event="session:options",
        event_model=wire.SocketOptionsRequest,
        forwarded=True,
        rename={"session_options": "options"},
        encode=_ok(lambda r, _: {"sessionOptions": r}),
        decode=lambda b: dict(b.get("sessionOptions") or {}),
    ),
    Operation(
        "resolvePermission",
        "resolve_permission",
        "POST /sessions/{id}/permissions/{requestId}",
        "Answer a pending permission request; the first answer wins",
        body=wire.PermissionRequest,
        response=wire.SuccessResponse,
        errors=(400, 404, 409),
        codes=("SESSION_NOT_FOUND", "PERMISSION_NOT_FOUND", "ALREADY_RESOLVED"),
        event="session:permission",
        event_model=wire.SocketPermissionRequest,
        forwarded=True,
        caller_arg="by",
        encode=lambda _r, _c: {"success": True},
        decode=lambda _b: None,
    ),
    Operation(
        "listEvents",
        "get_events",
        "GET /sessions/{id}/events",
        "A page of the session's event log",
        query=wire.EventsQuery,
        response=wire.EventsResponse,
        errors=(400, 404),
        codes=("SESSION_NOT_FOUND",),
        rename={"after": "after_seq"},
        encode=_events,
        decode=lambda b: (
            [models.SessionEvent.model_validate(e) for e in b.get("events", [])],
            int(b.get("lastSeq") or 0),
        ),
    ),
    Operation(
        "listFiles",
        "list_files",
        "GET /sessions/{id}/files",
        "Files in the session's workspace",
        response=wire.FilesResponse,
        errors=(404,),
        codes=("SESSION_NOT_FOUND",),
        forwarded=True,
        encode=lambda r, _: {"files": [f.wire() for f in r]},
        decode=lambda b: [models.FileInfo.model_validate(f) for f in b.get("files", [])],
    ),
    Operation(
        "readFile",
        "read_file",
        "GET /sessions/{id}/files/{path}",
        "One workspace file's bytes",
        errors=(400, 404),
        codes=("INVALID_PATH", "FILE_NOT_FOUND", "SESSION_NOT_FOUND"),
        raw="application/octet-stream",  # the HTTP handler (http.py) types it by the file's name
        forwarded=True,
        encode=lambda r, _: r,
        decode=bytes,
    ),
    # Workspaces (SPEC §10); writes are 409 WORKSPACE_BUSY while a query runs.
    Operation(
        "getChanges",
        "get_changes",
        "GET /sessions/{id}/changes",
        "The session's change set against its base commit, computed now",
        response=models.WorkspaceChanges,
        errors=(400, 404),
        codes=("NO_WORKSPACE", "SESSION_NOT_FOUND"),
        event="session:changes",
        event_model=wire.SessionRef,
        ack_key="changes",
        forwarded=True,
        decode=models.WorkspaceChanges.model_validate,
    ),
    Operation(
        "getDiff",
        "get_diff",
        "GET /sessions/{id}/diff",
        "Unified diff (git's format) of the change set or one path, uncommitted changes included",
        query=wire.DiffQuery,
        errors=(400, 404),
        codes=("NO_WORKSPACE", "INVALID_PATH", "SESSION_NOT_FOUND"),
        raw="text/x-diff",
        event="session:diff",
        event_model=wire.SocketDiffRequest,
        ack_key="diff",
        forwarded=True,
        encode=lambda r, _: r,
        decode=lambda b: bytes(b).decode("utf-8", "replace"),
    ),
    Operation(
        "commitChanges",
        "commit",
        "POST /sessions/{id}/commit",
        "Commit every change on the session branch",
        body=wire.CommitRequest,
        response=wire.CommitResponse,
        errors=(400, 404, 409),
        codes=(*_WORKSPACE_WRITE, "NOTHING_TO_COMMIT"),
        event="session:commit",
        event_model=wire.SocketCommitRequest,
        forwarded=True,
        encode=lambda r, _: {"commit": r},
        decode=lambda b: str(b["commit"]),
    ),
    Operation(
        "mergeChanges",
        "merge",
        "POST /sessions/{id}/merge",
        "Merge the session branch (uncommitted changes committed first); conflicts change nothing",
        body=wire.MergeRequest,
        response=wire.MergeResponse,
        errors=(400, 404, 409),
        codes=(*_WORKSPACE_WRITE, "NOTHING_TO_MERGE", "MERGE_CONFLICT", "TARGET_DIRTY", "TARGET_MOVED"),
        event="session:merge",
        event_model=wire.SocketMergeRequest,
        forwarded=True,
        encode=lambda r, _: {"commit": r["commit"], "into": r["into"]},
        decode=lambda b: {"commit": str(b["commit"]), "into": str(b["into"])},
    ),
    Operation(
        "discardChanges",
        "discard",
        "POST /sessions/{id}/discard",
        "Put paths (all when omitted) back to the base commit",
        body=wire.DiscardRequest,
        response=wire.DiscardResponse,
        errors=(400, 404, 409),
        codes=_WORKSPACE_WRITE,
        event="session:discard",
        event_model=wire.SocketDiscardRequest,
        forwarded=True,
        encode=lambda r, _: {"paths": r},
        decode=lambda b: [str(p) for p in b.get("paths", [])],
    ),
    # Checkpoints (docs/workspaces.md "Checkpoints"): restore is a workspace write.
    Operation(
        "restoreCheckpoint",
        "restore_checkpoint",
        "POST /sessions/{id}/checkpoints/{checkpoint}/restore",
        "Put the worktree's files back to a checkpoint; the branch and the user's checkout do not move",
        response=models.RestoreResult,
        errors=(400, 404, 409),
        codes=(*_WORKSPACE_WRITE, "CHECKPOINT_NOT_FOUND", "SESSION_NOT_FOUND"),
        event="session:restore",
        event_model=wire.SocketRestoreRequest,
        forwarded=True,
        decode=models.RestoreResult.model_validate,
    ),
    Operation(
        "forkSession",
        "fork_session",
        "POST /sessions/{id}/fork",
        "A new session on its own branch and worktree from a checkpoint, with the conversation up to there",
        body=wire.ForkRequest,
        response=models.SessionSummary,
        status=201,
        errors=(400, 404),
        codes=("NO_WORKSPACE", "CHECKPOINT_NOT_FOUND", "SESSION_NOT_FOUND"),
        event="session:fork",
        event_model=wire.SocketForkRequest,
        ack_key="session",
        forwarded=True,
        decode=models.SessionSummary.model_validate,
    ),
    Operation(
        "listProfiles",
        "list_profiles",
        "GET /profiles",
        "Agent profiles",
        response=wire.ProfilesResponse,
        event="profiles:list",
        event_model=wire.EmptyRequest,
        encode=lambda r, _: {"profiles": [p.wire() for p in r]},
        decode=lambda b: [models.ProfileInfo.model_validate(p) for p in b.get("profiles", [])],
    ),
    Operation(
        "listArchitectures",
        "list_architectures",
        "GET /architectures",
        "Agent architectures and whether they can run here",
        response=wire.ArchitecturesResponse,
        event="architectures:list",
        event_model=wire.EmptyRequest,
        encode=lambda r, _: {"architectures": [a.wire() for a in r]},
        decode=lambda b: [models.ArchitectureInfo.model_validate(a) for a in b.get("architectures", [])],
    ),
)


def operation(name: str) -> Operation:
    for op in OPERATIONS:
        if op.name == name:
            return op
    raise KeyError(f"no operation {name!r} in runtime.api.OPERATIONS")


# --------------------------------------------------------------------------- server side


def bind(
    op: Operation,
    request: BaseModel | None,
    path_values: Mapping[str, str] | None = None,
    caller: str | None = None,
) -> dict[str, Any]:
    """The runtime method's keywords from a validated request (and the URL's path parameters)."""
    call: dict[str, Any] = {PATH_PARAMS[name][0]: value for name, value in (path_values or {}).items()}
    if request is not None:
        if op.whole_body is not None:
            call[op.whole_body] = request
        else:
            for name in type(request).model_fields:
                call[op.rename.get(name, name)] = getattr(request, name)
    if op.caller_arg is not None and caller is not None:
        call[op.caller_arg] = caller
    return call


async def run(runtime: Any, op: Operation, call: Mapping[str, Any]) -> Any:
    """Call the runtime method; returns the HTTP response body (JSON-ready, or text/bytes if raw)."""
    result = await getattr(runtime, op.method)(**call)
    return op.encode(result, call)


def ack(op: Operation, body: Any) -> dict[str, Any]:
    """The Socket.IO acknowledgement of a successful call, from its HTTP response body."""
    if op.ack_key is not None:
        return {"success": True, op.ack_key: body}
    return {"success": True, **body}


# --------------------------------------------------------------------------- client side


class HttpCall(NamedTuple):
    method: str
    path: str
    query: dict[str, Any] | None
    body: Any


def _fields(model: type[BaseModel], op: Operation, call: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        value = call.get(op.rename.get(name, name))
        if value is not None:
            out[info.alias or name] = value
    return out


def http_call(op: Operation, call: Mapping[str, Any]) -> HttpCall:
    """The HTTP request for a runtime call (remote client, team-server forwarding): path parameters
    quoted into the path, the other keywords (``None`` left out) into the query or body."""
    path = op.path
    for name in op.path_params:
        value = str(call[PATH_PARAMS[name][0]])
        path = path.replace("{" + name + "}", quote(value, safe="/" if name in MULTI_SEGMENT else ""))
    body: Any = None
    if op.whole_body is not None:
        value = call[op.whole_body]
        body = value.wire() if hasattr(value, "wire") else value
    elif op.body is not None:
        body = _fields(op.body, op, call)
    query = _fields(op.query, op, call) if op.query is not None else None
    return HttpCall(op.verb, path, query, body)
