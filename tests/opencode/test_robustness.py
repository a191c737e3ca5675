"""Malformed, unknown and truncated OpenCode output through the real runner, driver and session:
the query fails readably (or goes on), nothing crashes, and the session takes the next message.

A stand-in ``opencode`` (configured with ``AGENT_TUI_OPENCODE_PATH``) is a small HTTP server
speaking the few routes of ``opencode serve`` the driver uses (``runtime/converters/
opencode_serve.py``); what its event stream sends depends on the prompt it is given. A valid
reply replays the server events of a golden capture."""

from __future__ import annotations

import sys
from pathlib import Path

from runtime import AgentRuntime
from tests import agent_support
from tests.agent_support import write_executable
from tests.helpers import make_config
from tests.opencode.golden import DATA

STAND_IN = """#!{python}
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
                send("this is not json at all")
                send(json.dumps({{"type": "from_the_future", "payload": 1}}))
                send("[1, 2, 3]")
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


async def test_bad_output_fails_the_query_readably_and_the_session_goes_on(tmp_path: Path) -> None:
    stand_in = STAND_IN.format(python=sys.executable, golden=str(DATA / "text" / "stream-1.jsonl"))
    opencode = write_executable(tmp_path / "opencode", stand_in)
    # The stand-in reads a golden file from the checkout, which bubblewrap hides when the checkout
    # is under /tmp or the home (CI): agent_bin_dirs shows that folder.
    config = make_config(tmp_path, host_env={"AGENT_TUI_OPENCODE_PATH": str(opencode)},
                         agent_bin_dirs=[str(DATA / "text")])
    async with AgentRuntime(config) as runtime:
        session = await runtime.create_session({"architecture": "opencode"})
        sid = session.session_id

        async def ask(prompt: str) -> list:
            return (await agent_support.ask(runtime, sid, prompt, timeout=30.0))[1]

        events = await ask("garbage")
        assert events[-1].type == "query:failed"
        assert events[-1].payload["code"] == "AGENT_NO_RESULT" and "cut short" in events[-1].payload["error"]
        warnings = [e.payload["message"] for e in events if e.type == "log" and e.payload["level"] == "warn"]
        assert any("this is not json" in w for w in warnings)
        assert any("[1, 2, 3]" in w for w in warnings)
        assert any("step-fin" in w for w in warnings)
        detail = await runtime.get_session(sid)
        assert [b.content for b in detail.blocks if b.type == "assistant_text"] == ["half a reply"]

        events = await ask("crash")
        assert events[-1].type == "query:failed"
        assert events[-1].payload["code"] == "AGENT_EXITED"
        assert "code 3" in events[-1].payload["error"] and "something broke badly" in events[-1].payload["error"]

        events = await ask("a proper question")
        assert events[-1].type == "query:completed", events[-1].payload
        detail = await runtime.get_session(sid)
        assert detail.blocks[-1].type == "assistant_text"
        assert detail.blocks[-1].content == "Hello! This is the fake model, streaming in pieces."
        assert detail.runtime.execution_environment is not None
        assert detail.runtime.execution_environment.status == "ready"
