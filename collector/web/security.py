"""The collector's security surface besides the hot endpoint: headers, and security.txt.

``SecurityHeaders`` wraps the Starlette app (health, metrics, the snippet, privacy, security.txt
and the dashboards mounted inside it); the hot ``/api/event`` handler is in front of it and sets
its own few headers. A header the response already has is left as it is: the dashboards send
their own Content-Security-Policy, Referrer-Policy and so on (and a response with its own policy
gets no X-Frame-Options from here: its frame-ancestors decide, as for a shared dashboard).

``/.well-known/security.txt`` (RFC 9116) says whom to tell about a vulnerability. It is served
when ``AUDIENCE_SECURITY_CONTACT`` is set (a ``mailto:`` or ``https:`` URI, checked at start),
else answered with a 404 naming that setting. The file expires 180 days after it was served and
names its own URL as the canonical one.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from collector.settings import Network
from collector.web import http
from collector.web.asgi import ASGIApp, Message, Receive, Scope, Send

SNIPPET_PREFIX = "/js/"  # embedded by other sites: readable cross-origin
HSTS = (b"strict-transport-security", b"max-age=31536000")
DEFAULTS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
)
SECURITY_TXT = "/.well-known/security.txt"
VALID_FOR = timedelta(days=180)
LANGUAGES = "en, fr"
_HOST = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


class SecurityHeaders:
    def __init__(self, app: ASGIApp, trusted_proxies: tuple[Network, ...]) -> None:
        self.app = app
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = self.headers_for(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                if b"content-security-policy" in present:  # its frame-ancestors decides
                    present.add(b"x-frame-options")
                headers += [(name, value) for name, value in wanted if name not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def headers_for(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        path = http.route_path(scope)
        policy = b"cross-origin" if path.startswith(SNIPPET_PREFIX) else b"same-origin"
        headers = [*DEFAULTS, (b"cross-origin-resource-policy", policy)]
        if http.request_facts(scope, self.trusted_proxies).secure:
            headers.append(HSTS)
        return headers


def render(contact: str, now: datetime, canonical: str | None = None) -> str:
    expires = (now + VALID_FOR).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [f"Contact: {contact}", f"Expires: {expires}", f"Preferred-Languages: {LANGUAGES}"]
    if canonical is not None:
        lines.append(f"Canonical: {canonical}")
    return "\n".join(lines) + "\n"


def canonical_url(request: Request, trusted_proxies: tuple[Network, ...]) -> str | None:
    """This file's URL as the request reached it; None when its Host is not a host name."""
    host = request.headers.get("host", "")
    if not _HOST.fullmatch(host):
        return None
    secure = http.request_facts(request.scope, trusted_proxies).secure
    root = request.scope.get("root_path", "")
    return f"{'https' if secure else 'http'}://{host}{root}{SECURITY_TXT}"


async def security_txt(request: Request) -> Response:
    settings = request.app.state.runtime.settings
    if settings.security_contact is None:
        return JSONResponse(
            {"error": "no security contact is configured: set AUDIENCE_SECURITY_CONTACT"},
            status_code=404,
        )
    canonical = canonical_url(request, settings.trusted_proxies)
    body = render(settings.security_contact, datetime.now(UTC), canonical)
    return PlainTextResponse(body, headers={"cache-control": "public, max-age=86400"})
