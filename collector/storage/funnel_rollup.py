"""The funnels' closed visits: for each funnel's steps, the pageviews of each closed visit that
name a step (``audience.funnel_pageviews``, schema/022_funnel_pageviews.sql), one row per visit.
``dashboards.conversions`` reads them for the visits they cover, and gathers the pageviews of the
others (the open ones, those outside the span) from ``audience.events``; the numbers are the same
either way, only faster here: no grouping of a period's pageviews by visit, no path matched.

Funnels with the same steps share their rows, whatever their window. With each hour's rows come
its cells (``audience.funnel_visit_cells``, schema/023_funnel_visit_cells.sql): per step, the
visitors whose visit reached it and the seconds from the step before, as states, which a
within-visit funnel without filters reads for the hours its period holds whole. A span
[first_hour, through) of visit start hours says which visits have their rows and cells. The
writer of the closed visits (``collector.storage.closed_visits``), the one writer of these rows,
calls

- ``register`` at each turn: new steps get an empty span at the watermark, steps that no funnel
  has any more lose their rows;
- ``advance(target, sites)`` as it moves the watermark to ``target``: every span follows;
- ``rewrite(site, a, b)`` as it writes the hours [a, b) of a site again (late or erased events);
- ``clip(hour)`` as it deletes the rollups from ``hour`` on (a turn cut short);
- ``backfill(deadline)`` with the rest of its turn: spans go back towards the site's first closed
  visit, a day of visits at a time, newest first, so that the recent periods are fast first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from collector.storage.path_patterns import pattern_regex
from collector.storage.sql import statement
from collector.storage.store import Store

BACKFILL_STEP = timedelta(days=1)  # the visits one backfill statement writes
# What funnel_reached.sql takes to follow a visit's steps within the visit (the window unused).
WHOLE_VISITS = {"by_visit": 1, "window": 0}


@dataclass(frozen=True)
class Span:
    """The start hours [first_hour, through) of the visits whose rows the steps of a site's
    funnel (their regular expressions) have."""

    site: str
    steps: int
    regexes: tuple[str, ...]
    first_hour: datetime
    through: datetime
    cells: bool  # False: written without its cells (by a writer of before schema/023)


@dataclass(frozen=True)
class Coverage:
    """What a reader needs of a span: its start hours [first_hour, through), and whether it
    reaches back to its site's first closed visit (no visit with a pageview started before)."""

    first_hour: datetime
    through: datetime
    from_first_visit: bool


class FunnelRollup:
    def __init__(self, store: Store, step: timedelta, visit_span: timedelta) -> None:
        """``step``: the hours one statement rolls up as the watermark moves; ``visit_span``:
        a visit's events lie this close to its start."""
        self.store = store
        self.step = step
        self.visit_span = visit_span
        self._version = 0

    # Readers.

    def spans(self) -> list[Span]:
        return [
            Span(str(site), int(steps), tuple(regexes), _naive(first), _naive(through), bool(cells))
            for site, steps, regexes, first, through, _, cells in self.store.rows(
                statement("funnel_rollup_spans")
            )
        ]

    def coverage(self, site: str, regexes: list[str]) -> Coverage | None:
        """The span of a site's funnel steps (regular expressions), if they have one."""
        rows = self.store.rows(statement("funnel_rollup_span"), {"site": site, "regexes": regexes})
        if not rows:
            return None
        [[first, through, from_first_visit]] = rows
        return Coverage(_naive(first), _naive(through), bool(from_first_visit))

    # The writer's calls.

    def register(self, through: datetime) -> None:
        """Give the steps of new funnels an empty span at ``through``; drop the rows and spans
        of steps no funnel has any more, and of spans written without their cells (by a writer
        of before schema/023, still running as it was migrated): those start anew."""
        live = {
            (str(site), tuple(pattern_regex(pattern) for pattern in steps))
            for site, steps in self.store.rows(statement("live_funnel_steps"))
        }
        spans = self.spans()
        known = {(span.site, span.regexes) for span in spans if span.cells}
        for span in spans:
            if not span.cells or (span.site, span.regexes) not in live:
                keys = {"site": span.site, "steps": span.steps}
                self.store.execute(statement("drop_funnel_rows"), keys)
                self.store.execute(statement("drop_funnel_cells"), keys)
                self.store.execute(statement("drop_funnel_span"), keys)
        for site, regexes in sorted(live - known):
            self._write_span(site, regexes, through, through)

    def advance(self, target: datetime, sites: set[str]) -> None:
        """Write the rows of the closed visits started from each span's end to ``target`` (only
        ``sites`` have visits there), and move the span."""
        for span in self.spans():
            if span.through < target:
                if span.site in sites:
                    self._roll_up(span, span.through, target, self.step)
                self._write_span(span.site, span.regexes, span.first_hour, target)

    def rewrite(self, site: str, a: datetime, b: datetime) -> None:
        """Write again the rows of the visits of ``site`` started in [a, b)."""
        hours = {"site": site, "a": a, "b": b}
        self.store.execute(statement("delete_funnel_rows"), hours)
        self.store.execute(statement("delete_funnel_cells"), hours)
        for span in self.spans():
            start, end = max(a, span.first_hour), min(b, span.through)
            if span.site == site and start < end:
                self._roll_up(span, start, end, self.step)

    def clip(self, hour: datetime) -> None:
        """Delete the rows of the visits started from ``hour`` on; spans end there at most."""
        self.store.execute(statement("delete_funnel_rows_from"), {"h": hour})
        self.store.execute(statement("delete_funnel_cells_from"), {"h": hour})
        for span in self.spans():
            if span.through > hour:
                first = min(span.first_hour, hour)
                self._write_span(span.site, span.regexes, first, hour)

    def behind(self) -> bool:
        """Whether some span has visits left to go back over."""
        return bool(self._behind({}))

    def backfill(self, deadline: float) -> bool:
        """Move the spans back towards their site's first closed visit, a day of visits at a
        time (at least one), until ``deadline`` (a time.monotonic()). Returns True when some
        span has visits left to go back over."""
        while self.backfill_step():
            if time.monotonic() >= deadline:
                return self.behind()
        return False

    def backfill_step(self) -> bool:
        """Move the newest span still behind its site's first closed visit back by a day of
        visits; False when none is behind."""
        behind = self._behind({})
        if not behind:
            return False
        span, first = max(behind, key=lambda pair: pair[0].first_hour)
        start = max(first, span.first_hour - BACKFILL_STEP)
        self._clear(span, start, span.first_hour)
        self._roll_up(span, start, span.first_hour, BACKFILL_STEP)
        self._write_span(span.site, span.regexes, start, span.through)
        return True

    def _clear(self, span: Span, a: datetime, b: datetime) -> None:
        """Delete the span's rows and cells of the visits started in [a, b), before its span
        covers them: a step cut short (a crash between its rows and its span) left them, and
        writing them again would count their visits twice in the cells' medians."""
        keys = {"site": span.site, "steps": span.steps, "a": a, "b": b}
        [[left]] = self.store.rows(statement("funnel_rows_between"), keys)
        if left:
            self.store.execute(statement("delete_funnel_steps_between"), keys)
            self.store.execute(statement("delete_funnel_step_cells_between"), keys)

    def _behind(self, firsts: dict[str, datetime | None]) -> list[tuple[Span, datetime]]:
        """The spans that start after their site's first closed visit, with that visit's hour."""
        return [
            (span, first)
            for span in self.spans()
            if (first := self._first_hour(span.site, firsts)) and span.first_hour > first
        ]

    def _first_hour(self, site: str, firsts: dict[str, datetime | None]) -> datetime | None:
        """The start hour of the site's first closed visit, read once per site in ``firsts``."""
        if site not in firsts:
            [[first, closed]] = self.store.rows(
                statement("first_closed_visit_hour"), {"site": site}
            )
            firsts[site] = _naive(first) if closed else None
        return firsts[site]

    def _roll_up(self, span: Span, a: datetime, b: datetime, step: timedelta) -> None:
        while a < b:
            step_end = min(b, a + step)
            parameters: dict[str, Any] = {
                "site": span.site,
                "regexes": list(span.regexes),
                "a": a,
                "b": step_end,
                "rows_to": step_end + self.visit_span,
            }
            self.store.execute(statement("roll_up_funnel"), parameters)
            self.store.execute(statement("roll_up_funnel_cells"), parameters | WHOLE_VISITS)
            a = step_end

    def _write_span(
        self, site: str, regexes: tuple[str, ...], first_hour: datetime, through: datetime
    ) -> None:
        # A version per write, increasing even within one nanosecond of the clock's.
        self._version = max(time.time_ns(), self._version + 1)
        parameters = {
            "site": site,
            "regexes": list(regexes),
            "first_hour": first_hour,
            "through": through,
            "version": self._version,
        }
        self.store.execute(statement("write_funnel_span"), parameters)


def _naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None) if moment.tzinfo is not None else moment
