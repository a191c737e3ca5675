"""Golden files for the Gemini CLI converter: real ``gemini -o stream-json`` output captured
against the fake Gemini API server, committed under ``tests/data/gemini_cli/`` (layout in
``tests/opencode/golden_tools.py``).

Regenerate (needs the pinned CLI in tests/node; runs it in a loopback-only netns):
    .venv/bin/python -m tests.gemini.golden            # capture again, then rewrite expectations
    .venv/bin/python -m tests.gemini.golden --expected # only rewrite expectations from the captures
Review the diff of ``expected-*.json`` before committing: it is the converter's behaviour.
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from runtime.converters.gemini_cli import GeminiCliConverter, make_converter, transcript_events
from tests.opencode.golden_tools import Golden, Scenario, capture, run_captures

DATA = Path(__file__).resolve().parent.parent / "data" / "gemini_cli"
MODEL = "gemini-2.5-flash"


@functools.cache
def captured_gemini_dir(scenario: str) -> str | None:
    """A ``~/.gemini`` holding the chat files a scenario saved (``transcript.json``), for the
    converter to read shell exit codes from offline as it does in the sandbox. The final chat
    file stands in for the live one: the converter looks a call's response up by its id."""
    path = DATA / scenario / "transcript.json"
    try:
        files = json.loads(path.read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    root = Path(tempfile.mkdtemp(prefix=f"agent-tui-golden-gemini-{scenario}-"))
    atexit.register(shutil.rmtree, root, True)
    for relative, text in files.items():
        target = (root / relative).resolve()
        if root not in target.parents:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(str(text), encoding="utf-8")
    return str(root)


def golden_converter(request: dict[str, Any]) -> GeminiCliConverter:
    """The converter; offline (no ``launch``: converting a capture) pointed at the scenario's
    captured chat files instead of a sandbox home."""
    converter = make_converter(request)
    session_id = str(request.get("sessionId") or "")
    if "launch" not in request and session_id.startswith("ses-golden-"):
        converter.gemini_dir = captured_gemini_dir(session_id.removeprefix("ses-golden-"))
    return converter


#: Gemini CLI drops a failed turn from its chat file, so the error block of a failed query has
#: no counterpart in the saved transcript.
GOLDEN = Golden("gemini-cli", DATA, golden_converter, transcript_events, parity_skips=("error",))


def scenarios() -> list[Scenario]:
    from tests.fakes.gemini_server import ErrorReply, FunctionCall, Text, Thought, Turn

    return [
        Scenario("text", [("Say hello", [Turn(Thought("The user wants a greeting."),
                                              Text("Hello! This is the fake model, streaming in pieces."))])]),
        Scenario("tool_loop", [("Make hello.txt and notes.txt, then fail once", [
            Turn(Text("Writing the file."),
                 FunctionCall("run_shell_command", {"command": "echo hi > hello.txt && cat hello.txt",
                                                    "description": "Write hello.txt"})),
            Turn(FunctionCall("write_file", {"file_path": "notes.txt", "content": "some notes\n"})),
            Turn(FunctionCall("run_shell_command", {"command": "echo oops >&2; exit 3"})),
            Turn(Text("Done: hello.txt says hi, notes.txt is written, and the last command failed.")),
        ])]),
        Scenario("api_error", [("Hello?", [ErrorReply(400, "API key not valid. Please pass a valid API key.",
                                                      status_text="INVALID_ARGUMENT")])]),
        Scenario("resume", [("Remember the word 'teal'.", [Turn(Text("Noted: teal."))]),
                            ("Which word?", [Turn(Text("The word was teal."))])]),
    ]


async def capture_one(scenario: Scenario) -> None:
    from runtime.architectures.gemini_cli import BINARY_ENV, GeminiCliArchitecture
    from runtime.runner.gemini_transcript import read_transcript
    from tests.fakes.gemini_server import FakeGemini
    from tests.helpers import NODE_BIN

    async with FakeGemini() as fake:
        await capture(GOLDEN, scenario, architecture=GeminiCliArchitecture(), fake=fake,
                      host_env={"GOOGLE_GEMINI_BASE_URL": fake.url, "GEMINI_API_KEY": "fake-golden-key"},
                      binary_env=BINARY_ENV, binary=str(NODE_BIN / "gemini"),
                      profile_env=["GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL"], model=MODEL,
                      read_transcript=read_transcript)


if __name__ == "__main__":
    run_captures(GOLDEN, scenarios(), capture_one, sys.argv[1:])
