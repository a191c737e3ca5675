"""The operation table (runtime/api.py) is the only place an operation is written: a made-up one,
added as one table entry plus its method on a runtime subclass, is served over HTTP (guards
included), answers over Socket.IO with an ack, is in /openapi.json and is callable by the remote
client, with nothing else edited. And the real table agrees with the runtime and the client."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio
from openapi_spec_validator import validate
from pydantic import Field, StrictStr

from runtime import AgentRuntime, api
from runtime.models import WireModel
from runtime.remote import RemoteRuntime
from runtime.server.app import AgentServer, start_server
from runtime.wire import SessionRef, StrictWire
from tests.helpers import make_config
from tests.server.conftest import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}


class ShoutRequest(StrictWire):
    text: StrictStr = Field(min_length=1, max_length=100)
    times: int = Field(default=1, ge=1, le=5)


class SocketShoutRequest(SessionRef, ShoutRequest):
    pass


class ShoutResponse(WireModel):
    session_id: str
    shout: str


class ShoutingRuntime(AgentRuntime):
    async def shout(self, session_id: str, text: str, times: int = 1) -> str:
        self._manager().get(session_id)  # SESSION_NOT_FOUND for an unknown id
        return " ".join([text.upper() + "!"] * times)


SHOUT = api.Operation(
    "shoutText",
    "shout",
    "POST /sessions/{id}/shout",
    "Shout a text back (made up by this test)",
    body=ShoutRequest,
    response=ShoutResponse,
    errors=(400, 404),
    codes=("SESSION_NOT_FOUND",),
    event="session:shout",
    event_model=SocketShoutRequest,
    encode=lambda result, call: {"sessionId": call["session_id"], "shout": result},
    decode=lambda body: str(body["shout"]),
)


@pytest.fixture
async def shouting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[AgentServer, str]]:
    monkeypatch.setattr(api, "OPERATIONS", (*api.OPERATIONS, SHOUT))
    runtime = ShoutingRuntime(make_config(tmp_path))
    await runtime.start()
    server = await start_server(runtime, host="127.0.0.1", port=0, token=TOKEN)
    try:
        session = await runtime.create_session({"architecture": "shell", "name": "loud"})
        yield server, session.session_id
    finally:
        await server.stop()
        await runtime.shutdown()


async def test_a_new_operation_is_an_http_route_behind_every_guard(shouting: tuple[AgentServer, str]) -> None:
    server, sid = shouting
    async with aiohttp.ClientSession(base_url=server.url) as http:
        for prefix in ("", "/api"):
            async with http.post(
                f"{prefix}/sessions/{sid}/shout", json={"text": "hi", "times": 2}, headers=AUTH
            ) as r:
                assert r.status == 200, await r.text()
                assert await r.json() == {"sessionId": sid, "shout": "HI! HI!"}
        async with http.post(f"/sessions/{sid}/shout", json={"text": "hi"}) as r:
            assert (r.status, (await r.json())["code"]) == (401, "UNAUTHORIZED")
        async with http.post(
            f"/sessions/{sid}/shout", data=b'{"text": "hi"}', headers={**AUTH, "Content-Type": "text/plain"}
        ) as r:
            assert (r.status, (await r.json())["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
        async with http.post(
            f"/sessions/{sid}/shout", json={"text": "hi"}, headers={**AUTH, "Host": "evil.example"}
        ) as r:
            assert r.status == 403
        async with http.post(f"/sessions/{sid}/shout", json={"text": "x" * (1024 * 1024)}, headers=AUTH) as r:
            assert (r.status, (await r.json())["code"]) == (413, "PAYLOAD_TOO_LARGE")
        async with http.post(f"/sessions/{sid}/shout", json={"text": 5}, headers=AUTH) as r:
            body = await r.json()
            assert (r.status, body["code"]) == (400, "INVALID_REQUEST") and body["details"][0]["loc"] == [
                "text"
            ]
        async with http.post("/sessions/ses-missing/shout", json={"text": "hi"}, headers=AUTH) as r:
            assert (r.status, (await r.json())["code"]) == (404, "SESSION_NOT_FOUND")


async def test_a_new_operation_is_a_socketio_event_with_an_ack(shouting: tuple[AgentServer, str]) -> None:
    server, sid = shouting
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(server.url, auth={"token": TOKEN}, wait_timeout=10)
    try:
        ack = await client.call("session:shout", {"sessionId": sid, "text": "hey"}, timeout=10)
        assert ack == {"success": True, "sessionId": sid, "shout": "HEY!"}
        bad = await client.call("session:shout", {"sessionId": sid, "text": ""}, timeout=10)
        assert bad["success"] is False and bad["code"] == "INVALID_REQUEST"
        missing = await client.call("session:shout", {"sessionId": "ses-missing", "text": "a"}, timeout=10)
        assert missing["success"] is False and missing["code"] == "SESSION_NOT_FOUND"
    finally:
        await client.disconnect()


async def test_a_new_operation_is_in_the_openapi_document(shouting: tuple[AgentServer, str]) -> None:
    server, _sid = shouting
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/openapi.json") as r:
        doc = await r.json()
    validate(doc)
    for prefix, op_id in (("", "shoutText"), ("/api", "shoutTextApi")):
        op = doc["paths"][f"{prefix}/sessions/{{id}}/shout"]["post"]
        assert op["operationId"] == op_id
        assert op["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ShoutRequest"
        }
        assert set(op["responses"]) == {"200", "400", "401", "403", "404", "413", "415", "500"}
        assert op["x-error-codes"] == ["SESSION_NOT_FOUND"]
    assert "shout" in doc["components"]["schemas"]["ShoutResponse"]["properties"]


async def test_a_new_operation_is_callable_by_the_remote_client(shouting: tuple[AgentServer, str]) -> None:
    server, sid = shouting
    async with RemoteRuntime(server.url, TOKEN) as remote:
        assert await remote.invoke("shoutText", session_id=sid, text="far", times=3) == "FAR! FAR! FAR!"
        with pytest.raises(Exception) as caught:
            await remote.invoke("shoutText", session_id="ses-missing", text="far")
        assert getattr(caught.value, "code", None) == "SESSION_NOT_FOUND"


# --------------------------------------------------------------------------- the real table


def _params(fn: Any) -> set[str]:
    return set(inspect.signature(fn).parameters) - {"self"}


@pytest.mark.parametrize("op", api.OPERATIONS, ids=lambda op: op.name)
def test_every_operation_binds_to_its_runtime_method_and_the_remote_client_has_it(op: api.Operation) -> None:
    """Every keyword the table would bind is a parameter of the runtime method, and the remote
    client offers the method with the same parameters (the ``RuntimeClient`` protocol)."""
    method = getattr(AgentRuntime, op.method)
    accepted = _params(method)
    bound = {api.PATH_PARAMS[p][0] for p in op.path_params}
    for model in (op.body, op.query, op.event_model):
        if model is not None and op.whole_body is None:
            bound |= {op.rename.get(name, name) for name in model.model_fields}
    if op.whole_body is not None:
        bound.add(op.whole_body)
    if op.caller_arg is not None:
        bound.add(op.caller_arg)
    assert bound <= accepted, f"{op.name} binds {sorted(bound - accepted)} that {op.method} does not take"
    assert _params(getattr(RemoteRuntime, op.method)) == accepted
    assert len({o.name for o in api.OPERATIONS}) == len(api.OPERATIONS)
    assert len({o.http for o in api.OPERATIONS}) == len(api.OPERATIONS)


def test_a_malformed_entry_fails_when_it_is_written() -> None:
    with pytest.raises(ValueError, match="PATH_PARAMS"):
        api.Operation("bad", "get_session", "GET /sessions/{sessionId}", "unknown path parameter")
    with pytest.raises(ValueError, match="payload model"):
        api.Operation("bad", "get_session", "GET /sessions/{id}", "an event without a model", event="session:x")
