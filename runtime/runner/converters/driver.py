"""What the runner's driver processes share (the ACP client, ``acp_client.py``, and the OpenCode
server driver, ``opencode_serve.py``): their errors and the prompt line they read first. Stdlib only."""

from __future__ import annotations

import json

# ``typing`` only for the type checker: importing it costs a driver ~2.5 ms of start-up per query.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class DriverError(Exception):
    """Something between the driver and the agent failed; the message is for the user."""


class Stopped(Exception):
    """SIGTERM arrived while the driver was waiting."""


def read_prompt(stdin: Any) -> str:
    """The first line on stdin: ``{"text": ...}``, the user's message."""
    line = stdin.readline()
    try:
        message = json.loads(line) if line.strip() else None
    except ValueError:
        message = None
    if isinstance(message, dict) and isinstance(message.get("text"), str):
        return message["text"]
    raise DriverError("agent-tui: no prompt arrived on stdin")
