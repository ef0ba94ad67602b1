"""The visitor's privacy API (DESIGN section 4): access, export, erase, opt out.

A visitor is known by the signed state of their cookie, or, for a collector on another site, by
the state the snippet kept and sends in the ``audience-state`` header (never in a URL). The cookie
counts only for a request of this origin: a registered site's pages may call the API with the
state they kept, but a page on a sibling subdomain cannot ride on the cookie the browser sends.
Changes are POST and come from the same origin or from a registered site's page (Fetch Metadata,
then Origin); each visitor has a rate limit, and erasures one for the whole process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from collector import AudienceError
from collector.privacy.rights import Erasure, VisitorRights, events_csv
from collector.storage.erased import format_visitor_id
from collector.storage.errors import StoreError
from collector.storage.sites import SiteRegistry
from collector.storage.store import Store
from collector.storage.writer import Writer
from collector.web import http
from collector.web.ratelimit import RateLimiter
from collector.web.visitor import StateSigner, VisitorState

PER_VISITOR_PER_SECOND, PER_VISITOR_BURST = 0.5, 30
ERASURES_PER_SECOND, ERASURES_BURST = 2.0, 20
MAX_BODY_BYTES = 4096  # a request of the privacy API is a few fields of JSON
SAME_ORIGIN_FETCHES = frozenset({"same-origin", "none"})
STATE_GONE = (http.STATE_EXPIRES_HEADER, "0")  # tells the snippet to forget the state it kept
NO_STORE = {"cache-control": "no-store"}


class Backend(Protocol):
    """What the collector's runtime lends: its store, its writer if it has one, its sites."""

    store: Store | None
    sites: SiteRegistry

    @property
    def writer(self) -> Writer | None: ...


class PrivacyError(AudienceError):
    """A request of the privacy API refused: its status and message, and headers to add."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message, status)
        self.headers = headers or {}


@dataclass
class PrivacyAPI:
    backend: Backend
    signer: StateSigner
    secret: bytes
    retention_months: int

    def __post_init__(self) -> None:
        self.visitors = RateLimiter(PER_VISITOR_PER_SECOND, PER_VISITOR_BURST)
        self.erasures = RateLimiter(ERASURES_PER_SECOND, ERASURES_BURST)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/privacy/me", self._guarded(self.me), methods=["GET"]),
            Route("/api/privacy/me/export", self._guarded(self.export), methods=["GET"]),
            Route("/api/privacy/me/erase", self._guarded(self.erase), methods=["POST"]),
            Route("/api/privacy/optout", self._guarded(self.optout), methods=["POST"]),
            Route("/api/privacy/{rest:path}", self._guarded(self.preflight), methods=["OPTIONS"]),
        ]

    def rights(self) -> VisitorRights:
        store = self.backend.store
        if store is None:
            raise PrivacyError(503, "the store is not open yet; try again", {"retry-after": "5"})
        return VisitorRights(store, self.secret, self.retention_months, self.backend.writer)

    def visitor(self, request: Request, token: str | None = None) -> VisitorState | None:
        """The visitor's state: from the cookie (this origin only), the snippet's header, or
        ``token``."""
        cookie = http.read_cookie(dict(request.headers)) if _own_origin(request) else None
        for candidate in (cookie, request.headers.get(http.STATE_HEADER), token):
            state = self.signer.verify(candidate)
            if state is not None and time.time() < state.expires:
                return state
        return None

    def identified(self, request: Request, token: str | None = None) -> tuple[int, VisitorState]:
        state = self.visitor(request, token)
        if state is None:
            raise PrivacyError(
                401, "no audience cookie or state: this browser holds no measurement identifier"
            )
        visitor = self.signer.visitor_hash(state)
        if not self.visitors.allow(format_visitor_id(visitor), time.monotonic()):
            raise PrivacyError(429, "too many privacy requests; try again in a minute")
        return visitor, state

    async def me(self, request: Request) -> Response:
        visitor, state = self.identified(request)
        held = await off_loop(self.rights().access, visitor, "self-service")
        held["cookie"] = {"created": _iso(state.created), "expires": _iso(state.expires)}
        return JSONResponse(held)

    async def export(self, request: Request) -> Response:
        form = request.query_params.get("format", "json")
        if form not in ("json", "csv"):
            raise PrivacyError(400, f"format must be json or csv, got {form!r}")
        visitor, state = self.identified(request)
        events = await off_loop(self.rights().export, visitor, "self-service")
        name = f"audience-data-{format_visitor_id(visitor)}.{form}"
        headers = {"content-disposition": f'attachment; filename="{name}"'}
        if form == "csv":
            return Response(events_csv(events), media_type="text/csv", headers=headers)
        body = {"visitor": format_visitor_id(visitor), "cookie_created": _iso(state.created)}
        return JSONResponse(body | {"events": events}, headers=headers)

    async def erase(self, request: Request) -> Response:
        self.refuse_cross_origin(request)
        await _read_fields(request)  # capped, and the form's fields are not needed
        visitor, _ = self.identified(request)
        erasure = await self._erase(visitor, "erase")
        if _wants_html(request):
            return _forgotten(
                request, RedirectResponse("../../../privacy?done=erased", status_code=303)
            )
        return _forgotten(request, JSONResponse(_erasure_answer(erasure), status_code=200))

    async def optout(self, request: Request) -> Response:
        """Withdrawal: the cookie expires at once; with ``erase``, the visitor's data goes too."""
        self.refuse_cross_origin(request)
        fields = await _read_fields(request)
        domain = fields.get("site")
        origin = request.headers.get("origin")
        if isinstance(domain, str) and origin is not None:
            site = self.backend.sites.get(domain)
            if site is None or not site.allows_origin(origin):
                raise PrivacyError(403, "origin not allowed for this site")
        token = fields.get("state") if isinstance(fields.get("state"), str) else None
        answer: dict[str, Any] = {"status": "opted out"}
        if fields.get("erase") in (True, "1", "true", "on"):
            visitor, _ = self.identified(request, token)
            answer["erasure"] = _erasure_answer(await self._erase(visitor, "optout+erase"))
        else:  # the cookie expires whatever happens; the audit log is best effort
            await self._record_opt_out(request, token)
        if _wants_html(request):
            return _forgotten(
                request, RedirectResponse("../../privacy?done=optout", status_code=303)
            )
        return _forgotten(request, JSONResponse(answer))

    async def _record_opt_out(self, request: Request, token: str | None) -> None:
        state = self.visitor(request, token)
        if state is None or self.backend.store is None:  # an unknown browser leaves no trace
            return
        visitor = self.signer.visitor_hash(state)
        if self.visitors.allow(format_visitor_id(visitor), time.monotonic()):
            await off_loop(self.rights().record_opt_out, visitor)

    async def _erase(self, visitor: int, action: str) -> Erasure:
        if not self.erasures.allow("erasures", time.monotonic()):
            raise PrivacyError(429, "too many erasures right now; try again in a minute")
        erasure: Erasure = await off_loop(self.rights().erase, visitor, "self-service", action)
        return erasure

    async def preflight(self, request: Request) -> Response:
        return Response(
            status_code=204,
            headers={
                "access-control-allow-methods": "GET, POST, OPTIONS",
                "access-control-allow-headers": f"content-type, {http.STATE_HEADER}",
                "access-control-max-age": "86400",
            },
        )

    def refuse_cross_origin(self, request: Request) -> None:
        """A change comes from this origin, or from the page of a registered site."""
        if request.headers.get("sec-fetch-site") in SAME_ORIGIN_FETCHES:
            return
        origin = request.headers.get("origin")
        if origin and origin != "null" and self.allowed_origin(request, origin):
            return
        raise PrivacyError(403, "cross-site request refused: changes come from this site's pages")

    def allowed_origin(self, request: Request, origin: str) -> bool:
        if _host_of(origin) == request.headers.get("host", ""):
            return True
        return any(site.allows_origin(origin) for site in self.backend.sites.all())

    def _guarded(self, view: Callable[[Request], Any]) -> Callable[[Request], Any]:
        """Errors as JSON naming the problem, CORS for allowed origins, and never cached."""

        async def guarded(request: Request) -> Response:
            try:
                response: Response = await view(request)
            except PrivacyError as error:
                response = JSONResponse({"error": error.message}, error.status, error.headers)
            except StoreError:
                response = JSONResponse(
                    {"error": "the store cannot answer now; try again"},
                    503,
                    {"retry-after": "30"},
                )
            response.headers.update(NO_STORE)
            origin = request.headers.get("origin")
            if origin and self.allowed_origin(request, origin):
                for name, value in http.cors_headers(origin):
                    response.headers.append(name.decode(), value.decode())
            return response

        return guarded


async def off_loop(function: Callable[..., Any], *arguments: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, function, *arguments)


async def _read_fields(request: Request) -> dict[str, Any]:
    """The body's fields, JSON or a form, read up to the body cap."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise PrivacyError(413, f"body is larger than {MAX_BODY_BYTES} bytes")
    if not body.strip():
        return {}
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=20)
        return {name: values[-1] for name, values in form.items()}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise PrivacyError(400, "body is not valid JSON") from None
    if not isinstance(data, dict):
        raise PrivacyError(400, "body must be a JSON object")
    return data


def _wants_html(request: Request) -> bool:
    """A form of the privacy page, not a script: answered by going back to the page."""
    return request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ) and "text/html" in request.headers.get("accept", "")


def _forgotten(request: Request, response: Response) -> Response:
    for cookie in http.VisitorCookie(http.root_path(request.scope)).expired():
        response.headers.append("set-cookie", cookie)
    response.headers[STATE_GONE[0]] = STATE_GONE[1]
    return response


def _erasure_answer(erasure: Erasure) -> dict[str, Any]:
    return {"status": erasure.status, "events_erased": erasure.events}


def _own_origin(request: Request) -> bool:
    """The request comes from a page of the collector's origin, or from no page at all. (A form
    of a page with no-referrer sends ``Origin: null``: Fetch Metadata says where it comes from.)"""
    if request.headers.get("sec-fetch-site") == "same-origin":
        return True
    origin = request.headers.get("origin")
    return origin is None or _host_of(origin) == request.headers.get("host", "")


def _host_of(origin: str) -> str:
    return origin.split("://", 1)[-1]


def _iso(timestamp: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
