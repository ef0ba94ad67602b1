"""Goals and funnels against an independent computation (README: "Goals and funnels").

Hypothesis makes visitors whose visits view pages at any times (ties on the second included),
stores them in the embedded ClickHouse, and asks for the goals and for funnels within a visit and
within 7 days, for periods in a time zone far from UTC and with filters (an event filter, a goal
filter). The answers are computed again here from the rows stored: page patterns matched by a
matcher written for the test (no regular expression), visits and visitors grouped in Python.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from statistics import median
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from collector.storage.path_patterns import PatternError, checked_pattern, pattern_regex
from collector.storage.rows import Row, encode_row
from collector.storage.store import Store
from dashboards.conversions import Conversions
from dashboards.goals import Funnel, Goal
from dashboards.periods import Period, StatsQuery
from dashboards.stats import Stats
from tests.conftest import migrated_store_at

PATHS = ("/", "/pricing", "/docs/a", "/docs/b/c", "/blog/x", "/blog/", "/thanks", "/a.b")
PATTERNS = ("/pricing", "/docs/*", "/docs/**", "/blog/*", "/thanks", "/**", "/a.b", "/*")
TIMEZONE = "Pacific/Auckland"  # UTC+13 in November: a local day straddles two UTC days
FIRST_DAY = date(2026, 11, 2)
START = int(datetime(2026, 11, 1, 12, tzinfo=UTC).timestamp())  # 01:00 on the 2nd, local
PERIODS = (
    (FIRST_DAY, FIRST_DAY + timedelta(days=9)),
    (FIRST_DAY + timedelta(days=2), FIRST_DAY + timedelta(days=2)),
    (FIRST_DAY + timedelta(days=1), FIRST_DAY + timedelta(days=4)),
)
FILTERS: tuple[dict[str, str], ...] = ({}, {"device": "mobile"}, {"goal": "/docs/**"},
                                       {"page": "/pricing", "device": "desktop"})  # fmt: skip
VISIT_SPAN = 86_400
WEEK = 7 * 86_400
_sites = itertools.count()


def reference_match(pattern: str, path: str) -> bool:
    """Whether ``pattern`` names ``path``: '**' any characters, '*' any but '/', others
    themselves; written without regular expressions."""
    if not pattern:
        return not path
    if pattern.startswith("**"):
        return any(reference_match(pattern[2:], path[i:]) for i in range(len(path) + 1))
    if pattern[0] == "*":
        return any(
            reference_match(pattern[1:], path[i:])
            for i in range(len(path) + 1)
            if "/" not in path[:i]
        )
    return bool(path) and path[0] == pattern[0] and reference_match(pattern[1:], path[1:])


# ---- the events ------------------------------------------------------------------------------

pageview_gaps = st.lists(st.integers(0, 3_000), min_size=1, max_size=6)
visit_plans = st.tuples(st.integers(0, 10 * 86_400), pageview_gaps,
                        st.lists(st.sampled_from(PATHS), min_size=6, max_size=6))  # fmt: skip
visitor_plans = st.tuples(st.sampled_from(("desktop", "mobile")),
                          st.lists(visit_plans, min_size=1, max_size=3))  # fmt: skip
histories = st.lists(visitor_plans, min_size=1, max_size=10)


def rows_of(site: str, history: list[Any], start: int = START) -> list[Row]:
    rows = []
    for visitor, (device, visits) in enumerate(history, start=1):
        for number, (offset, gaps, paths) in enumerate(sorted(visits), start=1):
            ts = start + offset
            visit = visitor * 100 + number
            for gap, path in zip(gaps, paths, strict=False):
                ts += gap
                rows.append(_row(site, ts, "pageview", path, visitor, visit, number, device))
            # Leaving the last page: an engagement event, which no goal or step counts.
            rows.append(_row(site, ts + 5, "engagement", path, visitor, visit, number, device))
    return rows


def _row(
    site: str, ts: int, kind: str, path: str, visitor: int, visit: int, number: int, device: str
) -> Row:
    return Row(site, ts, kind, path, visitor, visit, number, 0, 1000 if kind == "engagement" else 0,
               "Lyon", "FR", "Orange", "Chrome", "131", "Windows", device, "manual")  # fmt: skip


@dataclass(frozen=True)
class Event:
    ts: int
    type: str
    path: str
    visitor: int
    visit: int
    device: str


class Reference:
    def __init__(self, stored: list[Event], period: Period, filters: dict[str, str]) -> None:
        self.events = stored
        self.start = int(period.start.timestamp())
        self.end = int(period.end.timestamp())
        self.filters = filters

    def kept(self, wide_end: int) -> set[int]:
        """The visits with an event (in the queries' wide window) matching every event filter,
        and, with a goal filter, an event on a page the goal names."""
        window = [e for e in self.events if self.start - 2 * VISIT_SPAN <= e.ts < wide_end]
        kept = {e.visit for e in window}
        event_filters = {k: v for k, v in self.filters.items() if k != "goal"}
        if event_filters:
            kept &= {
                e.visit for e in window if all(_value(e, k) == v for k, v in event_filters.items())
            }
        if "goal" in self.filters:
            kept &= {e.visit for e in window if reference_match(self.filters["goal"], e.path)}
        return kept

    def goals(self, patterns: list[str]) -> tuple[int, list[tuple[int, int]]]:
        kept = self.kept(self.end + VISIT_SPAN)
        period = [e for e in self.events if self.start <= e.ts < self.end and e.visit in kept]
        found = []
        for pattern in patterns:
            hits = [e for e in period if reference_match(pattern, e.path)]
            pageviews = [e for e in hits if e.type == "pageview"]
            found.append((len({e.visitor for e in hits}), len(pageviews)))
        return len({e.visitor for e in period}), found

    def funnel(self, steps: list[str], within: str) -> list[tuple[int, float | None]]:
        reach = VISIT_SPAN if within == "visit" else WEEK
        kept = self.kept(self.end + reach)
        groups: dict[int, list[Event]] = defaultdict(list)
        for e in self.events:
            if e.type == "pageview" and e.visit in kept and self.start <= e.ts < self.end + reach:
                groups[e.visit if within == "visit" else e.visitor].append(e)
        reached: list[set[int]] = [set() for _ in steps]
        gaps: list[list[int]] = [[] for _ in steps]
        for pageviews in groups.values():
            # Pageviews of one second in the order of the steps: the first step each names.
            pageviews.sort(key=lambda e: (e.ts, *_steps_named(steps, e.path)))
            times: list[int] = []
            for e in pageviews:
                if len(times) == len(steps) or not reference_match(steps[len(times)], e.path):
                    continue
                if not times and not self.start <= e.ts < self.end:
                    continue
                if times and within == "7d" and e.ts - times[0] > WEEK:
                    continue
                times.append(e.ts)
            for k, ts in enumerate(times):
                reached[k].add(pageviews[0].visitor)
                if k:
                    gaps[k].append(ts - times[k - 1])
        return [(len(reached[k]), median(gaps[k]) if k and gaps[k] else None)
                for k in range(len(steps))]  # fmt: skip


def _steps_named(steps: list[str], path: str) -> tuple[int, int]:
    """(the first step the path names, the set of steps it names as bits), for ordering."""
    named = [k for k, step in enumerate(steps) if reference_match(step, path)]
    return (min(named), sum(1 << k for k in named)) if named else (len(steps), 0)


def _value(event: Event, name: str) -> str:
    return event.path if name == "page" else str(getattr(event, name))


# ---- the store -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    opened = migrated_store_at(tmp_path_factory.mktemp("conversions") / "clickhouse")
    try:
        yield opened
    finally:
        opened.close()


def stored_events(store: Store, site: str) -> list[Event]:
    rows = store.rows(
        "SELECT toUInt32(ts), type, path, visitor, visit, device FROM audience.events"
        " WHERE site = {site:String}",
        {"site": site},
    )
    return [Event(int(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# Pageviews in one second: taken in the order of the steps (a path order would take /blog/x
# first and miss step 2), and a page that is both step 1 and step 2 fills step 2 only when it is
# viewed again (the entry's pageview fills one step).
@example(
    history=[("desktop", [(2 * 86_400, [10, 0], ["/blog/x", "/pricing", *["/"] * 4])])],
    patterns=["/pricing", "/blog/*"],
    period_index=0,
    filters={},
)
@example(
    history=[
        (
            "desktop",
            [
                (2 * 86_400, [10], ["/pricing", *["/"] * 5]),
                (3 * 86_400, [10, 0], ["/pricing", "/pricing", *["/"] * 4]),
            ],
        )
    ],
    patterns=["/**", "/pricing"],
    period_index=0,
    filters={},
)
# Within 7 days: a step exactly 7 days after the entry is reached, one a second later is not.
@example(
    history=[
        ("desktop", [(86_400, [0], ["/pricing"] * 6), (86_400 + WEEK, [0], ["/thanks"] * 6)]),
        ("mobile", [(86_400, [0], ["/pricing"] * 6), (86_401 + WEEK, [0], ["/thanks"] * 6)]),
    ],
    patterns=["/pricing", "/thanks"],
    period_index=0,
    filters={},
)
@given(history=histories, patterns=st.lists(st.sampled_from(PATTERNS), min_size=2, max_size=8),
       period_index=st.integers(0, len(PERIODS) - 1), filters=st.sampled_from(FILTERS))  # fmt: skip
def test_goals_and_funnels_equal_an_independent_computation(
    store: Store,
    history: list[Any],
    patterns: list[str],
    period_index: int,
    filters: dict[str, str],
) -> None:
    site = f"conversions-{next(_sites)}.example"
    store.insert_events([encode_row(row) for row in rows_of(site, history)], site)
    first, last = PERIODS[period_index]
    period = Period("custom", first, last, TIMEZONE)
    query = StatsQuery(site, period, filters, "day")
    conversions = Conversions(Stats(store, min_cell=1))
    reference = Reference(stored_events(store, site), period, filters)

    goals = [Goal(site, str(n), p, p) for n, p in enumerate(dict.fromkeys(patterns))]
    visitors, expected = reference.goals([goal.pattern for goal in goals])
    # Unfiltered, the goals read the traffic rollups (exact for so few visitors); else the events.
    for rollups in (True, False):
        found = Conversions(Stats(store, min_cell=1, rollups=rollups)).goals(query, goals)
        figures = [(row["current"]["visitors"], row["current"]["conversions"]) for row in found]
        assert figures == expected, f"rollups={rollups}"
        for row, (converting, _) in zip(found, expected, strict=True):
            rate = round(converting / visitors, 4) if visitors else 0.0
            assert row["current"]["conversion_rate"] == rate

    for within in ("visit", "7d"):
        funnel = Funnel(site, "f", "f", tuple(patterns), within)  # type: ignore[arg-type]
        steps = conversions.funnel(query, funnel)["steps"]
        wanted = reference.funnel(patterns, within)
        assert [step["visitors"] for step in steps] == [count for count, _ in wanted], within
        for step, (count, gap) in zip(steps, wanted, strict=True):
            assert step["median_seconds"] == (round(gap) if gap is not None and count else None)
        first_count = wanted[0][0]
        for k, step in enumerate(steps[1:], start=1):
            before, now = wanted[k - 1][0], wanted[k][0]
            assert step["drop_off"] == before - now
            assert step["from_previous"] == (round(now / before, 4) if before else 0.0)
            assert step["from_first"] == (round(now / first_count, 4) if first_count else 0.0)


def test_small_numbers_are_blank_not_shown(store: Store) -> None:
    """Under AUDIENCE_MIN_CELL converting visitors, a goal's figures and a step's are blank."""
    site = f"conversions-{next(_sites)}.example"
    history = [("desktop", [(3600, [10, 10], ["/", "/thanks"] + ["/"] * 4)])] * 3
    history += [("desktop", [(7200, [10, 10], ["/", "/pricing"] + ["/"] * 4)])]
    store.insert_events([encode_row(row) for row in rows_of(site, history)], site)
    query = StatsQuery(site, Period("custom", *PERIODS[0], TIMEZONE), {}, "day")
    conversions = Conversions(Stats(store, min_cell=2))
    goals = [Goal(site, "1", "Thanks", "/thanks"), Goal(site, "2", "Pricing", "/pricing")]
    thanks, pricing = conversions.goals(query, goals)
    assert thanks["current"] == {"visitors": 3, "conversions": 3, "conversion_rate": 0.75}
    assert pricing["current"] == {"visitors": None, "conversions": None, "conversion_rate": None}
    funnel = Funnel(site, "f", "f", ("/", "/pricing"), "visit")
    first, second = conversions.funnel(query, funnel)["steps"]
    assert first["visitors"] == 4
    assert second == {**second, "visitors": None, "from_previous": None, "drop_off": None,
                      "median_seconds": None}  # fmt: skip


# ---- patterns --------------------------------------------------------------------------------


@given(pattern=st.text("/ab*.", min_size=1, max_size=8).map(lambda text: "/" + text),
       path=st.text("/ab.", max_size=8).map(lambda text: "/" + text))  # fmt: skip
def test_a_pattern_names_the_paths_the_reference_matcher_names(pattern: str, path: str) -> None:
    import re

    try:
        regex = pattern_regex(pattern)
    except PatternError:
        assert "***" in pattern
        return
    assert bool(re.fullmatch(regex, path)) == reference_match(pattern, path)


@pytest.mark.parametrize(
    "text", ["pricing", "", "/with space", "/a\x00", "/" + "a" * 300, "/x/***"]
)
def test_a_bad_pattern_is_refused_with_its_reason(text: str) -> None:
    with pytest.raises(PatternError):
        checked_pattern(text)
