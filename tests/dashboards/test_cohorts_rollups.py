"""The cohort grid read from the closed visits' list and the open visits (the path taken where
every week or month starts on a whole UTC hour) against the same independent computation as
test_cohorts.py, and against the grid that merges every visit: visit histories drawn once, rolled
up by the writer's own turn with some visits still open after the watermark, then every period,
interval, filter and time zone of the table below."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from collector.storage.closed_visits import ClosedVisits
from collector.storage.store import Store
from dashboards.cohorts import Cohorts, as_json
from dashboards.periods import Period, StatsQuery
from tests.conftest import migrated_store_at
from tests.dashboards.test_cohorts import DEVICES, NOW, PAGES, SPAN_DAYS, reference, store_history

SITE = "rolled.example"
ROLLED_AT = datetime(2026, 11, 20, 12, tzinfo=UTC)  # the visits of the last days stay open
PERIODS = [
    (date(2026, 6, 1), date(2026, 8, 31)),
    (date(2026, 9, 14), date(2026, 12, 1)),
    (date(2026, 11, 16), date(2026, 12, 2)),
]
FILTERS: list[dict[str, str]] = [{}, {"device": "mobile"}, {"page": "/a"}]
WHOLE_HOURS = ("Pacific/Auckland", "America/New_York", "UTC")
HALF_HOURS = "Asia/Kolkata"  # +05:30: the hours of closed visits cannot say the week


def histories(seed: int, visitors: int) -> list[tuple[bool, list[Any]]]:
    """Visit plans of the shape test_cohorts.py draws with Hypothesis, from a seeded generator."""
    draw = random.Random(seed)
    plans = []
    for _ in range(visitors):
        visits = []
        for _ in range(draw.randint(1, 5)):
            second = draw.choice((draw.randint(0, 86_399), draw.randint(86_400 - 900, 86_399)))
            events = [
                (draw.randint(0, 1500), draw.choice(("pageview", "pageview", "engagement")),
                 draw.choice(PAGES), draw.choice(DEVICES))
                for _ in range(draw.randint(1, 3))
            ]  # fmt: skip
            visits.append((draw.randint(0, SPAN_DAYS), second, events))
        plans.append((draw.random() < 0.85, visits))
    return plans


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    opened = migrated_store_at(tmp_path_factory.mktemp("cohort-rollups") / "clickhouse")
    try:
        store_history(opened, SITE, "UTC", histories(18, 45), 7)
        closed = ClosedVisits(opened, step=timedelta(days=8))  # 190 days of little traffic
        while closed.turn(ROLLED_AT, budget=60.0):
            pass
        yield opened
    finally:
        opened.close()


def test_the_rolled_up_grid_is_the_reference_and_the_merged_grid(store: Store) -> None:
    through = ClosedVisits(store).watermark().through
    assert through is not None and through < ROLLED_AT.replace(tzinfo=None)
    [[listed, open_after]] = store.rows(
        "SELECT (SELECT count() FROM audience.closed_visits),"
        " (SELECT uniqExact(visit) FROM audience.events WHERE ts >= {t:DateTime('UTC')})",
        {"t": through},
    )
    assert listed > 50 and open_after > 3  # both parts of the read have visits to count
    events = store.query_dicts("SELECT * FROM audience.events")
    rolled, merged = Cohorts(store, 2), Cohorts(store, 2, rollups=False)
    for zone in (*WHOLE_HOURS, HALF_HOURS):
        for interval in ("week", "month"):
            for first, last in PERIODS:
                period = Period("custom", first, last, zone)
                assert rolled.from_rollups(first, interval, 12, zone) == (zone != HALF_HOURS)
                for filters in FILTERS:
                    query = StatsQuery(SITE, period, filters, interval)
                    expected = reference(events, period, interval, filters, 2)
                    shown = as_json(rolled.grid(query, interval, NOW))
                    assert shown == expected, (zone, interval, first, filters)
                    assert as_json(merged.grid(query, interval, NOW)) == expected
