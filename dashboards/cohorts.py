"""The cohort retention grid: how many of the visitors first seen in a week or month came back.

A visitor's cohort is the week (from Monday) or the month, in the site's time zone, in which its
first visit started: the visit numbered 1, the first inside the lifetime of the visitor's cookie
(a visitor whose first visit is not stored is in no cohort). The rows are the cohorts of the weeks
or months the period touches, each whole, at most the last ``MAX_COHORTS`` of them. Cell k of a
row is the number of the cohort's visitors who started at least one visit in the k-th week or
month after the cohort's (k = 0 is the cohort itself: its size, 100 %) and its share of the
cohort, for k up to ``MAX_OFFSET`` and as far as the weeks or months that have begun (the last
one of a row may still be under way). Filters choose the cohorts' members by their first visit:
a visitor counts when its first visit has an event matching every filter; their returns count
whatever pages they saw.

Small cells (DESIGN section 5): a cell of fewer than ``min_cell`` visitors is blank (None), never
folded into a neighbour; a cohort of fewer than ``min_cell`` visitors blanks its whole row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from collector.storage.closed_visits import VISIT_SPAN, ClosedVisits
from collector.storage.store import Store
from dashboards.periods import Period, QueryError, StatsQuery, today_in
from dashboards.stats import Stats, filter_parameters, query_text

INTERVALS = ("week", "month")
MAX_COHORTS = 12
MAX_OFFSET = 12
LONG_PERIOD_DAYS = 92  # a longer period has monthly cohorts unless told


def cohort_interval(asked: str | None, period: Period) -> str:
    """``interval=week|month``; by default weeks for a period of up to three months."""
    if not asked:
        return "week" if period.days <= LONG_PERIOD_DAYS else "month"
    if asked not in INTERVALS:
        raise QueryError(f"interval: cohorts are by {' or '.join(INTERVALS)}")
    return asked


@dataclass(frozen=True)
class Cell:
    offset: int
    visitors: int | None  # None: fewer than the small-cell threshold
    share: float | None


@dataclass(frozen=True)
class Cohort:
    cohort: date  # the Monday or the first of the month
    visitors: int | None
    cells: list[Cell]


class Cohorts:
    """Reads the grid and blanks its small cells. Where every week or month of the grid starts
    on a whole UTC hour, the returns are read from the closed visits' list and the visits still
    open (queries/cohorts_rollup.sql), else every visit is merged (queries/cohorts.sql): the same
    numbers (tests check it)."""

    def __init__(
        self,
        store: Store,
        min_cell: int,
        rollups: bool = True,
        closed_visits: ClosedVisits | None = None,
    ) -> None:
        """``closed_visits``: where the rollups end, as a stats reader (dashboards.stats.Stats)
        sees them (a page's pinned watermark), else read for each grid."""
        self.store = store
        self.min_cell = min_cell
        self.rollups = rollups
        self.closed_visits = closed_visits or ClosedVisits(store)

    @classmethod
    def of(cls, stats: Stats) -> Cohorts:
        """The grid as ``stats`` reads: its store, small cells, path and watermark."""
        return cls(stats.store, stats.min_cell, stats.rollups, stats.closed_visits)

    def grid(self, query: StatsQuery, interval: str, now: datetime | None = None) -> list[Cohort]:
        """The rows of ``query``'s period by ``interval``, their cells up to ``now``."""
        timezone = query.period.timezone
        today = today_in(timezone, now)
        cohorts = [
            start
            for start in (date.fromisoformat(b) for b in query.period.buckets(interval))
            if start <= today
        ][-MAX_COHORTS:]
        if not cohorts:
            return []
        cohorts_from = _midnight(cohorts[0], timezone)
        cohorts_to = _midnight(shift(cohorts[-1], interval, 1), timezone)
        returns_to = _midnight(shift(cohorts[-1], interval, MAX_OFFSET + 1), timezone)
        parameters: dict[str, Any] = {
            "site": query.site,
            "tz": timezone,
            "interval": interval,
            "offsets": MAX_OFFSET,
            "base": cohorts[0],
            "cohorts_from": _naive(cohorts_from),
            "cohorts_to": _naive(cohorts_to),
            "returns_to": _naive(returns_to),
            "rows_from": _naive(cohorts_from - 2 * VISIT_SPAN),
            "rows_to": _naive(returns_to + VISIT_SPAN),
            "first_rows_to": _naive(cohorts_to + VISIT_SPAN),
            "wide_start": _naive(cohorts_from - 2 * VISIT_SPAN),
            "wide_end": _naive(cohorts_to + VISIT_SPAN),
            **filter_parameters(query.filters),
        }
        name = "cohorts"
        if self.from_rollups(cohorts[0], interval, len(cohorts), timezone):
            name = "cohorts_rollup"
            parameters.update(self._rolled(cohorts_from, returns_to))
        counts: dict[tuple[date, int], int] = {
            (row["cohort"], int(row["offset"])): int(row["visitors"])
            for row in self.store.read(query_text(name), parameters)
        }
        return [self._row(start, interval, today, counts) for start in cohorts]

    def from_rollups(self, first: date, interval: str, cohorts: int, timezone: str) -> bool:
        """Whether the closed visits' hours tell the week or month each started in: every week
        or month the grid reaches starts on a whole UTC hour."""
        return self.rollups and all(
            _midnight(shift(first, interval, n), timezone).minute == 0
            for n in range(cohorts + MAX_OFFSET + 1)
        )

    def _rolled(self, start: datetime, end: datetime) -> dict[str, datetime]:
        """Where the closed visits' list ends and how the open visits after it are merged, for
        the visits started in [start, end) (as ``dashboards.stats`` reads them)."""
        # Read for each call: a mark of late or erased events must be seen as soon as it is made.
        watermark = self.closed_visits.watermark()
        rolled_to, through = watermark.split(start, end)
        rows_from = max(through, start - 2 * VISIT_SPAN)
        return {
            "rolled_to": _naive(rolled_to),
            "open_rows_from": _naive(rows_from),
            "open_rows_to": _naive(end + VISIT_SPAN if rolled_to < end else rows_from),
            "listed_from": _naive(through - VISIT_SPAN if watermark.through else through),
            "listed_to": _naive(through),
        }

    def _row(
        self, start: date, interval: str, today: date, counts: Mapping[tuple[date, int], int]
    ) -> Cohort:
        size = counts.get((start, 0), 0)
        shown = size >= self.min_cell
        cells = []
        for offset in range(MAX_OFFSET + 1):
            if shift(start, interval, offset) > today:
                break
            visitors = counts.get((start, offset), 0)
            small = not shown or visitors < self.min_cell
            cells.append(
                Cell(
                    offset,
                    None if small else visitors,
                    None if small else round(visitors / size, 4),
                )
            )
        return Cohort(start, size if shown else None, cells)


def as_json(rows: list[Cohort]) -> list[dict[str, Any]]:
    return [
        {
            "cohort": row.cohort.isoformat(),
            "visitors": row.visitors,
            "cells": [
                {"offset": c.offset, "visitors": c.visitors, "share": c.share} for c in row.cells
            ],
        }
        for row in rows
    ]


def shift(start: date, interval: str, count: int) -> date:
    """The Monday ``count`` weeks, or the first of the month ``count`` months, after ``start``."""
    if interval == "week":
        return start + timedelta(weeks=count)
    index = start.year * 12 + start.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def _midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(), ZoneInfo(timezone)).astimezone(UTC)


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)
