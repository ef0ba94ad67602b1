"""Security of the dashboards' HTTP side: headers, cross-site refusals, and error answers.

``SecurityMiddleware`` wraps the dashboards app. It refuses every cross-site unsafe request
(Fetch Metadata first, else ``Origin``; with neither header, the request is refused), adds the
security headers to every response, re-issues the session cookie when ``auth`` refreshed it, and
turns errors into answers: JSON ``{"error": ...}`` for the API and for clients asking for JSON, a
redirection to the login page for an anonymous browser, an HTML page otherwise. Unknown errors
are logged (method and path, never the query) and answered without any detail.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, ExceptionHandler, Message, Receive, Scope, Send

from collector.web.http import root_path, route_path
from dashboards.auth import REFRESHED_COOKIE, is_secure, known_principal
from dashboards.context import Dashboards
from dashboards.sessions import PLAIN_COOKIE, PREFIXED_COOKIE, SECURE_COOKIE

log = logging.getLogger("audience.dashboards")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}
# scope key: the origins that may frame this response (a shared link without a password)
FRAME_ANCESTORS = "audience.frame_ancestors"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SAME_SITE_FETCHES = frozenset({"same-origin", "none"})
STATIC_PREFIX = "/static/"
MAX_NEXT_LENGTH = 2000
_UNSAFE_IN_NEXT = re.compile(r"[\x00-\x20\x7f\\]")


class SecurityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        if isinstance(app, ExceptionMiddleware):
            install_error_handlers(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = route_path(scope).startswith(STATIC_PREFIX)
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                _add_headers(scope, MutableHeaders(scope=message), static)
            await send(message)

        if scope["method"] in UNSAFE_METHODS and is_cross_site(scope):
            refused = JSONResponse({"error": "cross-site request refused"}, status_code=403)
            await refused(scope, receive, send_with_headers)
            return
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("unhandled error in %s %s", scope["method"], route_path(scope))
            if started:
                raise
            await _internal_error(scope)(scope, receive, send_with_headers)


def _add_headers(scope: Scope, headers: MutableHeaders, static: bool) -> None:
    for name, value in SECURITY_HEADERS.items():
        headers[name] = value
    ancestors = scope.get(FRAME_ANCESTORS)
    if ancestors:
        policy = CONTENT_SECURITY_POLICY.replace(
            "frame-ancestors 'none'", f"frame-ancestors {ancestors}"
        )
        headers["content-security-policy"] = policy
        del headers["x-frame-options"]
    if not static:
        headers["cache-control"] = "no-store"
    refreshed = scope.get(REFRESHED_COOKIE)
    if refreshed and not any(
        value.startswith((f"{SECURE_COOKIE}=", f"{PREFIXED_COOKIE}=", f"{PLAIN_COOKIE}="))
        for value in headers.getlist("set-cookie")
    ):
        headers.append("set-cookie", refreshed)


def is_cross_site(scope: Scope) -> bool:
    """Fetch Metadata when the browser sends it, else the Origin; neither header: cross-site."""
    headers: dict[bytes, bytes] = {name.lower(): value for name, value in scope["headers"]}
    fetch_site = headers.get(b"sec-fetch-site")
    if fetch_site is not None:
        return fetch_site.decode("latin-1").strip().lower() not in SAME_SITE_FETCHES
    origin = headers.get(b"origin")
    host = headers.get(b"host")
    if origin is None or host is None:
        return True
    scheme = "https" if is_secure(scope) else "http"
    own = f"{scheme}://{host.decode('latin-1')}".lower()
    return origin.decode("latin-1").strip().lower() != own


def safe_next(value: str | None) -> str | None:
    """``value`` when it is a local path of this site (where to go after the login), else None."""
    if not value or len(value) > MAX_NEXT_LENGTH or _UNSAFE_IN_NEXT.search(value):
        return None
    if not value.startswith("/") or value.startswith("//"):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


def wants_json(request: Request) -> bool:
    return route_path(request.scope).startswith(
        "/api/"
    ) or "application/json" in request.headers.get("accept", "")


async def http_error(request: Request, exc: Exception) -> Response:
    """HTTPException as JSON for the API, a way to the login page or an HTML page for people."""
    assert isinstance(exc, HTTPException)
    if exc.status_code in {204, 304}:
        return Response(status_code=exc.status_code, headers=exc.headers)
    if wants_json(request):
        return JSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)
    if exc.status_code == 401:
        root = root_path(request.scope)
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target = safe_next(here) or f"{root}/"
        login = f"{root}/login"
        location = login if target == f"{root}/" else f"{login}?next={quote(target, safe='/')}"
        return RedirectResponse(location, status_code=303)
    return _html_error(request, exc.status_code, exc.detail, exc.headers)


EXCEPTION_HANDLERS: dict[Any, ExceptionHandler] = {HTTPException: http_error}


def install_error_handlers(app: ExceptionMiddleware) -> None:
    """Our error answers, unless the app was built with its own HTTPException handler."""
    handlers: dict[Any, Any] = getattr(app, "_exception_handlers", {})
    if handlers.get(HTTPException) in (None, app.http_exception):
        for exc_class, handler in EXCEPTION_HANDLERS.items():
            app.add_exception_handler(exc_class, handler)


def _html_error(
    request: Request, status: int, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    context = getattr(getattr(request.scope.get("app"), "state", None), "dashboards", None)
    if not isinstance(context, Dashboards):
        return HTMLResponse(f"<!doctype html><title>{status}</title>", status, headers=headers)
    return context.templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "message": message, "principal": known_principal(request)},
        status_code=status,
        headers=headers,
    )


def _internal_error(scope: Scope) -> Response:
    request = Request(scope)
    if wants_json(request):
        return JSONResponse({"error": "internal error"}, status_code=500)
    return HTMLResponse(
        '<!doctype html><html lang="en"><title>Error</title>'
        "<main><h1>Something went wrong</h1><p>Please try again later.</p></main></html>",
        status_code=500,
    )
