"""One protocol module (``runtime/runner/protocol.py``) for the runner and the runtime: the wire
models and the runner-line gate are checked against its types, so the three cannot drift apart.

Its ``TypedDict`` classes live under ``TYPE_CHECKING`` (the runner must not pay for ``typing``), so
they are read here from the module's syntax tree."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from pydantic import BaseModel

from runtime import models
from runtime.runner import protocol
from runtime.sessions.runner_events import parse_runner_line

PROTOCOL = Path(protocol.__file__)


def _typed_dicts() -> dict[str, dict[str, bool]]:
    """Each TypedDict of the protocol module: its keys, True where required (bases resolved)."""
    tree = ast.parse(PROTOCOL.read_text())
    block = next(
        node for node in tree.body
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
    )
    classes: dict[str, dict[str, bool]] = {}
    for node in block.body:
        if not isinstance(node, ast.ClassDef):
            continue
        total = not any(
            k.arg == "total" and isinstance(k.value, ast.Constant) and k.value.value is False
            for k in node.keywords
        )
        fields: dict[str, bool] = {}
        for base in node.bases:
            if isinstance(base, ast.Name) and base.id in classes:
                fields.update(classes[base.id])
        for item in node.body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                annotation = ast.unparse(item.annotation)
                fields[item.target.id] = annotation.startswith("Required[") or (
                    total and not annotation.startswith("NotRequired[")
                )
        classes[node.name] = fields
    return classes


TYPED = _typed_dicts()


def _wire_keys(model: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def test_the_protocol_module_runs_in_a_bare_interpreter_without_typing() -> None:
    # As in the sandbox: ``python3 -S``, no site-packages, the module on its own.
    code = (
        f"ns = {{'__name__': 'protocol'}}; exec(compile(open({str(PROTOCOL)!r}).read(), 'protocol', 'exec'), ns); "
        "import sys; print(len(ns['EVENT_TYPES']), 'typing' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-S", "-I", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(len(protocol.EVENT_TYPES)), "False"]


def test_the_runtime_takes_its_event_types_from_the_protocol_module() -> None:
    assert models.EVENT_TYPES is protocol.EVENT_TYPES
    assert models.DELTA_FIELD is protocol.DELTA_FIELD
    assert set(models.BLOCK_MODELS) == set(protocol.BLOCK_TYPES) == set(protocol.BLOCK_TYPEDDICTS)
    assert protocol.RUNNER_EVENT_TYPES <= set(protocol.EVENT_TYPES)
    assert set(protocol.PAYLOAD_TYPES) == set(protocol.EVENT_TYPES), "every event type has a payload type"
    missing = {name for name in (*protocol.PAYLOAD_TYPES.values(), *protocol.BLOCK_TYPEDDICTS.values())} - set(TYPED)
    assert not missing, f"named but not defined in protocol.py: {missing}"


@pytest.mark.parametrize("block_type", protocol.BLOCK_TYPES)
def test_each_block_model_has_exactly_the_protocol_fields(block_type: str) -> None:
    assert _wire_keys(models.BLOCK_MODELS[block_type]) == set(TYPED[protocol.BLOCK_TYPEDDICTS[block_type]])


@pytest.mark.parametrize(
    ("model", "typed"),
    [
        (models.PendingPermission, "PermissionRequested"),
        (models.Usage, "Usage"),
        (models.ChangedFile, "ChangedFile"),
        (models.WorkspaceChanges, "WorkspaceChanges"),
        (models.SessionMetadata, "MetadataUpdate"),
        (models.SessionEvent, "SessionEvent"),
        (models.EventDraft, "RunnerEvent"),
    ],
)
def test_wire_models_of_payloads_have_exactly_the_protocol_fields(model: type[BaseModel], typed: str) -> None:
    assert _wire_keys(model) == set(TYPED[typed])


def _required(kind: str) -> list[str]:
    return [key for key, required in TYPED[protocol.PAYLOAD_TYPES[kind]].items() if required]


GATED = sorted(k for k in protocol.RUNNER_EVENT_TYPES if k not in ("permission:resolved", "block:upsert"))


@pytest.mark.parametrize("kind", GATED)
def test_the_gate_refuses_a_runner_event_without_a_required_field(kind: str) -> None:
    full = {
        "blockId": "b1", "delta": "x", "toolUseId": "t1", "path": "a.txt", "requestId": "r1",
        "toolName": "Bash", "level": "info", "message": "m", "input": {},
    }
    payload = {key: full[key] for key in TYPED[protocol.PAYLOAD_TYPES[kind]] if key in full}
    accepted = parse_runner_line(orjson.dumps({"type": kind, "payload": payload}), lambda _c, _b: None, {})
    assert accepted["type"] == kind, accepted
    for key in _required(kind):
        line = orjson.dumps({"type": kind, "payload": {k: v for k, v in payload.items() if k != key}})
        draft = parse_runner_line(line, lambda _c, _b: None, {})
        assert draft["type"] == "log" and key in draft["payload"]["message"], (kind, key, draft)
