"""Visit metrics are exact under real browsing: a property-based test (Hypothesis).

What it proves: whatever a browser's tabs, races, lost answers, duplicates and restores make of
the visitor state, every number the dashboards show (``Stats.summary``, every breakdown of
``DIMENSIONS`` with ``min_cell=1``, the time series) equals, on both query paths (rollups and
events), an independent computation in plain Python from the rows read back from
``audience.events``, visit by visit (DESIGN section 5: every visit metric is a function of the set
of the visit's stored events), the engaged time included (the engagement rate with the site's
own threshold, the time on page and exit rate of the page rows); that every breakdown asked at
once (as the dashboard page asks them) gives the rows it gives alone; and that no count is
negative, every rate lies in [0, 1], exits and bounces never exceed visits, and the two paths
agree.

The browsing (``tests.browsing``): browsers, each one cookie jar shared by its tabs, open and
restore tabs together (forking the signed state), race the leaving page's beacon against the
next pageview, lose answers (the jar keeps its old token), get beacons delivered twice, change
networks within a visit and come back after the visit timeout or the next day. The rows go
through the real pipeline, a real ``SpoolProducer`` (small segments) and the real ``Writer``
into one migrated chDB store; each Hypothesis example has its own site.

The closed visits' rollups (``collector.storage.closed_visits``), which the rollup path reads
before the watermark: an example may have them written at some moment of its browsing, from the
rows that had arrived by then, some held back (a spool replayed later); the held-back rows and
those that arrive afterwards are stored late, marked by the writer, and their hours written again
by the next turn, when it has come (else the numbers must be exact while the marks wait: the
readers merge the visits the marks may have changed). The rollup path then reads the rollups
before the watermark and merges the open visits after it; without that moment, the watermark is
unset and it merges every visit.

The reference follows the definitions below; where they left room, these choices:
- A visit is the stored rows sharing a ``visit`` id, counted only with at least one pageview.
  Duplicated deliveries are distinct stored rows and count like any other (a duplicated
  pageview makes two pageviews: not a bounce). ``ts`` has whole seconds: durations are integers.
- The visit's visitor is that of its first event (all its events carry the same one).
- Visitors of a visit dimension (visit number, days since last visit, entry and exit page) are
  the distinct visitors of the visits in the cell.
- Engagement-only groups are not visits, but their events count for visitors, returning visitors
  and the event breakdowns' visitors.
- Engaged time (README, metrics): a visit's is the sum of its engagement events' engaged_ms (a
  duplicated delivery counts twice, as stored); a page's in a visit, that of its engagement events
  on the page's path. A visit is engaged with two pageviews or the site's threshold (drawn). The
  time on page of a row is the average and median (seconds, one decimal; None without a visit)
  over its visits: the visits entering or leaving on the page, or for the Pages those showing
  it, which have a row only when the page has an event in the period; the exit rate, the visits
  leaving on the page over its pageviews in the visits showing it.
- Breakdown rows are matched by ``value``; with ``min_cell=1`` none may be "Other"; a row exists
  when it has visitors or visits (``Stats`` drops the others, the reference never makes them).
- Time-series buckets are those of ``Period.buckets`` ('hour': local '%Y-%m-%d %H:00', 'day':
  the local date); events outside the period are in none.
- Of the summary, only ``current`` is compared (the previous period holds no event), with the
  reference and between the two paths.

Each example asks one of three periods in the site's time zone (Europe/Paris): one covering every
event (by day), the first day and the next one (by hour). These two meet at the midnight many
visits cross: such a visit counts, with all its events, on the day it started, while its events
after midnight count for the next day's visitors and pageviews. An example costs about a second
(some 35 queries), hence few examples, besides explicit ones from ``tests.browsing`` (parallel
tabs, a leaving beacon racing the next pageview, tabs restored after midnight, a visit across the
hour, a visit that changes networks); a failing example stops at the first wrong number (summary
and series, then each breakdown), so that shrinking stays short.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from collector.ingest.geo import GeoLocator
from collector.ingest.pipeline import Pipeline
from collector.ops.metrics import Metrics
from collector.storage.closed_visits import ClosedVisits
from collector.storage.rows import Row, encode_row
from collector.storage.sites import Site, SiteRegistry
from collector.storage.spool import SpoolProducer
from collector.storage.spool_consumer import SpoolConsumer
from collector.storage.store import Store
from collector.storage.writer import Writer
from collector.web.ratelimit import RateLimiter
from collector.web.visitor import StateSigner
from dashboards.periods import Period, StatsQuery
from dashboards.stats import DIMENSIONS, Stats
from tests.browsing import (
    ACROSS_THE_HOUR,
    BASE,
    DAY,
    LEAVING_RACES_NEXT_PAGE,
    NETWORK_CHANGED_IN_A_VISIT,
    PARALLEL_TABS,
    RESTORED_AFTER_MIDNIGHT,
    TIMEZONE,
    Browser,
    browsers,
    play,
)
from tests.conftest import SECRET, GeoFiles, migrated_store_at

# The first covers every event; the others end and start at the first midnight, which many
# visits cross (browsers often start a quarter of an hour before it).
QUERIES = (
    (Period("custom", DAY, DAY + timedelta(days=3), TIMEZONE), "day"),
    (Period("custom", DAY, DAY, TIMEZONE), "hour"),
    (Period("custom", DAY + timedelta(days=1), DAY + timedelta(days=1), TIMEZONE), "hour"),
)
SPOOL_BATCH_ROWS = 25  # several segments, so several insert batches, per example
WRITER_TURN_SECONDS = 300  # the rows that arrive within one such span are stored together
KPIS = (
    "visitors",
    "visits",
    "pageviews",
    "pages_per_visit",
    "bounce_rate",
    "engagement_rate",
    "visit_duration",
    "returning_share",
)
RATES = ("bounce_rate", "engagement_rate", "returning_share", "exit_rate")
PAGE_TIMES = ("time_on_page", "median_time_on_page")
# What a visit takes from its first event: each its value there (a tie on the second: the smallest).
ATTRIBUTES = (
    "visit_number",
    "days_since_last_visit",
    "city",
    "country",
    "operator",
    "browser",
    "browser_version",
    "os",
    "device",
)
# The columns read back: those that stay in audience.events whatever computes the visit metrics.
COLUMNS = (
    "site",
    "ts",
    "type",
    "path",
    "visitor",
    "visit",
    *ATTRIBUTES[:2],
    "engaged_ms",
    *ATTRIBUTES[2:],
)
_sites = itertools.count()


# ---- the real road: pipeline, spool, writer, store -------------------------------------------


@dataclass(frozen=True)
class World:
    store: Store
    geo: GeoLocator
    signer: StateSigner
    spool_root: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, geo_files: GeoFiles) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("visit-metrics")
    store = migrated_store_at(folder / "clickhouse")
    try:
        yield World(
            store,
            GeoLocator(geo_files.city, geo_files.isp),
            StateSigner(SECRET.encode()),
            folder / "spool",
        )
    finally:
        store.close()


def store_rows(world: World, site: str, rows: list[Row], spool: str = "") -> int:
    """Spool the rows as the collector does, then let the writer insert the sealed segments, a
    span of arrival times after another: a visit across spans has rows in several blocks."""
    spans: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        spans[row.ts // WRITER_TURN_SECONDS].append(row)
    return sum(store_span(world, site, spans[span], spool) for span in sorted(spans))


def store_span(world: World, site: str, rows: list[Row], spool: str) -> int:
    root = world.spool_root / f"{site}{spool}"

    async def append_all() -> None:
        spool = SpoolProducer(
            root, quota_bytes=64 << 20, batch_rows=SPOOL_BATCH_ROWS, flush_interval=0.05
        )
        await spool.start()
        try:
            await asyncio.gather(*(spool.append(encode_row(row)) for row in rows))
        finally:
            await spool.close()

    asyncio.run(append_all())
    consumer = SpoolConsumer(root)
    stored = Writer(consumer, world.store, Metrics()).drain()
    assert consumer.sealed() == []
    return stored


ROLLUP_TABLES = (
    "visit_rollup", "visit_rollup_daily", "closed_visits", "visit_rollup_through",
    "visit_rollup_stale",
)  # fmt: skip


def store_and_roll_up(
    world: World, site: str, rows: list[Row], rolled: tuple[int, int, bool]
) -> int:
    """Store the rows that arrived ``rolled[0]`` seconds after BASE but every ``rolled[1]``-th
    (none if 0), roll up the visits closed at that moment, then store the rest, late (their
    hours marked), and, if ``rolled[2]``, take the next turn, which writes those hours again."""
    offset, every, caught_up = rolled
    at = BASE + offset
    held = {i for i, row in enumerate(rows) if row.ts >= at or (every and i % every == 0)}
    closed = ClosedVisits(world.store)
    moment = datetime.fromtimestamp(at, UTC)
    stored = store_rows(world, site, [r for i, r in enumerate(rows) if i not in held])
    while closed.turn(moment, budget=60.0):
        pass
    stored += store_rows(world, site, [r for i, r in enumerate(rows) if i in held], "-late")
    if caught_up:
        assert not closed.turn(moment, budget=60.0)
        [[marks]] = world.store.rows("SELECT count() FROM audience.visit_rollup_stale")
        assert marks == 0, "the late rows' marks are taken by the turn"
    return stored


def read_back(store: Store, site: str) -> list[dict[str, Any]]:
    rows = store.query_dicts(
        f"SELECT {', '.join(COLUMNS)} FROM audience.events WHERE site = {{site:String}}",
        {"site": site},
    )
    for row in rows:
        if row["ts"].tzinfo is None:
            row["ts"] = row["ts"].replace(tzinfo=UTC)
    return rows


# ---- the reference: DESIGN section 5 from the stored rows -----------------------------------


@dataclass(frozen=True)
class Visit:
    visitor: int
    start: datetime
    duration: int
    pageviews: int
    entry: str
    exit: str
    first: dict[str, Any]  # per attribute, its value on the first event (ties: the smallest)
    engaged_ms: int
    shown: dict[str, int]  # pageviews per path
    times: dict[str, int]  # engaged ms per path

    @property
    def bounce(self) -> bool:
        return self.pageviews == 1

    def engaged(self, seconds: int) -> bool:
        return self.pageviews >= 2 or self.engaged_ms >= 1000 * seconds


def group_visits(rows: list[dict[str, Any]]) -> list[Visit]:
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[row["visit"]].append(row)
    visits = []
    for events in grouped.values():
        shown = sorted((e["ts"], e["path"]) for e in events if e["type"] == "pageview")
        if not shown:
            continue  # engagement events only: not a visit
        # Each attribute: its value on the first event, a tie on the second to the smallest.
        first = {a: min((e["ts"], e[a]) for e in events)[1] for a in (*ATTRIBUTES, "visitor")}
        first["browser_release"] = min(
            (e["ts"], f"{e['browser']} {e['browser_version']}") for e in events
        )[1]
        start, end = min(e["ts"] for e in events), max(e["ts"] for e in events)
        duration = int((end - start).total_seconds())
        engagements = [e for e in events if e["type"] == "engagement"]
        times: dict[str, int] = defaultdict(int)
        for event in engagements:
            times[event["path"]] += event["engaged_ms"]
        visits.append(
            Visit(
                first["visitor"], start, duration, len(shown), shown[0][1], shown[-1][1], first,
                sum(e["engaged_ms"] for e in engagements), Counter(path for _, path in shown),
                dict(times),
            )
        )  # fmt: skip
    return visits


def ratio(numerator: float, denominator: int) -> float:
    return round(numerator / denominator, 4) if denominator else 0.0


def visit_bucket(number: int) -> str:
    for top, name in ((1, "1"), (2, "2"), (3, "3"), (7, "4-7"), (14, "8-14")):
        if number <= top:
            return name
    return "15+"


def days_bucket(event: dict[str, Any]) -> str:
    if event["visit_number"] == 1:
        return "first visit"
    days = event["days_since_last_visit"]
    for top, name in (
        (0, "same day"),
        (1, "1 day"),
        (7, "2-7 days"),
        (30, "8-30 days"),
        (90, "31-90 days"),
    ):
        if days <= top:
            return name
    return "over 90 days"


def event_value(event: dict[str, Any], dimension: str) -> str:
    if dimension == "page":
        return str(event["path"])
    if dimension == "browser_version":
        return f"{event['browser']} {event['browser_version']}"
    if dimension == "visitor_type":
        return "new" if event["visit_number"] == 1 else "returning"
    return str(event[dimension])


def visit_value(visit: Visit, dimension: str) -> str:
    if dimension == "entry_page":
        return visit.entry
    if dimension == "exit_page":
        return visit.exit
    if dimension == "visit_number":
        return visit_bucket(visit.first["visit_number"])
    if dimension == "days_since_last_visit":
        return days_bucket(visit.first)
    if dimension == "browser_version":
        return str(visit.first["browser_release"])
    return event_value(visit.first, dimension)


def visit_cell(visits: list[Visit], threshold: int) -> dict[str, Any]:
    count = len(visits)
    return {
        "visits": count,
        "bounce_rate": ratio(sum(v.bounce for v in visits), count),
        "engagement_rate": ratio(sum(v.engaged(threshold) for v in visits), count),
        "visit_duration": ratio(sum(v.duration for v in visits), count),
    }


def page_times(visits: list[Visit], page: str) -> dict[str, Any]:
    """The time on ``page`` over ``visits``: average and median in seconds, one decimal."""
    times = [v.times.get(page, 0) for v in visits]
    if not times:
        return dict.fromkeys(PAGE_TIMES)
    return {
        "time_on_page": round(sum(times) / len(times) / 1000, 1),
        "median_time_on_page": round(statistics.median(times) / 1000, 1),
    }


Flat = dict[tuple[str, ...], Any]


class Reference:
    def __init__(self, rows: list[dict[str, Any]], threshold: int) -> None:
        self.rows = rows
        self.visits = group_visits(rows)
        self.threshold = threshold  # the site's engaged seconds

    def chosen(
        self, period: Period, bucket: str | None = None, interval: str = ""
    ) -> tuple[list[dict[str, Any]], list[Visit]]:
        """The events in the period (and bucket), and the visits that start there."""

        def inside(moment: datetime) -> bool:
            if not period.start <= moment < period.end:
                return False
            return bucket is None or bucket_of(moment, period.timezone, interval) == bucket

        events = [e for e in self.rows if inside(e["ts"])]
        return events, [v for v in self.visits if inside(v.start)]

    def kpis(self, events: list[dict[str, Any]], visits: list[Visit]) -> dict[str, Any]:
        visitors = len({e["visitor"] for e in events})
        pageviews = sum(e["type"] == "pageview" for e in events)
        returning = len({e["visitor"] for e in events if e["visit_number"] > 1})
        return {
            "visitors": visitors,
            "pageviews": pageviews,
            "pages_per_visit": ratio(pageviews, len(visits)),
            "returning_share": ratio(returning, visitors),
            **visit_cell(visits, self.threshold),
        }

    def totals(self, period: Period, interval: str) -> Flat:
        """The summary and the time series."""
        flat: Flat = {}
        for name, value in self.kpis(*self.chosen(period)).items():
            flat["summary", name] = value
        for bucket in period.buckets(interval):
            for name, value in self.kpis(*self.chosen(period, bucket, interval)).items():
                flat["series", bucket, name] = value
        return flat

    def breakdown_of(self, period: Period, dimension: str) -> Flat:
        """A breakdown, in the columns its dimension declares."""
        events, visits = self.chosen(period)
        return {
            (dimension, value, column): cell[column]
            for value, cell in self.breakdown(events, visits, dimension).items()
            for column in DIMENSIONS[dimension].columns
        }

    def breakdown(
        self, events: list[dict[str, Any]], visits: list[Visit], dimension: str
    ) -> dict[str, dict[str, Any]]:
        cells: dict[str, dict[str, Any]] = {}
        if dimension == "frequency":
            started = Counter(v.visitor for v in visits)
            buckets: dict[str, list[int]] = defaultdict(list)
            for count in started.values():
                buckets[visit_bucket(count)].append(count)
            return {b: {"visitors": len(c), "visits": sum(c)} for b, c in buckets.items()}
        by_visit: dict[str, list[Visit]] = defaultdict(list)
        if dimension != "page":
            for visit in visits:
                by_visit[visit_value(visit, dimension)].append(visit)
        if DIMENSIONS[dimension].source in ("pages", "visit"):
            for value, own in by_visit.items():
                cells[value] = {
                    "visitors": len({v.visitor for v in own}),
                    **visit_cell(own, self.threshold),
                    **page_times(own, value),
                }
                cells[value]["entries"] = cells[value]["exits"] = len(own)
            return cells
        by_event: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for event in events:
            by_event[event_value(event, dimension)].append(event)
        if dimension == "page":  # the visits showing each page with an event in the period
            for visit in visits:
                for page in visit.shown.keys() & by_event.keys():
                    by_visit[page].append(visit)
        for value in by_event.keys() | by_visit.keys():
            own_events = by_event.get(value, [])
            own = by_visit.get(value, [])
            cells[value] = {
                "visitors": len({e["visitor"] for e in own_events}),
                "pageviews": sum(e["type"] == "pageview" for e in own_events),
                **visit_cell(own, self.threshold),
            }
            if dimension == "page":
                cells[value] |= page_times(own, value)
                shown = sum(v.shown[value] for v in own)
                cells[value]["exit_rate"] = ratio(sum(v.exit == value for v in own), shown)
        return cells


def bucket_of(moment: datetime, timezone: str, interval: str) -> str:
    local = moment.astimezone(ZoneInfo(timezone))
    if interval == "hour":
        return local.strftime("%Y-%m-%d %H:00")
    assert interval == "day", interval
    return local.date().isoformat()


# ---- what Stats shows -----------------------------------------------------------------------


def shown_totals(stats: Stats, query: StatsQuery) -> Flat:
    flat: Flat = {}
    for name, value in stats.summary(query)["current"].items():
        flat["summary", name] = value
    for point in stats.timeseries(query):
        for name in KPIS:
            flat["series", point["bucket"], name] = point[name]
    return flat


def shown_breakdown(rows: list[dict[str, Any]], dimension: str) -> Flat:
    """The rows of ``Stats.breakdown(query, dimension, limit=1000)``, flat."""
    flat: Flat = {}
    for row in rows:
        value = f"{row['label']} (folded)" if row["other"] else row["value"]  # never, here
        for column in DIMENSIONS[dimension].columns:
            if row[column] is None and (dimension, column) == ("exit_page", "visitors"):
                continue  # None today (see differences)
            flat[dimension, value, column] = row[column]
    return flat


def invariants(flat: Flat) -> list[str]:
    """Negative counts, rates outside [0, 1], more entries or exits than visits."""
    problems = []
    for key, value in flat.items():
        if value is None and key[-1] in PAGE_TIMES:
            continue  # a row without a visit has no time on page
        if value is None or value < 0 or (key[-1] in RATES and value > 1):
            problems.append(f"{' '.join(key)} = {value}")
    visits = flat["summary", "visits"]
    for side in ("entries", "exits"):
        total = sum(v for k, v in flat.items() if k[-1] == side)
        if total > visits:
            problems.append(f"{total} {side} for {visits} visits")
    return problems


def differences(expected: Flat, found: Flat, names: tuple[str, str]) -> list[str]:
    lines = []
    for key in sorted(expected.keys() | found.keys()):
        if key[0] == "exit_page" and key[-1] == "visitors" and key not in found:
            continue  # Stats gives None today: compared once it gives a number
        left, right = expected.get(key, "absent"), found.get(key, "absent")
        if left != right:
            lines.append(f"{' '.join(key)}: {names[0]} {left}, {names[1]} {right}")
    return lines


def problems(expected: Flat, found: dict[str, Flat]) -> list[str]:
    lines = []
    for path, flat in found.items():
        lines += [f"{path}: {line}" for line in invariants(flat)]
        lines += differences(expected, flat, ("expected", path))
    return lines + differences(found["rollups"], found["events"], ("rollups", "events"))


def table(rows: list[dict[str, Any]]) -> str:
    """The stored rows, by visit then time, with short names for visitors and visits."""
    zone = ZoneInfo(TIMEZONE)
    visitors: dict[int, str] = {}
    visits: dict[int, str] = {}
    for row in sorted(rows, key=lambda r: (r["ts"], r["type"], r["path"])):
        visitors.setdefault(row["visitor"], f"P{len(visitors) + 1}")
        visits.setdefault(row["visit"], f"V{len(visits) + 1}")
    lines = ["visit visitor local time      type        path  nr days city"]
    for row in sorted(rows, key=lambda r: (int(visits[r["visit"]][1:]), r["ts"], r["type"])):
        when = row["ts"].astimezone(zone).strftime("%m-%d %H:%M:%S")
        lines.append(
            f"{visits[row['visit']]:<5} {visitors[row['visitor']]:<7} {when:<14} "
            f"{row['type']:<11} {row['path']:<5} {row['visit_number']:>2} "
            f"{row['days_since_last_visit']:>4} {row['city']}"
        )
    return "\n".join(lines)


def verdict(found: list[str], where: str, rows: list[dict[str, Any]]) -> None:
    """One place that fails, so that Hypothesis sees one bug wherever it shows first."""
    assert not found, "\n".join(
        [f"{where}: {len(found)} problems, the first ones:", *found[:40], table(rows)]
    )


# ---- the property -----------------------------------------------------------------------------


@settings(
    max_examples=6,
    deadline=None,
    # Not Phase.explain: it reruns the failing example under tracing, for a minute or more.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    played=st.lists(browsers, min_size=1, max_size=3),
    asked=st.sampled_from(QUERIES),
    # When the rollups are written (seconds after BASE), and which arrived rows are held back.
    rolled=st.one_of(
        st.none(),
        st.tuples(
            st.one_of(st.integers(0, 5 * 3600), st.integers(5 * 3600, 3 * 86_400)),
            st.sampled_from((0, 2, 3)),
            st.booleans(),  # the writer's next turn came, or the late rows' marks still wait
        ),
    ),
    threshold=st.integers(1, 600),  # the site's engaged seconds
)
@example(played=[PARALLEL_TABS], asked=QUERIES[0], rolled=None, threshold=10)
@example(
    played=[LEAVING_RACES_NEXT_PAGE], asked=QUERIES[0], rolled=(2 * 3600, 3, True), threshold=1
)
@example(
    played=[RESTORED_AFTER_MIDNIGHT], asked=QUERIES[2], rolled=(2 * 86_400, 2, False), threshold=600
)
# Rolled up 40 minutes after a visit across the hour: the watermark is that hour.
@example(played=[ACROSS_THE_HOUR], asked=QUERIES[0], rolled=(13_500, 0, True), threshold=10)
# A visit that changes networks, rolled up two days later: its city is its first event's.
@example(
    played=[NETWORK_CHANGED_IN_A_VISIT], asked=QUERIES[0], rolled=(2 * 86_400, 0, True), threshold=5
)
# Rolled up two days later, half the rows late: whole UTC days come from the daily rollups.
@example(
    played=[RESTORED_AFTER_MIDNIGHT], asked=QUERIES[0], rolled=(2 * 86_400, 2, True), threshold=30
)
def test_visit_metrics_are_functions_of_the_stored_events(
    world: World,
    played: list[Browser],
    asked: tuple[Period, str],
    rolled: tuple[int, int, bool] | None,
    threshold: int,
) -> None:
    site = f"visits{next(_sites)}.example"
    pipeline = Pipeline(
        sites=SiteRegistry({site: Site(site, timezone=TIMEZONE)}),
        geo=world.geo,
        signer=world.signer,
        limiter=RateLimiter(0, 1),
        metrics=Metrics(),
    )
    delivered = play(pipeline, site, played)
    world.store.save_site(Site(site, timezone=TIMEZONE, engaged_seconds=threshold))
    for table in ROLLUP_TABLES:  # the rollups of this example only
        world.store.execute(f"TRUNCATE TABLE audience.{table}")
    if rolled is None:
        assert store_rows(world, site, delivered) == len(delivered)
    else:
        assert store_and_roll_up(world, site, delivered, rolled) == len(delivered)
    rows = read_back(world.store, site)
    assert len(rows) == len(delivered)
    period, interval = asked
    query = StatsQuery(site, period, {}, interval)
    where = f"{period.first} to {period.last} in {period.timezone}, by {interval}"
    reference = Reference(rows, threshold)
    paths = {
        "rollups": Stats(world.store, 1, rollups=True),
        "events": Stats(world.store, 1, rollups=False),
    }
    # The summary and the series first, then each breakdown as the dashboard asks them (all at
    # once: one query per source on the rollup path), checked one dimension at a time: an example
    # fails at its first wrong number, which keeps shrinking (it runs hundreds of examples) short.
    expected = reference.totals(period, interval)
    found = {path: shown_totals(stats, query) for path, stats in paths.items()}
    verdict(problems(expected, found), where, rows)
    together = {path: stats.breakdowns(query, list(DIMENSIONS), limit=1000)
                for path, stats in paths.items()}  # fmt: skip
    for dimension in DIMENSIONS:
        expected |= reference.breakdown_of(period, dimension)
        for path in paths:
            found[path] |= shown_breakdown(together[path][dimension], dimension)
        verdict(problems(expected, found), where, rows)
    # One breakdown asked alone (a dimension chosen by the example) gives the same rows.
    alone = sorted(DIMENSIONS)[threshold % len(DIMENSIONS)]
    for path, stats in paths.items():
        assert stats.breakdown(query, alone, limit=1000) == together[path][alone], (path, alone)
