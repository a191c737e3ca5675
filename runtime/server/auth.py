"""Bearer tokens: who may use the server, and when a token is mandatory.

The token is compared in constant time and never logged or put in an error message. It is only
accepted from the ``Authorization: Bearer`` header (HTTP) or the Socket.IO ``auth`` payload,
never from a URL, where it would end up in proxy logs and shell history.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from collections.abc import Mapping
from typing import Any

TOKEN_ENV = "AGENT_TUI_TOKEN"

#: Routes anyone may call (a load balancer's health check; API discovery).
OPEN_PATHS = frozenset({"/health", "/api/health", "/openapi.json", "/api/openapi.json"})
# Load-balancer probes (docs/deploy.md): they carry no token.
OPEN_PATHS |= {f"{p}/health/{k}" for p in ("", "/api") for k in ("ready", "live")}


def is_loopback(host: str) -> bool:
    """True when ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a hostname or "" (all interfaces): assume it is reachable from outside


class NoAuthRefused(ValueError):
    """``no_auth`` asked for on a bind other machines can reach."""


def resolve_token(host: str, token: str | None, *, no_auth: bool = False) -> tuple[str | None, bool]:
    """The effective token and whether it was generated here.

    An explicit token wins, then ``AGENT_TUI_TOKEN``; otherwise a fresh random one, on every
    bind, loopback included: other local users and any web page the user visits can reach
    127.0.0.1, and an open agent server is code execution as the user. ``no_auth`` (only for a
    loopback bind) is the one way to run without a token.
    """
    if no_auth:
        if not is_loopback(host):
            raise NoAuthRefused(
                f"--no-auth is only allowed on a loopback bind (127.0.0.1, ::1, localhost), not {host or '*'!r}"
            )
        return None, False
    if token:
        return token, False
    from_env = os.environ.get(TOKEN_ENV)
    if from_env:
        return from_env, False
    return secrets.token_urlsafe(32), True


def read_token_file(path: str) -> str:
    """The token in a ``--token-file`` (first line, stripped); ValueError with a clear message if unusable."""
    try:
        with open(path, encoding="utf-8") as handle:
            token = handle.readline().strip()
    except OSError as exc:
        raise ValueError(f"cannot read token file {path}: {exc.strerror or exc}") from None
    if not token:
        raise ValueError(f"token file {path} is empty")
    return token


def token_matches(expected: str, offered: Any) -> bool:
    if not isinstance(offered, str):
        return False
    return hmac.compare_digest(
        expected.encode("utf-8", "surrogatepass"), offered.encode("utf-8", "surrogatepass")
    )


def bearer_token(headers: Mapping[str, str]) -> str | None:
    value = headers.get("Authorization")
    if not value:
        return None
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None


def socket_token(auth: Any) -> str | None:
    """The token of a Socket.IO ``auth`` payload (``{token}``)."""
    if isinstance(auth, Mapping):
        token = auth.get("token")
        return token if isinstance(token, str) else None
    return None
