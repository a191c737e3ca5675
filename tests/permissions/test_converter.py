"""The Claude Code converter's side of the control protocol (permissionMode "ask"), line by line:
no CLI needed. The same lines come from the real CLI in test_claude_ask.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runtime.runner.converters.claude_code import DEFAULT_DENY_MESSAGE, ClaudeCodeConverter

ASK_ARGV = [
    "claude",
    "-p",
    "--output-format",
    "stream-json",
    "--session-id",
    "u-1",
    "--input-format",
    "stream-json",
    "--permission-prompt-tool",
    "stdio",
    "--permission-mode",
    "default",
]


def converter(argv: list[str] = ASK_ARGV) -> ClaudeCodeConverter:
    conv = ClaudeCodeConverter({"prompt": "-v is a prompt, not an option", "architecture": "claude-code"})
    conv.prepare(list(argv), {"CLAUDE_CONFIG_DIR": "/nonexistent"})
    return conv


def can_use_tool(request_id: str, tool: str, tool_input: dict[str, Any], **extra: Any) -> str:
    request = {"subtype": "can_use_tool", "tool_name": tool, "input": tool_input, **extra}
    return json.dumps({"type": "control_request", "request_id": request_id, "request": request})


def sent(conv: ClaudeCodeConverter) -> list[dict[str, Any]]:
    return [json.loads(line) for line in conv.take_agent_input()]


def test_the_prompt_goes_to_stdin_as_a_user_message_and_stdin_stays_open() -> None:
    conv = converter()
    assert conv.keeps_stdin_open()
    assert [json.loads(line) for line in conv.initial_input()] == [
        {"type": "user", "message": {"role": "user", "content": "-v is a prompt, not an option"}}
    ]
    # Without --input-format stream-json (bypass, acceptEdits) nothing changes.
    plain = converter(["claude", "-p", "--session-id", "u-1", "--", "--input-format"])
    assert plain.initial_input() == [] and not plain.keeps_stdin_open()


def test_a_question_becomes_permission_requested_and_the_answer_a_control_response() -> None:
    conv = converter()
    tool_input = {"command": "rm -rf build", "description": "Clean the build"}
    events = conv.feed(
        can_use_tool("r1", "Bash", tool_input, tool_use_id="toolu_1", description="Clean the build")
    )
    assert [(e["type"], e["payload"]) for e in events] == [
        (
            "permission:requested",
            {
                "requestId": "r1",
                "toolName": "Bash",
                "input": tool_input,
                "kind": "execute",
                "command": "rm -rf build",
                "toolUseId": "toolu_1",
                "title": "Clean the build",
            },
        )
    ]
    assert sent(conv) == []  # the CLI waits
    assert conv.on_control({"type": "permission_response", "requestId": "r1", "decision": "allow"}) == []
    assert sent(conv) == [
        {
            "type": "control_response",
            "response": {
                "subtype": "success",
                "request_id": "r1",
                "response": {"behavior": "allow", "updatedInput": tool_input},
            },
        }
    ]
    # A second answer to the same question is not passed on.
    events = conv.on_control({"type": "permission_response", "requestId": "r1", "decision": "deny"})
    assert [e["type"] for e in events] == ["log"] and sent(conv) == []


def test_deny_carries_the_users_message_or_a_default() -> None:
    conv = converter()
    conv.feed(can_use_tool("r1", "Write", {"file_path": "/w/a"}))
    conv.feed(can_use_tool("r2", "Write", {"file_path": "/w/b"}, title="Write b"))
    conv.on_control(
        {"type": "permission_response", "requestId": "r1", "decision": "deny", "message": "Not there"}
    )
    conv.on_control({"type": "permission_response", "requestId": "r2", "decision": "deny"})
    answers = [m["response"]["response"] for m in sent(conv)]
    assert answers == [
        {"behavior": "deny", "message": "Not there"},
        {"behavior": "deny", "message": DEFAULT_DENY_MESSAGE},
    ]


def test_allow_always_answers_later_questions_about_the_same_tool_in_this_run() -> None:
    conv = converter()
    conv.feed(can_use_tool("r1", "Bash", {"command": "ls"}))
    conv.on_control({"type": "permission_response", "requestId": "r1", "decision": "allow_always"})
    sent(conv)
    events = conv.feed(can_use_tool("r2", "Bash", {"command": "pwd"}))
    assert [e["type"] for e in events] == ["log"]  # not asked
    assert sent(conv)[0]["response"] == {
        "subtype": "success",
        "request_id": "r2",
        "response": {"behavior": "allow", "updatedInput": {"command": "pwd"}},
    }
    events = conv.feed(can_use_tool("r3", "Write", {"file_path": "/w/a"}))
    assert [e["type"] for e in events] == ["permission:requested"]  # another tool still is


@pytest.mark.parametrize("subtype", ["hook_callback", "mcp_message", "request_user_dialog", "from_the_future"])
def test_other_control_requests_get_an_error_so_the_cli_never_hangs(subtype: str) -> None:
    conv = converter()
    line = json.dumps({"type": "control_request", "request_id": f"x-{subtype}", "request": {"subtype": subtype}})
    events = conv.feed(line)
    assert all(e["type"] == "log" for e in events)
    [answer] = sent(conv)
    assert answer["type"] == "control_response"
    assert answer["response"]["subtype"] == "error" and answer["response"]["request_id"] == f"x-{subtype}"


@pytest.mark.parametrize("line", ['{"type": "control_request", "request": {}}',
                                  '{"type": "control_request", "request_id": 7, "request": 1}'])
def test_a_malformed_control_request_is_reported_never_fatal(line: str) -> None:
    assert [e["type"] for e in converter().feed(line)] == ["log"]


def test_a_withdrawn_question_is_closed_as_denied_by_the_cli() -> None:
    conv = converter()
    conv.feed(can_use_tool("r1", "Bash", {"command": "sleep 1"}))
    events = conv.feed(json.dumps({"type": "control_cancel_request", "request_id": "r1"}))
    assert [(e["type"], e["payload"]) for e in events] == [
        (
            "permission:resolved",
            {
                "requestId": "r1",
                "decision": "deny",
                "by": "claude-code",
                "message": "Claude Code withdrew the request",
            },
        )
    ]
    # Unknown or repeated withdrawals say nothing; a late answer is not passed on.
    assert conv.feed(json.dumps({"type": "control_cancel_request", "request_id": "r1"})) == []
    conv.on_control({"type": "permission_response", "requestId": "r1", "decision": "allow"})
    assert sent(conv) == []


RESULT = json.dumps({"type": "result", "subtype": "success", "is_error": False, "result": "ok"})


def tasks(*task_ids: str) -> str:
    running = [{"task_id": t, "task_type": "local_agent"} for t in task_ids]
    return json.dumps({"type": "system", "subtype": "background_tasks_changed", "tasks": running})


def test_the_cli_is_released_once_its_result_arrives() -> None:
    conv = converter()
    assert not conv.done()
    conv.feed(RESULT)
    assert conv.done()


def test_the_cli_is_not_released_while_a_background_agent_may_still_ask() -> None:
    conv = converter()
    conv.feed(tasks("t1"))
    conv.feed(RESULT)  # the main agent's turn ended; its background subagent runs on
    assert not conv.done()
    conv.feed(can_use_tool("r1", "Bash", {"command": "make"}))
    conv.feed(tasks())
    conv.feed(RESULT)
    assert not conv.done()  # the question still waits for its answer
    conv.on_control({"type": "permission_response", "requestId": "r1", "decision": "allow"})
    assert conv.done()
    # The end of a task is also taken from its notification alone.
    conv = converter()
    conv.feed(tasks("t2"))
    conv.feed(RESULT)
    notification = {"type": "system", "subtype": "task_notification", "task_id": "t2", "status": "completed"}
    conv.feed(json.dumps(notification))
    assert not conv.done()  # the main agent answers the notification: a result follows
    conv.feed(RESULT)
    assert conv.done()
