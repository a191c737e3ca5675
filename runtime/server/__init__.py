"""HTTP + Socket.IO server of agent-tui (SPEC §3, §4) on aiohttp + python-socketio.

``start_server(runtime, host=..., port=..., token=...)`` serves an ``AgentRuntime`` on the running
event loop and returns an ``AgentServer`` (``url``, ``host``, ``port``, ``token``, ``client_count``,
``stop()``); without ``token`` one is generated (``server.token``): every bind requires one, see
docs/security.md. ``agent-tui serve`` / ``python -m runtime.server`` run it headless (``serve.main``).
Importing this package is cheap: aiohttp and python-socketio load only when a server starts.

``serve_runtime(runtime)`` starts the server a ``RuntimeConfig`` asks for (``websocket_host``/``port``,
``token``, ...), records its URL in the instance lock and keeps its token out of the log file.
Importing this package registers it as ``AgentRuntime``'s server starter (``runtime/__init__`` does), so
``RuntimeConfig.websocket_port`` works while the runtime core never imports the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..agent_runtime import AgentRuntime, register_server_starter

if TYPE_CHECKING:
    from .app import AgentServer


async def start_server(runtime: Any, **kwargs: Any) -> AgentServer:
    from .app import start_server as _start

    return await _start(runtime, **kwargs)


async def serve_runtime(runtime: AgentRuntime, **overrides: Any) -> AgentServer:
    """Serve ``runtime`` as its config says (keyword ``overrides`` win), the composition roots' one call."""
    from ..logfile import add_secret

    config = runtime.config
    options: dict[str, Any] = {
        "host": config.websocket_host,
        "port": config.websocket_port,
        "token": config.token,
        "no_auth": config.no_auth,
        "allowed_hosts": tuple(config.allowed_hosts),
        "write_token_file": config.write_token_file,
    }
    options.update(overrides)
    server = await start_server(runtime, **options)
    runtime.record_server_url(server.url)
    add_secret(getattr(server, "token", None))
    return server


register_server_starter(serve_runtime)

__all__ = ["serve_runtime", "start_server"]
