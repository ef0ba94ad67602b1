"""The stats layer against an independent computation of DESIGN section 5.

Realistic visitors go through the real pipeline (consent, GeoIP, User-Agent, visitor state) into
the embedded store with the writer's insert, and the closed visits are rolled up; then every
number of the summary, every breakdown and the time series is recomputed here in plain Python
from the stored events, visit by visit, for several periods, filters and time zones, on the
rollups and on the events. That includes the engaged time (README, metrics): the engagement rate
with the site's own threshold (not the default), and the time on page (average, median) and exit
rate of the Pages, Entry pages and Exit pages rows.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from collector.demo.geodb import write_city_db, write_isp_db
from collector.demo.traffic import VisitorModel, networks
from collector.ingest.geo import GeoLocator
from collector.ingest.pipeline import Accepted, Incoming, Pipeline
from collector.ops.metrics import Metrics
from collector.storage.closed_visits import ClosedVisits
from collector.storage.rows import COLUMNS, encode_row
from collector.storage.sites import Site, SiteRegistry
from collector.storage.store import Store
from collector.web.ratelimit import RateLimiter
from collector.web.visitor import StateSigner
from dashboards.periods import Period, StatsQuery
from dashboards.site_admin import SiteAdmin
from dashboards.stats import DIMENSIONS, OTHER, UNKNOWN, Stats
from tests.conftest import migrated_store_at

SITE = "shop.example"
TODAY = date(2026, 11, 20)
DAYS = 12
ENGAGED_SECONDS = 25  # the site's threshold, not the default
PAGE_COLUMNS = ("time_on_page", "median_time_on_page", "exit_rate")


def feed(store: Store, folder: Path) -> None:
    plan = networks()
    city = write_city_db(folder / "city.mmdb", {n: (c, k) for n, (c, k, _) in plan.items()})
    isp = write_isp_db(folder / "isp.mmdb", {n: op for n, (_, _, op) in plan.items()})
    pipeline = Pipeline(
        sites=SiteRegistry({SITE: Site(SITE)}),
        geo=GeoLocator(city, isp),
        signer=StateSigner(b"stats-test-secret-0123456789abcdef"),
        limiter=RateLimiter(0, 1),
        metrics=Metrics(),
    )
    model = VisitorModel(400, seed=11)
    start = int(datetime(2026, 11, 8, tzinfo=UTC).timestamp())
    tokens: dict[int, str] = {}
    rows = []
    for event in model.plan(start, start + DAYS * 86_400):
        persona = model.personas[event.visitor]
        body = {"site": SITE, "type": event.type, "url": f"https://{SITE}{event.path}?q=1",
                "consent": persona.consent, "engaged_ms": event.engaged_ms}  # fmt: skip
        outcome = pipeline.run(
            Incoming(
                orjson.dumps(body),
                persona.ip,
                persona.user_agent,
                f"https://{SITE}",
                tokens.get(event.visitor),
                False,
                event.ts,
            )
        )
        if isinstance(outcome, Accepted):
            tokens[event.visitor] = pipeline.signer.sign(outcome.state)
            rows.append(encode_row(outcome.row))
    for index in range(0, len(rows), 1000):
        store.insert_events(rows[index : index + 1000], f"stats-test-{index}")
    store.save_site(Site(SITE, engaged_seconds=ENGAGED_SECONDS))
    # The visits closed by then are rolled up: the rollup path reads them.
    closed = ClosedVisits(store)
    while closed.turn(datetime(2026, 11, 25, tzinfo=UTC), budget=60.0):
        pass


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    folder = tmp_path_factory.mktemp("stats")
    opened = migrated_store_at(folder / "clickhouse")
    feed(opened, folder)
    try:
        yield opened
    finally:
        opened.close()


# ---- the independent computation ----------------------------------------------------------


@dataclass
class Visit:
    events: list[dict[str, Any]]

    @property
    def start(self) -> datetime:
        return self.events[0]["ts"]

    @property
    def pageviews(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == "pageview"]

    @property
    def engaged(self) -> bool:
        return self.engaged_after(ENGAGED_SECONDS)

    def engaged_after(self, seconds: int) -> bool:
        engaged_ms = sum(e["engaged_ms"] for e in self.events if e["type"] == "engagement")
        return len(self.pageviews) >= 2 or engaged_ms >= 1000 * seconds

    def time_on(self, path: str) -> int:
        """The visit's engaged ms on a page: its engagement events there."""
        return sum(e["engaged_ms"] for e in self.events if e["type"] == "engagement"
                   and e["path"] == path)  # fmt: skip


# What a page's row takes from one visit: its time on the page (ms), its pageviews of the page in
# the visit, whether the visit left on it.
Sample = tuple[int, int, bool]


class Reference:
    """DESIGN section 5, computed visit by visit from the stored events."""

    def __init__(self, events: list[dict[str, Any]], min_cell: int) -> None:
        self.events = sorted(events, key=lambda e: e["ts"])
        self.min_cell = min_cell
        grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for event in self.events:
            grouped[event["visit"]].append(event)
        self.visits = [Visit(group) for group in grouped.values()]
        self._matching: dict[tuple[tuple[str, str], ...], list[Visit]] = {}

    def matching(self, filters: dict[str, str]) -> list[Visit]:
        """The visits with an event that matches the filters (found once per set of filters:
        each comparison asks them again for every dimension and every day)."""
        key = tuple(sorted(filters.items()))
        if key not in self._matching:
            self._matching[key] = [
                v for v in self.visits if not filters or any(matches(e, filters) for e in v.events)
            ]
        return self._matching[key]

    def select(self, period: Period, filters: dict[str, str]) -> tuple[list[Any], list[Visit]]:
        start, end = period.start.replace(tzinfo=None), period.end.replace(tzinfo=None)
        chosen = self.matching(filters)
        events = [e for v in chosen for e in v.events if start <= e["ts"] < end]
        return events, [v for v in chosen if start <= v.start < end]

    def totals(self, events: list[Any], visits: list[Visit]) -> dict[str, Any]:
        return {
            "visitors": len({e["visitor"] for e in events}),
            "pageviews": sum(e["type"] == "pageview" for e in events),
            "returning": len({e["visitor"] for e in events if e["visit_number"] > 1}),
            "visits": len(visits),
            "bounces": sum(len(v.pageviews) == 1 for v in visits),
            "duration": sum((v.events[-1]["ts"] - v.start).total_seconds() for v in visits),
            "engaged": sum(v.engaged for v in visits),
        }

    def breakdown(self, period: Period, filters: dict[str, str], name: str) -> dict[str, Any]:
        events, visits = self.select(period, filters)
        spec = DIMENSIONS[name]
        cells: dict[str, tuple[list[Any], list[Visit]]] = defaultdict(lambda: ([], []))
        samples: dict[str, list[Sample]] = defaultdict(list)
        if spec.source == "pages":
            for visit in visits:
                if visit.pageviews:
                    page = visit.pageviews[0 if name == "entry_page" else -1]["path"]
                    cells[page][1].append(visit)
                    samples[page].append((visit.time_on(page), 0, False))
        elif spec.source == "frequency":
            per_visitor: dict[int, list[Visit]] = defaultdict(list)
            for visit in visits:
                per_visitor[visit.events[0]["visitor"]].append(visit)
            for own in per_visitor.values():
                cells[bucket(len(own))][1].extend(own)
        elif name == "page":
            # A page's visits: those that showed it; a row for the pages with events in the period.
            for event in events:
                cells[label(event, name)][0].append(event)
            for visit in visits:
                for page in {e["path"] for e in visit.pageviews} & cells.keys():
                    cells[page][1].append(visit)
                    shown = sum(e["path"] == page for e in visit.pageviews)
                    exit_page = visit.pageviews[-1]["path"]
                    samples[page].append((visit.time_on(page), shown, exit_page == page))
        else:
            for event in events:
                if spec.source == "traffic":
                    cells[label(event, name)][0].append(event)
            for visit in visits:
                cells[label(visit.events[0], name)][1].append(visit)
        result: dict[str, Any] = {}
        folded: tuple[list[Any], list[Visit]] = ([], [])
        folded_samples: list[Sample] = []
        for value, (cell_events, cell_visits) in cells.items():
            counted = (
                cell_events if spec.source == "traffic" else [v.events[0] for v in cell_visits]
            )
            size = len(cell_visits) if name == "exit_page" else len({e["visitor"] for e in counted})
            if size < self.min_cell:
                folded[0].extend(cell_events)
                folded[1].extend(cell_visits)
                folded_samples.extend(samples[value])
            else:
                row = self.row(spec.source, cell_events, cell_visits, samples[value])
                result[value or UNKNOWN] = row
        if folded[0] or folded[1]:
            result[OTHER] = self.row(spec.source, *folded, folded_samples)
        return result

    def row(
        self, source: str, events: list[Any], visits: list[Visit], samples: list[Sample]
    ) -> dict[str, Any]:
        totals = self.totals(events, visits)
        if source != "traffic":
            totals["visitors"] = len({v.events[0]["visitor"] for v in visits})
        times = [time for time, _, _ in samples]
        totals["time_on_page"] = round(sum(times) / len(times) / 1000, 1) if times else None
        totals["median_time_on_page"] = round(statistics.median(times) / 1000, 1) if times else None
        views, exits = sum(s[1] for s in samples), sum(s[2] for s in samples)
        totals["exit_rate"] = round(exits / views, 4) if views else 0.0
        return totals


def bucket(visits: int) -> str:
    for top, name in ((1, "1"), (2, "2"), (3, "3"), (7, "4-7"), (14, "8-14")):
        if visits <= top:
            return name
    return "15+"


def label(event: dict[str, Any], name: str) -> str:
    if name == "page":
        return str(event["path"])
    if name == "browser_version":
        return f"{event['browser']} {event['browser_version']}"
    if name == "visitor_type":
        return "new" if event["visit_number"] == 1 else "returning"
    if name == "visit_number":
        return bucket(event["visit_number"])
    if name == "days_since_last_visit":
        days = event["days_since_last_visit"]
        if event["visit_number"] == 1:
            return "first visit"
        for top, text in ((0, "same day"), (1, "1 day"), (7, "2-7 days"), (30, "8-30 days"),
                          (90, "31-90 days")):  # fmt: skip
            if days <= top:
                return text
        return "over 90 days"
    return str(event[name])


def matches(event: dict[str, Any], filters: dict[str, str]) -> bool:
    return all(
        label(event, "page" if key == "page" else key) == value for key, value in filters.items()
    )


def ratios(totals: dict[str, Any]) -> dict[str, Any]:
    visits, visitors = totals["visits"], totals["visitors"]
    return {
        "visitors": visitors,
        "visits": visits,
        "pageviews": totals["pageviews"],
        "pages_per_visit": round(totals["pageviews"] / visits, 4) if visits else 0.0,
        "bounce_rate": round(totals["bounces"] / visits, 4) if visits else 0.0,
        "engagement_rate": round(totals["engaged"] / visits, 4) if visits else 0.0,
        "visit_duration": round(totals["duration"] / visits, 4) if visits else 0.0,
        "returning_share": round(totals["returning"] / visitors, 4) if visitors else 0.0,
        **{k: totals[k] for k in PAGE_COLUMNS if k in totals},
    }


# ---- the comparisons ----------------------------------------------------------------------

PERIODS = [
    pytest.param("Europe/Paris", date(2026, 11, 8), date(2026, 11, 19), id="all-paris"),
    pytest.param("Europe/Paris", date(2026, 11, 12), date(2026, 11, 12), id="one-day-paris"),
    pytest.param("UTC", date(2026, 11, 10), date(2026, 11, 16), id="week-utc"),
    pytest.param("America/Montreal", date(2026, 11, 9), date(2026, 11, 15), id="week-montreal"),
    pytest.param("Asia/Kolkata", date(2026, 11, 9), date(2026, 11, 18), id="half-hour-zone"),
]
FILTER_SETS = [
    pytest.param({}, id="unfiltered"),
    pytest.param({"city": "Paris"}, id="city"),
    pytest.param({"page": "/pricing"}, id="page"),
    pytest.param({"device": "mobile", "country": "FR"}, id="device-and-country"),
]


@pytest.fixture(scope="module")
def reference(store: Store) -> Reference:
    rows = store.query_dicts(f"SELECT {', '.join(COLUMNS)} FROM audience.events")
    assert len(rows) > 2000 and len({r["visitor"] for r in rows}) > 150
    return Reference(rows, min_cell=1)


@pytest.mark.parametrize("filters", FILTER_SETS)
@pytest.mark.parametrize(("timezone", "first", "last"), PERIODS)
@pytest.mark.parametrize("rollups", [True, False], ids=["rollups", "events"])
def test_summary_breakdowns_and_series_match_the_definitions(
    store: Store, reference: Reference, timezone: str, first: date, last: date,
    filters: dict[str, str], rollups: bool,
) -> None:  # fmt: skip
    stats = Stats(store, min_cell=1, rollups=rollups)
    period = Period("custom", first, last, timezone)
    query = StatsQuery(SITE, period, filters, "day")
    events, visits = reference.select(period, filters)
    assert visits, "the period must hold visits"
    assert stats.totals(query) == ratios(reference.totals(events, visits))
    # Every breakdown at once, as the dashboard asks them.
    breakdowns = stats.breakdowns(query, list(DIMENSIONS), limit=1000)
    for name, spec in DIMENSIONS.items():
        shown = [{"entries": "visits", "exits": "visits"}.get(c, c) for c in spec.columns]
        expected = {
            value: {column: ratios(totals)[column] for column in shown}
            for value, totals in reference.breakdown(period, filters, name).items()
        }
        found = {
            row["label"]: {column: row[column] for column in shown} for row in breakdowns[name]
        }
        assert found == expected, name
    for point in stats.timeseries(query):
        day = date.fromisoformat(point["bucket"])
        day_period = Period("custom", day, day, timezone)
        expected = ratios(reference.totals(*reference.select(day_period, filters)))
        assert {k: point[k] for k in expected} == expected, point["bucket"]


@pytest.mark.parametrize("rollups", [True, False], ids=["rollups", "events"])
def test_small_cells_fold_into_other(store: Store, rollups: bool) -> None:
    stats = Stats(store, min_cell=5, rollups=rollups)
    reference = Reference(store.query_dicts(f"SELECT {', '.join(COLUMNS)} FROM audience.events"), 5)
    period = Period("custom", date(2026, 11, 12), date(2026, 11, 14), "Europe/Paris")
    query = StatsQuery(SITE, period, {}, "day")
    folded = 0
    for name, spec in DIMENSIONS.items():
        rows = stats.breakdown(query, name, limit=1000)
        shown = [{"entries": "visits", "exits": "visits"}.get(c, c) for c in spec.columns]
        expected = reference.breakdown(period, {}, name)
        assert {row["label"]: [row[c] for c in shown] for row in rows} == {
            value: [ratios(totals)[c] for c in shown] for value, totals in expected.items()
        }, name
        for row in rows:
            size = row["visits"] if name == "exit_page" else row["visitors"]
            assert row["other"] or size >= 5, (name, row)
        folded += any(row["other"] for row in rows)
        assert all(row["other"] for row in rows[-1:] if row["label"] == OTHER)
    assert folded >= 3, "the test data must exercise folding"


def test_hourly_series_in_a_zone_with_a_half_hour_offset(
    store: Store, reference: Reference
) -> None:
    stats = Stats(store, min_cell=1)
    period = Period("custom", date(2026, 11, 13), date(2026, 11, 13), "Asia/Kolkata")
    points = stats.timeseries(StatsQuery(SITE, period, {}, "hour"))
    assert [p["bucket"] for p in points][:2] == ["2026-11-13 00:00", "2026-11-13 01:00"]
    assert len(points) == 24
    zone = ZoneInfo("Asia/Kolkata")
    for point in points:
        local = datetime.strptime(point["bucket"], "%Y-%m-%d %H:%M").replace(tzinfo=zone)
        start, end = local.astimezone(UTC), (local + timedelta(hours=1)).astimezone(UTC)
        naive_start, naive_end = start.replace(tzinfo=None), end.replace(tzinfo=None)
        events = [e for e in reference.events if naive_start <= e["ts"] < naive_end]
        assert point["pageviews"] == sum(e["type"] == "pageview" for e in events)
        assert point["visitors"] == len({e["visitor"] for e in events})


def test_realtime_counts_the_last_five_minutes(store: Store, reference: Reference) -> None:
    last = max(e["ts"] for e in reference.events).replace(tzinfo=UTC)
    expected = len({e["visitor"] for e in reference.events
                    if e["ts"] >= (last - timedelta(minutes=5)).replace(tzinfo=None)})  # fmt: skip
    assert Stats(store, 1).realtime(SITE, now=last) == {"visitors": expected, "minutes": 5}
    assert expected >= 1


def test_a_new_engaged_threshold_counts_at_once_and_is_rolled_up_again(
    store: Store, reference: Reference
) -> None:
    """Changing a site's threshold marks its rolled-up hours: the rollup path merges the visits
    until the writer's next turn has written them again, and is right before and after it. (The
    module's store, one per process; its threshold is put back.)"""
    period = Period("custom", date(2026, 11, 8), date(2026, 11, 19), "Europe/Paris")
    query = StatsQuery(SITE, period, {}, "day")
    _, visits = reference.select(period, {})
    closed, stats, admin = ClosedVisits(store), Stats(store, min_cell=1), SiteAdmin(store)

    def expected(seconds: int) -> float:
        return round(sum(v.engaged_after(seconds) for v in visits) / len(visits), 4)

    def marks() -> int:
        return int(store.rows("SELECT count() FROM audience.visit_rollup_stale")[0][0])

    assert expected(3) != expected(ENGAGED_SECONDS), "the data must tell the thresholds apart"
    assert stats.totals(query)["engagement_rate"] == expected(ENGAGED_SECONDS)
    page = stats.pinned(SITE)  # a page's reads, begun before the change
    try:
        admin.edit("test", Site(SITE, engaged_seconds=3))
        assert marks() > 0
        assert stats.totals(query)["engagement_rate"] == expected(3), "merged meanwhile"
        # The page's reads still all see the threshold and the rollups it began with.
        assert page.totals(query)["engagement_rate"] == expected(ENGAGED_SECONDS)
        assert stats.pinned(SITE).totals(query)["engagement_rate"] == expected(3)
        closed.turn(datetime(2026, 11, 25, tzinfo=UTC))
        assert marks() == 0
        assert stats.totals(query)["engagement_rate"] == expected(3), "rolled up again"
        rolled = store.rows("SELECT sum(engaged) FROM audience.visit_rollup WHERE dimension = ''")
        assert rolled[0][0] == sum(v.engaged_after(3) for v in reference.visits if v.pageviews)
    finally:
        admin.edit("test", Site(SITE, engaged_seconds=ENGAGED_SECONDS))
        closed.turn(datetime(2026, 11, 25, tzinfo=UTC))
    assert marks() == 0
    assert stats.totals(query)["engagement_rate"] == expected(ENGAGED_SECONDS)
