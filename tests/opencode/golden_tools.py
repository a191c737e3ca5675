"""Golden files for a JSON-lines agent converter (shared by OpenCode and Gemini CLI): capture the
real CLI's output against a fake server once, convert it, compare with committed expectations.

Each scenario folder holds:
- ``stream-N.jsonl``: the CLI's stdout of query N, verbatim, run exactly as the runner runs it
  (``Architecture.launch`` for argv and env, the converter's ``prepare`` and ``initial_input``);
- ``queries.json``: per query the prompt and what ``prepare`` learned in the sandbox (the model,
  the conversation's earlier turns), so a converter can be put in the same state offline;
- ``transcript.json``: the transcript the runner saved after the last query;
- ``expected-events.json``: what the converter makes of the streams (event timestamps removed);
- ``expected-blocks.json``: the blocks the reducer derives from those events; the transcript
  parser must give the same ones (parity).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.converters.base import Converter
from runtime.models import SessionEvent
from runtime.reducer import SessionState, apply_event

#: Fixed so captured paths do not change from one capture to the next.
CAPTURE_ROOT = Path("/tmp/agent-tui-golden")
#: Converter attributes ``prepare`` sets from what it finds in the sandbox.
PREPARED = ("model", "turn_base", "session_uuid")


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
    #: Parity leaves these block types out (e.g. errors a CLI does not keep in its transcript).
    parity_skips: tuple[str, ...] = ()

    # ------------------------------------------------------------------ reading captures

    def folders(self) -> list[Path]:
        return sorted(p for p in self.data.iterdir() if p.is_dir()) if self.data.is_dir() else []

    def converter_for(self, folder: Path, number: int) -> Converter:
        queries = json.loads((folder / "queries.json").read_text(encoding="utf-8"))
        query = queries[number - 1]
        converter = self.make_converter({"architecture": self.architecture_id, "prompt": query["prompt"],
                                         "sessionId": f"ses-golden-{folder.name}"})
        for name, value in (query.get("prepared") or {}).items():
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

    def transcript_blocks(self, folder: Path) -> list[dict[str, Any]]:
        transcript = json.loads((folder / "transcript.json").read_text(encoding="utf-8"))
        return reduce_blocks(self.transcript_events(transcript, include_prompts=False))

    def write_expected(self, folder: Path) -> None:
        events = self.convert_streams(folder)
        (folder / "expected-events.json").write_text(json.dumps(without_timestamps(events), indent=1) + "\n")
        (folder / "expected-blocks.json").write_text(json.dumps(reduce_blocks(events), indent=1) + "\n")

    def parity_view(self, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [b for b in blocks if b.get("type") not in self.parity_skips]


def stream_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("stream-*.jsonl"), key=lambda p: int(p.stem.split("-")[1]))


def without_timestamps(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k != "timestamp"} for e in events]


def reduce_blocks(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Main blocks derived by the real reducer, without timestamps (and without the ids of error
    blocks, which are named after the seq of their event)."""
    state = SessionState()
    seq = 0
    for event in events:
        if event["type"] == "query_result":
            continue
        seq += 1
        apply_event(state, SessionEvent(seq=seq, type=event["type"], payload=event["payload"],
                                        timestamp="2026-01-01T00:00:00.000Z",
                                        conversation_id=event.get("conversationId", "main")))
    return [{k: v for k, v in b.items() if k != "timestamp" and not (k == "id" and b.get("type") == "error")}
            for b in state.blocks]


# --------------------------------------------------------------------------- capturing


async def capture(golden: Golden, scenario: Scenario, *, architecture: Any, fake: Any,
                  host_env: dict[str, str], binary_env: str, binary: str, profile_env: list[str],
                  model: str, read_transcript: Callable[[dict[str, Any]], Any]) -> None:
    from runtime.architectures.base import LaunchContext
    from runtime.config import RuntimeConfig
    from runtime.models import AgentProfile
    from runtime.runner.execute import _agent_env

    root = CAPTURE_ROOT / golden.architecture_id / scenario.name
    shutil.rmtree(root, ignore_errors=True)
    for sub in ("app", "workspace", "home"):
        (root / sub).mkdir(parents=True)
    folder = golden.data / scenario.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    session_id = f"ses-golden-{scenario.name}"
    profile = AgentProfile(id="golden", name="golden", env=profile_env)
    queries: list[dict[str, Any]] = []
    config = RuntimeConfig(host_env={**host_env, binary_env: binary})
    for number, (prompt, steps) in enumerate(scenario.queries, 1):
        fake.script(*steps)
        ctx = LaunchContext(session_id=session_id, message_id=f"msg-{number}", prompt=prompt,
                            session_dir=str(root), profile=profile, session_options={"model": model},
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
              f"{len(stdout.splitlines())} lines" + (f", stderr tail: {stderr.decode()[-300:]}" if stderr.strip() else ""))
    if fake.unscripted:
        print(f"{scenario.name}: WARNING {fake.unscripted} unscripted requests", file=sys.stderr)
    (folder / "queries.json").write_text(json.dumps(queries, indent=1) + "\n", encoding="utf-8")
    transcript = read_transcript({"baseWorkspacePath": str(root / "workspace"), "sessionId": session_id})
    (folder / "transcript.json").write_text(json.dumps(transcript, indent=1) + "\n", encoding="utf-8")
    golden.write_expected(folder)


def run_captures(golden: Golden, scenarios: list[Scenario], capture_one: Callable[[Scenario], Any],
                 argv: list[str]) -> None:
    """The command line of a ``golden`` module: capture again (in a loopback-only network
    namespace), or with ``--expected`` only rewrite the expectations from the captures."""
    import argparse

    parser = argparse.ArgumentParser(description=f"Capture or refresh the {golden.architecture_id} golden files.")
    parser.add_argument("--expected", action="store_true", help="only rewrite expected-*.json")
    parser.add_argument("names", nargs="*", help="scenarios (default: all)")
    args = parser.parse_args(argv)
    chosen = [s for s in scenarios if not args.names or s.name in args.names]
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
            asyncio.run(capture_one(scenario))
    finally:
        namespace.leave()
