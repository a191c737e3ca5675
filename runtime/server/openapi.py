"""``/openapi.json``: the OpenAPI 3.1 document, generated from ``http.routes()`` (the operation
table of ``runtime/api.py`` plus the probes) and its pydantic models.

Nothing here is written by hand per route: paths, parameters, bodies, responses, error statuses
and codes all come from the table, so the document cannot disagree with the server.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .. import api
from ..agent_runtime import VERSION
from ..wire import ErrorResponse
from .http import PREFIXES, Route, routes

_REF = "#/components/schemas/{model}"

_ERROR_TEXT = {
    400: "Invalid request (bad JSON, failed validation, unknown architecture, invalid path)",
    401: "Missing or wrong bearer token",
    403: "Host (FORBIDDEN_HOST) or Origin (FORBIDDEN_ORIGIN) not allowed (docs/security.md)",
    404: "Not found (session, profile, permission request, file)",
    409: "Already resolved",
    413: "Request body larger than 1 MiB",
    415: "Request body is not application/json (UNSUPPORTED_MEDIA_TYPE)",
    500: "Internal error (never with a traceback)",
}


def _models(table: tuple[Route, ...]) -> list[tuple[type[BaseModel], Any]]:
    pairs: list[tuple[type[BaseModel], Any]] = [(ErrorResponse, "serialization")]
    for route in table:
        if route.body is not None:
            pairs.append((route.body, "validation"))
        if route.response is not None:
            pairs.append((route.response, "serialization"))
    seen: set[tuple[type[BaseModel], str]] = set()
    unique = []
    for pair in pairs:
        if pair not in seen:
            seen.add(pair)
            unique.append(pair)
    return unique


def _error(status: int) -> dict[str, Any]:
    return {
        "description": _ERROR_TEXT.get(status, "Error"),
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorResponse")}}},
    }


def _operation(route: Route, refs: dict[tuple[type[BaseModel], str], Any], prefix: str) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": route.operation if not prefix else f"{route.operation}Api",
        "summary": route.summary,
        "tags": ["api" if prefix else "root"],
    }
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "description": text, "schema": {"type": "string"}}
        for name, text in route.params.items()
    ]
    if route.query is not None:
        schema = route.query.model_json_schema(mode="validation")
        for name, prop in schema.get("properties", {}).items():
            params.append(
                {"name": name, "in": "query", "required": name in schema.get("required", []), "schema": prop}
            )
    if params:
        op["parameters"] = params
    if route.codes:
        op["x-error-codes"] = list(route.codes)
    if route.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(route.body, "validation")]}},
        }
    if route.raw:
        success: dict[str, Any] = {
            "description": "The file's bytes" if route.raw_type == "application/octet-stream" else route.summary,
            "content": {
                route.raw_type: {"schema": {"type": "string", "contentMediaType": route.raw_type}}
            },
        }
    elif route.response is not None:
        success = {
            "description": "Success",
            "content": {"application/json": {"schema": refs[(route.response, "serialization")]}},
        }
    else:
        success = {"description": "Success", "content": {"application/json": {"schema": {"type": "object"}}}}
    responses: dict[str, Any] = {str(route.status): success}
    statuses = set(route.errors) | {403, 500}  # 403: the Host/Origin guards answer every route
    if route.body is not None:
        statuses |= {400, 413, 415}
    if route.query is not None:
        statuses.add(400)
    if not route.open:
        statuses.add(401)
    else:
        op["security"] = []
    for status in sorted(statuses):
        responses[str(status)] = _error(status)
    op["responses"] = responses
    return op


def openapi_document() -> dict[str, Any]:
    return _document(api.OPERATIONS)


@functools.lru_cache(maxsize=4)
def _document(_operations: tuple[api.Operation, ...]) -> dict[str, Any]:
    """Built once per operation table (entries hash by identity)."""
    table = routes()
    refs, schemas = models_json_schema(_models(table), ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    for prefix in PREFIXES:
        for route in table:
            paths.setdefault(prefix + route.path, {})[route.method.lower()] = _operation(route, refs, prefix)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "agent-tui server",
            "version": VERSION,
            "description": (
                "HTTP API of agent-tui (SPEC §3). Every route is also served under /api. "
                "Live events use Socket.IO at /socket.io (see docs/protocol.md). Errors are "
                "always {error, code, details?}."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
