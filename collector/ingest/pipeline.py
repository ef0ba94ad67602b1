"""Beacon -> Row | Dropped(reason), as a named list of small steps.

Reads like the data-flow diagram of the README: parse, check the site and the origin, require
consent, limit the rate, drop bots (parsing the User-Agent), put the geolocation, advance the
visit (dropping a visitor who was erased), build the row. A step raises BeaconError for a 4xx
answer, returns Dropped for a 202 that stores nothing, and otherwise fills the draft. The IP and
the User-Agent are arguments of the enrichment steps and are never copied into the draft: the Row
type has no field for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from collector.ingest import consent
from collector.ingest.agent import NO_HINTS, Agent, ClientHints, parse_agent
from collector.ingest.beacon import Beacon, BeaconError, parse_beacon
from collector.ingest.geo import UNKNOWN, Geo, GeoLocator
from collector.ops.metrics import Metrics
from collector.storage.erased import ErasedVisitors
from collector.storage.rows import Row
from collector.storage.sites import Site, SiteRegistry
from collector.web.ratelimit import RateLimiter
from collector.web.visitor import StateSigner, VisitorState, advance


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


@dataclass(frozen=True, slots=True)
class Dropped:
    reason: str
    kind: str = ""  # for a bot, which kind ("search", "monitor", ...)

    @property
    def counted_as(self) -> str:
        """The metrics key: ``bot/monitor`` for a bot, the reason otherwise."""
        return f"{self.reason}/{self.kind}" if self.kind else self.reason


@dataclass(slots=True)
class Draft:
    incoming: Incoming
    beacon: Beacon | None = None
    site: Site | None = None
    agent: Agent | None = None
    geo: Geo = field(default=UNKNOWN)
    visit: VisitorState | None = None


@dataclass
class Pipeline:
    sites: SiteRegistry
    geo: GeoLocator
    signer: StateSigner
    limiter: RateLimiter
    metrics: Metrics
    erased: ErasedVisitors = field(default_factory=ErasedVisitors)

    def run(self, incoming: Incoming) -> Accepted | Dropped:
        draft = Draft(incoming)
        try:
            for step in STEPS:
                outcome = step(self, draft)
                if outcome is not None:
                    self.metrics.drop(outcome.counted_as)
                    return outcome
        except BeaconError as error:
            self.metrics.reject(error.status)
            raise
        assert draft.visit is not None
        return Accepted(build_row(self, draft), draft.visit)


Step = Callable[[Pipeline, Draft], Dropped | None]


def parse(pipeline: Pipeline, draft: Draft) -> None:
    draft.beacon = parse_beacon(draft.incoming.body)


def check_site(pipeline: Pipeline, draft: Draft) -> None:
    assert draft.beacon is not None
    draft.site = pipeline.sites.get(draft.beacon.site)
    if draft.site is None:
        raise BeaconError(404, f"unknown site: {draft.beacon.site!r} is not registered", "site")


def check_origin(pipeline: Pipeline, draft: Draft) -> None:
    assert draft.site is not None
    if not draft.site.allows_origin(draft.incoming.origin):
        raise BeaconError(403, f"origin not allowed for site {draft.site.domain!r}", "origin")


def require_consent(pipeline: Pipeline, draft: Draft) -> None:
    assert draft.beacon is not None and draft.site is not None
    reason = consent.refusal(draft.beacon, draft.site, draft.incoming.global_privacy_control)
    if reason is not None:
        raise BeaconError(403, reason, "consent")


def limit_rate(pipeline: Pipeline, draft: Draft) -> None:
    if not pipeline.limiter.allow(draft.incoming.client_ip, float(draft.incoming.now)):
        raise BeaconError(429, "too many events from this client; slow down")


def drop_bots(pipeline: Pipeline, draft: Draft) -> Dropped | None:
    draft.agent = parse_agent(draft.incoming.user_agent, draft.incoming.client_hints)
    return Dropped("bot", draft.agent.bot) if draft.agent.is_bot else None


def put_geolocation(pipeline: Pipeline, draft: Draft) -> None:
    draft.geo = pipeline.geo.locate(draft.incoming.client_ip)


def put_visit(pipeline: Pipeline, draft: Draft) -> Dropped | None:
    assert draft.beacon is not None
    signer = pipeline.signer
    previous = signer.verify(draft.incoming.cookie_state) or signer.verify(draft.beacon.state)
    erased = pipeline.erased
    if previous is not None and erased and signer.visitor_hash(previous) in erased:
        return Dropped("erased")  # a tab still carrying the cookie of a visitor who erased it
    draft.visit = advance(previous, draft.incoming.now)
    return None


def build_row(pipeline: Pipeline, draft: Draft) -> Row:
    beacon, agent, state, geo = draft.beacon, draft.agent, draft.visit, draft.geo
    assert beacon is not None and agent is not None and state is not None
    assert beacon.consent is not None
    return Row(
        site=beacon.site,
        ts=draft.incoming.now,
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
        consent=beacon.consent,
    )


STEPS: tuple[Step, ...] = (
    parse,
    check_site,
    check_origin,
    require_consent,
    limit_rate,
    drop_bots,
    put_geolocation,
    put_visit,
)
