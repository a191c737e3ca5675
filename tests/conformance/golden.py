"""Golden files for the JSON-lines agent converters (Claude Code, OpenCode, Gemini CLI): the real
CLI's output captured once against its fake model API, converted, and compared with committed
expectations (``test_golden.py``).

Each scenario folder under ``tests/data/<agent>/`` holds:
- ``stream-N.jsonl``: the CLI's stdout of query N, verbatim, run exactly as the runner runs it
  (``Architecture.launch`` for argv and env, the converter's ``prepare`` and ``initial_input``);
- ``queries.json`` (where a converter needs it): per query the prompt and what ``prepare`` learned
  in the sandbox (the model, the conversation's earlier turns), so a converter can be put in the
  same state offline;
- ``transcript.json``: the transcript the runner saved after the last query;
- ``expected-events.json``: what the converter makes of the streams (event timestamps removed);
- ``expected-blocks.json``: the blocks the reducer derives from those events; the transcript
  parser must give the same ones (parity).

Regenerate (needs the pinned CLI in tests/node; runs it in a loopback-only netns):
    .venv/bin/python -m tests.conformance.golden claude-code            # capture again, then expectations
    .venv/bin/python -m tests.conformance.golden gemini-cli --expected  # only the expectations
Review the diff of ``expected-*.json`` before committing: it is the converter's behaviour.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.models import SessionEvent
from runtime.reducer import SessionState, apply_event
from runtime.runner.converters import claude_code, claude_transcript, gemini_cli, opencode
from runtime.runner.converters.base import Converter
from tests.fakes import anthropic_server as anthropic
from tests.fakes import gemini_server as gemini
from tests.fakes import openai_server as openai
from tests.fakes.scripted_server import ErrorReply, Text, Thinking, Turn, for_main, for_subagent

DATA = Path(__file__).resolve().parent.parent / "data"
#: Fixed so captured paths do not change from one capture to the next.
CAPTURE_ROOT = Path("/tmp/agent-tui-golden")
#: Converter attributes ``prepare`` sets from what it finds in the sandbox.
PREPARED = ("model", "turn_base", "session_uuid")
GREETING = "Hello! This is the fake model, streaming in pieces."


@dataclass
class Scenario:
    name: str
    #: (prompt, fake steps) per query.
    queries: list[tuple[str, list[Any]]] = field(default_factory=list)


@dataclass
class Golden:
    architecture_id: str
    data: Path
    make_converter: Callable[[dict[str, Any]], Converter]
    transcript_events: Callable[..., list[dict[str, Any]]]
    #: Scenarios that must be there.
    required: frozenset[str]
    #: Parity leaves these block types out (e.g. errors a CLI does not keep in its transcript).
    parity_skips: tuple[str, ...] = ()
    #: Blocks come as ``{"main": [...], "subagents": {tool id: [...]}}`` (Claude Code's threads).
    subagents: bool = False
    #: For capturing: the CLI, the variable that names its path, the fake, its variables, the
    #: model, the profile's ``env``, the runner-side transcript reader, the scenarios.
    binary: str = ""
    binary_env: str = ""
    fake: Any = None
    provider_env: Callable[[Any], dict[str, str]] = dict
    model: str | None = None
    profile_env: tuple[str, ...] = ()
    read_transcript: str = ""
    scenarios: Callable[[], list[Scenario]] = list

    # ------------------------------------------------------------------ reading captures

    def folders(self) -> list[Path]:
        return sorted(p for p in self.data.iterdir() if p.is_dir()) if self.data.is_dir() else []

    def converter_for(self, folder: Path, number: int) -> Converter:
        request: dict[str, Any] = {"architecture": self.architecture_id}
        queries_file = folder / "queries.json"
        prepared: dict[str, Any] = {}
        if queries_file.exists():
            query = json.loads(queries_file.read_text(encoding="utf-8"))[number - 1]
            request.update(prompt=query["prompt"], sessionId=f"ses-golden-{folder.name}")
            prepared = query.get("prepared") or {}
        converter = self.make_converter(request)
        for name, value in prepared.items():
            setattr(converter, name, value)
        return converter

    def convert_streams(self, folder: Path) -> list[dict[str, Any]]:
        """Every stream of a scenario through a fresh converter per query, as the runner does."""
        events: list[dict[str, Any]] = []
        for path in stream_files(folder):
            converter = self.converter_for(folder, int(path.stem.split("-")[1]))
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    events.extend(converter.feed(line))
            closing, failure = converter.finish(0 if getattr(converter, "failure", None) is None else 1)
            events.extend(closing)
            if failure is not None:
                events.append({"type": "query_result", "success": False, **failure})
        return events

    def reduce(self, events: list[dict[str, Any]]) -> Any:
        return reduce_threads(events) if self.subagents else reduce_blocks(events)

    def transcript_blocks(self, folder: Path) -> Any:
        transcript = json.loads((folder / "transcript.json").read_text(encoding="utf-8"))
        return self.reduce(self.transcript_events(transcript, include_prompts=False))

    def write_expected(self, folder: Path) -> None:
        events = self.convert_streams(folder)
        (folder / "expected-events.json").write_text(json.dumps(without_timestamps(events), indent=1) + "\n")
        (folder / "expected-blocks.json").write_text(json.dumps(self.reduce(events), indent=1) + "\n")

    def parity_view(self, blocks: Any) -> Any:
        if isinstance(blocks, dict):
            return blocks
        return [b for b in blocks if b.get("type") not in self.parity_skips]

    def lines(self) -> list[str]:
        """Every line of every captured stream."""
        return [line for folder in self.folders() for path in stream_files(folder)
                for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def stream_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("stream-*.jsonl"), key=lambda p: int(p.stem.split("-")[1]))


def without_timestamps(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k != "timestamp"} for e in events]


def reduced_state(events: list[dict[str, Any]]) -> SessionState:
    state = SessionState()
    seq = 0
    for event in events:
        if event["type"] == "query_result":
            continue
        seq += 1
        apply_event(state, SessionEvent(seq=seq, type=event["type"], payload=event["payload"],
                                        timestamp="2026-01-01T00:00:00.000Z",
                                        conversation_id=event.get("conversationId", "main")))
    return state


def _clean(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Error blocks are named after the seq of their event, which differs between a live log
    # (with metadata events) and a transcript; their content is what must agree.
    return [{k: v for k, v in b.items() if k != "timestamp" and not (k == "id" and b.get("type") == "error")}
            for b in blocks]


def reduce_blocks(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Main blocks derived by the real reducer, without timestamps."""
    return _clean(reduced_state(events).blocks)


def reduce_threads(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Blocks of the main conversation and of each subagent, without timestamps."""
    state = reduced_state(events)
    return {"main": _clean(state.blocks),
            "subagents": {key: _clean(thread.blocks) for key, thread in sorted(state.subagents.items())}}


# --------------------------------------------------------------------------- the agents


def greeting() -> Scenario:
    return Scenario("text", [("Say hello", [Turn(Thinking("The user wants a greeting."), Text(GREETING))])])


def remembering() -> Scenario:
    return Scenario("resume", [("Remember the word 'teal'.", [Turn(Text("Noted: teal."))]),
                               ("Which word?", [Turn(Text("The word was teal."))])])


def basics(prompt: str, first: Any, *more: Any, done: str) -> list[Scenario]:
    """A greeting, a resumed conversation, and a tool loop: text and a first call, then one call
    per turn, then the closing text."""
    loop = [Turn(Text("Writing the file."), first), *[Turn(c) for c in more], Turn(Text(done))]
    return [greeting(), remembering(), Scenario("tool_loop", [(prompt, loop)])]


def delegation(*turns: Turn) -> Scenario:
    return Scenario("subagent", [("Delegate a listing", list(turns))])


LISTING = {"description": "List files", "prompt": "List the files in the workspace"}
HELLO = "echo hi > hello.txt && cat hello.txt"
OOPS = "echo oops >&2; exit 3"


def claude_scenarios() -> list[Scenario]:
    bash = anthropic.ToolUse
    return [
        *basics("Make hello.txt, then fail once", bash("Bash", {"command": HELLO, "description": "Write hello.txt"}),
                bash("Bash", {"command": OOPS, "description": "Fail on purpose"}),
                done="Done: hello.txt says hi, and the second command failed with exit code 3."),
        Scenario("api_error", [("Hello?", [ErrorReply(500, "the fake model is on fire", times=2)])]),
        delegation(Turn(Text("Delegating."), bash("Agent", {**LISTING, "subagent_type": "general-purpose"}),
                        match=for_main),
                   Turn(Text("Listing."), bash("Bash", {"command": "ls -a", "description": "list"}),
                        match=for_subagent),
                   Turn(Text("The workspace is empty."), match=for_subagent),
                   Turn(Text("Waiting for the subagent."), match=for_main),
                   Turn(Text("The subagent says the workspace is empty."), match=for_main)),
        # Claude Code reports a Bash command that runs for seconds as a `local_bash` task
        # (system/task_started ... task_notification): it is a tool call, not a subagent.
        Scenario("long_bash", [("Wait a little, then say done", [
            Turn(Text("Waiting."), bash("Bash", {"command": "sleep 3; echo done", "description": "Wait 3 s"})),
            Turn(Text("The command printed done.")),
        ])]),
    ]


TWO_FILES = "Make hello.txt and notes.txt, then fail once"
TWO_FILES_DONE = "Done: hello.txt says hi, notes.txt is written, and the last command failed."


def opencode_scenarios() -> list[Scenario]:
    call = openai.ToolCall
    return [
        *basics(TWO_FILES, call("bash", {"command": HELLO, "description": "Write hello.txt"}),
                call("write", {"filePath": "notes.txt", "content": "some notes\n"}),
                call("bash", {"command": OOPS, "description": "Fail on purpose"}), done=TWO_FILES_DONE),
        Scenario("api_error", [("Hello?", [ErrorReply(500, "the fake model is on fire", times=6,
                                                      retry_after_ms=0)])]),
        delegation(Turn(Text("Delegating."), call("task", {**LISTING, "subagent_type": "general"})),
                   Turn(Text("The workspace is empty.")), Turn(Text("The subagent says the workspace is empty."))),
    ]


def gemini_scenarios() -> list[Scenario]:
    call = gemini.FunctionCall
    return [
        *basics(TWO_FILES, call("run_shell_command", {"command": HELLO, "description": "Write hello.txt"}),
                call("write_file", {"file_path": "notes.txt", "content": "some notes\n"}),
                call("run_shell_command", {"command": OOPS}), done=TWO_FILES_DONE),
        Scenario("api_error", [("Hello?", [ErrorReply(400, "API key not valid. Please pass a valid API key.",
                                                      kind="INVALID_ARGUMENT")])]),
    ]


@functools.cache
def captured_gemini_dir(scenario: str) -> str | None:
    """A ``~/.gemini`` holding the chat files a scenario saved (``transcript.json``), for the
    converter to read shell exit codes from offline as it does in the sandbox. The final chat
    file stands in for the live one: the converter looks a call's response up by its id."""
    path = DATA / "gemini_cli" / scenario / "transcript.json"
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


def gemini_converter(request: dict[str, Any]) -> gemini_cli.GeminiCliConverter:
    """The converter; offline (no ``launch``: converting a capture) pointed at the scenario's
    captured chat files instead of a sandbox home."""
    converter = gemini_cli.make_converter(request)
    session_id = str(request.get("sessionId") or "")
    if "launch" not in request and session_id.startswith("ses-golden-"):
        converter.gemini_dir = captured_gemini_dir(session_id.removeprefix("ses-golden-"))
    return converter


BASIC = frozenset({"text", "tool_loop", "api_error", "resume"})
GOLDENS = {
    "claude-code": Golden(
        "claude-code", DATA / "claude_code", claude_code.make_converter, claude_transcript.transcript_events,
        BASIC | {"subagent"}, subagents=True, binary="claude", binary_env="AGENT_TUI_CLAUDE_PATH",
        fake=anthropic.FakeAnthropic,
        provider_env=lambda fake: {"ANTHROPIC_BASE_URL": fake.url, "ANTHROPIC_API_KEY": "sk-ant-golden",
                                   "CLAUDE_CODE_MAX_RETRIES": "1"},
        profile_env=("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "CLAUDE_CODE_MAX_RETRIES"),
        read_transcript="runtime.runner.claude_transcript", scenarios=claude_scenarios),
    "opencode": Golden(
        "opencode", DATA / "opencode", opencode.make_converter, opencode.transcript_events, BASIC | {"subagent"},
        binary="opencode", binary_env="AGENT_TUI_OPENCODE_PATH", fake=openai.FakeOpenAI,
        provider_env=lambda fake: {"OPENAI_BASE_URL": fake.url, "OPENAI_API_KEY": "sk-golden"},
        model="fake-model", profile_env=("OPENAI_API_KEY", "OPENAI_BASE_URL"),
        read_transcript="runtime.runner.opencode_transcript", scenarios=opencode_scenarios),
    # Gemini CLI drops a failed turn from its chat file, so the error block of a failed query has
    # no counterpart in the saved transcript.
    "gemini-cli": Golden(
        "gemini-cli", DATA / "gemini_cli", gemini_converter, gemini_cli.transcript_events, BASIC,
        parity_skips=("error",), binary="gemini", binary_env="AGENT_TUI_GEMINI_PATH", fake=gemini.FakeGemini,
        provider_env=lambda fake: {"GOOGLE_GEMINI_BASE_URL": fake.url, "GEMINI_API_KEY": "fake-golden-key"},
        model="gemini-2.5-flash", profile_env=("GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL"),
        read_transcript="runtime.runner.gemini_transcript", scenarios=gemini_scenarios),
}


# --------------------------------------------------------------------------- capturing


async def capture(golden: Golden, scenario: Scenario) -> None:
    import importlib

    from runtime.architectures import get_architecture
    from runtime.architectures.base import LaunchContext
    from runtime.config import RuntimeConfig
    from runtime.models import AgentProfile
    from runtime.runner.execute import _agent_env
    from tests.helpers import NODE_BIN

    root = CAPTURE_ROOT / golden.architecture_id / scenario.name
    shutil.rmtree(root, ignore_errors=True)
    for sub in ("app", "workspace", "home"):
        (root / sub).mkdir(parents=True)
    folder = golden.data / scenario.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    session_id = f"ses-golden-{scenario.name}"
    profile = AgentProfile(id="golden", name="golden", env=list(golden.profile_env))
    architecture = get_architecture(golden.architecture_id)
    queries: list[dict[str, Any]] = []
    async with golden.fake() as fake:
        host_env = golden.provider_env(fake)
        config = RuntimeConfig(host_env={**host_env, golden.binary_env: str(NODE_BIN / golden.binary)})
        for number, (prompt, steps) in enumerate(scenario.queries, 1):
            fake.script(*steps)
            ctx = LaunchContext(session_id=session_id, message_id=f"msg-{number}", prompt=prompt,
                                session_dir=str(root), profile=profile,
                                session_options={"model": golden.model} if golden.model else {},
                                resume=number > 1, host_env=host_env, config=config)
            launch = architecture.launch(ctx)
            request = {"architecture": golden.architecture_id, "prompt": prompt, "sessionId": session_id,
                       "messageId": f"msg-{number}", "baseWorkspacePath": str(root / "workspace"),
                       "launch": launch.wire()}
            env = _agent_env(request)
            converter = golden.make_converter(request)
            argv = converter.prepare(launch.argv, env)
            process = await asyncio.create_subprocess_exec(
                *argv, cwd=str(root / "workspace"), env=env, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            stdin = "".join(line + "\n" for line in converter.initial_input()).encode()
            stdout, stderr = await process.communicate(stdin)
            (folder / f"stream-{number}.jsonl").write_bytes(stdout)
            prepared = {name: getattr(converter, name) for name in PREPARED if hasattr(converter, name)}
            queries.append({"prompt": prompt, "prepared": prepared})
            print(f"{golden.architecture_id}/{scenario.name} query {number}: exit {process.returncode}, "
                  f"{len(stdout.splitlines())} lines"
                  + (f", stderr tail: {stderr.decode()[-300:]}" if stderr.strip() else ""))
        if fake.unscripted:
            print(f"{scenario.name}: WARNING {fake.unscripted} unscripted requests", file=sys.stderr)
    (folder / "queries.json").write_text(json.dumps(queries, indent=1) + "\n", encoding="utf-8")
    read_transcript = importlib.import_module(golden.read_transcript).read_transcript
    transcript = read_transcript({"baseWorkspacePath": str(root / "workspace"), "sessionId": session_id})
    (folder / "transcript.json").write_text(json.dumps(transcript, indent=1) + "\n", encoding="utf-8")
    golden.write_expected(folder)


def main(argv: list[str]) -> None:
    """Capture again (in a loopback-only network namespace), or with ``--expected`` only rewrite
    the expectations from the captures."""
    import argparse

    parser = argparse.ArgumentParser(description="Capture or refresh an agent's golden files.")
    parser.add_argument("agent", choices=sorted(GOLDENS))
    parser.add_argument("--expected", action="store_true", help="only rewrite expected-*.json")
    parser.add_argument("names", nargs="*", help="scenarios (default: all)")
    args = parser.parse_args(argv)
    golden = GOLDENS[args.agent]
    chosen = [s for s in golden.scenarios() if not args.names or s.name in args.names]
    if args.expected:
        for scenario in chosen:
            golden.write_expected(golden.data / scenario.name)
        return
    from tests.claude.netns import LoopbackOnly

    namespace = LoopbackOnly()
    if not namespace.enter():
        sys.exit("could not enter a loopback-only network namespace (need root/CAP_SYS_ADMIN)")
    try:
        for scenario in chosen:
            asyncio.run(capture(golden, scenario))
    finally:
        namespace.leave()


if __name__ == "__main__":
    main(sys.argv[1:])
