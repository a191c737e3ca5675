"""Golden files for the OpenCode converter: real ``opencode run --format json`` output captured
against the fake OpenAI-compatible server, committed under ``tests/data/opencode/`` (layout in
``tests/opencode/golden_tools.py``).

Regenerate (needs the pinned CLI in tests/node; runs it in a loopback-only netns):
    .venv/bin/python -m tests.opencode.golden            # capture again, then rewrite expectations
    .venv/bin/python -m tests.opencode.golden --expected # only rewrite expectations from the captures
Review the diff of ``expected-*.json`` before committing: it is the converter's behaviour.
"""

from __future__ import annotations

import sys
from pathlib import Path

from runtime.converters.opencode import make_converter, transcript_events
from tests.opencode.golden_tools import Golden, Scenario, capture, run_captures

DATA = Path(__file__).resolve().parent.parent / "data" / "opencode"
MODEL = "fake-model"
GOLDEN = Golden("opencode", DATA, make_converter, transcript_events)


def scenarios() -> list[Scenario]:
    from tests.fakes.openai_server import ErrorReply, Reasoning, Text, ToolCall, Turn

    return [
        Scenario("text", [("Say hello", [Turn(Reasoning("The user wants a greeting."),
                                              Text("Hello! This is the fake model, streaming in pieces."))])]),
        Scenario("tool_loop", [("Make hello.txt and notes.txt, then fail once", [
            Turn(Text("Writing the file."), ToolCall("bash", {"command": "echo hi > hello.txt && cat hello.txt",
                                                              "description": "Write hello.txt"})),
            Turn(ToolCall("write", {"filePath": "notes.txt", "content": "some notes\n"})),
            Turn(ToolCall("bash", {"command": "echo oops >&2; exit 3", "description": "Fail on purpose"})),
            Turn(Text("Done: hello.txt says hi, notes.txt is written, and the last command failed.")),
        ])]),
        Scenario("api_error", [("Hello?", [ErrorReply(500, "the fake model is on fire", times=6,
                                                      retry_after_ms=0)])]),
        Scenario("subagent", [("Delegate a listing", [
            Turn(Text("Delegating."), ToolCall("task", {"description": "List files",
                                                        "prompt": "List the files in the workspace",
                                                        "subagent_type": "general"})),
            Turn(Text("The workspace is empty.")),
            Turn(Text("The subagent says the workspace is empty.")),
        ])]),
        Scenario("resume", [("Remember the word 'teal'.", [Turn(Text("Noted: teal."))]),
                            ("Which word?", [Turn(Text("The word was teal."))])]),
    ]


async def capture_one(scenario: Scenario) -> None:
    from runtime.architectures.opencode import BINARY_ENV, OpenCodeArchitecture
    from runtime.runner.opencode_transcript import read_transcript
    from tests.fakes.openai_server import FakeOpenAI
    from tests.helpers import NODE_BIN

    async with FakeOpenAI() as fake:
        await capture(GOLDEN, scenario, architecture=OpenCodeArchitecture(), fake=fake,
                      host_env={"OPENAI_BASE_URL": fake.url, "OPENAI_API_KEY": "sk-golden"},
                      binary_env=BINARY_ENV, binary=str(NODE_BIN / "opencode"),
                      profile_env=["OPENAI_API_KEY", "OPENAI_BASE_URL"], model=MODEL,
                      read_transcript=read_transcript)


if __name__ == "__main__":
    run_captures(GOLDEN, scenarios(), capture_one, sys.argv[1:])
