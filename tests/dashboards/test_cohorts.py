"""The cohort retention grid against an independent computation over the stored events.

Hypothesis draws visit histories (visitors whose first visit is stored or not, visits across a
local midnight and a week or month boundary, split over insert blocks) in a site's time zone;
they are stored with the writer's insert, read back with a plain SELECT of ``audience.events``,
and the grid is computed here from scratch, visit by visit, for weekly and monthly cohorts,
several periods, filters and small-cell thresholds. The API is tested in test_cohorts_api.py
(a server has its own embedded store, one per process).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.storage.rows import Row, encode_row
from collector.storage.store import Store
from dashboards.cohorts import Cohorts, as_json
from dashboards.periods import Period, StatsQuery
from tests.conftest import migrated_store_at

NOW = datetime(2026, 12, 2, 15, tzinfo=UTC)
ORIGIN = date(2026, 6, 1)  # the first local day a visit may start
SPAN_DAYS = 190
PAGES = ("/", "/a", "/b")
DEVICES = ("desktop", "mobile")
ZONES = ("Pacific/Auckland", "America/New_York", "UTC", "Asia/Kolkata")
COLUMN = {"page": "path"}  # a filter's column of audience.events, where it is not its name
_sites = itertools.count()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    opened = migrated_store_at(tmp_path_factory.mktemp("cohorts") / "clickhouse")
    try:
        yield opened
    finally:
        opened.close()


# ---- visit histories --------------------------------------------------------------------------

visit_plan = st.tuples(
    st.integers(0, SPAN_DAYS),  # local day
    st.one_of(st.integers(0, 86_399), st.integers(86_400 - 900, 86_399)),  # often near midnight
    st.lists(
        st.tuples(st.integers(0, 1500), st.sampled_from(("pageview", "engagement")),
                  st.sampled_from(PAGES), st.sampled_from(DEVICES)),
        min_size=1, max_size=3,
    ),
)  # fmt: skip
visitor_plan = st.tuples(st.booleans(), st.lists(visit_plan, min_size=1, max_size=5))


def store_history(
    store: Store, site: str, zone: str, visitors: list[tuple[bool, list[Any]]], split: int
) -> None:
    """Each visitor's visits in time order, numbered from 1 (or from 2: its first visit is not
    stored); their events, inserted in two blocks split at ``split``."""
    rows = []
    for who, (first_stored, visits) in enumerate(visitors, start=1):
        starts = sorted(visits, key=lambda v: (v[0], v[1]))
        for number, (day, second, events) in enumerate(starts, start=1 if first_stored else 2):
            local = datetime.combine(ORIGIN + timedelta(days=day), time(), ZoneInfo(zone))
            start = int(local.timestamp()) + second
            visit = who * 1000 + number
            for offset, kind, path, device in events:
                fields = (visit, number, 0, 0, "", "", "", "Firefox", "130", "Linux", device)
                rows.append(Row(site, start + offset, kind, path, who, *fields, "manual"))
    payloads = [encode_row(row) for row in rows]
    cut = split % (len(payloads) + 1)
    for index, block in enumerate((payloads[:cut], payloads[cut:])):
        if block:
            store.insert_events(block, f"{site}-{index}")


# ---- the independent computation ----------------------------------------------------------------


def bucket_of(day: date, interval: str) -> date:
    return day - timedelta(days=day.weekday()) if interval == "week" else day.replace(day=1)


def later(cohort: date, interval: str, k: int) -> date:
    if interval == "week":
        return cohort + timedelta(days=7 * k)
    month = cohort.month - 1 + k
    return date(cohort.year + month // 12, month % 12 + 1, 1)


def reference(
    events: list[dict[str, Any]], period: Period, interval: str, filters: dict[str, str],
    min_cell: int,
) -> list[dict[str, Any]]:  # fmt: skip
    zone = ZoneInfo(period.timezone)
    by_visit: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_visit[event["visit"]].append(event)
    visits = []
    for group in by_visit.values():
        group.sort(key=lambda e: (e["ts"], e["visit_number"]))
        if any(e["type"] == "pageview" for e in group):
            local = group[0]["ts"].replace(tzinfo=UTC).astimezone(zone).date()
            kept = any(all(e[COLUMN.get(k, k)] == v for k, v in filters.items()) for e in group)
            visits.append((group[0]["visitor"], group[0]["ts"], group[0]["visit_number"], local,
                           kept))  # fmt: skip
    cohorts: dict[int, date] = {}
    started: dict[int, set[date]] = defaultdict(set)
    for visitor, _start, number, local, kept in sorted(visits, key=lambda v: v[1]):
        started[visitor].add(bucket_of(local, interval))
        if number == 1 and visitor not in cohorts:
            cohorts[visitor] = bucket_of(local, interval) if kept else date.min
    today = NOW.astimezone(zone).date()
    rows = []
    touched = sorted({bucket_of(period.first + timedelta(days=n), interval)
                      for n in range(period.days)})  # fmt: skip
    for cohort in [c for c in touched if c <= today][-12:]:
        members = [v for v, c in cohorts.items() if c == cohort]
        size = len(members)
        cells = []
        for k in range(13):
            if later(cohort, interval, k) > today:
                break
            back = sum(later(cohort, interval, k) in started[v] for v in members)
            small = size < min_cell or back < min_cell
            cells.append({"offset": k, "visitors": None if small else back,
                          "share": None if small else round(back / size, 4)})  # fmt: skip
        rows.append({"cohort": cohort.isoformat(),
                     "visitors": size if size >= min_cell else None, "cells": cells})  # fmt: skip
    return rows


# ---- the grid equals the reference ---------------------------------------------------------------


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    visitors=st.lists(visitor_plan, min_size=1, max_size=10),
    zone=st.sampled_from(ZONES),
    interval=st.sampled_from(("week", "month")),
    first=st.integers(0, SPAN_DAYS),
    length=st.integers(1, 240),
    filters=st.sampled_from(({}, {"device": "mobile"}, {"page": "/a", "device": "desktop"})),
    min_cell=st.integers(1, 3),
    split=st.integers(0, 40),
)
def test_the_grid_is_the_reference_computation(
    store: Store, visitors: list[Any], zone: str, interval: str, first: int, length: int,
    filters: dict[str, str], min_cell: int, split: int,
) -> None:  # fmt: skip
    site = f"cohorts-{next(_sites)}.example"
    store_history(store, site, zone, visitors, split)
    start = ORIGIN + timedelta(days=first)
    period = Period("custom", start, start + timedelta(days=length - 1), zone)
    query = StatsQuery(site, period, filters, interval)
    stored = store.query_dicts(
        "SELECT * FROM audience.events WHERE site = {site:String}", {"site": site}
    )
    expected = reference(stored, period, interval, filters, min_cell)
    # Nothing is rolled up here: the first reader merges every visit after the first cohort as
    # open ones (whole-hour zones), the second every visit from their rows.
    for reader in (Cohorts(store, min_cell), Cohorts(store, min_cell, rollups=False)):
        assert as_json(reader.grid(query, interval, NOW)) == expected


def test_small_cells_are_blank_not_folded(store: Store) -> None:
    """Six visitors first seen in one week: the two who came back the week after are fewer than
    three, so that cell is blank while the cohort shows; a cohort of two blanks its row."""
    site, zone = "blank.example", "Europe/Paris"
    monday = ORIGIN + timedelta(days=(7 - ORIGIN.weekday()) % 7)
    histories: list[tuple[bool, list[Any]]] = []
    week = monday - ORIGIN
    for who in range(6):
        visits = [(week.days, 36_000, [(0, "pageview", "/", "desktop")])]
        if who < 2:
            visits.append((week.days + 8, 36_000, [(0, "pageview", "/", "desktop")]))
        histories.append((True, visits))
    for _ in range(2):
        histories.append((True, [(week.days + 7, 36_000, [(0, "pageview", "/", "desktop")])]))
    store_history(store, site, zone, histories, 0)
    period = Period("custom", monday, monday + timedelta(days=13), zone)
    grid = as_json(Cohorts(store, 3).grid(StatsQuery(site, period, {}, "week"), "week", NOW))
    second = monday + timedelta(days=7)
    assert [row["cohort"] for row in grid] == [monday.isoformat(), second.isoformat()]
    assert grid[0]["visitors"] == 6
    assert grid[0]["cells"][:2] == [
        {"offset": 0, "visitors": 6, "share": 1.0},
        {"offset": 1, "visitors": None, "share": None},
    ]
    assert grid[1]["visitors"] is None
    assert all(cell["visitors"] is None and cell["share"] is None for cell in grid[1]["cells"])
    again = Cohorts(store, 2).grid(StatsQuery(site, period, {}, "week"), "week", NOW)
    assert as_json(again)[0]["cells"][1] == {"offset": 1, "visitors": 2, "share": 0.3333}
