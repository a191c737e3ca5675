"""Malformed, unknown and truncated CLI output through the real runner and session, for each
JSON-lines agent: the query fails readably (or goes on), nothing crashes, and the session takes
the next message.

A stand-in CLI (configured with the architecture's ``AGENT_TUI_<NAME>_PATH``) writes what each
prompt asks for: ``garbage`` (lines that are not JSON, unknown types, a reply cut mid-line),
``crash`` (exit 3 with a message on stderr), anything else: a golden capture of the real CLI."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from runtime import AgentRuntime
from tests import agent_support
from tests.agent_support import write_executable
from tests.conformance.golden import GOLDENS, GREETING
from tests.helpers import make_config

#: What every stand-in writes first for ``garbage``.
GARBAGE = ["this is not json at all", '{"type": "from_the_future", "payload": 1}', "[1, 2, 3]"]

#: A CLI that writes JSON lines on stdout (Claude Code, Gemini CLI) and reads its prompt from argv.
LINES_CLI = """#!{python}
import sys
prompt = {prompt}
if prompt == "garbage":
    for line in {garbage!r}:
        print(line)
    sys.stdout.write({torn!r})
    sys.stdout.flush()
    sys.exit(0)
if prompt == "crash":
    sys.stderr.write("stand-in: something broke badly\\n")
    sys.exit(3)
sys.stdout.write(open({golden!r}).read())
"""

#: ``opencode serve``: a small HTTP server speaking the few routes the driver uses
#: (``runtime/runner/converters/opencode_serve.py``); its event stream depends on the prompt.
OPENCODE_SERVE = """#!{python}
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

golden = [json.loads(line) for line in open({golden!r}) if line.strip()]
SESSION = next(line["sessionID"] for line in golden if line["type"] == "agent-tui.session")
prompted = threading.Event()
prompt = []

def status(kind):
    return {{"type": "session.status", "properties": {{"sessionID": SESSION, "status": {{"type": kind}}}}}}

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def answer(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        if self.path == "/event":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            def send(text):
                self.wfile.write(b"data: " + text.encode() + b"\\n\\n")
                self.wfile.flush()
            send(json.dumps({{"type": "server.connected", "properties": {{}}}}))
            prompted.wait()
            if prompt[0] == "crash":
                sys.stderr.write("stand-in: something broke badly\\n")
                sys.stderr.flush()
                import os
                os._exit(3)
            send(json.dumps(status("busy")))
            if prompt[0] == "garbage":
                for line in {garbage!r}:
                    send(line)
                info = {{"id": "msg_a", "role": "assistant", "sessionID": SESSION}}
                send(json.dumps({{"type": "message.updated", "properties": {{"sessionID": SESSION, "info": info}}}}))
                part = {{"id": "prt_1", "messageID": "msg_a", "sessionID": SESSION, "type": "text",
                         "text": "half a reply", "time": {{"end": 1}}}}
                send(json.dumps({{"type": "message.part.updated", "properties": {{"sessionID": SESSION, "part": part}}}}))
                send('{{"type":"message.part.updated","properties":{{"part":{{"type":"step-fin')
            else:
                for line in golden:
                    if not line["type"].startswith("agent-tui."):
                        send(json.dumps(line))
            send(json.dumps(status("idle")))
            prompted.clear()
            threading.Event().wait()
        elif "/message" in self.path:
            self.answer(200, [])
        else:
            self.answer(200, {{"id": SESSION}})
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
        if self.path.endswith("/prompt_async"):
            prompt[:] = [body["parts"][0]["text"]]
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
            prompted.set()
        else:
            self.answer(200, {{"id": SESSION}})

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"opencode server listening on http://127.0.0.1:{{server.server_port}}", flush=True)
server.serve_forever()
"""


@dataclass(frozen=True)
class StandIn:
    architecture: str
    binary_env: str
    script: str
    #: More lines of garbage, then the line cut short (Claude Code, Gemini CLI).
    garbage: tuple[str, ...] = ()
    torn: str = ""
    prompt: str = "sys.argv[-1]"
    #: The text the garbage started, and the state its block is left in (None: not checked).
    partial: str = "half a rep"
    partial_status: str | None = "error"
    warns: tuple[str, ...] = ()

    def text(self) -> str:
        golden = GOLDENS[self.architecture].data / "text" / "stream-1.jsonl"
        return self.script.format(python=sys.executable, golden=str(golden), prompt=self.prompt,
                                  garbage=[*GARBAGE, *self.garbage], torn=self.torn)


STAND_INS = [
    StandIn("claude-code", "AGENT_TUI_CLAUDE_PATH", LINES_CLI, garbage=(
        '{"type":"stream_event","event":{"type":"message_start","message":{"id":"m1","model":"x"}}}',
        '{"type":"stream_event","event":{"type":"content_block_start","index":0,'
        '"content_block":{"type":"text","text":""}}}',
        '{"type":"stream_event","event":{"type":"content_block_delta","index":0,'
        '"delta":{"type":"text_delta","text":"half a rep"}}}'),
        torn='{"type":"assistant","message":{"id":"m1","content":[{"type":"te'),
    StandIn("gemini-cli", "AGENT_TUI_GEMINI_PATH", LINES_CLI,
            garbage=('{"type":"message","role":"assistant","content":"half a rep","delta":true}',),
            torn='{"type":"result","status":"succ',
            # As the real CLI gets it.
            prompt='next(a for a in sys.argv if a.startswith("--prompt=")).split("=", 1)[1]'),
    StandIn("opencode", "AGENT_TUI_OPENCODE_PATH", OPENCODE_SERVE, partial="half a reply", partial_status=None,
            warns=("step-fin",)),
]


@pytest.mark.parametrize("stand_in", STAND_INS, ids=[s.architecture for s in STAND_INS])
async def test_bad_output_fails_the_query_readably_and_the_session_goes_on(stand_in: StandIn,
                                                                            tmp_path: Path) -> None:
    cli = write_executable(tmp_path / stand_in.architecture, stand_in.text())
    # The stand-in reads a golden file from the checkout, which bubblewrap hides when the checkout
    # is under /tmp or the home (CI): agent_bin_dirs shows that folder.
    golden_dir = GOLDENS[stand_in.architecture].data / "text"
    config = make_config(tmp_path, host_env={stand_in.binary_env: str(cli)}, agent_bin_dirs=[str(golden_dir)])
    async with AgentRuntime(config) as runtime:
        session = await runtime.create_session({"architecture": stand_in.architecture})
        sid = session.session_id

        async def ask(prompt: str) -> list:
            return (await agent_support.ask(runtime, sid, prompt, timeout=30.0))[1]

        events = await ask("garbage")
        assert events[-1].type == "query:failed"
        assert events[-1].payload["code"] == "AGENT_NO_RESULT" and "cut short" in events[-1].payload["error"]
        warnings = [e.payload["message"] for e in events if e.type == "log" and e.payload["level"] == "warn"]
        for said in ("this is not json", "[1, 2, 3]", *stand_in.warns):
            assert any(said in w for w in warnings), said
        detail = await runtime.get_session(sid)
        [partial] = [b for b in detail.blocks if b.type == "assistant_text"]
        assert partial.content == stand_in.partial
        if stand_in.partial_status:
            assert partial.status == stand_in.partial_status  # closed, not spinning

        events = await ask("crash")
        assert events[-1].type == "query:failed"
        assert events[-1].payload["code"] == "AGENT_EXITED"
        assert "code 3" in events[-1].payload["error"] and "something broke badly" in events[-1].payload["error"]

        events = await ask("a proper question")
        assert events[-1].type == "query:completed", events[-1].payload
        detail = await runtime.get_session(sid)
        assert detail.blocks[-1].type == "assistant_text" and detail.blocks[-1].content == GREETING
        assert detail.runtime.execution_environment is not None
        assert detail.runtime.execution_environment.status == "ready"
