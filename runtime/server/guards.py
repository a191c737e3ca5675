"""Request guards that run before auth and before any handler: Host, Origin and body content type.

They stop what a bearer token alone cannot: a web page the user visits (DNS rebinding makes it
"same-origin" with 127.0.0.1; a form or ``text/plain`` fetch needs no CORS preflight) and a
server with auth switched off on loopback. The checks are pure functions, so the ``agent-tui web``
server can reuse them; ``guard_middleware`` binds them to an aiohttp application.

Forwarded headers (``X-Forwarded-Host``/``-Proto``) are ignored unless ``trust_proxy`` is set: any
client can send them, and believing them lets a rebound page claim to be ``localhost``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import hdrs, web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "127.0.0.1", "::1"})
#: Bind addresses meaning "every interface".
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def split_host(value: str) -> tuple[str, int | None]:
    """``name[:port]`` / ``[v6][:port]`` -> (lower-case name without brackets, port or None)."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        name, _, port_text = value.partition(":")
    else:  # a bare name, or a bare IPv6 address (not valid in Host, but unambiguous)
        name, port_text = value, ""
    port = int(port_text) if port_text.isdigit() and len(port_text) <= 5 else None
    return name, port


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def is_loopback_name(name: str) -> bool:
    ip = _ip(name)
    return name in LOOPBACK_NAMES or (ip is not None and ip.is_loopback)


def host_allowed(host_header: str | None, bound_host: str, allowed_hosts: Collection[str] = ()) -> bool:
    """May a request carrying this ``Host`` header reach the server?

    Allowed: loopback names and addresses, the address the server is bound to, the names given
    with ``--allowed-hosts`` (``.example.com`` also allows its subdomains, ``*`` allows any), and,
    when the server is bound beyond loopback, any IP literal (a page can only rebind a *name*; a
    browser at ``http://10.0.0.5:P`` is simply that origin, which the Origin check covers).
    """
    if not host_header:
        return False  # HTTP/1.1 requires it; a browser always sends one
    name, _ = split_host(host_header)
    if not name or any(c in name for c in "/@ \t\\"):
        return False
    if is_loopback_name(name):
        return True
    bound = bound_host.strip("[]").lower()
    if name == bound:
        return True
    if _ip(name) is not None and not is_loopback_name(bound):
        return True
    for allowed in allowed_hosts:
        allowed = allowed.strip().lower()
        if allowed == "*" or name == allowed or (allowed.startswith(".") and name.endswith(allowed)):
            return True
    return False


def normalize_origin(origin: str) -> str | None:
    """``scheme://host[:port]`` with the default port dropped, lower case; None when not an origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def origin_allowed(
    origin: str | None, host_header: str | None, scheme: str, cors_origins: Collection[str] | str | None = None
) -> bool:
    """May a request with this ``Origin`` header reach the server?

    No ``Origin`` (a non-browser client, or a same-origin GET) passes; so do the server's own
    origin (same scheme and ``Host``) and the ``--cors-origins`` (``*``: any). ``null`` (sandboxed
    frames, ``file:`` pages) and anything unparsable are refused.
    """
    if origin is None:
        return True
    if cors_origins == "*" or (not isinstance(cors_origins, str) and cors_origins and "*" in cors_origins):
        return True
    normalized = normalize_origin(origin)
    if normalized is None:
        return False
    if host_header:
        own = normalize_origin(f"{'https' if scheme in ('https', 'wss') else 'http'}://{host_header.strip()}")
        if own is not None and normalized == own:
            return True
    if isinstance(cors_origins, str):
        cors_origins = [cors_origins]
    return any(normalize_origin(o) == normalized for o in cors_origins or ())


#: The content types a cross-site page can send without a CORS preflight (Fetch standard).
SIMPLE_CONTENT_TYPES = frozenset({"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"})


def content_type_allowed(content_type: str | None, has_body: bool) -> bool:
    """A body must be ``application/json``. The types a cross-site form or ``fetch`` can send without
    a preflight are refused even with an empty body (a form POST to a body-less route); an empty
    body with another type (aiohttp's client sends ``application/octet-stream``) passes."""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime == "application/json":
        return True
    if mime in SIMPLE_CONTENT_TYPES:
        return False
    return not has_body


def has_body(headers: Mapping[str, str]) -> bool:
    length = headers.get(hdrs.CONTENT_LENGTH)
    if length is not None:
        return length.strip() not in ("", "0")
    return hdrs.TRANSFER_ENCODING in headers


@dataclass
class GuardConfig:
    """What the guards compare against; ``exempt_content_type`` lists path prefixes with their own
    framing (Engine.IO's polling POSTs are ``text/plain`` from browsers)."""

    bound_host: str
    allowed_hosts: Collection[str] = ()
    cors_origins: Collection[str] | str | None = None
    trust_proxy: bool = False
    exempt_content_type: tuple[str, ...] = field(default_factory=tuple)


def effective_host(request: web.Request, trust_proxy: bool) -> str | None:
    if trust_proxy:
        forwarded = request.headers.get("X-Forwarded-Host")
        if forwarded:
            return forwarded.split(",", 1)[0].strip()
    return request.headers.get(hdrs.HOST)


def effective_scheme(request: web.Request, trust_proxy: bool) -> str:
    if trust_proxy:
        forwarded = request.headers.get("X-Forwarded-Proto")
        if forwarded:
            return forwarded.split(",", 1)[0].strip().lower()
    # aiohttp's request.scheme already follows forwarded headers in some setups: use the transport.
    return "https" if request.transport is not None and request.transport.get_extra_info("sslcontext") else "http"


def refusal(request: web.Request, config: GuardConfig) -> tuple[int, str, str] | None:
    """(status, code, message) when the request must not reach a handler, else None."""
    host = effective_host(request, config.trust_proxy)
    if not host_allowed(host, config.bound_host, config.allowed_hosts):
        name = split_host(host or "")[0][:100]
        return 403, "FORBIDDEN_HOST", f"Host {name!r} is not allowed by this server (start it with --allowed-hosts)"
    origin = request.headers.get(hdrs.ORIGIN)
    if not origin_allowed(origin, host, effective_scheme(request, config.trust_proxy), config.cors_origins):
        return 403, "FORBIDDEN_ORIGIN", "Origin not allowed (add it with --cors-origins)"
    if not request.path.startswith(tuple(config.exempt_content_type)) and not content_type_allowed(
        request.headers.get(hdrs.CONTENT_TYPE), has_body(request.headers)
    ):
        return 415, "UNSUPPORTED_MEDIA_TYPE", "request bodies must be application/json"
    return None


def guard_middleware(config: GuardConfig) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """An aiohttp middleware answering refused requests with ``{error, code}`` before anything else runs."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        refused = refusal(request, config)
        if refused is not None:
            status, code, message = refused
            # Connection: close, so a refused body (not read) cannot desynchronise keep-alive.
            return web.json_response(
                {"error": message, "code": code}, status=status, headers={hdrs.CONNECTION: "close"}
            )
        return await handler(request)

    return guard
