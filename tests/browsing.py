"""Browsing as it really happens, for property tests: tabs, races, lost answers, restores.

A browser is one cookie jar (the signed state), shared by its tabs, with one User-Agent. It has
sessions of browsing separated by idleness (seconds to 25 minutes: the same visit; over 30
minutes: the state has expired; or 20 to 26 hours: the next day), each on one network (the city
and the operator may change between sessions, so within a visit), each with tabs opened or
restored together (within 2 seconds: the same token, so a forked state) or later. A tab shows
pages one after another: a pageview, an optional engagement ping while the page is shown, an
optional engagement beacon when leaving it, and the next pageview up to 3 seconds later, racing
it.

Each beacon is sent at a time t with the jar's token at t and reaches the collector after a
latency (mostly 0-2 s, up to 90 s); the server's ``now`` is the arrival. Its answer reaches the
jar at the arrival time (after the beacons sent in that same second) and replaces the token,
unless it is lost: the row is stored all the same. A beacon may be delivered twice (the same
body and token, arriving again up to 60 s later).

``play`` runs the beacons of a list of browsers through a ``Pipeline`` and returns the rows in
the order they reach the collector. Times are whole seconds from 21:00 on ``DAY`` (Paris time);
many browsers start in the quarter of an hour before midnight.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from hypothesis import strategies as st

from collector.ingest.pipeline import Accepted, Incoming, Pipeline
from collector.storage.rows import Row
from tests.conftest import BRUSSELS_PROXIMUS, CHROME, IPHONE, LYON_ORANGE, PARIS_FREE_V6

TIMEZONE = "Europe/Paris"
DAY = date(2026, 11, 12)
BASE = int(datetime.combine(DAY, time(21), ZoneInfo(TIMEZONE)).timestamp())  # 21:00, Paris
PATHS = ("/", "/a", "/b", "/c")
USER_AGENTS = {"chrome": CHROME, "iphone": IPHONE}
NETWORKS = {"lyon": LYON_ORANGE, "paris": PARIS_FREE_V6, "brussels": BRUSSELS_PROXIMUS}


@dataclass(frozen=True)
class Delivery:
    latency: int  # seconds from sending to the collector's now
    lost: bool  # the answer never reaches the jar
    duplicate: int | None  # delivered again this many seconds after the first arrival


@dataclass(frozen=True)
class Ping:
    at: int  # seconds after the pageview
    delivery: Delivery


@dataclass(frozen=True)
class Page:
    path: str
    dwell: int  # seconds until the tab leaves the page
    navigation: int  # seconds from leaving to the next page's pageview
    engaged_ms: int
    shown: Delivery  # the pageview
    ping: Ping | None  # an engagement beacon while the page is shown (hidden, then visible)
    leave: Delivery | None  # the engagement beacon of leaving (pagehide)


@dataclass(frozen=True)
class Tab:
    offset: int  # seconds after the session starts
    pages: tuple[Page, ...]


@dataclass(frozen=True)
class Session:
    gap: int  # seconds idle after the previous session's last beacon (ignored for the first)
    network: str
    tabs: tuple[Tab, ...]


@dataclass(frozen=True)
class Browser:
    agent: str
    start: int  # seconds after BASE
    sessions: tuple[Session, ...]


@dataclass(frozen=True)
class Beacon:
    sent: int
    type: str
    path: str
    engaged_ms: int
    delivery: Delivery
    address: str


deliveries = st.builds(
    Delivery,
    latency=st.one_of(st.integers(0, 2), st.integers(3, 90)),
    lost=st.booleans(),
    duplicate=st.none() | st.integers(0, 60),
)


@st.composite
def pages(draw: st.DrawFn) -> Page:
    dwell = draw(st.one_of(st.integers(1, 120), st.integers(121, 2400)))
    return Page(
        path=draw(st.sampled_from(PATHS)),
        dwell=dwell,
        navigation=draw(st.integers(0, 3)),
        engaged_ms=draw(st.integers(1, 600_000)),
        shown=draw(deliveries),
        ping=draw(st.none() | st.builds(Ping, st.integers(0, dwell), deliveries)),
        leave=draw(st.none() | deliveries),
    )


gaps = st.one_of(
    st.integers(5, 25 * 60),  # the visit goes on
    st.integers(30 * 60 + 1, 3 * 3600),  # the state has expired: tabs restored, or a new visit
    st.integers(20 * 3600, 26 * 3600),  # the next day, or the day after
)
tabs = st.builds(
    Tab,
    offset=st.one_of(st.integers(0, 2), st.integers(3, 900)),  # together, or later
    pages=st.lists(pages(), min_size=1, max_size=3).map(tuple),
)


@st.composite
def sessions(draw: st.DrawFn) -> Session:
    opened = draw(st.lists(tabs, min_size=1, max_size=3))
    return Session(
        gap=draw(gaps),
        network=draw(st.sampled_from(sorted(NETWORKS))),
        tabs=(Tab(0, opened[0].pages), *opened[1:]),  # the first tab starts the session
    )


browsers = st.builds(
    Browser,
    agent=st.sampled_from(sorted(USER_AGENTS)),
    start=st.one_of(st.integers(0, 3 * 3600), st.integers(3 * 3600 - 900, 3 * 3600)),  # by midnight
    sessions=st.lists(sessions(), min_size=1, max_size=3).map(tuple),
)


def beacons_of(browser: Browser) -> list[Beacon]:
    sent: list[Beacon] = []
    start = BASE + browser.start
    for index, session in enumerate(browser.sessions):
        if index:
            start = max(beacon.sent for beacon in sent) + session.gap
        address = NETWORKS[session.network]
        for tab in session.tabs:
            moment = start + tab.offset
            for page in tab.pages:
                engaged = page.engaged_ms
                sent.append(Beacon(moment, "pageview", page.path, 0, page.shown, address))
                if page.ping is not None:
                    at, delivery = moment + page.ping.at, page.ping.delivery
                    sent.append(Beacon(at, "engagement", page.path, engaged, delivery, address))
                if page.leave is not None:
                    at, delivery = moment + page.dwell, page.leave
                    sent.append(Beacon(at, "engagement", page.path, engaged, delivery, address))
                moment += page.dwell + page.navigation
    return sent


def play(pipeline: Pipeline, site: str, played: Iterable[Browser]) -> list[Row]:
    """Every delivery's row, in the order they reach the collector."""
    signer, order = pipeline.signer, itertools.count()
    arrived: list[tuple[int, int, Row]] = []
    for browser in played:
        jar: str | None = None
        # (time, 0: a beacon is sent | 1: an answer reaches the jar, order, beacon | token)
        timeline: list[tuple[int, int, int, Any]] = [
            (beacon.sent, 0, next(order), beacon) for beacon in beacons_of(browser)
        ]
        heapq.heapify(timeline)
        while timeline:
            _, kind, _, what = heapq.heappop(timeline)
            if kind == 1:
                jar = what
                continue
            beacon: Beacon = what
            token, delivery = jar, beacon.delivery
            first = beacon.sent + delivery.latency
            again = () if delivery.duplicate is None else (first + delivery.duplicate,)
            body = orjson.dumps(
                {
                    "site": site,
                    "type": beacon.type,
                    "url": f"https://{site}{beacon.path}",
                    "consent": "manual",
                    "engaged_ms": beacon.engaged_ms,
                }
            )
            for now in (first, *again):
                incoming = Incoming(
                    body=body,
                    client_ip=beacon.address,
                    user_agent=USER_AGENTS[browser.agent],
                    origin=f"https://{site}",
                    cookie_state=token,
                    global_privacy_control=False,
                    now=now,
                )
                outcome = pipeline.run(incoming)
                assert isinstance(outcome, Accepted), outcome
                arrived.append((now, next(order), outcome.row))
                if not delivery.lost:
                    answer = signer.sign(outcome.state)
                    heapq.heappush(timeline, (now, 1, next(order), answer))
    return [row for _, _, row in sorted(arrived, key=lambda found: found[:2])]


# Three schedules of the kinds the strategies make, for explicit examples. Each one breaks
# per-event running sums.
ON_TIME = Delivery(latency=0, lost=False, duplicate=None)


def _page(path: str, dwell: int = 60, navigation: int = 1, leave: Delivery | None = None) -> Page:
    return Page(path, dwell, navigation, 5000, ON_TIME, None, leave)


def _tab(offset: int, *pages: Page) -> Tab:
    return Tab(offset, pages)


# One page, then two links opened in new tabs at once: both pageviews carry the same state.
PARALLEL_TABS = Browser(
    agent="chrome",
    start=0,
    sessions=(
        Session(5, "lyon", (_tab(0, _page("/")), _tab(61, _page("/a")), _tab(61, _page("/b")))),
    ),
)
# The leaving page's beacon reaches the collector 4 s late: its answer overwrites the newer state.
_LEFT_LATE = _page("/", navigation=0, leave=Delivery(latency=4, lost=False, duplicate=None))
LEAVING_RACES_NEXT_PAGE = Browser(
    agent="iphone",
    start=0,
    sessions=(Session(5, "paris", (_tab(0, _LEFT_LATE, _page("/a"), _page("/b")),)),),
)
# A visit from 23:58 whose leaving beacon comes after midnight; 40 minutes later, on another
# network, three tabs restored with the expired state (asked for the next day only).
RESTORED_AFTER_MIDNIGHT = Browser(
    agent="chrome",
    start=3 * 3600 - 120,
    sessions=(
        Session(5, "lyon", (_tab(0, _page("/", dwell=150, leave=ON_TIME)),)),
        Session(
            2400, "brussels", (_tab(0, _page("/a")), _tab(0, _page("/b")), _tab(2, _page("/c")))
        ),
    ),
)
# A visit that moves from one network to another after ten minutes (a phone leaving the office's
# Wi-Fi): its city and operator are those of its first event, not of its last.
NETWORK_CHANGED_IN_A_VISIT = Browser(
    agent="iphone",
    start=3600,
    sessions=(
        Session(5, "paris", (_tab(0, _page("/", leave=ON_TIME)),)),
        Session(600, "brussels", (_tab(0, _page("/a", leave=ON_TIME)),)),
    ),
)
# Four pages from 23:58 with their leaving beacons: a visit across the hour, its events in
# several insert blocks, so that it has rows in both hours.
ACROSS_THE_HOUR = Browser(
    agent="chrome",
    start=3 * 3600 - 120,
    sessions=(
        Session(
            5, "paris", (_tab(0, *(_page(p, leave=ON_TIME) for p in ("/", "/a", "/b", "/c"))),)
        ),
    ),
)
