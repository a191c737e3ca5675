"""Kept so ``agent_tui.client`` imports keep working: the remote client has no Textual in it and lives
in ``runtime.remote`` (library users can drive a server without the TUI)."""

from runtime.remote import (
    ConnectionChanged,
    RemoteRuntime,
    RemoteSubscription,
    RuntimeClient,
    ServerUnreachable,
    Unauthorized,
)

__all__ = [
    "ConnectionChanged",
    "RemoteRuntime",
    "RemoteSubscription",
    "RuntimeClient",
    "ServerUnreachable",
    "Unauthorized",
]
