"""Closed visits, rolled up: what the dashboards read instead of merging every visit of a period.

A visit is closed when its last event is older than the visit timeout plus ``LATE_SECONDS``:
no event can join it any more, except one stored late. The store owner's writer calls ``turn``
now and then; each turn

- writes again the rollup hours that late or erased events changed (``audience.visit_rollup_stale``,
  marked by ``mark_late`` and ``mark_erased``), or whose engaged visits a new threshold of their
  site changed (``mark_site``: the rollups count engaged visits with the threshold read when
  they are written);
- moves the watermark ``through`` forward over the hours whose visits are all closed, writing
  their rollups (``audience.visit_rollup``, ``audience.closed_visits``, and
  ``audience.visit_rollup_daily`` for the UTC days whose end it passes) before the watermark, so
  that a reader, which takes the rollups before the watermark and the open visits after it, never
  counts a visit twice nor misses one.

Every number comes from ``audience.visit_summaries`` (schema/013_visit_pairs.sql), the one
definition of a visit's numbers, which the dashboards read for the open visits too. An event is
late when it is stored more than ``LATE_SECONDS`` after it happened (a spool replayed after a
restart, a spool of another collector): a visit closed and rolled up before such an event came
can only have been joined by it (an event joins a visit within the timeout of its last event),
so the hours of the visits that may hold it are written again.

One writer of the rollups per store: on a cluster, one collector (they would both advance the
same hours otherwise).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from collector.settings import VISIT_TIMEOUT_SECONDS
from collector.storage import migrations
from collector.storage.funnel_rollup import FunnelRollup
from collector.storage.sql import statement
from collector.storage.store import Store

LATE_SECONDS = 300  # longer than a spool takes to reach the store when all is well
VISIT_SPAN = timedelta(days=1)  # a visit's events lie this close to its start; later ones are cut
STEP = timedelta(hours=6)  # the hours one statement rolls up
TURN_SECONDS = 60.0  # how often the writer takes a turn, unless marks are waiting
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
EPOCH = datetime(1970, 1, 1)
log = logging.getLogger("audience.closed_visits")

_HOURLY_TABLES = ("visit_rollup", "closed_visits")
_DAILY_TABLE = "visit_rollup_daily"


@dataclass(frozen=True)
class Watermark:
    """Where the rollups end (None before the first turn), and the first hour marked stale, whose
    visits' rollups (those started up to VISIT_SPAN before it) wait to be written again."""

    through: datetime | None
    stale_from: datetime | None = None

    def split(self, start: datetime, end: datetime) -> tuple[datetime, datetime]:
        """For a reader's [start, end) (aware instants): where its rolled-up part ends and its
        open part starts, and where the exact rollups end (the epoch before the first turn):
        before the watermark and before the visits a stale mark may have changed. An older
        watermark is as right as the newest: the visits after it are merged as open ones."""
        through = (self.through or EPOCH).replace(tzinfo=UTC)
        if self.stale_from is not None:
            through = min(through, (self.stale_from - VISIT_SPAN).replace(tzinfo=UTC))
        return min(max(start, through), end), through


class ClosedVisits:
    def __init__(self, store: Store, step: timedelta = STEP) -> None:
        """``step``: the hours one statement rolls up (a store of little traffic over a long
        span, as a test's, rolls up faster in bigger steps)."""
        self.store = store
        self.step = step
        self.funnels = FunnelRollup(store, step, VISIT_SPAN)
        self._last_turn = float("-inf")
        # Rows past the watermark that a failed advance may have left: removed before the next.
        self._unclean = True

    # Readers.

    def watermark(self) -> Watermark:
        rows = self.store.rows(statement("watermark"))
        [[through, rolled, stale_from, stale]] = rows
        return Watermark(_naive(through) if rolled else None, _naive(stale_from) if stale else None)

    # Marks, by the writer and the erasure.

    def mark_late(self, late: Iterable[tuple[str, int]]) -> None:
        """Mark the hours of the (site, ts) of a stored batch that came late (``ts`` before
        ``late_before``) and may belong to a rolled-up visit (one that started before the
        watermark)."""
        late = list(late)
        if not late:
            return
        through = self.watermark().through
        if through is None:  # nothing is rolled up yet: the first turn will see them
            return
        reach = (through + VISIT_SPAN - EPOCH).total_seconds()
        self._mark({(site, _hour_of(ts)) for site, ts in late if ts < reach})

    @staticmethod
    def late_before(now: float) -> float:
        """Events of before this time (seconds since the epoch), stored ``now``, came late."""
        return now - LATE_SECONDS

    def mark_erased(self, visitor: int) -> None:
        """Mark the hours of a visitor's events, before they are deleted."""
        rows = self.store.rows(statement("event_hours_of_visitor"), {"v": visitor})
        self._mark({(str(site), _naive(hour)) for site, hour in rows})

    def mark_site(self, site: str) -> None:
        """Mark every hour of a site's visits: its engaged-visit threshold changed. Made after
        the new threshold is saved, so that a rollup written with the old one meanwhile is
        written again by a later turn."""
        self.store.execute(statement("mark_site_hours"), {"site": site})
        self._last_turn = float("-inf")

    def _mark(self, hours: set[tuple[str, datetime]]) -> None:
        if not hours:
            return
        self.store.execute(statement("mark_stale_hours"), {"m": sorted(hours)})
        self._last_turn = float("-inf")  # the next turn is due now

    # The writer's turn.

    def due(self) -> bool:
        return time.monotonic() - self._last_turn >= TURN_SECONDS

    def turn(self, now: datetime | None = None, budget: float = 1.0) -> bool:
        """Rewrite the marked hours, then advance the watermark for at most ``budget`` seconds,
        the funnels' rows with it (``collector.storage.funnel_rollup``), and with the rest of the
        budget take the funnels' rows back over older visits. Returns True when more hours are
        ready to advance or go back over (call again soon). Raises
        StoreError; a turn cut short is taken again from where the store says it stands."""
        self._last_turn = time.monotonic()
        now = _naive(now or datetime.now(UTC))
        through = self.watermark().through
        if through is None:
            through = self._first_hour(now)
            self._write_watermark(through)
        if self._unclean:
            self._delete_from(through)
            self._unclean = False
        self.funnels.register(through)
        self._rewrite_marked(through)
        deadline = time.monotonic() + budget
        while (target := self._advance_target(through, now)) > through:
            self._unclean = True
            sites = self._sites(through, target)
            for site in sites:
                self._roll_up(site, through, target)
            self._roll_up_days(None, _floor_day(through), _floor_day(target))
            self.funnels.advance(target, set(sites))
            self._write_watermark(target)
            self._unclean = False
            through = target
            if time.monotonic() >= deadline:
                return self._advance_target(through, now) > through or self.funnels.behind()
        if time.monotonic() >= deadline:
            return self.funnels.behind()
        return self.funnels.backfill(deadline)

    def _first_hour(self, now: datetime) -> datetime:
        """The hour of the first rows of audience.visits that the retention keeps, else the
        hour of the newest visits that may be closed."""
        months = migrations.ttl_months(self.store)
        rows = self.store.rows(
            statement("first_visit_hour_kept"),
            {"now": now, "m": 1 - months if months else -10_000},
        )
        if rows and rows[0][1]:
            return _naive(rows[0][0])
        return floor_hour(now - timedelta(seconds=VISIT_TIMEOUT_SECONDS + LATE_SECONDS))

    def _advance_target(self, through: datetime, now: datetime) -> datetime:
        """How far the watermark may go: whole hours whose visits are all closed, a step at a
        time where there are rows, at once over hours without any."""
        closed_before = now - timedelta(seconds=VISIT_TIMEOUT_SECONDS + LATE_SECONDS)
        target = floor_hour(closed_before)
        rows = self.store.rows(statement("first_visit_hour_since"), {"t": through})
        if rows and rows[0][1]:
            next_rows = _naive(rows[0][0])
            target = min(target, max(through + self.step, next_rows))
        for site in self._sites(through, now + HOUR):
            rows = self.store.rows(
                statement("open_visits_from"),
                {
                    "site": site,
                    "a": through,
                    "rows_to": now + HOUR,
                    "closed_before": closed_before,
                    "cut_before": now - VISIT_SPAN,
                    "listed_from": through - VISIT_SPAN,
                },
            )
            if rows:
                target = min(target, floor_hour(_naive(rows[0][0])))
        return target

    def _sites(self, a: datetime, b: datetime) -> list[str]:
        return [
            str(row[0]) for row in self.store.rows(statement("sites_with_visits"), {"a": a, "b": b})
        ]

    def _roll_up(self, site: str, a: datetime, b: datetime) -> None:
        """Write the rollups of the visits of ``site`` that started in [a, b), in steps."""
        engaged_ms = 1000 * self.store.engaged_seconds(site)
        while a < b:
            step_end = min(b, a + self.step)
            parameters = {
                "site": site,
                "a": a,
                "b": step_end,
                "rows_to": step_end + VISIT_SPAN,
                "listed_from": a - VISIT_SPAN,
                "engaged_ms": engaged_ms,
            }
            self.store.execute(statement("list_closed_visits"), parameters)
            self.store.execute(statement("roll_up_visits"), parameters)
            a = step_end

    def _roll_up_days(self, site: str | None, a: datetime, b: datetime) -> None:
        """Write the daily rollups of the whole days [a, b), of ``site`` or of every site, from
        the hourly ones."""
        if a < b:
            parameters = {"site": site or "", "every_site": site is None, "a": a, "b": b}
            self.store.execute(statement("roll_up_days"), parameters)

    def _write_watermark(self, through: datetime) -> None:
        self.store.execute(statement("write_watermark"), {"t": through})

    def _delete_from(self, through: datetime) -> None:
        """Delete the rollups of the hours from ``through`` on, and of the days it is inside."""
        bounds = [(table, through) for table in _HOURLY_TABLES]
        bounds.append((_DAILY_TABLE, _floor_day(through)))
        for table, bound in bounds:
            self.store.execute(statement("delete_rollups_from"), {"table": table, "h": bound})
        self.funnels.clip(through)

    def _rewrite_marked(self, through: datetime) -> None:
        """Write again the rolled-up hours whose visits may hold a marked hour's events, then
        forget the marks read (one writer of marks at a time: the writer's thread)."""
        rows = self.store.rows(statement("stale_hours"))
        for site, hours, last_marked in rows:
            for a, b in _spans(sorted(_naive(hour) for hour in hours), through):
                self._rewrite(str(site), a, b, through)
            self.store.execute(
                statement("forget_stale_hours"), {"s": site, "m": _naive(last_marked)}
            )

    def _rewrite(self, site: str, a: datetime, b: datetime, through: datetime) -> None:
        """Write again the hours [a, b) of ``site``, then the whole days they are in that are
        before the watermark."""
        log.info("rewriting the visit rollups of %s from %s to %s", site, a, b)
        days = (_floor_day(a), min(_floor_day(b - HOUR) + DAY, _floor_day(through)))
        spans = [(table, (a, b)) for table in _HOURLY_TABLES] + [(_DAILY_TABLE, days)]
        for table, (start, end) in spans:
            self.store.execute(
                statement("delete_rollups_between"),
                {"table": table, "s": site, "a": start, "b": end},
            )
        self._roll_up(site, a, b)
        self.funnels.rewrite(site, a, b)
        self._roll_up_days(site, *days)


def _spans(hours: list[datetime], through: datetime) -> list[tuple[datetime, datetime]]:
    """The rolled-up start hours (before ``through``) of the visits that may hold an event of
    one of ``hours``, as disjoint [a, b) spans."""
    spans: list[tuple[datetime, datetime]] = []
    for hour in hours:
        a, b = hour - VISIT_SPAN, min(hour + HOUR, through)
        if a >= b:
            continue
        if spans and a <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], b))
        else:
            spans.append((a, b))
    return spans


def _hour_of(ts: int) -> datetime:
    return EPOCH + timedelta(seconds=ts - ts % 3600)


def floor_hour(moment: datetime) -> datetime:
    """The whole hour at or before ``moment``."""
    return moment.replace(minute=0, second=0, microsecond=0)


def _floor_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _naive(moment: datetime) -> datetime:
    """A UTC instant as the driver binds DateTime('UTC') parameters."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment
