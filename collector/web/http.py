"""HTTP details of the collector edge: the client address, the visitor cookie, CORS headers.

The client address is read from the connection, or from ``X-Forwarded-For`` only when the
connection comes from a proxy listed in ``AUDIENCE_TRUSTED_PROXIES``. It is handed to the
pipeline and forgotten with the request.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Iterable
from email.utils import formatdate
from typing import NamedTuple

from collector.settings import Network
from collector.web.asgi import Scope
from collector.web.visitor import VisitorState

SECURE_COOKIE = "__Host-audience"
PREFIXED_COOKIE = "__Secure-audience"  # over https under a root path: __Host- needs Path=/
PLAIN_COOKIE = "audience"
STATE_HEADER = "audience-state"
STATE_EXPIRES_HEADER = "audience-state-expires"

Headers = dict[str, str]


def header_map(raw: Iterable[tuple[bytes, bytes]]) -> Headers:
    """ASGI headers as a dict of lower-case names (repeated headers joined by a comma)."""
    headers: Headers = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]},{text}" if key in headers else text
    return headers


_IPV4_MAPPED = b"\x00" * 10 + b"\xff\xff"


def _is_trusted(address: str, proxies: tuple[Network, ...]) -> bool:
    """``address`` lies in one of ``proxies``; parsed by the C library, as this runs per beacon."""
    packed = _packed(address)
    if packed is None:
        return False
    if len(packed) == 16 and packed.startswith(_IPV4_MAPPED):
        packed = packed[12:]  # ::ffff:10.0.0.1 on a dual-stack listener is 10.0.0.1
    number = int.from_bytes(packed, "big")
    return any(
        number & mask == network for size, network, mask in _ranges(proxies) if size == len(packed)
    )


def _packed(address: str) -> bytes | None:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return socket.inet_pton(family, address)
        except OSError:
            continue
    return None


@functools.lru_cache(maxsize=8)
def _ranges(proxies: tuple[Network, ...]) -> tuple[tuple[int, int, int], ...]:
    """(address length in bytes, network as an integer, mask as an integer) of each proxy range."""
    return tuple(
        (network.max_prefixlen // 8, int(network.network_address), int(network.netmask))
        for network in proxies
    )


def client_address(peer: str, headers: Headers, proxies: tuple[Network, ...]) -> str:
    """The visitor's address: the peer, or the last untrusted hop of X-Forwarded-For."""
    peer = peer.removeprefix("::ffff:") if "." in peer else peer
    if not proxies or not _is_trusted(peer, proxies):
        return peer
    hops = [hop.strip() for hop in headers.get("x-forwarded-for", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer


class RequestFacts(NamedTuple):
    """A request as the trusted proxies in front of us describe it: the one place that reads
    the peer, X-Forwarded-For and X-Forwarded-Proto."""

    peer: str
    scheme: str
    headers: Headers
    proxies: tuple[Network, ...]

    @property
    def client(self) -> str:
        """The client's address (never kept: an argument of the rate limit and the GeoIP)."""
        return client_address(self.peer, self.headers, self.proxies)

    @property
    def secure(self) -> bool:
        """It came over HTTPS, to us or to a trusted proxy that says so."""
        return is_https(self.scheme, self.peer, self.headers, self.proxies)


def request_facts(
    scope: Scope, proxies: tuple[Network, ...], headers: Headers | None = None
) -> RequestFacts:
    """``headers``: the request's, when the caller already mapped them."""
    client = scope.get("client")
    return RequestFacts(
        client[0] if client else "",
        scope.get("scheme", "http"),
        header_map(scope["headers"]) if headers is None else headers,
        proxies,
    )


def is_https(scheme: str, peer: str, headers: Headers, proxies: tuple[Network, ...]) -> bool:
    if scheme == "https":
        return True
    forwarded = headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return forwarded == "https" and _is_trusted(peer, proxies)


def read_cookie(headers: Headers) -> str | None:
    """The visitor-state cookie's value, if the request carries one."""
    found: dict[str, str] = {}
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name in (SECURE_COOKIE, PREFIXED_COOKIE, PLAIN_COOKIE):
            found[name] = value.strip().strip('"')
    return found.get(SECURE_COOKIE) or found.get(PREFIXED_COOKIE) or found.get(PLAIN_COOKIE)


def root_path(scope: Scope) -> str:
    """The path prefix the request came under ("" at the root), without a final slash."""
    root: str = scope.get("root_path", "")
    return root.rstrip("/")


def without_root(path: str, scope: Scope) -> str:
    """``path`` (the request's, or its raw path) without the prefix the request came under."""
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def route_path(scope: Scope) -> str:
    """The request's path as the app's routes see it: under its root path."""
    return without_root(scope["path"], scope)


class VisitorCookie:
    """The visitor-state cookie of a collector served at ``root`` ("" or a path such as
    ``/stats``): sent back only to the collector's paths. At the root over https it is
    ``__Host-audience`` (which must have Path=/), under a root path ``__Secure-audience``."""

    def __init__(self, root: str = "") -> None:
        self.path = root or "/"
        self.secure_name = PREFIXED_COOKIE if root else SECURE_COOKIE

    def set(self, token: str, state: VisitorState, secure: bool) -> str:
        """Set-Cookie for the state: an absolute Expires, the state's fixed one (no Max-Age,
        which browsers count from the moment they receive it and would nudge the expiry)."""
        name = self.secure_name if secure else PLAIN_COOKIE
        attributes = f"Path={self.path}; Expires={_http_date(state.expires)}"
        flags = "; HttpOnly; Secure; SameSite=Lax" if secure else "; HttpOnly; SameSite=Lax"
        return f"{name}={token}; {attributes}{flags}"

    def expired(self) -> list[str]:
        """Set-Cookie values that remove the visitor cookie, under either name."""
        past = "Thu, 01 Jan 1970 00:00:00 GMT"
        end = f"Path={self.path}; Expires={past}; Max-Age=0; HttpOnly"
        return [
            f"{self.secure_name}=; {end}; Secure; SameSite=Lax",
            f"{PLAIN_COOKIE}=; {end}; SameSite=Lax",
        ]


@functools.lru_cache(maxsize=4096)
def _http_date(timestamp: int) -> str:
    return formatdate(timestamp, usegmt=True)


def is_cross_site(headers: Headers) -> bool:
    """The beacon comes from a page on another host than the collector."""
    origin = headers.get("origin")
    if not origin or origin == "null":
        return False
    host = origin.split("://", 1)[-1]
    return host != headers.get("host", "")


def cors_headers(origin: str | None) -> list[tuple[bytes, bytes]]:
    if not origin:
        return []
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-allow-credentials", b"true"),
        (b"access-control-expose-headers", f"{STATE_HEADER}, {STATE_EXPIRES_HEADER}".encode()),
        (b"vary", b"Origin"),
    ]
