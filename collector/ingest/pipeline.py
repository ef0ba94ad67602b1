"""Beacon -> Accepted(row bytes, signed state) | Dropped(reason), in named steps, top to bottom.

Reads like the data-flow diagram of the README: parse, check the site and the origin, require
consent, limit the rate, drop bots (parsing the User-Agent), put the geolocation, advance the
visit (dropping a visitor who was erased), build the row. A step raises BeaconError for a 4xx
answer, returns Dropped for a 202 that stores nothing, and otherwise returns what the next steps
take, typed. The IP and the User-Agent are arguments of the enrichment steps and are never kept:
the Row type has no field for them. What the edge sends comes out whole: the row encoded for the
spool and the visitor's state signed for its cookie.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from collector.ingest import consent
from collector.ingest.agent import NO_HINTS, Agent, ClientHints, parse_agent
from collector.ingest.beacon import Beacon, BeaconError, parse_beacon
from collector.ingest.geo import Geo, GeoLocator
from collector.ops.metrics import Metrics
from collector.storage.erased import ErasedVisitors
from collector.storage.rows import Row, encode_row
from collector.storage.sites import Site, SiteRegistry
from collector.web.ratelimit import RateLimiter
from collector.web.visitor import StateSigner, VisitorState, advance

DropReason = Literal["bot", "erased"]


class Incoming(NamedTuple):
    """What the HTTP edge hands to the pipeline for one beacon."""

    body: bytes
    client_ip: str
    user_agent: str
    origin: str | None
    cookie_state: str | None
    global_privacy_control: bool
    now: int
    client_hints: ClientHints = NO_HINTS


class Accepted(NamedTuple):
    row: Row
    state: VisitorState
    payload: bytes  # the row as the spool keeps it (rows.encode_row)
    token: str  # the state, signed, for the visitor's cookie


@dataclass(frozen=True, slots=True)
class Dropped:
    reason: DropReason
    kind: str = ""  # for a bot, which kind ("search", "monitor", ...)

    @property
    def counted_as(self) -> str:
        """The metrics key: ``bot/monitor`` for a bot, the reason otherwise."""
        return f"{self.reason}/{self.kind}" if self.kind else self.reason


@dataclass
class Pipeline:
    sites: SiteRegistry
    geo: GeoLocator
    signer: StateSigner
    limiter: RateLimiter
    metrics: Metrics
    erased: ErasedVisitors = field(default_factory=ErasedVisitors)

    def run(self, incoming: Incoming) -> Accepted | Dropped:
        site: Site | None = None
        try:
            beacon = parse(incoming)
            site = check_site(self, beacon)
            check_origin(site, incoming)
            consent = require_consent(beacon, site, incoming)
            limit_rate(self, incoming)
        except BeaconError as error:
            self.metrics.reject(error.status)
            if site is not None:  # a site's own beacon: the install check tells why
                self.metrics.refuse(site.domain, refusal_reason(error), incoming.now)
            raise
        agent = drop_bots(incoming)
        if isinstance(agent, Dropped):
            self.metrics.refuse(site.domain, "bot", incoming.now)
            return self._dropped(agent)
        geo = put_geolocation(self, incoming)
        state = put_visit(self, beacon, incoming)
        if isinstance(state, Dropped):
            return self._dropped(state)
        row = build_row(self, beacon, consent, agent, geo, state, incoming.now)
        return Accepted(row, state, encode_row(row), self.signer.sign(state))

    def _dropped(self, dropped: Dropped) -> Dropped:
        self.metrics.drop(dropped.counted_as)
        return dropped


def refusal_reason(error: BeaconError) -> str:
    """Why a registered site's beacon was refused, in the install check's words."""
    if error.status == 429:
        return "rate_limit"
    return error.field or "invalid"


def parse(incoming: Incoming) -> Beacon:
    return parse_beacon(incoming.body)


def check_site(pipeline: Pipeline, beacon: Beacon) -> Site:
    site = pipeline.sites.get(beacon.site)
    if site is None:
        raise BeaconError(404, f"unknown site: {beacon.site!r} is not registered", "site")
    return site


def check_origin(site: Site, incoming: Incoming) -> None:
    if not site.allows_origin(incoming.origin):
        raise BeaconError(403, f"origin not allowed for site {site.domain!r}", "origin")


def require_consent(beacon: Beacon, site: Site, incoming: Incoming) -> str:
    """The beacon's consent marker, once it is one this site counts."""
    reason = consent.refusal(beacon, site, incoming.global_privacy_control)
    if reason is not None or beacon.consent is None:
        raise BeaconError(403, reason or "no consent", "consent")
    return beacon.consent


def limit_rate(pipeline: Pipeline, incoming: Incoming) -> None:
    if not pipeline.limiter.allow(incoming.client_ip, float(incoming.now)):
        raise BeaconError(429, "too many events from this client; slow down")


def drop_bots(incoming: Incoming) -> Agent | Dropped:
    agent = parse_agent(incoming.user_agent, incoming.client_hints)
    return Dropped("bot", agent.bot) if agent.is_bot else agent


def put_geolocation(pipeline: Pipeline, incoming: Incoming) -> Geo:
    return pipeline.geo.locate(incoming.client_ip)


def put_visit(pipeline: Pipeline, beacon: Beacon, incoming: Incoming) -> VisitorState | Dropped:
    signer = pipeline.signer
    previous = signer.verify(incoming.cookie_state) or signer.verify(beacon.state)
    erased = pipeline.erased
    if previous is not None and erased and signer.visitor_hash(previous) in erased:
        return Dropped("erased")  # a tab still carrying the cookie of a visitor who erased it
    return advance(previous, incoming.now)


def build_row(
    pipeline: Pipeline,
    beacon: Beacon,
    consent: str,
    agent: Agent,
    geo: Geo,
    state: VisitorState,
    now: int,
) -> Row:
    return Row(
        site=beacon.site,
        ts=now,
        type=beacon.type,
        path=beacon.path,
        visitor=pipeline.signer.visitor_hash(state),
        visit=pipeline.signer.visit_hash(state),
        visit_number=state.visit_number,
        days_since_last_visit=min(state.days_since_last_visit, 65_535),
        engaged_ms=beacon.engaged_ms,
        city=geo.city,
        country=geo.country,
        operator=geo.operator,
        browser=agent.browser,
        browser_version=agent.browser_version,
        os=agent.os,
        device=agent.device,
        consent=consent,
    )
