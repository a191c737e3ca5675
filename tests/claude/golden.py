"""Golden files for the Claude Code converter: real CLI output captured against the fake server.

Each scenario folder under ``tests/data/claude_code/`` holds:
- ``stream-N.jsonl``: the CLI's stdout of query N, verbatim (``claude -p --output-format stream-json
  --verbose --include-partial-messages ...`` as ``ClaudeCodeArchitecture.launch`` builds it);
- ``transcript.json``: the transcript the runner saved after the last query;
- ``expected-events.json``: what the converter makes of the streams (event timestamps removed);
- ``expected-blocks.json``: the blocks the reducer derives from those events; the transcript
  parser must produce the same ones (parity).

Regenerate (needs the pinned CLI in tests/node; runs it in a loopback-only netns):
    .venv/bin/python -m tests.claude.golden            # capture again, then rewrite expectations
    .venv/bin/python -m tests.claude.golden --expected # only rewrite expectations from the captures
Review the diff of ``expected-*.json`` before committing: it is the converter's behaviour.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.converters.claude_code import ClaudeCodeConverter
from runtime.converters.claude_transcript import transcript_events
from runtime.models import SessionEvent
from runtime.reducer import SessionState, apply_event

DATA = Path(__file__).resolve().parent.parent / "data" / "claude_code"
#: Fixed so captured paths do not change from one capture to the next.
CAPTURE_ROOT = Path("/tmp/agent-tui-golden")


# --------------------------------------------------------------------------- reading captures


def stream_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("stream-*.jsonl"), key=lambda p: int(p.stem.split("-")[1]))


def convert_streams(folder: Path) -> list[dict[str, Any]]:
    """Every stream of a scenario through a fresh converter per query, as the runner does."""
    events: list[dict[str, Any]] = []
    for path in stream_files(folder):
        converter = ClaudeCodeConverter({"architecture": "claude-code"})
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                events.extend(converter.feed(line))
        closing, failure = converter.finish(0 if converter.failure is None else 1)
        events.extend(closing)
        if failure is not None:
            events.append({"type": "query_result", "success": False, **failure})
    return events


def without_timestamps(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k != "timestamp"} for e in events]


def reduce_blocks(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Blocks (main and per subagent) derived by the real reducer, without timestamps."""
    state = SessionState()
    seq = 0
    for event in events:
        if event["type"] == "query_result":
            continue
        seq += 1
        apply_event(state, SessionEvent(seq=seq, type=event["type"], payload=event["payload"],
                                        timestamp="2026-01-01T00:00:00.000Z",
                                        conversation_id=event.get("conversationId", "main")))

    def clean(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # Error blocks are named after the seq of their event, which differs between a live log
        # (with metadata events) and a transcript; their content is what must agree.
        return [{k: v for k, v in b.items() if k != "timestamp" and not (k == "id" and b.get("type") == "error")}
                for b in blocks]

    return {"main": clean(state.blocks),
            "subagents": {key: clean(thread.blocks) for key, thread in sorted(state.subagents.items())}}


def transcript_blocks(folder: Path) -> dict[str, Any]:
    transcript = json.loads((folder / "transcript.json").read_text(encoding="utf-8"))
    blocks = reduce_blocks(transcript_events(transcript, include_prompts=False))
    return blocks


def write_expected(folder: Path) -> None:
    events = convert_streams(folder)
    (folder / "expected-events.json").write_text(json.dumps(without_timestamps(events), indent=1) + "\n")
    (folder / "expected-blocks.json").write_text(json.dumps(reduce_blocks(events), indent=1) + "\n")


# --------------------------------------------------------------------------- capturing


@dataclass
class Scenario:
    name: str
    #: One list of fake steps per query.
    queries: list[tuple[str, list[Any]]] = field(default_factory=list)


def scenarios() -> list[Scenario]:
    from tests.fakes.anthropic_server import ErrorReply, Text, Thinking, ToolUse, Turn, for_main, for_subagent

    return [
        Scenario("text", [("Say hello", [Turn(Thinking("The user wants a greeting."),
                                              Text("Hello! This is the fake model, streaming in pieces."))])]),
        Scenario("tool_loop", [("Make hello.txt, then fail once", [
            Turn(Text("Writing the file."), ToolUse("Bash", {"command": "echo hi > hello.txt && cat hello.txt",
                                                             "description": "Write hello.txt"})),
            Turn(ToolUse("Bash", {"command": "echo oops >&2; exit 3", "description": "Fail on purpose"})),
            Turn(Text("Done: hello.txt says hi, and the second command failed with exit code 3.")),
        ])]),
        Scenario("api_error", [("Hello?", [ErrorReply(500, "the fake model is on fire", times=2)])]),
        Scenario("subagent", [("Delegate a listing", [
            Turn(Text("Delegating."), ToolUse("Agent", {"description": "List files",
                                                        "prompt": "List the files in the workspace",
                                                        "subagent_type": "general-purpose"}), match=for_main),
            Turn(Text("Listing."), ToolUse("Bash", {"command": "ls -a", "description": "list"}),
                 match=for_subagent),
            Turn(Text("The workspace is empty."), match=for_subagent),
            Turn(Text("Waiting for the subagent."), match=for_main),
            Turn(Text("The subagent says the workspace is empty."), match=for_main),
        ])]),
        # Claude Code reports a Bash command that runs for seconds as a `local_bash` task
        # (system/task_started ... task_notification): it is a tool call, not a subagent.
        Scenario("long_bash", [("Wait a little, then say done", [
            Turn(Text("Waiting."), ToolUse("Bash", {"command": "sleep 3; echo done", "description": "Wait 3 s"})),
            Turn(Text("The command printed done.")),
        ])]),
        Scenario("resume", [("Remember the word 'teal'.", [Turn(Text("Noted: teal."))]),
                            ("Which word?", [Turn(Text("The word was teal."))])]),
    ]


async def capture(scenario: Scenario, claude: str) -> None:
    from runtime.architectures.base import LaunchContext
    from runtime.architectures.claude_code import ClaudeCodeArchitecture
    from runtime.config import RuntimeConfig
    from runtime.models import AgentProfile
    from runtime.runner.claude_transcript import read_transcript
    from runtime.runner.execute import _agent_env
    from tests.fakes.anthropic_server import FakeAnthropic

    root = CAPTURE_ROOT / scenario.name
    shutil.rmtree(root, ignore_errors=True)
    for sub in ("app", "workspace", "home"):
        (root / sub).mkdir(parents=True)
    folder = DATA / scenario.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    session_id = f"ses-golden-{scenario.name}"
    profile = AgentProfile(id="golden", name="golden",
                           env=["ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "CLAUDE_CODE_MAX_RETRIES"])
    architecture = ClaudeCodeArchitecture()
    async with FakeAnthropic() as fake:
        host_env = {"ANTHROPIC_BASE_URL": fake.url, "ANTHROPIC_API_KEY": "sk-ant-golden",
                    "CLAUDE_CODE_MAX_RETRIES": "1"}
        config = RuntimeConfig(host_env={**host_env, "AGENT_TUI_CLAUDE_PATH": claude})
        for number, (prompt, steps) in enumerate(scenario.queries, 1):
            fake.script(*steps)
            ctx = LaunchContext(session_id=session_id, message_id=f"msg-{number}", prompt=prompt,
                                session_dir=str(root), profile=profile, session_options={},
                                resume=number > 1, host_env=host_env, config=config)
            launch = architecture.launch(ctx)
            request = {"baseWorkspacePath": str(root / "workspace"), "launch": launch.wire()}
            env = _agent_env(request)
            argv = ClaudeCodeConverter(request).prepare(launch.argv, env)
            process = await asyncio.create_subprocess_exec(
                *argv, cwd=str(root / "workspace"), env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            stdout, stderr = await process.communicate()
            (folder / f"stream-{number}.jsonl").write_bytes(stdout)
            print(f"{scenario.name} query {number}: exit {process.returncode}, {len(stdout.splitlines())} lines"
                  + (f", stderr: {stderr.decode()[:300]}" if stderr.strip() else ""))
        if fake.unscripted:
            print(f"{scenario.name}: WARNING {fake.unscripted} unscripted requests", file=sys.stderr)
    transcript = read_transcript({"baseWorkspacePath": str(root / "workspace"), "sessionId": session_id})
    (folder / "transcript.json").write_text(json.dumps(transcript, indent=1) + "\n", encoding="utf-8")
    write_expected(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description="Capture or refresh the Claude Code golden files.")
    parser.add_argument("--expected", action="store_true", help="only rewrite expected-*.json")
    parser.add_argument("names", nargs="*", help="scenarios (default: all)")
    args = parser.parse_args()
    chosen = [s for s in scenarios() if not args.names or s.name in args.names]
    if args.expected:
        for scenario in chosen:
            write_expected(DATA / scenario.name)
        return
    from tests.claude.netns import LoopbackOnly
    from tests.helpers import NODE_BIN

    namespace = LoopbackOnly()
    if not namespace.enter():
        sys.exit("could not enter a loopback-only network namespace (need root/CAP_SYS_ADMIN)")
    try:
        for scenario in chosen:
            asyncio.run(capture(scenario, str(NODE_BIN / "claude")))
    finally:
        namespace.leave()


if __name__ == "__main__":
    main()
