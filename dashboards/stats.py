"""The stats layer: the only code that reads statistics, through the SQL files in ``queries/``.

Every number follows DESIGN section 5. Visitors and pageviews: queries without filters on whole
UTC hours read the traffic rollups, the others read ``audience.events``; both give the same
numbers (tests check it), except that the rollups count visitors with a sketch that is exact only
for small counts. Visit metrics are always those of the visits started in the period: functions of
the set of a visit's events, whatever their order (``audience.visit_summaries``,
schema/021_engagement.sql). The events path merges every such visit from its rows; the rollup
path reads the closed visits' rollups up to the watermark (``collector.storage.closed_visits``) and
merges only the visits still open after it.

Engaged time (README, metrics): a visit is engaged with two pageviews or the site's threshold of
engaged time; the time on page of a page in a visit is the visit's engaged time on that path. The
Pages, Entry pages and Exit pages rows give its average and median, in seconds, over the row's
visits (those that showed the page, entered on it, left on it), a visit without an engagement
event on the page counting 0 s; the Pages rows also the exit rate (exits from the page over its
pageviews, both in those visits).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from collector.storage.closed_visits import VISIT_SPAN, ClosedVisits, Watermark
from collector.storage.path_patterns import pattern_regex
from collector.storage.sql import load
from collector.storage.store import Query, Store
from dashboards.periods import EVENT_FILTERS, Period, StatsQuery

OTHER = "Other"
UNKNOWN = "(unknown)"
REALTIME_MINUTES = 5


@dataclass(frozen=True)
class Dimension:
    name: str
    title: str
    source: str  # traffic | visit | pages | frequency
    column: str  # the alias column of audience.events, or the rollup's dimension
    columns: tuple[str, ...]
    filter: str | None  # the filter a row of this breakdown sets
    order: tuple[str, ...] = ()  # bucket order; empty: by visitors


_TRAFFIC = ("visitors", "visits", "pageviews", "bounce_rate", "visit_duration")
_VISIT_BUCKETS = ("1", "2", "3", "4-7", "8-14", "15+")
_PAGE_TIMES = ("time_on_page", "median_time_on_page")
# The column of audience.visit_summaries holding the engaged ms of a visit's entry or exit page.
_TIME_COLUMNS = {"entry_page": "entry_time", "exit_page": "exit_time"}
DIMENSIONS = {
    d.name: d
    for d in (
        Dimension("page", "Pages", "traffic", "path",
                  ("visitors", "pageviews", *_PAGE_TIMES, "exit_rate"), "page"),
        Dimension("entry_page", "Entry pages", "pages", "entry_page",
                  ("visitors", "entries", "bounce_rate", *_PAGE_TIMES), "page"),
        Dimension("exit_page", "Exit pages", "pages", "exit_page", ("exits", *_PAGE_TIMES), "page"),
        Dimension("city", "Cities", "traffic", "city", _TRAFFIC, "city"),
        Dimension("country", "Countries", "traffic", "country", _TRAFFIC, "country"),
        Dimension("operator", "Operators", "traffic", "operator", _TRAFFIC, "operator"),
        Dimension("browser", "Browsers", "traffic", "browser", _TRAFFIC, "browser"),
        Dimension("browser_version", "Browser versions", "traffic", "browser_release",
                  _TRAFFIC, "browser_version"),
        Dimension("os", "Operating systems", "traffic", "os", _TRAFFIC, "os"),
        Dimension("device", "Devices", "traffic", "device", _TRAFFIC, "device"),
        Dimension("visitor_type", "New and returning", "traffic", "visitor_type",
                  ("visitors", "visits", "pageviews"), None, ("new", "returning")),
        Dimension("visit_number", "Visit number", "visit", "visit_bucket",
                  ("visitors", "visits", "bounce_rate", "visit_duration"), None, _VISIT_BUCKETS),
        Dimension("days_since_last_visit", "Days since last visit", "visit", "days_bucket",
                  ("visitors", "visits", "bounce_rate", "visit_duration"), None,
                  ("first visit", "same day", "1 day", "2-7 days", "8-30 days", "31-90 days",
                   "over 90 days")),
        Dimension("frequency", "Visits per visitor", "frequency", "frequency",
                  ("visitors", "visits"), None, _VISIT_BUCKETS),
    )
}  # fmt: skip


def query_text(name: str) -> str:
    """A query of dashboards/queries/, through the one SQL loader (``collector.storage.sql``)."""
    return load("dashboards", f"queries/{name}")


def filter_parameters(filters: dict[str, str]) -> dict[str, Any]:
    """What queries/chosen_visits.sql takes for ``filters``: whether any is set, whether an event
    filter is, each event filter's value ('' for none) and the goal's regular expression."""
    return {
        "filtered": int(bool(filters)),
        "event_filtered": int(any(name in filters for name in EVENT_FILTERS)),
        "goal": pattern_regex(filters["goal"]) if "goal" in filters else "",
        **{name: filters.get(name, "") for name in EVENT_FILTERS},
    }


def kpis(totals: dict[str, Any]) -> dict[str, int | float]:
    """The KPI cards from the summed columns."""
    visitors, visits = int(totals.get("visitors") or 0), int(totals.get("visits") or 0)
    pageviews = int(totals.get("pageviews") or 0)
    return {
        "visitors": visitors,
        "visits": visits,
        "pageviews": pageviews,
        "pages_per_visit": _ratio(pageviews, visits),
        "bounce_rate": _ratio(int(totals.get("bounces") or 0), visits),
        "engagement_rate": _ratio(int(totals.get("engaged") or 0), visits),
        "visit_duration": _ratio(int(totals.get("duration") or 0), visits),
        "returning_share": _ratio(int(totals.get("returning") or 0), visitors),
    }


def change(current: dict[str, int | float], previous: dict[str, int | float]) -> dict[str, Any]:
    """Relative change of each KPI (0.12 = +12 %), None when the previous value is zero."""
    return {
        name: (round((value - previous[name]) / previous[name], 4) if previous[name] else None)
        for name, value in current.items()
    }


def summary_of(
    current: dict[str, int | float], previous: dict[str, int | float], previous_period: Period
) -> dict[str, Any]:
    """A period's figures beside those of the one before, and the change."""
    return {
        "current": current,
        "previous": previous,
        "change": change(current, previous),
        "previous_period": _span(previous_period),
    }


def _ratio(numerator: int, denominator: int) -> float:
    return round(numerator / denominator, 4) if denominator else 0.0


class Stats:
    def __init__(self, store: Store, min_cell: int, rollups: bool = True) -> None:
        self.store = store
        self.min_cell = min_cell
        self.rollups = rollups
        self.closed_visits = ClosedVisits(store)
        self._thresholds: dict[str, int] = {}  # a pinned reader's (pinned())

    def pinned(self, site: str) -> Stats:
        """This reader as one page reads: the watermark and ``site``'s engaged-visit threshold
        read once, now, for every call of the page, which then all see the same closed visits
        (each call of an unpinned reader reads them anew)."""
        pinned = copy.copy(self)
        pinned.closed_visits = _PinnedClosedVisits(self.closed_visits)
        pinned._thresholds = {site: self.engaged_seconds(site)}
        return pinned

    def engaged_seconds(self, site: str) -> int:
        """``site``'s engaged-visit threshold: as pinned, else read for each call (a new
        threshold counts at once: the rollups are marked stale)."""
        pinned = self._thresholds.get(site)
        return self.store.engaged_seconds(site) if pinned is None else pinned

    def parameters(self, query: StatsQuery, period: Period | None = None) -> dict[str, Any]:
        period = period or query.period
        engaged_ms = 1000 * self.engaged_seconds(query.site)
        rollups = self.from_rollups(query, period)
        # Read for each call unless pinned: a mark of late or erased events must be seen as soon
        # as it is made.
        watermark = self.closed_visits.watermark() if rollups else Watermark(None)
        # Closed visits that started in [start, rolled_to) from the rollups, the others merged.
        rolled_to, through = watermark.split(period.start, period.end)
        rows_from = max(through, period.start - 2 * VISIT_SPAN)
        rows_to = period.end + VISIT_SPAN if rolled_to < period.end else rows_from
        day_start = _day_after(period.start)
        parameters: dict[str, Any] = {
            "site": query.site,
            "start": naive_utc(period.start),
            "end": naive_utc(period.end),
            "day_start": naive_utc(day_start),
            "day_end": naive_utc(period.end.astimezone(UTC).replace(hour=0, minute=0, second=0)),
            "wide_start": naive_utc(period.start - 2 * VISIT_SPAN),
            "wide_end": naive_utc(period.end + VISIT_SPAN),
            "rolled_to": naive_utc(rolled_to),
            # The whole UTC days of the rolled-up part: read from the daily rollups.
            "rolled_days_to": naive_utc(max(day_start, _floor_day(rolled_to))),
            "visits_from": naive_utc(rolled_to),
            "rows_from": naive_utc(rows_from),
            "rows_to": naive_utc(rows_to),
            "listed_from": naive_utc(through - VISIT_SPAN if watermark.through else through),
            "listed_to": naive_utc(through),
            "visit_dimensions": [""],
            **filter_parameters(query.filters),
            "min_cell": self.min_cell,
            "tz": period.timezone,
            "interval": query.interval,
            "engaged_ms": engaged_ms,
        }
        return parameters

    def from_rollups(self, query: StatsQuery, period: Period) -> bool:
        return self.rollups and not query.filters and period.on_whole_utc_hours()

    def totals(self, query: StatsQuery, period: Period | None = None) -> dict[str, int | float]:
        rows = self.store.read(*self._totals_query(query, period or query.period))
        return kpis(rows[0] if rows else {})

    def summary(self, query: StatsQuery) -> dict[str, Any]:
        previous_period = query.period.previous()
        current, previous = (
            kpis(rows[0] if rows else {})
            for rows in self.store.read_many(
                [
                    self._totals_query(query, query.period),
                    self._totals_query(query, previous_period),
                ]
            )
        )
        return summary_of(current, previous, previous_period)

    def _totals_query(self, query: StatsQuery, period: Period) -> Query:
        name = "summary_rollup" if self.from_rollups(query, period) else "summary_events"
        return query_text(name), self.parameters(query, period)

    def timeseries(self, query: StatsQuery, period: Period | None = None) -> list[dict[str, Any]]:
        period = period or query.period
        name = "timeseries_rollup" if self.from_rollups(query, period) else "timeseries_events"
        parameters = self.parameters(query, period)
        # The visits by the hour they started in: the buckets are days of the site's time zone.
        parameters["rolled_days_to"] = parameters["day_start"]
        found = {row["bucket"]: row for row in self.store.read(query_text(name), parameters)}
        return [
            {"bucket": bucket, **kpis(found.get(bucket, {}))}
            for bucket in period.buckets(query.interval)
        ]

    def breakdown(
        self, query: StatsQuery, dimension: str, limit: int = 100
    ) -> list[dict[str, Any]]:
        return self.breakdowns(query, [dimension], limit)[dimension]

    def breakdowns(
        self, query: StatsQuery, dimensions: list[str], limit: int = 100
    ) -> dict[str, list[dict[str, Any]]]:
        """The rows of several breakdowns: on the rollup path, one query for those of the event
        dimensions and one for those of the visit dimensions, each merging the open visits once;
        on the events path, one query each."""
        specs = [DIMENSIONS[name] for name in dimensions]
        found: dict[str, list[dict[str, Any]]] = {spec.name: [] for spec in specs}
        queries = self._breakdown_queries(query, specs)
        for (_, parameters), rows in zip(queries, self.store.read_many(queries), strict=True):
            for row in rows:
                found[row.get("breakdown") or parameters["breakdown"]].append(row)
        shown = {}
        for spec in specs:
            rows = [self._row(spec, row) for row in found[spec.name]]
            rows = [row for row in rows if row["visitors"] or row["visits"]]
            shown[spec.name] = _ordered(spec, rows)[:limit]
        return shown

    def _breakdown_queries(self, query: StatsQuery, specs: list[Dimension]) -> list[Query]:
        """The queries (SQL, parameters) answering the breakdowns of ``specs``."""
        parameters = self.parameters(query)
        queries = []
        for spec in [spec for spec in specs if spec.source == "frequency"]:
            queries.append((query_text("frequency"), parameters | {"breakdown": spec.name}))
        if self.from_rollups(query, query.period):
            # Named as the traffic rollups name them (the breakdown's name); visit metrics read
            # from the visit rollups by the visit dimension (Dimension.column).
            traffic = [spec for spec in specs if spec.source == "traffic"]
            visit = [spec for spec in specs if spec.source in ("pages", "visit")]
            for sql, chosen in (("breakdown_rollup", traffic), ("breakdown_visits_rollup", visit)):
                with_visits = [spec for spec in chosen if _with_visits(spec) or _pages(spec)]
                if chosen:
                    queries.append((query_text(sql), parameters | {
                        "breakdowns": [spec.name for spec in chosen],
                        "visit_dimensions": [_visit_dimension(spec) for spec in with_visits],
                        "visit_breakdowns": [spec.name for spec in with_visits],
                    }))  # fmt: skip
            return queries
        for spec in specs:
            if spec.source == "frequency":
                continue
            if _pages(spec):  # the visits that showed each page, with its time and exits
                sql = "breakdown_pages"
            else:
                sql = "breakdown_events" if spec.source == "traffic" else "breakdown_visits"
            # A dimension without visit metrics names a column of every visit, never read.
            queries.append((query_text(sql), parameters | {
                "breakdown": spec.name,
                "dimension": spec.column,
                "visit_column": spec.column if _with_visits(spec) else "entry_page",
                "with_visits": int(_with_visits(spec)),
                # Without times, a column that costs nothing (entry_time merges the visit's pages).
                "time_column": _TIME_COLUMNS.get(spec.name, "engaged_ms"),
                "with_times": int(spec.name in _TIME_COLUMNS),
            }))  # fmt: skip
        return queries

    def _row(self, spec: Dimension, found: dict[str, Any]) -> dict[str, Any]:
        other = bool(found["other"])
        value = "" if other else str(found["value"])
        row: dict[str, Any] = {
            "value": value,
            "label": OTHER if other else (value or UNKNOWN),
            "other": other,
            **kpis(found),
        }
        if spec.name == "entry_page":
            row["entries"] = row["visits"]
        if spec.name == "exit_page":
            row["exits"] = row["visits"]
        if spec.name == "city":
            row["country"] = found.get("country") or ""
        if "time_on_page" in spec.columns:
            row.update(_page_times(found, row["visits"]))
        if spec.name == "page":
            row["exit_rate"] = _ratio(int(found["exits"]), int(found["page_pageviews"]))
        return row

    def realtime(self, site: str, now: datetime | None = None) -> dict[str, int]:
        since = (now or datetime.now(UTC)) - timedelta(minutes=REALTIME_MINUTES)
        rows = self.store.read(query_text("realtime"), {"site": site, "since": naive_utc(since)})
        return {"visitors": int(rows[0]["visitors"]) if rows else 0, "minutes": REALTIME_MINUTES}


def _with_visits(spec: Dimension) -> bool:
    return spec.source != "traffic" or "visits" in spec.columns


def _pages(spec: Dimension) -> bool:
    """The pages: their rows take the visits that showed each page, with its time and exits."""
    return spec.name == "page"


def _visit_dimension(spec: Dimension) -> str:
    """The dimension of the closed visits' rollups holding a breakdown's visit metrics."""
    return "page" if _pages(spec) else spec.column


def _page_times(found: dict[str, Any], visits: int) -> dict[str, float | None]:
    """The average and median time on page (seconds) over the row's visits, None without one."""
    median = found.get("median_page_time")
    if not visits or median is None or math.isnan(median):
        return {"time_on_page": None, "median_time_on_page": None}
    return {
        "time_on_page": round(int(found["page_time"]) / visits / 1000, 1),
        "median_time_on_page": round(float(median) / 1000, 1),
    }


def _ordered(spec: Dimension, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if spec.order:
        rank = {bucket: index for index, bucket in enumerate(spec.order)}
        return sorted(rows, key=lambda row: (row["other"], rank.get(row["value"], len(rank))))
    return sorted(
        rows, key=lambda row: (row["other"], -(row["visitors"] or 0), -row["visits"], row["value"])
    )


def _day_after(moment: datetime) -> datetime:
    """The first UTC midnight at or after ``moment``."""
    midnight = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight if midnight == moment else midnight + timedelta(days=1)


def _floor_day(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def naive_utc(moment: datetime) -> datetime:
    """A UTC instant as the driver binds DateTime('UTC') parameters."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def _span(period: Period) -> dict[str, str]:
    return {"from": period.first.isoformat(), "to": period.last.isoformat()}


class _PinnedClosedVisits(ClosedVisits):
    """The closed visits as ``source`` told them once: where the rollups end, read at its
    creation, and the funnels' rows as ``source`` reads them."""

    def __init__(self, source: ClosedVisits) -> None:
        super().__init__(source.store, source.step)
        self.funnels = source.funnels
        self._watermark = source.watermark()

    def watermark(self) -> Watermark:
        return self._watermark
