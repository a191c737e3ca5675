"""What does an agent CLI try to reach? Run it once exactly as the runner does (``launch``,
``prepare``, stdin) against its fake server in a loopback-only network namespace, under
``strace``, with a DNS responder on the namespace's resolver address that logs every name asked
for (and answers NXDOMAIN). Prints the TCP connections made and the names looked up.

    .venv/bin/python -m tests.opencode.network_probe opencode gemini-cli

Use it after upgrading a pinned CLI: the only connection should be the fake's port and no name
should be looked up (OpenCode 1.18.33 and Gemini CLI 0.61.0: none, once ``prepare`` has seeded
OpenCode's config folder). Needs root (network namespace) and ``strace``.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from typing import Any

ROOT = "/tmp/agent-tui-network-probe"


class _Dns(asyncio.DatagramProtocol):
    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        index, labels = 12, []
        while index < len(data) and data[index]:
            size = data[index]
            labels.append(data[index + 1:index + 1 + size].decode("ascii", "replace"))
            index += size + 1
        self.names.append(".".join(labels))
        # Same id and question, flags "response, NXDOMAIN", no answers.
        self.transport.sendto(data[:2] + b"\x81\x83" + data[4:6] + b"\x00" * 6 + data[12:index + 5], addr)


def _resolver() -> str | None:
    try:
        with open("/etc/resolv.conf", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("nameserver"):
                    return line.split()[1]
    except OSError:
        pass
    return None


async def probe(architecture_id: str) -> None:
    from runtime.architectures.base import LaunchContext
    from runtime.config import RuntimeConfig
    from runtime.models import AgentProfile
    from runtime.runner.converters import get_converter
    from runtime.runner.execute import _agent_env
    from tests.helpers import NODE_BIN

    if architecture_id == "opencode":
        from runtime.architectures.opencode import BINARY_ENV
        from runtime.architectures.opencode import OpenCodeArchitecture as Arch
        from tests.fakes.openai_server import FakeOpenAI as Fake
        from tests.fakes.openai_server import Text, Turn

        def host(url: str) -> dict[str, str]:
            return {"OPENAI_BASE_URL": url, "OPENAI_API_KEY": "sk-probe"}
        binary = NODE_BIN / "opencode"
    else:
        from runtime.architectures.gemini_cli import BINARY_ENV  # type: ignore[assignment]
        from runtime.architectures.gemini_cli import GeminiCliArchitecture as Arch
        from tests.fakes.gemini_server import FakeGemini as Fake  # type: ignore[assignment]
        from tests.fakes.gemini_server import Text, Turn

        def host(url: str) -> dict[str, str]:
            return {"GOOGLE_GEMINI_BASE_URL": url, "GEMINI_API_KEY": "probe-key"}
        binary = NODE_BIN / "gemini"
    root = f"{ROOT}/{architecture_id}"
    shutil.rmtree(root, ignore_errors=True)
    for sub in ("app", "workspace", "home"):
        os.makedirs(f"{root}/{sub}")
    names: list[str] = []
    resolver = _resolver()
    dns = None
    if resolver:
        dns, _ = await asyncio.get_running_loop().create_datagram_endpoint(lambda: _Dns(names),
                                                                        local_addr=(resolver, 53))
    async with Fake(Turn(Text("hi")), Turn(Text("hi"))) as fake:
        host_env = host(fake.url)
        ctx = LaunchContext(session_id="ses-probe", message_id="msg-1", prompt="hello there", session_dir=root,
                            profile=AgentProfile(id="probe", name="probe", env=list(host_env)), session_options={},
                            resume=False, host_env=host_env,
                            config=RuntimeConfig(host_env={**host_env, BINARY_ENV: str(binary)}))
        launch = Arch().launch(ctx)
        request = {"architecture": architecture_id, "prompt": ctx.prompt, "sessionId": ctx.session_id,
                   "baseWorkspacePath": f"{root}/workspace", "launch": launch.wire()}
        env = _agent_env(request)
        converter = get_converter(architecture_id, request)
        argv = converter.prepare(launch.argv, env)
        process = await asyncio.create_subprocess_exec(
            "strace", "-f", "-qq", "-e", "trace=connect", "-o", f"{root}/strace.txt", *argv,
            cwd=f"{root}/workspace", env=env, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        await process.communicate("".join(line + "\n" for line in converter.initial_input()).encode())
    if dns is not None:
        dns.close()
    with open(f"{root}/strace.txt", encoding="utf-8", errors="replace") as handle:
        trace = handle.read()
    targets = sorted(set(re.findall(r'sin6?_port=htons\((\d+)\).*?(?:inet_addr\(|inet_pton\(AF_INET6, )"([^"]+)"', trace)))
    print(f"{architecture_id}: exit {process.returncode}; fake on 127.0.0.1:{fake.port}")
    print(f"  TCP/UDP connects: {', '.join(f'{a}:{p}' for p, a in targets) or 'none'}")
    print(f"  names looked up: {', '.join(sorted(set(names))) or 'none'}")


def main() -> None:
    from tests.claude.netns import LoopbackOnly

    if shutil.which("strace") is None:
        sys.exit("strace is not installed")
    namespace = LoopbackOnly()
    if not namespace.enter():
        sys.exit("could not enter a loopback-only network namespace (need root/CAP_SYS_ADMIN)")
    try:
        resolver = _resolver()
        if resolver:  # answer the machine's resolver address inside the namespace, to see the names
            subprocess.run(["ip", "addr", "add", f"{resolver}/32", "dev", "lo"], check=False)
        for architecture_id in sys.argv[1:] or ["opencode", "gemini-cli"]:
            asyncio.run(probe(architecture_id))
    finally:
        namespace.leave()


if __name__ == "__main__":
    main()
