"""HTTP routes of SPEC §3, served at ``/`` and again under ``/api``.

``routes()`` is what both the aiohttp router and ``/openapi.json`` are built from: one ``Route``
per operation of the table in ``runtime/api.py`` (generated: bind the request to the runtime
method's keywords, call it, answer with the operation's ``encode``), plus the hand-written probes
(``PROBES``: no runtime method behind them) and ``readFile``'s handler (``HAND_WRITTEN``: its
content type depends on the file name). Guards (Host, Origin, content type), auth, body size and
the error shape are middlewares, so they apply to every route, generated or not.
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

from .. import api
from ..agent_runtime import AgentRuntime
from ..errors import AgentTuiError, InvalidRequest
from ..wire import HealthResponse, ProbeResponse
from . import auth
from .sockets import validation_details

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
    codes: tuple[str, ...] = ()

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


#: Raw bodies (file bytes, diffs) are agent-written content: never sniffed, never run as active content.
_SAFE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}

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
    return web.Response(body=data, content_type=content_type, headers=_SAFE_HEADERS)


async def openapi_json(runtime: AgentRuntime, request: web.Request, _: Any) -> dict[str, Any]:
    from .openapi import openapi_document

    return openapi_document()


#: Routes with no runtime operation behind them (never need auth).
PROBES: tuple[Route, ...] = (
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
)
OPENAPI = Route("GET", "/openapi.json", "openapi", "This document", openapi_json, open=True)

#: Operations whose HTTP handler is written by hand (see the module docstring).
HAND_WRITTEN: dict[str, HandlerFn] = {"readFile": read_file}


def _generated(op: api.Operation) -> HandlerFn:
    async def handler(runtime: AgentRuntime, request: web.Request, arg: Any) -> Any:
        call = api.bind(op, arg, request.match_info, caller="http client")
        body = await api.run(runtime, op, call)
        if op.raw is None:
            return body
        if isinstance(body, str):
            return web.Response(
                body=body.encode("utf-8", "surrogateescape"),
                content_type=op.raw,
                charset="utf-8",
                headers=_SAFE_HEADERS,
            )
        return web.Response(body=body, content_type=op.raw, headers=_SAFE_HEADERS)

    return handler


def route_of(op: api.Operation) -> Route:
    return Route(
        op.verb,
        op.path,
        op.name,
        op.summary,
        HAND_WRITTEN.get(op.name) or _generated(op),
        status=op.status,
        body=op.body,
        query=op.query,
        response=op.response,
        raw=op.raw is not None,
        raw_type=op.raw or "application/octet-stream",
        errors=op.errors,
        params={name: api.PATH_PARAMS[name][1] for name in op.path_params},
        codes=op.codes,
    )


def routes() -> tuple[Route, ...]:
    """Every route, from the operation table as it is now."""
    return (*PROBES, *(route_of(op) for op in api.OPERATIONS), OPENAPI)


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
    table = routes()
    for prefix in PREFIXES:
        for route in table:
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
