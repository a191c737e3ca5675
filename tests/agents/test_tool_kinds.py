"""Tool kinds on the wire: what a converter tags survives the reducer (on the block and on the
pending permission) and the models every view reads (``SessionDetail``, ``SessionRuntime``)."""

from __future__ import annotations

from runtime import SessionEvent, reduce_events
from runtime.models import ToolUseBlock
from runtime.runner.converters.claude_code import TOOL_KINDS
from runtime.runner.converters.tool_kinds import tool_fields


def ev(seq: int, kind: str, payload: dict) -> SessionEvent:
    return SessionEvent(seq=seq, type=kind, payload=payload, timestamp=f"2026-12-04T10:00:{seq:02d}.000Z")


def test_the_kind_and_its_fields_reach_the_block_and_the_pending_permission() -> None:
    edit = {"file_path": "a.py", "old_string": "x = 1\n", "new_string": "x = 2\n"}
    fields = tool_fields(TOOL_KINDS["Edit"], edit)
    assert fields["kind"] == "edit" and fields["path"] == "a.py"
    assert fields["diff"].splitlines()[2:] == ["@@ -1 +1 @@", "-x = 1", "+x = 2"]
    state = reduce_events([
        ev(1, "block:upsert", {"block": {"id": "t1", "type": "tool_use", "toolName": "Edit", "toolUseId": "t1",
                                         "input": edit, "status": "pending", **fields}}),
        ev(2, "permission:requested", {"requestId": "p1", "toolName": "Edit", "toolUseId": "t1", "input": edit,
                                       **fields}),
    ])
    [block] = state.blocks
    use = ToolUseBlock.model_validate(block).wire()
    assert {k: use[k] for k in ("kind", "path", "diff")} == {k: fields[k] for k in ("kind", "path", "diff")}
    [pending] = state.runtime().wire()["pendingPermissions"]
    assert (pending["kind"], pending["path"], pending["diff"], pending["command"]) == (
        "edit", "a.py", fields["diff"], None)


def test_a_command_is_kept_only_for_execute_and_unknown_kinds_are_other() -> None:
    assert tool_fields("execute", {"command": "ls"}) == {"kind": "execute", "command": "ls"}
    assert tool_fields("read", {"command": "ls", "absolute_path": "/w/a"}) == {"kind": "read", "path": "/w/a"}
    assert tool_fields("teleport", {}) == {"kind": "other"}
