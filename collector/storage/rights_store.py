"""The store's side of visitor rights: a visitor's events, erasure, the erased list, the audit log.

Its statements are files of collector/storage/sql/, but those that name the tables of a cluster
(built here). ``collector.privacy.rights`` decides when each runs.

Erasure in two steps. ``mark_erased`` lists the visitor in ``audience.erased_visitors`` together
with the rollup days its events counted in, so any writer can finish the job even once the events
are gone; ``delete_events`` removes the events (safe at any time). ``erase`` does both and rebuilds
those rollup days from the events left: the rollups hold visitor states, which cannot be
subtracted. A rebuild deletes a day and inserts it again from the events, so it must run where no
insert of the store can interleave: in the writer's own thread (``collector.storage.writer``).

On a cluster schema (``store.cluster``) the deletes run ON CLUSTER on the shards' local tables
(a lightweight DELETE cannot go through a Distributed table) and the rebuild reads every shard;
the reads and the inserts keep the Distributed tables' names.
"""

from __future__ import annotations

import logging
import re
from datetime import date
from typing import Any

from collector.ops.progress import progress
from collector.storage.closed_visits import ClosedVisits
from collector.storage.errors import StoreError
from collector.storage.sql import statement
from collector.storage.store import EVENTS_TABLE, Store, on_cluster

# The rollups fed from audience.events: view -> (its table, the events column whose UTC day is
# the day of the rollup row an event counts in). ROLLUP_CASCADES: rollups fed in turn from those
# (the daily ones), rebuilt through their own views by the rebuild's insert. A test checks that
# every materialized view of the schema is listed here.
EVENT_ROLLUPS = {
    "traffic_hourly_mv": ("audience.traffic_hourly", "ts"),
}
ROLLUP_CASCADES = {
    "audience.traffic_hourly": ("audience.traffic_daily",),
}
# The tables fed from audience.events whose rows keep the visitor's hash: view -> table. A
# visitor's rows there are deleted with its events, at any time (no rebuild: a row is one visit).
VISITOR_TABLES = {
    "visits_mv": "audience.visits",
}
# Tables written by the store owner's writer whose rows keep the visitor's hash: deleted with
# the events too (collector.storage.closed_visits writes the erased visitor's rollup hours again).
ROLLED_UP_VISITOR_TABLES = ("audience.closed_visits", "audience.funnel_pageviews")
RollupDay = tuple[str, str, date]  # (view, site, day)
SHOW_AFTER_SECONDS = 2.0  # rebuilds lasting longer show their progress
log = logging.getLogger("audience.rights")
_DAYS = " WHERE site = {s:String} AND toDate(hour) IN {d:Array(Date)}"
_LOCAL_EVENTS = re.compile(rf"\b{re.escape(EVENTS_TABLE)}_local\b")


def deleted_from(table: str, cluster: str | None) -> str:
    """What a DELETE of ``table``'s rows names: the table on one node; on a cluster, the local
    tables of the shards behind the Distributed ``table``, ON CLUSTER."""
    return f"{table}_local{on_cluster(cluster)}" if cluster else table


def delete_events_sql(cluster: str | None) -> list[str]:
    """The DELETEs of a visitor's events and of its rows in every table of VISITOR_TABLES and
    ROLLED_UP_VISITOR_TABLES (replicated on every node of a cluster, not sharded)."""
    sharded = (EVENTS_TABLE, *VISITOR_TABLES.values())
    return [
        f"DELETE FROM {deleted_from(table, cluster)} WHERE visitor = {{v:UInt64}}"  # noqa: S608
        for table in sharded
    ] + [
        f"DELETE FROM {table} WHERE visitor = {{v:UInt64}}"  # noqa: S608 (constants)
        for table in ROLLED_UP_VISITOR_TABLES
    ]


def rebuild_sql(target: str, columns: str, select: str, cluster: str | None) -> list[str]:
    """The statements rebuilding some days of a site in the rollup ``target`` (parameters ``s``
    and ``d``) from the SELECT of its view: delete the days there and in its cascades, insert
    them again. On a cluster the view's SELECT reads its shard's events: the rebuild reads the
    Distributed events instead, every shard, and inserts through the Distributed ``target``
    (a rollup row is right on any shard: every read merges the states of all of them), whose
    shard's views refill the daily rollups. Deduplication is off: a rebuilt block may equal an
    earlier insert's, which must not swallow it."""
    tables = (target, *ROLLUP_CASCADES.get(target, ()))
    deletes = [f"DELETE FROM {deleted_from(t, cluster)}{_DAYS}" for t in tables]  # noqa: S608
    every_shard = _LOCAL_EVENTS.sub(EVENTS_TABLE, select)
    insert = (
        f"INSERT INTO {target} ({columns}) SELECT {columns} FROM ({every_shard}){_DAYS}"  # noqa: S608
        " SETTINGS insert_deduplicate = 0"
    )
    return [*deletes, insert]


class RightsStore:
    def __init__(self, store: Store, closed_visits: ClosedVisits | None = None) -> None:
        self.store = store
        self.closed_visits = closed_visits or ClosedVisits(store)

    def visitor_events(self, visitor: int, limit: int) -> list[dict[str, Any]]:
        """Every stored field of a visitor's newest ``limit`` events, oldest first."""
        return self.store.read(statement("visitor_events"), {"v": visitor, "n": limit})

    def count_events(self, visitor: int) -> int:
        rows = self.store.rows(statement("count_events"), {"v": visitor})
        return int(rows[0][0])

    def erased_visitors(self) -> dict[int, int]:
        """Every erased visitor, with when it was erased (seconds since the epoch)."""
        rows = self.store.rows(statement("erased_visitors"))
        return {int(visitor): int(erased_at) for visitor, erased_at in rows}

    def erased_with_events(self) -> set[int]:
        """Erased visitors that still have events: an erasure a restart interrupted."""
        rows = self.store.rows(statement("erased_with_events"))
        return {int(row[0]) for row in rows}

    def mark_erased(self, visitor: int) -> None:
        """List the visitor as erased, with the rollup days its events counted in."""
        self.store.execute(
            statement("mark_erased"),
            {"v": visitor, "d": sorted(self._rollup_days_of_events(visitor))},
        )

    def delete_events(self, visitor: int) -> int:
        """Delete a visitor's events (hidden at once, gone from disk at the next retention run);
        returns how many there were."""
        events = self.count_events(visitor)
        if events:
            for statement in delete_events_sql(self.store.cluster):
                self.store.execute(statement, {"v": visitor})
        return events

    def erase(self, visitor: int) -> int:
        """Delete the events and rebuild every rollup day they counted in: those listed when the
        visitor was marked, and those of any event stored since. Returns the events deleted."""
        days = self._rollup_days_of_events(visitor) | self._recorded_rollup_days(visitor)
        self.closed_visits.mark_erased(visitor)
        events = self.delete_events(visitor)
        rebuilds = [
            (view, site, sorted(day for v, s, day in days if v == view and s == site))
            for view in EVENT_ROLLUPS
            for site in sorted({site for v, site, _ in days if v == view})
        ]
        # A visitor of years on a big store: many days to rebuild. Figures only, no visitor.
        total = sum(len(site_days) for _, _, site_days in rebuilds)
        with progress(
            "rollup rebuild", total, unit="days", logger=log, delay=SHOW_AFTER_SECONDS
        ) as shown:
            for view, site, site_days in rebuilds:
                self._rebuild(view, site, site_days)
                shown.advance(len(site_days))
        return events

    def _rollup_days_of_events(self, visitor: int) -> set[RollupDay]:
        days: set[RollupDay] = set()
        for view, (_, column) in EVENT_ROLLUPS.items():
            for site, site_days in self.store.rows(
                statement("event_days_of_visitor"), {"v": visitor, "column": column}
            ):
                days.update((view, site, day) for day in site_days)
        return days

    def _recorded_rollup_days(self, visitor: int) -> set[RollupDay]:
        rows = self.store.rows(statement("recorded_rollup_days"), {"v": visitor})
        return {(view, site, day) for ((view, site, day),) in rows if view in EVENT_ROLLUPS}

    def _rebuild(self, view: str, site: str, days: list[date]) -> None:
        target, _ = EVENT_ROLLUPS[view]
        columns = ", ".join(
            row[0]
            for row in self.store.rows(
                statement("rollup_columns"), {"t": target.removeprefix("audience.")}
            )
        )
        # The view's own SELECT, filtered to the days: one definition of each rollup. The
        # cascade (hourly -> daily) refills the daily rows from this insert.
        select = self._view_select(view)
        for rebuild in rebuild_sql(target, columns, select, self.store.cluster):
            self.store.execute(rebuild, {"s": site, "d": days})

    def _view_select(self, view: str) -> str:
        rows = self.store.rows(statement("view_select"), {"n": view})
        if not rows:
            raise StoreError(f"no materialized view audience.{view}: is the schema migrated?")
        return str(rows[0][0])

    def record_request(
        self, action: str, channel: str, subject: int, outcome: str, events: int
    ) -> None:
        self.store.execute(
            statement("record_request"),
            {"a": action, "c": channel, "s": subject, "o": outcome, "e": events},
        )

    def requests(self, subject: int | None, limit: int) -> list[dict[str, Any]]:
        return self.store.read(
            statement("requests"),
            {"all": subject is None, "s": subject or 0, "n": limit},
        )
