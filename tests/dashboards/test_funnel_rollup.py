"""Funnels read from their rows of closed visits equal the independent computation.

The writer of the closed visits keeps, per funnel's steps, the pageviews of each closed visit that
name a step (collector/storage/funnel_rollup.py); the dashboards read those visits from there and
gather the others' from the events (dashboards/queries/funnel_visits.sql). Hypothesis makes the
visitors of tests/dashboards/test_conversions.py, lets the writer roll their visits up to a
moment of its choosing, defines the funnel then (so that its rows start at that watermark), moves
the watermark further, takes the rows back over some of the older visits, may store late events
(which the writer writes again) or erase a visitor, and asks for both windows: every answer must
be the reference's, computed in Python from the events stored. Each example is a new site, some
weeks after the one before, as the one watermark of the store only goes forward.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from collector.storage.closed_visits import ClosedVisits
from collector.storage.rights_store import RightsStore
from collector.storage.rows import Row, encode_row
from collector.storage.store import Store
from dashboards.conversions import Conversions
from dashboards.goals import Goals
from dashboards.periods import Period, StatsQuery
from dashboards.stats import Stats
from tests.conftest import migrated_store_at
from tests.dashboards.test_conversions import (
    FILTERS,
    PATTERNS,
    PERIODS,
    START,
    TIMEZONE,
    Reference,
    histories,
    rows_of,
    stored_events,
)

SITES_APART = timedelta(weeks=6)  # farther than a history, its period and its funnels' reach
_examples = itertools.count()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    opened = migrated_store_at(tmp_path_factory.mktemp("funnel-rollup") / "clickhouse")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(scope="module")
def closed(store: Store) -> ClosedVisits:
    """The store's one writer of closed visits (a new one would first delete what lies past the
    watermark, as after a restart), in steps of four days: a test's traffic is little."""
    return ClosedVisits(store, step=timedelta(days=4))


def own_visitor(visitor: int, number: int) -> int:
    """The example's own visitor ids (and visits'), so that an erasure touches its site only."""
    return number * 1_000_000 + visitor


def own(rows: list[Row], number: int) -> list[Row]:
    return [
        row._replace(visitor=own_visitor(row.visitor, number), visit=own_visitor(row.visit, number))
        for row in rows
    ]


def roll_up_to(closed: ClosedVisits, now: datetime) -> None:
    """Move the watermark as far as ``now`` allows, without taking the funnels' rows back."""
    while True:
        before = closed.watermark().through
        closed.turn(now, budget=0.0)
        if closed.watermark().through == before:
            return


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# A visit rolled up, whose last pageviews come after the watermark (12:50 to 13:07, rolled up to
# 13:00 at 14:00): read once, from its row, not again from the events after the watermark (the
# funnel's rows start a day before, at the visit of a page no step names).
@example(
    history=[
        (
            "desktop",
            [(86_400 + 3_000, [0, 60, 840, 120], ["/", "/pricing", "/", "/pricing", "/", "/"])],
        ),
        ("mobile", [(0, [0], ["/docs/a", *["/"] * 5])]),
    ],
    patterns=["/*", "/pricing"],
    period_index=0,
    filters={},
    defined_after=0,
    rolled_after=26,
    days_back=0,
    late=None,
)
@given(
    history=histories,
    patterns=st.lists(st.sampled_from(PATTERNS), min_size=2, max_size=8),
    period_index=st.integers(0, len(PERIODS) - 1),
    filters=st.sampled_from(FILTERS),
    defined_after=st.integers(0, 12 * 24),
    rolled_after=st.integers(0, 12 * 24),
    days_back=st.integers(0, 12),
    # Each writes hours again (deletes, slow on the embedded store): one example in three.
    late=st.sampled_from((None, None, None, None, "late events", "erasure")),
)
def test_funnels_from_their_rows_equal_the_reference(
    store: Store,
    closed: ClosedVisits,
    history: list[Any],
    patterns: list[str],
    period_index: int,
    filters: dict[str, str],
    defined_after: int,
    rolled_after: int,
    days_back: int,
    late: str | None,
) -> None:
    number = next(_examples)
    site = f"funnel-rollup-{number}.example"
    shift = (number + 1) * SITES_APART
    origin = datetime.fromtimestamp(START, UTC) + shift
    start = START + int(shift.total_seconds())
    store.insert_events(
        [encode_row(row) for row in own(rows_of(site, history, start), number)], site
    )
    # The funnel is defined once the writer has rolled up to a moment; then it goes further.
    roll_up_to(closed, origin + timedelta(hours=defined_after))
    goals = Goals(store)
    for within in ("visit", "7d"):
        goals.add_funnel(site, "", patterns, within, "test")
    roll_up_to(closed, origin + timedelta(hours=defined_after + rolled_after))
    for _ in range(days_back):
        closed.funnels.backfill_step()
    if late == "late events":
        # A new visitor's pageviews stored after their hours were rolled up: the writer marks
        # them, as it does a late batch.
        newcomer = ("mobile", [(3_600, [0, 60, 60], ["/", "/pricing", "/thanks", *["/"] * 3])])
        late_rows = own(rows_of(site, [*history, newcomer], start)[-4:], number)
        store.insert_events([encode_row(row) for row in late_rows], site)
        closed.mark_late([(site, row.ts) for row in late_rows])
    elif late == "erasure":
        RightsStore(store, closed).erase(own_visitor(1, number))
    roll_up_to(closed, origin + timedelta(hours=defined_after + rolled_after))

    first, last = PERIODS[period_index]
    period = Period("custom", first + shift, last + shift, TIMEZONE)
    query = StatsQuery(site, period, filters, "day")
    reference = Reference(stored_events(store, site), period, filters)
    conversions = Conversions(Stats(store, min_cell=1))
    for funnel in goals.funnels_of(site):
        steps = conversions.funnel(query, funnel)["steps"]
        wanted = reference.funnel(patterns, funnel.within)
        assert [step["visitors"] for step in steps] == [count for count, _ in wanted]
        assert [step["median_seconds"] for step in steps] == [
            round(gap) if gap is not None and count else None for count, gap in wanted
        ]
