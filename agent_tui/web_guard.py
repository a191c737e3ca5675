"""Pure checks for ``agent-tui web``: Host, Origin, token and the session cookie (SPEC §11).

Kept free of aiohttp so they are trivially testable; the server's own Host/Origin guards
(``runtime/server/guards.py``) follow the same rules and the two can be unified.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
ANY_ADDRESS = frozenset({"", "0.0.0.0", "::"})

#: What the cookie proves is "this browser was given the token", not the token itself: a stolen
#: cookie value is useless as a bearer token against the agent server.
_COOKIE_CONTEXT = b"agent-tui web session v1"


def split_host(value: str) -> tuple[str, int | None]:
    """``host[:port]`` / ``[v6]:port`` → (lower-case host without brackets, port or None)."""
    value = value.strip().lower()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
    else:
        host, port_text = value, ""  # a bare IPv6 address or a name
    port = int(port_text) if port_text.isdigit() else None
    return host, port


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_allowed(host_header: str | None, bound_host: str, allowed_hosts: Iterable[str] = ()) -> bool:
    """Whether a request's ``Host`` names this server (DNS rebinding defence).

    Loopback names always pass; so does the address it is bound to (unless that is the any-address,
    which names nothing) and any name the operator allowed explicitly.
    """
    if not host_header:
        return False
    host, _ = split_host(host_header)
    if not host:
        return False
    if is_loopback(host):
        return True
    bound = bound_host.strip("[]").lower()
    if bound not in ANY_ADDRESS and host == bound:
        return True
    return host in {h.strip("[]").lower() for h in allowed_hosts}


def origin_allowed(origin: str | None, host_header: str | None, scheme: str = "http",
                   allowed_origins: Iterable[str] = ()) -> bool:
    """A browser request is accepted only from this server's own origin (or one allowed explicitly).

    No ``Origin`` header means a non-browser client (or a same-origin GET), which the token and the
    SameSite cookie already cover; ``null`` (sandboxed frames, file: pages) is refused.
    """
    if origin is None:
        return True
    origin = origin.strip().lower()
    if origin in {o.strip().rstrip("/").lower() for o in allowed_origins}:
        return True
    if not host_header or origin == "null":
        return False
    parts = urlsplit(origin)
    if parts.scheme != scheme.lower() or not parts.hostname:
        return False
    return split_host(parts.netloc) == split_host(host_header)


def token_matches(expected: str, offered: object) -> bool:
    if not isinstance(offered, str) or not offered:
        return False
    return hmac.compare_digest(expected.encode("utf-8", "surrogatepass"), offered.encode("utf-8", "surrogatepass"))


def cookie_value(token: str) -> str:
    return hmac.new(token.encode("utf-8", "surrogatepass"), _COOKIE_CONTEXT, hashlib.sha256).hexdigest()


def cookie_matches(token: str, offered: object) -> bool:
    if not isinstance(offered, str) or not offered:
        return False
    return hmac.compare_digest(cookie_value(token).encode(), offered.encode("utf-8", "surrogatepass"))


def cookie_name(port: int) -> str:
    # Browsers do not scope cookies by port: one name per port keeps two local instances apart.
    return f"agent_tui_web_{port}"
