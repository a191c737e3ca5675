"""HTTP + Socket.IO server of agent-tui (SPEC §3, §4) on aiohttp + python-socketio.

``start_server(runtime, host=..., port=..., token=...)`` serves an ``AgentRuntime`` on the running
event loop and returns an ``AgentServer`` (``url``, ``host``, ``port``, ``token``, ``client_count``,
``stop()``); without ``token`` one is generated (``server.token``): every bind requires one, see
docs/security.md. ``agent-tui serve`` / ``python -m runtime.server`` run it headless (``serve.main``).
Importing this package is cheap: aiohttp and python-socketio load only when a server starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import AgentServer


async def start_server(runtime: Any, **kwargs: Any) -> AgentServer:
    from .app import start_server as _start

    return await _start(runtime, **kwargs)


__all__ = ["start_server"]
