"""HTTP routes of SPEC §3, served at ``/`` and again under ``/api``.

``ROUTES`` is the single table both the aiohttp router and ``/openapi.json`` are built from: each
entry names its request body / query model, its response model and its error statuses.
Handlers call only the public ``AgentRuntime`` API and return the JSON-ready dict the client sees.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import posixpath
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from ..agent_runtime import AgentRuntime
from ..errors import AgentTuiError, InvalidRequest
from ..models import RestoreResult, SessionDetail, SessionSummary, WorkspaceChanges
from . import auth
from .schemas import (
    ArchitecturesResponse,
    CreateSessionRequest,
    DeleteSessionResponse,
    EventsQuery,
    EventsResponse,
    FilesResponse,
    HealthResponse,
    InterruptResponse,
    PermissionRequest,
    ProbeResponse,
    ProfilesResponse,
    RenameSessionRequest,
    SendMessageRequest,
    SendMessageResponse,
    SessionListResponse,
    SuccessResponse,
    TerminateResponse,
    UpdateOptionsRequest,
    UpdateOptionsResponse,
)
from .sockets import validation_details
from .workspace_api import (
    CommitRequest,
    CommitResponse,
    DiffQuery,
    DiscardRequest,
    DiscardResponse,
    ForkRequest,
    MergeRequest,
    MergeResponse,
)
from .workspace_api import commit as ws_commit
from .workspace_api import discard as ws_discard
from .workspace_api import fork as ws_fork
from .workspace_api import get_changes as ws_changes
from .workspace_api import get_diff as ws_diff
from .workspace_api import merge as ws_merge
from .workspace_api import restore as ws_restore

log = logging.getLogger(__name__)

#: Largest request body accepted (413 ``PAYLOAD_TOO_LARGE`` above).
MAX_BODY = 1024 * 1024
PREFIXES = ("", "/api")

RUNTIME_KEY: web.AppKey[AgentRuntime] = web.AppKey("agent_tui_runtime", AgentRuntime)
TOKEN_KEY: web.AppKey[str | None] = web.AppKey("agent_tui_token", str)

HandlerFn = Callable[[AgentRuntime, web.Request, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # OpenAPI form: /sessions/{id}
    operation: str
    summary: str
    handler: HandlerFn
    status: int = 200
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    #: Responses that are not JSON (file bytes).
    raw: bool = False
    raw_type: str = "application/octet-stream"
    errors: tuple[int, ...] = ()
    open: bool = False
    params: dict[str, str] = field(default_factory=dict)

    def aiohttp_path(self, prefix: str) -> str:
        # A file path spans several URL segments.
        return prefix + self.path.replace("{path}", "{path:.+}")


class HttpError(web.HTTPException):
    """Raised inside the app to return the standard error shape with any status."""

    def __init__(
        self, status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        self.status_code = status
        body: dict[str, Any] = {"error": message, "code": code}
        if details is not None:
            body["details"] = details
        super().__init__(text=json.dumps(body), content_type="application/json", headers=headers)


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> web.Response:
    body: dict[str, Any] = {"error": message, "code": code}
    if details is not None:
        body["details"] = details
    return web.json_response(body, status=status, headers=headers)


# --------------------------------------------------------------------------- request parsing


async def read_body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise HttpError(413, "PAYLOAD_TOO_LARGE", f"request body is larger than {MAX_BODY} bytes")
    raw = await request.read()  # client_max_size turns a longer chunked body into a 413 too
    if not raw.strip():
        raise InvalidRequest("a JSON request body is required")
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest(f"request body is not valid JSON: {str(exc)[:200]}") from exc
    return validate(model, data)


class RequestInvalid(InvalidRequest):
    """The client's body or query failed validation (``details``: pydantic's errors, JSON-safe)."""


def validate(model: type[BaseModel], data: Any) -> BaseModel:
    # Only validation of what the client sent is a 400; a ValidationError from anywhere else is a
    # server bug and must surface as a 500.
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestInvalid("request validation failed", details=validation_details(exc)) from exc


def _no_constant(name: str) -> Any:
    # Python's json accepts NaN / Infinity; JSON does not, and no client could read them back.
    raise ValueError(f"{name} is not valid JSON")


def path_param(request: web.Request, name: str) -> str:
    return request.match_info[name]


# --------------------------------------------------------------------------- handlers


async def health(runtime: AgentRuntime, request: web.Request, _: Any) -> dict[str, Any]:
    return runtime.health()


async def live(runtime: AgentRuntime, request: web.Request, _: Any) -> dict[str, Any]:
    return {"status": "live"}


async def ready(runtime: AgentRuntime, request: web.Request, _: Any) -> dict[str, Any]:
    """Ready when the store answers (and, on a cluster node, its leases are being renewed)."""
    probe = getattr(runtime, "health_ready", None)
    ok, reason = probe() if probe is not None else (runtime.sessions is not None, "not started")
    ping = getattr(runtime.store, "ping", None)
    if ok and ping is not None:
        try:
            await ping()
        except AgentTuiError as exc:
            ok, reason = False, exc.message
    if not ok:
        raise HttpError(503, "NOT_READY", reason)
    return {"status": "ready"}


async def list_sessions(runtime: AgentRuntime, request: web.Request, _: Any) -> dict[str, Any]:
    return {"sessions": [s.wire() for s in await runtime.list_sessions()]}


async def create_session(
    runtime: AgentRuntime, request: web.Request, body: CreateSessionRequest
) -> dict[str, Any]:
    return (await runtime.create_session(body)).wire()


async def get_session(runtime: AgentRuntime, request: web.Request, _: Any) -> dict[str, Any]:
    return (await runtime.get_session(path_param(request, "id"))).wire()


async def delete_session(runtime: AgentRuntime, request: web.Request, _: Any) -> dict[str, Any]:
    session_id = path_param(request, "id")
    kept = await runtime.delete_session(session_id)
    body: dict[str, Any] = {"success": True, "sessionId": session_id}
    if kept:
        body["workspace"] = kept  # {branch, branchKept}: an unmerged session branch stays
    return body


async def rename_session(
    runtime: AgentRuntime, request: web.Request, body: RenameSessionRequest
) -> dict[str, Any]:
    return (await runtime.rename_session(path_param(request, "id"), body.name)).wire()


async def send_message(
    runtime: AgentRuntime, request: web.Request, body: SendMessageRequest
) -> dict[str, Any]:
    session_id = path_param(request, "id")
    message_id, queued = await runtime.send_message(session_id, body.content)
    return {"success": True, "sessionId": session_id, "messageId": message_id, "queued": queued}


async def interrupt(runtime: AgentRuntime, request: web.Request, _: Any) -> dict[str, Any]:
    return {"success": True, "interrupted": await runtime.interrupt(path_param(request, "id"))}


async def terminate(runtime: AgentRuntime, request: web.Request, _: Any) -> dict[str, Any]:
    session_id = path_param(request, "id")
    state = await runtime.terminate_environment(session_id)
    return {"success": True, "sessionId": session_id, "runtime": state.wire()}


async def update_options(
    runtime: AgentRuntime, request: web.Request, body: UpdateOptionsRequest
) -> dict[str, Any]:
    session_id = path_param(request, "id")
    options = await runtime.update_options(session_id, body.session_options)
    return {"success": True, "sessionId": session_id, "sessionOptions": options}


async def resolve_permission(
    runtime: AgentRuntime, request: web.Request, body: PermissionRequest
) -> dict[str, Any]:
    await runtime.resolve_permission(
        path_param(request, "id"),
        path_param(request, "requestId"),
        body.decision,
        body.message,
        by="http client",
    )
    return {"success": True}


async def list_events(runtime: AgentRuntime, request: web.Request, query: EventsQuery) -> dict[str, Any]:
    events, last_seq = await runtime.get_events(path_param(request, "id"), query.after, query.limit)
    has_more = bool(events) and events[-1].seq < last_seq
    return {"events": [e.wire() for e in events], "lastSeq": last_seq, "hasMore": has_more}


async def list_files(runtime: AgentRuntime, request: web.Request, _: Any) -> dict[str, Any]:
    return {"files": [f.wire() for f in await runtime.list_files(path_param(request, "id"))]}


#: Types a browser would run as active content from our origin: served as plain text instead.
_ACTIVE_TYPES = (
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/xml",
    "application/xml",
    "application/javascript",
    "text/javascript",
)


async def read_file(runtime: AgentRuntime, request: web.Request, _: Any) -> web.Response:
    path = path_param(request, "path")
    data = await runtime.read_file(path_param(request, "id"), path)
    content_type, _encoding = mimetypes.guess_type(posixpath.basename(path))
    if content_type is None:
        content_type = "application/octet-stream"
    elif content_type in _ACTIVE_TYPES:
        content_type = "text/plain"
    return web.Response(
        body=data,
        content_type=content_type,
        headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"},
    )


async def list_profiles(runtime: AgentRuntime, request: web.Request, _: Any) -> dict[str, Any]:
    return {"profiles": [p.wire() for p in await runtime.list_profiles()]}


async def list_architectures(runtime: AgentRuntime, request: web.Request, _: Any) -> dict[str, Any]:
    return {"architectures": [a.wire() for a in await runtime.list_architectures()]}


async def openapi_json(runtime: AgentRuntime, request: web.Request, _: Any) -> dict[str, Any]:
    from .openapi import openapi_document

    return openapi_document()


_ID = {"id": "Session id"}

ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/health",
        "health",
        "Liveness and basic figures; never needs auth",
        health,
        response=HealthResponse,
        open=True,
    ),
    Route(
        "GET",
        "/health/live",
        "live",
        "Liveness probe: the process answers; never needs auth",
        live,
        response=ProbeResponse,
        open=True,
    ),
    Route(
        "GET",
        "/health/ready",
        "ready",
        "Readiness probe: the store answers (and a cluster node holds its leases); 503 if not",
        ready,
        response=ProbeResponse,
        errors=(503,),
        open=True,
    ),
    Route("GET", "/sessions", "listSessions", "All sessions", list_sessions, response=SessionListResponse),
    Route(
        "POST",
        "/sessions",
        "createSession",
        "Create a session (its sandbox starts on the first message)",
        create_session,
        status=201,
        body=CreateSessionRequest,
        response=SessionSummary,
        errors=(400, 404),
    ),
    Route(
        "GET",
        "/sessions/{id}",
        "getSession",
        "A session with its blocks and subagents",
        get_session,
        response=SessionDetail,
        errors=(404,),
        params=_ID,
    ),
    Route(
        "PATCH",
        "/sessions/{id}",
        "renameSession",
        "Rename a session (extension)",
        rename_session,
        body=RenameSessionRequest,
        response=SessionSummary,
        errors=(400, 404),
        params=_ID,
    ),
    Route(
        "DELETE",
        "/sessions/{id}",
        "deleteSession",
        "Terminate the sandbox and delete the session from storage",
        delete_session,
        response=DeleteSessionResponse,
        errors=(404,),
        params=_ID,
    ),
    Route(
        "POST",
        "/sessions/{id}/messages",
        "sendMessage",
        "Send a message; queued behind a running query, run in order",
        send_message,
        status=202,
        body=SendMessageRequest,
        response=SendMessageResponse,
        errors=(400, 404),
        params=_ID,
    ),
    Route(
        "POST",
        "/sessions/{id}/interrupt",
        "interrupt",
        "Interrupt the running query",
        interrupt,
        response=InterruptResponse,
        errors=(404,),
        params=_ID,
    ),
    Route(
        "POST",
        "/sessions/{id}/environment/terminate",
        "terminateEnvironment",
        "Terminate the session's sandbox (recreated on the next message)",
        terminate,
        response=TerminateResponse,
        errors=(404,),
        params=_ID,
    ),
    Route(
        "PATCH",
        "/sessions/{id}/options",
        "updateOptions",
        "Merge session options (null removes a key)",
        update_options,
        body=UpdateOptionsRequest,
        response=UpdateOptionsResponse,
        errors=(400, 404),
        params=_ID,
    ),
    Route(
        "POST",
        "/sessions/{id}/permissions/{requestId}",
        "resolvePermission",
        "Answer a pending permission request; the first answer wins",
        resolve_permission,
        body=PermissionRequest,
        response=SuccessResponse,
        errors=(400, 404, 409),
        params={**_ID, "requestId": "Permission request id"},
    ),
    Route(
        "GET",
        "/sessions/{id}/events",
        "listEvents",
        "A page of the session's event log",
        list_events,
        query=EventsQuery,
        response=EventsResponse,
        errors=(400, 404),
        params=_ID,
    ),
    Route(
        "GET",
        "/sessions/{id}/files",
        "listFiles",
        "Files in the session's workspace",
        list_files,
        response=FilesResponse,
        errors=(404,),
        params=_ID,
    ),
    Route(
        "GET",
        "/sessions/{id}/files/{path}",
        "readFile",
        "One workspace file's bytes",
        read_file,
        raw=True,
        errors=(400, 404),
        params={**_ID, "path": "Path relative to the workspace (may contain /)"},
    ),
    # Workspaces (SPEC §10); writes are 409 WORKSPACE_BUSY while a query runs.
    Route(
        "GET",
        "/sessions/{id}/changes",
        "getChanges",
        "The session's change set against its base commit, computed now",
        ws_changes,
        response=WorkspaceChanges,
        errors=(400, 404),
        params=_ID,
    ),
    Route(
        "GET",
        "/sessions/{id}/diff",
        "getDiff",
        "Unified diff (git's format) of the change set or one path, uncommitted changes included",
        ws_diff,
        query=DiffQuery,
        raw=True,
        raw_type="text/x-diff",
        errors=(400, 404),
        params=_ID,
    ),
    Route(
        "POST",
        "/sessions/{id}/commit",
        "commitChanges",
        "Commit every change on the session branch",
        ws_commit,
        body=CommitRequest,
        response=CommitResponse,
        errors=(400, 404, 409),
        params=_ID,
    ),
    Route(
        "POST",
        "/sessions/{id}/merge",
        "mergeChanges",
        "Merge the session branch (uncommitted changes committed first); conflicts change nothing",
        ws_merge,
        body=MergeRequest,
        response=MergeResponse,
        errors=(400, 404, 409),
        params=_ID,
    ),
    Route(
        "POST",
        "/sessions/{id}/discard",
        "discardChanges",
        "Put paths (all when omitted) back to the base commit",
        ws_discard,
        body=DiscardRequest,
        response=DiscardResponse,
        errors=(400, 404, 409),
        params=_ID,
    ),
    # Checkpoints (docs/workspaces.md "Checkpoints"): restore is a write (409 WORKSPACE_BUSY).
    Route(
        "POST",
        "/sessions/{id}/checkpoints/{checkpoint}/restore",
        "restoreCheckpoint",
        "Put the worktree's files back to a checkpoint; the branch and the user's checkout do not move",
        ws_restore,
        response=RestoreResult,
        errors=(400, 404, 409),
        params={**_ID, "checkpoint": 'A query\'s seq (last part of a workspace:checkpoint ref), or "base"'},
    ),
    Route(
        "POST",
        "/sessions/{id}/fork",
        "forkSession",
        "A new session on its own branch and worktree from a checkpoint, with the conversation up to there",
        ws_fork,
        status=201,
        body=ForkRequest,
        response=SessionSummary,
        errors=(400, 404),
        params=_ID,
    ),
    Route("GET", "/profiles", "listProfiles", "Agent profiles", list_profiles, response=ProfilesResponse),
    Route(
        "GET",
        "/architectures",
        "listArchitectures",
        "Agent architectures and whether they can run here",
        list_architectures,
        response=ArchitecturesResponse,
    ),
    Route("GET", "/openapi.json", "openapi", "This document", openapi_json, open=True),
)


def _endpoint(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def endpoint(request: web.Request) -> web.StreamResponse:
        runtime = request.app[RUNTIME_KEY]
        arg: Any = None
        if route.body is not None:
            arg = await read_body(request, route.body)
        elif route.query is not None:
            arg = validate(route.query, dict(request.query))
        result = await route.handler(runtime, request, arg)
        if isinstance(result, web.StreamResponse):
            return result
        return web.json_response(result, status=route.status, dumps=_dumps)

    endpoint.__name__ = route.operation
    return endpoint


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def add_routes(app: web.Application) -> None:
    for prefix in PREFIXES:
        for route in ROUTES:
            app.router.add_route(route.method, route.aiohttp_path(prefix), _endpoint(route))


# --------------------------------------------------------------------------- middlewares

_HTTP_CODES = {
    400: "INVALID_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "REQUEST_TIMEOUT",
    413: "PAYLOAD_TOO_LARGE",
    414: "URI_TOO_LONG",
    415: "UNSUPPORTED_MEDIA_TYPE",
    431: "HEADERS_TOO_LARGE",
}


def make_middlewares(socketio_path: str, cors_origins: list[str] | str | None = None) -> list[Any]:
    @web.middleware
    async def cors(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Browser apps on the origins given with --cors-origins may call the HTTP API (Socket.IO
        has its own check). Preflights are answered before auth: browsers never send credentials
        with them."""
        origin = request.headers.get("Origin")
        allowed = origin is not None and (
            cors_origins == "*" or (isinstance(cors_origins, list) and origin in cors_origins)
        )
        if not allowed or request.path.startswith(socketio_path):
            return await handler(request)
        headers = {"Access-Control-Allow-Origin": origin or "*", "Vary": "Origin"}
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            headers.update(
                {
                    "Access-Control-Allow-Methods": "GET, POST, PATCH, DELETE, OPTIONS",
                    "Access-Control-Allow-Headers": "Authorization, Content-Type",
                    "Access-Control-Max-Age": "600",
                }
            )
            return web.Response(status=204, headers=headers)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers.update(headers)
            raise
        response.headers.update(headers)
        return response

    @web.middleware
    async def errors(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Every failure leaves as ``{error, code, details?}``; never a traceback."""
        if request.path.startswith(socketio_path):
            return await handler(request)
        try:
            if request.content_length is not None and request.content_length > MAX_BODY:
                raise HttpError(413, "PAYLOAD_TOO_LARGE", f"request body is larger than {MAX_BODY} bytes")
            return await handler(request)
        except HttpError:
            raise
        except AgentTuiError as exc:
            return web.json_response(exc.to_wire(), status=exc.status)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
            message = exc.reason or "error"
            if exc.status == 404:
                message = f"no route for {request.method} {request.path}"[:500]
            return error_response(
                exc.status, _HTTP_CODES.get(exc.status, f"HTTP_{exc.status}"), message, headers=headers
            )
        except Exception:
            log.exception("HTTP %s %s failed", request.method, request.path)
            return error_response(500, "INTERNAL_ERROR", "internal server error")

    @web.middleware
    async def authenticate(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        token = request.app[TOKEN_KEY]
        if token is None or request.path.startswith(socketio_path) or request.path in auth.OPEN_PATHS:
            return await handler(request)
        if not auth.token_matches(token, auth.bearer_token(request.headers)):
            raise HttpError(
                401, "UNAUTHORIZED", "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
            )
        return await handler(request)

    return [cors, errors, authenticate] if cors_origins else [errors, authenticate]
