"""The reducer: one pure fold from the log to the state every view shows."""

from __future__ import annotations

from runtime import SessionEvent, reduce_events
from runtime.models import SessionDetail


def ev(seq: int, kind: str, payload: dict, conversation_id: str = "main") -> SessionEvent:
    return SessionEvent(
        seq=seq,
        type=kind,
        payload=payload,
        timestamp=f"2026-11-27T10:00:{seq:02d}.000Z",
        conversation_id=conversation_id,
    )


def test_blocks_upsert_merge_and_deltas_append() -> None:
    state = reduce_events(
        [
            ev(
                1,
                "block:upsert",
                {"block": {"id": "u1", "type": "user_message", "content": "hi", "status": "pending"}},
            ),
            ev(2, "query:started", {"messageId": "u1", "content": "hi"}),
            ev(
                3,
                "block:upsert",
                {"block": {"id": "a1", "type": "assistant_text", "content": "", "status": "pending"}},
            ),
            ev(4, "block:delta", {"blockId": "a1", "delta": "Hel"}),
            ev(5, "block:delta", {"blockId": "a1", "delta": "lo"}),
            ev(
                6,
                "block:upsert",
                {"block": {"id": "t1", "type": "tool_result", "toolUseId": "x", "output": ""}},
            ),
            ev(7, "block:delta", {"blockId": "t1", "delta": "out"}),
            ev(8, "block:upsert", {"block": {"id": "a1", "model": "m"}}),
            ev(9, "some:future-event", {"anything": 1}),
            ev(10, "block:delta", {"blockId": 5, "delta": None}),  # malformed: ignored
            ev(11, "query:completed", {"messageId": "u1", "durationMs": 5}),
        ]
    )
    assert [b["id"] for b in state.blocks] == ["u1", "a1", "t1"]
    assert state.blocks[1]["content"] == "Hello" and state.blocks[1]["model"] == "m"
    assert state.blocks[1]["status"] == "complete"  # closed when the query ended
    assert state.blocks[2]["output"] == "out"
    assert state.blocks[0]["status"] == "complete"
    assert state.active_query is None and state.last_seq == 11
    detail = SessionDetail.model_validate(
        {
            "sessionId": "s",
            "name": "n",
            "architecture": "shell",
            "createdAt": 0,
            "lastActivity": 0,
            "blocks": state.blocks,
        }
    )
    assert detail.blocks[1].type == "assistant_text"


def test_failed_query_adds_an_error_block_and_closes_pending_ones_as_error() -> None:
    state = reduce_events(
        [
            ev(1, "query:started", {"messageId": "m1", "content": "x"}),
            ev(2, "block:upsert", {"block": {"id": "a", "type": "assistant_text", "status": "pending"}}),
            ev(3, "query:failed", {"messageId": "m1", "error": "API error 500", "code": "API_ERROR"}),
        ]
    )
    assert state.blocks[0]["status"] == "error"
    assert state.blocks[-1] == {
        "id": "error-3",
        "type": "error",
        "status": "error",
        "message": "API error 500",
        "timestamp": "2026-11-27T10:00:03.000Z",
        "code": "API_ERROR",
    }
    runtime = state.runtime()
    assert runtime.active_query is None


def test_runtime_environment_queue_permissions_and_usage() -> None:
    state = reduce_events(
        [
            ev(1, "query:started", {"messageId": "m1", "content": "x"}),
            ev(
                2,
                "block:upsert",
                {"block": {"id": "m2", "type": "user_message", "content": "y", "queued": True}},
            ),
            ev(3, "ee:creating", {"statusMessage": "Creating (0.1s)"}),
        ]
    )
    runtime = state.runtime()
    assert runtime.queued_messages == 1
    assert runtime.execution_environment and runtime.execution_environment.status == "starting"
    assert runtime.execution_environment.status_message == "Creating (0.1s)"
    assert runtime.active_query and runtime.active_query.message_id == "m1"
    assert "queued" not in state.blocks[0]
    reduce_events(
        [
            ev(4, "ee:ready", {"eeId": "e1", "primitive": "local"}),
            ev(
                5, "permission:requested", {"requestId": "r1", "toolName": "Bash", "input": {"command": "ls"}}
            ),
            ev(
                6,
                "metadata:update",
                {
                    "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
                    "costUsd": 0.25,
                    "model": "claude",
                },
            ),
            ev(7, "query:completed", {"messageId": "m1"}),
            ev(8, "query:started", {"messageId": "m2", "content": "y"}),
            ev(
                9,
                "metadata:update",
                {"usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}, "costUsd": 0.5},
            ),
        ],
        state,
    )
    runtime = state.runtime()
    assert runtime.queued_messages == 0
    assert runtime.execution_environment and runtime.execution_environment.id == "e1"
    assert [p.tool_name for p in runtime.pending_permissions] == ["Bash"]
    meta = state.metadata()
    assert meta.usage and meta.usage.input_tokens == 11 and meta.usage.total_tokens == 17
    assert meta.cost_usd == 0.75 and meta.model == "claude"
    reduce_events(
        [
            ev(10, "permission:resolved", {"requestId": "r1", "decision": "deny"}),
            ev(11, "ee:terminated", {"reason": "idle"}),
        ],
        state,
    )
    runtime = state.runtime()
    assert runtime.pending_permissions == [] and "r1" in state.resolved_permissions
    assert runtime.execution_environment and runtime.execution_environment.status == "terminated"


def test_subagent_blocks_go_to_their_thread() -> None:
    state = reduce_events(
        [
            ev(
                1,
                "block:upsert",
                {"block": {"id": "tu", "type": "tool_use", "toolName": "Task", "toolUseId": "tu"}},
            ),
            ev(2, "subagent:spawned", {"toolUseId": "tu", "prompt": "look around", "agentId": "ag1"}),
            ev(3, "block:upsert", {"block": {"id": "s1", "type": "assistant_text", "content": "sub"}}, "tu"),
            ev(4, "block:delta", {"blockId": "s1", "delta": "!"}, "ag1"),
            ev(
                5,
                "subagent:completed",
                {"toolUseId": "tu", "status": "completed", "output": "done", "durationMs": 9},
            ),
        ]
    )
    assert [b["id"] for b in state.blocks] == ["tu"]
    thread = state.subagent_list()[0]
    assert thread["status"] == "completed" and thread["agentId"] == "ag1" and thread["output"] == "done"
    assert thread["blocks"][0]["content"] == "sub!"


def test_an_error_reported_then_failing_the_query_shows_once() -> None:
    state = reduce_events([
        ev(1, "query:started", {"messageId": "m1", "content": "x"}),
        ev(2, "error", {"message": "API Error: 500 boom", "code": "API_ERROR"}),
        ev(3, "query:failed", {"messageId": "m1", "error": "API Error: 500 boom", "code": "API_ERROR"}),
        ev(4, "query:started", {"messageId": "m2", "content": "x"}),
        ev(5, "query:failed", {"messageId": "m2", "error": "other", "code": "X"}),
    ])
    assert [b["message"] for b in state.blocks if b["type"] == "error"] == ["API Error: 500 boom", "other"]


def test_odd_blocks_from_a_converter_never_make_a_session_unreadable() -> None:
    from runtime.models import SessionDetail, UnknownBlock, lenient_block

    state = reduce_events([
        ev(1, "block:upsert", {"block": {"id": "a", "type": "assistant_text", "content": "ok"}}),
        ev(2, "block:upsert", {"block": {"id": "b", "type": "hologram", "beams": 3}}),
        ev(3, "block:upsert", {"block": {"id": "c", "type": "tool_use", "toolName": ["not", "a", "str"],
                                         "status": "weird"}}),
    ])
    blocks = [lenient_block(b) for b in state.blocks]
    detail = SessionDetail.model_validate({"sessionId": "s", "name": "n", "architecture": "shell",
                                           "createdAt": 0, "lastActivity": 0, "blocks": blocks})
    assert [type(b).__name__ for b in detail.blocks] == ["AssistantTextBlock", "UnknownBlock", "UnknownBlock"]
    wire = detail.model_dump(mode="json", by_alias=True)
    assert wire["blocks"][1] == {"id": "b", "status": "complete", "timestamp": "2026-11-27T10:00:02.000Z",
                                 "type": "hologram", "beams": 3}
    assert wire["blocks"][2]["toolName"] == ["not", "a", "str"] and wire["blocks"][2]["status"] == "complete"
    assert isinstance(detail.blocks[1], UnknownBlock)
