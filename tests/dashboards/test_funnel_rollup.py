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
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from collector.storage.closed_visits import ClosedVisits
from collector.storage.errors import StoreError
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
        store.insert_events([encode_row(row) for row in late_rows], f"{site} late")
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


HOUR = 3_600
ENTERED = ["/", "/pricing", *["/"] * 4]
CELL_STEPS = ["/", "/pricing"]


def cell_history(end_offset: int, long_offset: int) -> list[Any]:
    """Visits around the hours a period ending ``end_offset`` seconds after its site's start
    holds whole, with a day after them (in Pacific/Auckland; that period in Asia/Kolkata starts
    at 18:30 UTC, 6 h 30 min after). The gaps to /pricing differ, so that any visit counted
    twice moves the median (105 s: 10, 20, 50, 100, 110, 120, 200, 10,800)."""
    return [
        # Visits in the period's cells: 10 and 20 s to /pricing.
        ("desktop", [(26 * HOUR, [0, 10], ENTERED)]),
        ("desktop", [(50 * HOUR, [0, 20], ENTERED)]),
        # At 18:10 UTC: entered before the period in Kolkata (its /pricing after), in a cell
        # of the period in Auckland.
        ("mobile", [(6 * HOUR + 600, [0, 50], ENTERED)]),
        # Longer than a day: entered 25 h 30 min after its start (in its row), 200 s to
        # /pricing; not whole within a day, so read from its row, not from a cell.
        ("mobile", [(long_offset, [0, 25 * HOUR + 1_800, 200], ["/docs/a", "/", "/pricing"])]),
        # The period's last day, visit by visit: 100, 110 and 120 s.
        ("mobile", [(end_offset - 20 * HOUR, [0, 100], ENTERED)]),
        ("mobile", [(end_offset - 14 * HOUR, [0, 110], ENTERED)]),
        ("desktop", [(end_offset - 9 * HOUR, [0, 120], ENTERED)]),
        # Entered an hour before the end, /pricing two hours after it: counted (the reach).
        ("mobile", [(end_offset - HOUR, [0, 3 * HOUR], ENTERED)]),
        # Started 23 h and 30 min before the end, entered 15 min after it: not counted.
        ("desktop", [(end_offset - 23 * HOUR - 1_800, [0, 23 * HOUR + 2_700, 10],
                      ["/docs/a", "/", "/pricing"])]),
        ("desktop", [(end_offset - HOUR // 2, [0, HOUR, 10], ["/docs/a", "/", "/pricing"])]),
    ]  # fmt: skip


def cell_site(store: Store, closed: ClosedVisits) -> tuple[str, list[Any], datetime, Period]:
    """A new site with the visits of ``cell_history`` (the watermark first moved to its start:
    the funnels' rows are then written in steps of four days from there, and the long visit
    starts 3 hours before the end of the first, so that its row holds its last pageviews), its
    history, where it starts, and its ten-day period in Pacific/Auckland."""
    number = next(_examples)
    site = f"funnel-rollup-{number}.example"
    shift = (number + 1) * SITES_APART
    origin = datetime.fromtimestamp(START, UTC) + shift
    first, last = PERIODS[0]  # ten local days, ending 239 hours after START
    period = Period("custom", first + shift, last + shift, TIMEZONE)
    roll_up_to(closed, origin)
    watermark = closed.watermark().through
    assert watermark is not None
    steps_from = watermark.replace(tzinfo=UTC) - origin
    long_offset = int((steps_from + timedelta(days=4, hours=-3)).total_seconds()) + 60
    end_offset = int((period.end - origin).total_seconds())
    history = cell_history(end_offset, long_offset)
    start = START + int(shift.total_seconds())
    rows = own(rows_of(site, history, start), number)
    store.insert_events([encode_row(row) for row in rows], site)
    return site, history, origin, period


def rolled_up_with_funnel(store: Store, closed: ClosedVisits, site: str, now: datetime) -> None:
    """The site's within-visit funnel defined, its visits rolled up as far as ``now`` allows,
    and its rows taken back to the first visit."""
    Goals(store).add_funnel(site, "", CELL_STEPS, "visit", "test")
    roll_up_to(closed, now)
    while closed.funnels.backfill_step():
        pass


def funnel_steps(
    store: Store, site: str, period: Period
) -> tuple[list[tuple[int | None, int | None]], list[tuple[int, int | None]]]:
    """The within-visit funnel's (visitors, median seconds) per step, and the reference's."""
    [funnel] = Goals(store).funnels_of(site)
    query = StatsQuery(site, period, {}, "day")
    steps = Conversions(Stats(store, min_cell=1)).funnel(query, funnel)["steps"]
    reference = Reference(stored_events(store, site), period, {})
    return [(step["visitors"], step["median_seconds"]) for step in steps], [
        (count, round(gap) if gap is not None else None)
        for count, gap in reference.funnel(CELL_STEPS, "visit")
    ]


def test_the_visits_a_period_holds_whole_are_counted_from_the_hourly_cells(
    store: Store, closed: ClosedVisits
) -> None:
    """A within-visit funnel without filters counts the closed visits started in the hours its
    period holds whole, with a day after them, from their hourly cells, and the others one by
    one: none twice, none entering after the period's end, a visit longer than a day from its
    row, and the cells of hours written again (late events) made anew; in a half-hour zone
    too, whose cells start at the period's first whole UTC hour."""
    site, history, origin, period = cell_site(store, closed)
    now = origin + timedelta(days=13)
    rolled_up_with_funnel(store, closed, site, now)
    counted, wanted = funnel_steps(store, site, period)
    assert counted == wanted == [(8, None), (8, 105)]
    kolkata = Period("custom", period.first, period.last, "Asia/Kolkata")  # UTC+05:30
    counted, wanted = funnel_steps(store, site, kolkata)
    assert counted == wanted
    # Every visit but the one entered at 18:10 UTC (the two entered after the Auckland end too).
    assert counted[0][0] == 9

    # A late visit in the hour of the first, 30 s to /pricing: that hour's rows and cells are
    # written again (their visits counted twice, 10 s and 50 s, would make the median 50 s).
    newcomer = ("mobile", [(26 * HOUR + 60, [0, 30], ENTERED)])
    start = int(origin.timestamp())
    number = int(site.split("-")[-1].split(".")[0])
    late_rows = own(rows_of(site, [*history, newcomer], start), number)[-3:]
    store.insert_events([encode_row(row) for row in late_rows], f"{site} late")
    closed.mark_late([(site, row.ts) for row in late_rows])
    roll_up_to(closed, now)
    counted, wanted = funnel_steps(store, site, period)
    assert counted == wanted == [(9, None), (9, 100)]

    # The visits of the first days are counted from the cells: without their rows, the same.
    store.execute(
        "DELETE FROM audience.funnel_pageviews WHERE site = {site:String}"
        " AND hour < {h:DateTime('UTC')} AND whole",
        {"site": site, "h": origin + timedelta(days=3)},
    )
    assert funnel_steps(store, site, period)[0] == [(9, None), (9, 100)]


def test_a_backfill_step_cut_short_is_taken_again_without_counting_twice(
    store: Store, closed: ClosedVisits, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer dies between a backfill step's rows and its span: the next step writes the
    same visits again (here the second one's), and counts them once."""
    site, _, origin, period = cell_site(store, closed)
    roll_up_to(closed, origin + timedelta(hours=73))
    # Defined now: its rows start at the watermark, and the first backfill step goes back a day.
    Goals(store).add_funnel(site, "", CELL_STEPS, "visit", "test")
    roll_up_to(closed, origin + timedelta(days=13))
    funnels = closed.funnels

    def cut_short(*_: object) -> None:
        raise StoreError("the writer died")

    monkeypatch.setattr(funnels, "_write_span", cut_short)
    with pytest.raises(StoreError):
        funnels.backfill_step()  # the rows of a day of visits written, not the span
    monkeypatch.undo()
    while funnels.backfill_step():
        pass
    counted, wanted = funnel_steps(store, site, period)
    assert counted == wanted == [(8, None), (8, 105)]


def test_rows_a_writer_of_before_the_cells_wrote_are_read_from_the_events_then_written_again(
    store: Store, closed: ClosedVisits
) -> None:
    """A collector of before schema/023, still running as it was migrated, writes a span (and
    rows) without cells: the dashboards read its visits from the events, and the writer drops
    them and writes rows and cells again."""
    site, _, origin, period = cell_site(store, closed)
    now = origin + timedelta(days=13)
    rolled_up_with_funnel(store, closed, site, now)
    [span] = [span for span in closed.funnels.spans() if span.site == site]
    # What the writer of before does: rows without cells, its span as it wrote it.
    store.execute(
        "DELETE FROM audience.funnel_visit_cells WHERE site = {site:String}", {"site": site}
    )
    store.execute(
        "INSERT INTO audience.funnel_rollup_spans"
        " (site, steps, regexes, first_hour, through, version)"
        " SELECT {site:String}, {steps:UInt64}, {regexes:Array(String)},"
        " {first:DateTime('UTC')}, {through:DateTime('UTC')}, {version:UInt64}",
        {
            "site": site,
            "steps": span.steps,
            "regexes": list(span.regexes),
            "first": span.first_hour,
            "through": span.through,
            "version": time.time_ns(),
        },
    )
    counted, wanted = funnel_steps(store, site, period)
    assert counted == wanted == [(8, None), (8, 105)]

    roll_up_to(closed, now)
    while closed.funnels.backfill_step():
        pass
    [span] = [span for span in closed.funnels.spans() if span.site == site]
    assert span.cells
    cells = "SELECT count() FROM audience.funnel_visit_cells WHERE site = {site:String}"
    assert store.rows(cells, {"site": site})[0][0] > 0
    counted, wanted = funnel_steps(store, site, period)
    assert counted == wanted == [(8, None), (8, 105)]
