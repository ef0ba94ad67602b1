"""The numbers of a site's goals and funnels for a period and filters (README: "Goals and funnels").

Goals: a goal's converting visitors are the distinct visitors with an event on a page it names in
the period (a pageview, or the engagement beacon the page sent); its conversions, the pageviews of
those pages; its conversion rate, converting visitors ÷ the period's visitors (both among the
visits kept by the filters).

Funnels: per step, the visitors who reached it (through every step before it, in order, within one
visit or within 7 days of the first step, which falls in the period), the conversion from the
previous step and from the first, the drop-off from the previous step, and the median time from
the previous step (collector/storage/sql/funnel_reached.sql says which chain is timed).

Without filters, on whole UTC hours, goals read the traffic rollups by page (visitors from
uniqCombined states, as every rollup-path visitor count); otherwise ``audience.events``. Funnels
read the closed visits their steps' rows cover (``collector.storage.funnel_rollup``: a visit's
pageviews that name a step, in order) and gather the other visits' pageviews from the events,
with or without filters; a within-visit funnel without filters counts the closed visits its
period holds whole from the rows' hourly cells (per step, visitors and seconds as states). A
number of fewer than AUDIENCE_MIN_CELL visitors is blank (None), with what is computed from it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from collector.storage.closed_visits import EPOCH, HOUR, VISIT_SPAN, floor_hour
from collector.storage.path_patterns import pattern_regex
from dashboards.goals import Funnel, Goal
from dashboards.periods import Period, StatsQuery
from dashboards.stats import Stats, naive_utc, query_text

FUNNEL_WINDOW = timedelta(days=7)


class Conversions:
    def __init__(self, stats: Stats) -> None:
        self.stats = stats

    def goals(self, query: StatsQuery, goals: list[Goal]) -> list[dict[str, Any]]:
        """Each goal's figures in the period and in the one before, and the change."""
        if not goals:
            return []
        previous_period = query.period.previous()
        current, previous = (
            self._goal_figures(rows, goals)
            for rows in self.stats.store.read_many(
                [
                    self._goals_query(query, period, goals)
                    for period in (query.period, previous_period)
                ]
            )
        )
        return [
            {
                **goal.as_dict(),
                "current": now,
                "previous": before,
                "change": {name: _change(value, before[name]) for name, value in now.items()},
                "previous_period": {
                    "from": previous_period.first.isoformat(),
                    "to": previous_period.last.isoformat(),
                },
                "filter": goal.pattern,
            }
            for goal, now, before in zip(goals, current, previous, strict=True)
        ]

    def _goals_query(
        self, query: StatsQuery, period: Period, goals: list[Goal]
    ) -> tuple[str, dict[str, Any]]:
        parameters = self.stats.parameters(query, period)
        parameters["patterns"] = [pattern_regex(goal.pattern) for goal in goals]
        rollups = self.stats.from_rollups(query, period)
        return query_text("goal_conversions_rollup" if rollups else "goal_conversions"), parameters

    def _goal_figures(
        self, rows: list[dict[str, Any]], goals: list[Goal]
    ) -> list[dict[str, int | float | None]]:
        found = {int(row["goal"]): row for row in rows}
        visitors = int(found[0]["visitors"]) if 0 in found else 0
        figures: list[dict[str, int | float | None]] = []
        for index in range(1, len(goals) + 1):
            row = found.get(index, {})
            converting = int(row.get("visitors") or 0)
            if 0 < converting < self.stats.min_cell:
                figures.append({"visitors": None, "conversions": None, "conversion_rate": None})
                continue
            figures.append({
                "visitors": converting,
                "conversions": int(row.get("conversions") or 0),
                "conversion_rate": round(converting / visitors, 4) if visitors else 0.0,
            })  # fmt: skip
        return figures

    def funnel(self, query: StatsQuery, funnel: Funnel) -> dict[str, Any]:
        """The funnel's steps in the period: visitors, conversions, drop-off, median time."""
        period = query.period
        by_visit = funnel.within == "visit"
        reach = VISIT_SPAN if by_visit else FUNNEL_WINDOW
        steps = [pattern_regex(step) for step in funnel.steps]
        rolled_from, rolled_to, from_first_visit = self._rolled(query.site, steps, period)
        parameters = self.stats.parameters(query, period)
        parameters |= {
            "steps": steps,
            "by_visit": int(by_visit),
            "window": int(FUNNEL_WINDOW.total_seconds()),
            "reach_end": naive_utc(period.end + reach),
            "wide_end": naive_utc(period.end + reach),
            **_funnel_visits(period, reach, rolled_from, rolled_to, from_first_visit),
            **_cells(period, rolled_from, rolled_to, by_visit and not query.filters),
        }
        name = "funnel_steps_by_visit" if by_visit else "funnel_steps_by_visitor"
        rows = self.stats.store.read(query_text(name), parameters)
        found = {int(row["step"]): row for row in rows}
        return {**funnel.as_dict(), "steps": self._steps(funnel, found)}

    def _rolled(
        self, site: str, steps: list[str], period: Period
    ) -> tuple[datetime, datetime, bool]:
        """The start hours [from, to) of the closed visits read from the rows of the funnel's
        steps (none, from = to, on the baseline path or before the writer has made them): their
        span, cut where the exact rollups of closed visits end (a visit marked stale is read
        from the events); and whether no visit started before it."""
        closed_visits = self.stats.closed_visits
        span = closed_visits.funnels.coverage(site, steps) if self.stats.rollups else None
        if span is None:
            return EPOCH, EPOCH, False
        _, exact = closed_visits.watermark().split(period.start, period.end)
        through = min(span.through, naive_utc(exact))
        if span.first_hour >= through:
            return through, through, False
        return span.first_hour, through, span.from_first_visit

    def _steps(self, funnel: Funnel, found: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
        reached = [
            int(found.get(k, {}).get("visitors") or 0) for k in range(1, len(funnel.steps) + 1)
        ]
        shown = [None if 0 < count < self.stats.min_cell else count for count in reached]
        steps = []
        for index, pattern in enumerate(funnel.steps):
            visitors, previous = shown[index], shown[index - 1] if index else None
            first = shown[0]
            median = found.get(index + 1, {}).get("median_seconds")
            steps.append({
                "step": index + 1,
                "pattern": pattern,
                "visitors": visitors,
                "from_previous": _share(visitors, previous) if index else None,
                "from_first": _share(visitors, first),
                "drop_off": (previous - visitors
                             if index and visitors is not None and previous is not None else None),
                "median_seconds": (round(float(median or 0))
                                   if index and visitors and median == median else None),
            })  # fmt: skip
        return steps


def _funnel_visits(
    period: Period,
    reach: timedelta,
    rolled_from: datetime,
    rolled_to: datetime,
    from_first_visit: bool,
) -> dict[str, datetime]:
    """What funnel_visits.sql takes besides the period: the start hours [rolled_from,
    rolled_to) of the closed visits read from the funnels' rows, and the two ranges of events
    where the others' pageviews lie (disjoint: [start, early_to), [late_from, reach_end)); the
    first is empty when no visit started before the rows (``from_first_visit``)."""
    start, reach_end = naive_utc(period.start), naive_utc(period.end + reach)
    late_from = max(start, rolled_to)
    early_to = min(rolled_from + VISIT_SPAN, late_from, reach_end)
    return {
        "rolled_from": rolled_from,
        "rolled_to": rolled_to,
        "funnel_rows_from": max(rolled_from, start - VISIT_SPAN),
        "funnel_rows_to": min(rolled_to, reach_end),
        "early_to": start if from_first_visit else max(start, early_to),
        "late_from": late_from,
        "first_listed_to": min(rolled_from + VISIT_SPAN, rolled_to),
        "last_listed_from": max(rolled_to - VISIT_SPAN, rolled_from),
    }


def _cells(
    period: Period, rolled_from: datetime, rolled_to: datetime, readable: bool
) -> dict[str, datetime]:
    """The start hours [cells_from, cells_to) of the closed visits a within-visit funnel without
    filters (``readable``) counts from their hourly cells (funnel_steps_by_visit.sql): within
    the funnel rows' span, from the period's first whole hour, and a day before the period's
    end (a visit started in such an hour, whole within a day of the hour's end as a cell's
    visits are, has every pageview inside the period). Empty (cells_from = cells_to)
    otherwise."""
    start = naive_utc(period.start)
    first_whole_hour = floor_hour(start) + (HOUR if floor_hour(start) < start else timedelta(0))
    cells_from = max(rolled_from, first_whole_hour)
    cells_to = min(rolled_to, floor_hour(naive_utc(period.end) - VISIT_SPAN))
    if not readable or cells_from >= cells_to:
        return {"cells_from": EPOCH, "cells_to": EPOCH}
    return {"cells_from": cells_from, "cells_to": cells_to}


def _change(now: int | float | None, before: int | float | None) -> float | None:
    """Relative change (0.12 = +12 %); None when either is blank or the previous is zero."""
    if now is None or not before:
        return None
    return round((now - before) / before, 4)


def _share(part: int | None, whole: int | None) -> float | None:
    if part is None or whole is None:
        return None
    return round(part / whole, 4) if whole else 0.0
