"""POST /api/event as a lean ASGI handler: read the capped body, run the pipeline, spool, answer.

It sits in front of the Starlette app so the hot path pays for no routing or request objects.
Every answer is JSON; every refusal names its problem.
"""

from __future__ import annotations

import logging
import time

from collector.ingest.agent import NO_HINTS, ClientHints
from collector.ingest.beacon import MAX_BODY_BYTES, BeaconError
from collector.ingest.pipeline import Accepted, Incoming, Pipeline
from collector.ops.metrics import Metrics
from collector.settings import Network
from collector.storage.spool import SpoolFull, SpoolProducer, SpoolUnavailable
from collector.web import http
from collector.web.asgi import BodyTooLarge, Receive, Scope, Send, answer, read_body

log = logging.getLogger("audience.ingest")

RETRY_AFTER_SECONDS = 5


class EventEndpoint:
    def __init__(
        self,
        pipeline: Pipeline,
        trusted_proxies: tuple[Network, ...],
        metrics: Metrics,
        cookie: http.VisitorCookie | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.cookie = cookie or http.VisitorCookie()
        # The cookie of an erased visitor goes, and the snippet forgets the state it kept.
        self.forget_visitor = [(b"set-cookie", c.encode()) for c in self.cookie.expired()] + [
            (http.STATE_EXPIRES_HEADER.encode(), b"0")
        ]
        self.spool: SpoolProducer | None = None  # set while the app runs
        self.trusted_proxies = trusted_proxies
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = http.header_map(scope["headers"])
        origin = headers.get("origin")
        cors = http.cors_headers(origin)
        if scope["method"] == "OPTIONS":
            await answer(send, 204, None, cors + _PREFLIGHT)
            return
        if scope["method"] != "POST":
            await answer(send, 405, {"error": "use POST"}, cors + [(b"allow", b"POST, OPTIONS")])
            return
        try:
            body = await read_body(receive, MAX_BODY_BYTES, headers.get("content-length", ""))
        except BodyTooLarge:
            self.metrics.reject(413)
            await answer(send, 413, {"error": f"body is larger than {MAX_BODY_BYTES} bytes"}, cors)
            return
        facts = http.request_facts(scope, self.trusted_proxies, headers)
        incoming = Incoming(
            body=body,
            client_ip=facts.client,
            user_agent=headers.get("user-agent", ""),
            origin=origin,
            cookie_state=http.read_cookie(headers),
            global_privacy_control=headers.get("sec-gpc", "").strip() == "1",
            now=int(time.time()),
            client_hints=_client_hints(headers),
        )
        try:
            outcome = self.pipeline.run(incoming)
        except BeaconError as error:
            problem = {"error": error.message} | ({"field": error.field} if error.field else {})
            await answer(send, error.status, problem, cors)
            return
        if not isinstance(outcome, Accepted):
            forget = self.forget_visitor if outcome.reason == "erased" else []
            await answer(send, 202, {"status": "dropped", "reason": outcome.reason}, cors + forget)
            return
        try:
            if self.spool is None:
                raise SpoolUnavailable("the collector is starting or stopping")
            await self.spool.append(outcome.payload)
        except (SpoolFull, SpoolUnavailable) as error:
            self.metrics.reject(503)
            retry = [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())]
            await answer(send, 503, {"error": f"cannot accept events now: {error}"}, cors + retry)
            return
        self.metrics.accepted += 1
        state = self._state_headers(outcome, facts, incoming.cookie_state)
        # Accepted: 202 and no body. A body costs uvicorn a second socket write per answer, which
        # halves the requests a process can serve (loadtests/throughput.py shows it).
        await answer(send, 202, None, cors + state)

    def _state_headers(
        self,
        outcome: Accepted,
        facts: http.RequestFacts,
        cookie: str | None,
    ) -> list[tuple[bytes, bytes]]:
        token, headers = outcome.token, facts.headers
        extra = [(b"set-cookie", self.cookie.set(token, outcome.state, facts.secure).encode())]
        # The state goes to page scripts only where the HttpOnly cookie cannot serve: a page on
        # another site, whose request carried no cookie of ours.
        if cookie is None and http.is_cross_site(headers):
            extra += [
                (http.STATE_HEADER.encode(), token.encode()),
                (http.STATE_EXPIRES_HEADER.encode(), str(outcome.state.expires).encode()),
            ]
        return extra


_PREFLIGHT = [
    (b"access-control-allow-methods", b"POST, OPTIONS"),
    (b"access-control-allow-headers", b"content-type"),
    (b"access-control-max-age", b"86400"),
]


def _client_hints(headers: http.Headers) -> ClientHints:
    """The low-entropy client hints Chromium browsers send; NO_HINTS from the others."""
    brands = headers.get("sec-ch-ua")
    mobile = headers.get("sec-ch-ua-mobile")
    platform = headers.get("sec-ch-ua-platform")
    if brands is None and mobile is None and platform is None:
        return NO_HINTS
    return ClientHints(brands or "", mobile or "", platform or "")
