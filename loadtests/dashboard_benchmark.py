"""Time the dashboards' stats calls on a filled store: each API call and the whole dashboard.

    python -m loadtests.generate --events 10000000 --days 30     # once
    python -m loadtests.dashboard_benchmark [--period 30d|12mo|...]

First it defines the benchmark's goals, funnels and notes on the chart if missing, and rolls up the
visits closed so far, as the collector's writer does in the background
(``collector.storage.closed_visits``: at once on a store generated since the last turn; the funnels'
rows too, back to the first visit), and says how long that took. The timed calls then read the store
as a live site's dashboards do at the moment of its last event: the rollups end ``--open-hours``
before that event's hour ends, and the visits after are merged from their rows (a live watermark
trails the clock by 35 minutes to about an hour and a half; an older one is as right, and slower).
For a period of the generated site (the last 30 days unless told), it runs every stats call (the
functions behind ``/api/stats/…``) and the whole dashboard page's data (every breakdown asked at
once, as the page does, and its notes) several times, and prints p50 and p95. The baseline, measured
in the same run, is the same calls answered from ``audience.events`` and every visit merged (plain
GROUP BY queries) instead of the rollups. Settings come from the AUDIENCE_* environment.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta

from collector.ops import startup
from collector.settings import Settings
from collector.storage.closed_visits import ClosedVisits, Watermark
from collector.storage.store import Store
from dashboards.annotations import Annotations, shown
from dashboards.cohorts import Cohorts, cohort_interval
from dashboards.conversions import Conversions
from dashboards.goals import WITHIN, Goals
from dashboards.periods import StatsQuery, named_period
from dashboards.stats import DIMENSIONS, Stats
from dashboards.views import View, dashboard_data
from loadtests.generate import SITE

TARGET_CALL_P95 = 0.300
TARGET_DASHBOARD = 1.5


class AsOf(ClosedVisits):
    """The rollups as they stood at a given watermark, for the readers."""

    def __init__(self, store: Store, through: datetime) -> None:
        super().__init__(store)
        self.through = through

    def watermark(self) -> Watermark:
        current = super().watermark()
        return Watermark(min(self.through, current.through or self.through), current.stale_from)


def timed(call: Callable[[], object], runs: int) -> list[float]:
    call()  # warm the caches once, as a dashboard in use has
    durations = []
    for _ in range(runs):
        began = time.perf_counter()
        call()
        durations.append(time.perf_counter() - began)
    return durations


def p95(durations: list[float]) -> float:
    return sorted(durations)[max(0, round(0.95 * len(durations)) - 1)]


# What the benchmark's site converts on (pages of collector.demo.traffic), made if missing.
GOALS = ("/pricing", "/docs/**", "/contact")
FUNNEL_STEPS = ("/", "/pricing", "/contact")
NOTE_DAYS = (2, 9, 16, 23)  # days before the last event with a note on the chart


def define_conversions(store: Store) -> Goals:
    """Goals and a funnel of each window on the generated site, as a marketer would make them."""
    goals = Goals(store)
    existing = {goal.pattern for goal in goals.goals_of(SITE)}
    for pattern in GOALS:
        if pattern not in existing:
            goals.add_goal(SITE, "", pattern, "benchmark")
    windows = {funnel.within for funnel in goals.funnels_of(SITE)}
    for within in WITHIN:
        if within not in windows:
            goals.add_funnel(SITE, "", FUNNEL_STEPS, within, "benchmark")
    return goals


def define_notes(store: Store, last_day: date) -> Annotations:
    """Notes on the chart, as a marketing team dates its campaigns, made if missing."""
    notes = Annotations(store)
    days = {last_day - timedelta(days=back) for back in NOTE_DAYS}
    existing = {note.day for note in notes.within(SITE, min(days), max(days))}
    for day in sorted(days - existing):
        notes.add(SITE, day.isoformat(), f"Campaign of {day:%d %B}", "benchmark", shared=True)
    return notes


def calls(
    stats: Stats, query: StatsQuery, goals: Goals, notes: Annotations
) -> dict[str, Callable[[], object]]:
    named: dict[str, Callable[[], object]] = {
        "summary": lambda: stats.summary(query),
        "timeseries": lambda: stats.timeseries(query),
        "realtime": lambda: stats.realtime(query.site),
        "annotations": lambda: shown(notes, query),
    }
    for dimension in DIMENSIONS:
        named[f"breakdown/{dimension}"] = lambda d=dimension: stats.breakdown(query, d)  # type: ignore[misc]
    conversions = Conversions(stats)
    defined = goals.goals_of(SITE)
    named["goals"] = lambda: conversions.goals(query, defined)
    for funnel in goals.funnels_of(SITE):
        named[f"funnel/{funnel.within}"] = lambda f=funnel: conversions.funnel(query, f)  # type: ignore[misc]
    # The retention grid: the closed visits listed and the open ones, or every visit merged.
    cohorts = Cohorts.of(stats)
    interval = cohort_interval(None, query.period)
    named[f"cohorts ({interval})"] = lambda: cohorts.grid(query, interval)
    return named


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--period", default="30d", help="a named period of the dashboards")
    parser.add_argument(
        "--open-hours", type=int, default=2, help="hours of visits merged as open ones (at least 1)"
    )
    arguments = parser.parse_args()
    settings = startup.prepare(Settings.from_environ())
    store = Store.open(settings.clickhouse_url, settings.retention_months)
    goals = define_conversions(store)  # before the rollups: the writer keeps the funnels' rows
    began, closed = time.perf_counter(), ClosedVisits(store)
    while closed.turn(budget=60.0):
        pass
    print(
        f"closed visits and funnels rolled up in {time.perf_counter() - began:.1f} s,"
        f" up to {closed.watermark().through} UTC"
    )
    [[events, last_hour]] = store.rows(
        "SELECT count(), toStartOfHour(max(ts)) FROM audience.events WHERE site = {s:String}",
        {"s": SITE},
    )
    query = StatsQuery(SITE, named_period(arguments.period, "Europe/Paris"), {}, "day")
    notes = define_notes(store, last_hour.date())
    rollups, baseline = Stats(store, settings.min_cell), Stats(store, settings.min_cell, False)
    as_of = last_hour.replace(tzinfo=None) - timedelta(hours=max(1, arguments.open_hours) - 1)
    rollups.closed_visits = AsOf(store, as_of)
    [[open_visits]] = store.rows(
        "SELECT uniqExact(visit) FROM audience.events WHERE site = {s:String}"
        " AND ts >= {t:DateTime('UTC')}",
        {"s": SITE, "t": as_of},
    )
    print(
        f"{events:,} events stored for {SITE}; period {query.period.label}; {arguments.runs} runs;"
        f" rollups read up to {as_of} UTC, {open_visits:,} visits with events after merged"
    )
    print(f"{'call':34} {'p50 ms':>8} {'p95 ms':>8} {'events p95':>11} {'speed-up':>9}")
    worst = 0.0
    fast_calls = calls(rollups, query, goals, notes)
    slow_calls = calls(baseline, query, goals, notes)
    for name, call in fast_calls.items():
        fast = timed(call, arguments.runs)
        slow = timed(slow_calls[name], max(3, arguments.runs // 4))
        worst = max(worst, p95(fast))
        print(
            f"{name:34} {statistics.median(fast) * 1000:8.0f} {p95(fast) * 1000:8.0f} "
            f"{p95(slow) * 1000:11.0f} {p95(slow) / p95(fast):8.1f}x"
        )
    page = View(f"/sites/{query.site}")  # the page the figures link to
    whole = timed(
        lambda: asyncio.run(dashboard_data(rollups, query, "visitors", page, notes)),
        arguments.runs,
    )
    print(
        f"{'whole dashboard page':34} {statistics.median(whole) * 1000:8.0f} "
        f"{p95(whole) * 1000:8.0f}"
    )
    store.close()
    verdict = worst <= TARGET_CALL_P95 and p95(whole) <= TARGET_DASHBOARD
    print(
        f"slowest call p95 {worst * 1000:.0f} ms (target {TARGET_CALL_P95 * 1000:.0f}); "
        f"whole dashboard p95 {p95(whole) * 1000:.0f} ms (target {TARGET_DASHBOARD * 1000:.0f}): "
        + ("targets met" if verdict else "TARGETS MISSED")
    )


if __name__ == "__main__":
    main()
