"""What only Gemini CLI's golden files say (the shared golden tests are in
``tests/conformance/test_golden.py``): the expectation files in words, the API error inside the
CLI's message, and shell exit codes read from the chat file the CLI saves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime.runner.converters.gemini_cli import (
    GeminiCliConverter,
    error_text,
    shell_exit_code,
    transcript_events,
)
from tests.conformance.golden import GOLDENS, reduce_blocks

GOLDEN = GOLDENS["gemini-cli"]
DATA = GOLDEN.data


def test_golden_behaviour_in_words() -> None:
    """What the expectation files say, spelled out for the main cases."""
    events = GOLDEN.convert_streams(DATA / "text")
    text = reduce_blocks(events)
    assert [b["type"] for b in text] == ["assistant_text"]  # thoughts are not in stream-json
    assert text[0]["content"] == "Hello! This is the fake model, streaming in pieces."
    deltas = [e for e in events if e["type"] == "block:delta"]
    assert len(deltas) > 3 and "".join(e["payload"]["delta"] for e in deltas) == text[0]["content"]

    tools = reduce_blocks(GOLDEN.convert_streams(DATA / "tool_loop"))
    results = [b for b in tools if b["type"] == "tool_result"]
    # Gemini CLI calls a shell command that exits 3 a success and prints no code; the converter
    # reads it from the response to the model the CLI saves in its chat file.
    assert [(r["output"], r["isError"], r["status"], r.get("exitCode")) for r in results] == [
        ("hi", False, "complete", 0), ("", False, "complete", None), ("oops", True, "error", 3)]
    assert all(b["status"] == "complete" for b in tools if b["type"] == "tool_use")
    assert [b["id"].rsplit(":", 1)[1] for b in tools if b["type"] == "assistant_text"] == ["r1", "r4"]

    failed = GOLDEN.convert_streams(DATA / "api_error")
    message = "API error 400 INVALID_ARGUMENT: API key not valid. Please pass a valid API key."
    assert failed[-1] == {"type": "query_result", "success": False, "error": message, "code": "API_ERROR"}
    assert [e["type"] for e in failed].count("error") == 1

    resumed = reduce_blocks(GOLDEN.convert_streams(DATA / "resume"))
    assert [(b["id"].rsplit(":", 1)[1], b["content"]) for b in resumed] == [
        ("r1", "Noted: teal."), ("r2", "The word was teal.")]
    usage = [e["payload"] for e in GOLDEN.convert_streams(DATA / "resume") if e["type"] == "metadata:update"]
    assert {"model": "gemini-2.5-flash"} in usage


def test_error_text_reads_the_api_error_inside_the_cli_message() -> None:
    wrapped = '[API Error: {"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}]'
    assert error_text(wrapped) == ("API error 503 UNAVAILABLE: overloaded", "API_ERROR")
    assert error_text("Operation cancelled.") == ("Operation cancelled.", "AGENT_ERROR")


# --------------------------------------------------------------------------- shell exit codes


def test_shell_exit_code_reads_the_response_the_model_gets() -> None:
    wrap = "<untrusted_context>\n{}\n</untrusted_context>".format
    assert shell_exit_code(wrap("Output: oops\nExit Code: 3\nProcess Group PGID: 3980")) == 3
    assert shell_exit_code(wrap("Output: hi\nProcess Group PGID: 3977")) == 0
    assert shell_exit_code(wrap("Output: (empty)\nExit Code: 1\nBackground PIDs: 7, 8\nProcess Group PGID: 5")) == 1
    # Only the closing lines count, not what the command printed before them.
    assert shell_exit_code(wrap("Output: Exit Code: 9\nExit Code: 9\nstill output\nProcess Group PGID: 5")) == 0
    assert shell_exit_code(wrap("Output: a\nExit Code: 2\nProcess Group PGID: 5")) == 2
    # No code known: killed by a signal, the shell failed to start, cancelled, backgrounded.
    assert shell_exit_code(wrap("Output: \nSignal: 9\nProcess Group PGID: 5")) is None
    assert shell_exit_code(wrap("Output: (empty)\nError: spawn bash ENOENT\nProcess Group PGID: 5")) is None
    assert shell_exit_code(wrap("Command was cancelled by user before it could complete.")) is None
    assert shell_exit_code(wrap("Command moved to background (PID: 5). Output hidden.")) is None


@pytest.mark.parametrize("garbage", [None, 3, "", "Exit Code: 3", ["Output: x\nExit Code: 3"],
                                     "Output: x\nExit Code: 99999999999999"])
def test_shell_exit_code_of_garbage_is_unknown_or_zero(garbage: object) -> None:
    assert shell_exit_code(garbage) in (None, 0)


def _chat_line(record: dict[str, object]) -> str:
    return json.dumps(record) + "\n"


def test_live_exit_code_comes_from_the_chat_file_written_after_the_result(tmp_path: Path) -> None:
    """The CLI prints a shell call's ``tool_result`` and only then saves the call (with the
    response telling the model the code) in its chat file; the converter picks the code up at
    the next line and upserts the result again."""
    uuid = "a2ea3a5f-e6c1-5251-bec2-d935729a12d9"
    chat = tmp_path / "tmp" / "workspace" / "chats" / f"session-2026-11-27T14-58-{uuid[:8]}.jsonl"
    chat.parent.mkdir(parents=True)
    chat.write_text(_chat_line({"sessionId": uuid, "kind": "main"}))
    converter = GeminiCliConverter({})
    converter.gemini_dir, converter.session_uuid = str(tmp_path), uuid

    def feed(**line: object) -> list[dict[str, object]]:
        return converter.feed(json.dumps(line))

    calls = {"a": "echo oops >&2; exit 3", "b": "true"}
    for call_id, command in calls.items():
        feed(type="tool_use", tool_name="run_shell_command", tool_id=call_id, parameters={"command": command})
    for call_id in calls:  # a batch: every result is printed before the batch is saved
        results = [e["payload"]["block"] for e in feed(type="tool_result", tool_id=call_id, status="success",
                                                       output="oops")
                   if e["type"] == "block:upsert" and e["payload"]["block"]["type"] == "tool_result"]
        assert [(r["isError"], "exitCode" in r) for r in results] == [(False, False)]
    with chat.open("a") as handle:
        handle.write('{"id": "cut-short", "type": "gem')  # a torn line before must not matter
        handle.write("\n" + _chat_line({"id": "m1", "type": "gemini", "content": "", "toolCalls": [
            {"id": call_id, "name": "run_shell_command", "status": "success", "resultDisplay": "oops",
             "result": [{"functionResponse": {"id": call_id, "name": "run_shell_command", "response": {
                 "output": "<untrusted_context>\nOutput: oops\n" + ("Exit Code: 3\n" if call_id == "a" else "")
                 + "Process Group PGID: 1\n</untrusted_context>"}}}]} for call_id in calls]}))
    events = feed(type="message", role="assistant", content="Done.", delta=True)
    updates = [e["payload"]["block"] for e in events
               if e["type"] == "block:upsert" and e["payload"]["block"]["type"] == "tool_result"]
    assert [(u["id"], u["isError"], u["status"], u["exitCode"], u["output"]) for u in updates] == [
        ("a:result", True, "error", 3, "oops"), ("b:result", False, "complete", 0, "oops")]
    assert events[-1]["type"] == "block:delta"
    assert not converter._awaiting_exit
    assert feed(type="result", status="success") and converter.finish(0)[1] is None


UUID = "0badc0de-0000-5000-8000-000000000000"
GARBAGE_CHATS = {"missing": None, "empty": "", "binary": "\x00\xff not json\n",
                 "odd shapes": _chat_line({"sessionId": UUID}) + "[1]\n{]\n" + _chat_line({"$set": {"messages": "no"}})
                 + _chat_line({"toolCalls": [5, {"result": 7}]})
                 + _chat_line({"content": [{"functionResponse": {"id": "s", "response": "x"}}]})}


@pytest.mark.parametrize("content", GARBAGE_CHATS.values(), ids=list(GARBAGE_CHATS))
def test_exit_code_lookup_survives_a_missing_or_garbage_chat_file(tmp_path: Path, content: str | None) -> None:
    chats = tmp_path / "tmp" / "p" / "chats"
    chats.mkdir(parents=True)
    if content is not None:
        (chats / f"session-x-{UUID[:8]}.jsonl").write_text(content)
    converter = GeminiCliConverter({})
    converter.gemini_dir, converter.session_uuid = str(tmp_path), UUID
    lines = [{"type": "tool_use", "tool_name": "run_shell_command", "tool_id": "s", "parameters": {}},
             {"type": "tool_result", "tool_id": "s", "status": "success", "output": "x"},
             *[{"type": "message", "role": "assistant", "content": "x", "delta": True}] * 5,
             {"type": "result", "status": "success"}]
    events = [e for line in lines for e in converter.feed(json.dumps(line))]
    closing, failure = converter.finish(0)
    assert failure is None
    results = [e["payload"]["block"] for e in [*events, *closing]
               if e["type"] == "block:upsert" and e["payload"]["block"]["type"] == "tool_result"]
    assert results and all(r["isError"] is False and "exitCode" not in r for r in results)
    assert not any(e["type"] == "log" and e["payload"]["level"] == "warn" for e in [*events, *closing])


def test_saved_api_form_responses_carry_the_exit_code_too() -> None:
    """A chat file holding a call only in the API's form (``functionCall`` part, then the
    ``functionResponse`` in a user message) still gives the exit code."""
    uuid = "11111111-2222-5333-8444-555555555555"
    response = {"id": "c1", "name": "run_shell_command", "response": {
        "output": "<untrusted_context>\nOutput: no\nExit Code: 7\nProcess Group PGID: 2\n</untrusted_context>"}}
    chat = "".join(_chat_line(r) for r in (
        {"sessionId": uuid, "kind": "main"},
        {"$set": {"messages": [
            {"id": "u1", "type": "user", "content": [{"text": "go"}]},
            {"id": "g1", "type": "gemini", "content": [{"functionCall": {"id": "c1", "name": "run_shell_command",
                                                                          "args": {"command": "exit 7"}}}]},
            {"id": "u2", "type": "user", "content": [{"functionResponse": response}]}]}}))
    transcript = {"format": "gemini-cli/1", "sessionId": uuid, "files": {"tmp/p/chats/session-x-11111111.jsonl": chat}}
    [result] = [e["payload"]["block"] for e in transcript_events(transcript)
                if e["type"] == "block:upsert" and e["payload"]["block"]["type"] == "tool_result"]
    assert (result["isError"], result["status"], result["exitCode"]) == (True, "error", 7)
