"""The retention job: past AUDIENCE_RETENTION_MONTHS, data goes on a known day.

The tables' TTL (schema/retention.sql) expires each row with its whole month, but ClickHouse runs
TTL merges when it gets to them. Every day, the process that owns the store drops the monthly
partitions the TTL has expired, in every table whose TTL is the retention's, and has the rows a
lightweight DELETE hid (erased visitors) rewritten out of their parts. ``audience retention`` runs
it once, for a cron entry where the collectors do not own the store.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from collector.ops.metrics import Metrics
from collector.ops.progress import progress
from collector.storage.sql import statement
from collector.storage.store import Store, on_cluster

_MONTH_PARTITION = re.compile(r"toYYYYMM\((\w+)\)")
_RETENTION_TTL = re.compile(
    r" TTL toStartOfMonth\((\w+)\) \+ toIntervalMonth\((\d+)\)(?: SETTINGS |$)"
)
log = logging.getLogger("audience.retention")
START_DELAY_SECONDS = 1.0  # the first run, after the start
INTERVAL_SECONDS = 86_400.0
SHOW_AFTER_SECONDS = 2.0  # a run lasting longer shows its progress over the partitions


@dataclass(frozen=True)
class RetentionReport:
    """What one run did; partition ids of monthly partitions are YYYYMM."""

    months: int
    dropped: dict[str, tuple[str, ...]] = field(default_factory=dict)  # table -> partitions
    purged: dict[str, tuple[str, ...]] = field(default_factory=dict)  # deleted rows rewritten
    skipped: tuple[str, ...] = ()  # tables whose TTL is not this many months: left alone
    seconds: float = 0.0

    @property
    def partitions_dropped(self) -> int:
        return sum(len(partitions) for partitions in self.dropped.values())

    @property
    def mask_applied(self) -> bool:
        return bool(self.purged)

    def summary(self) -> str:
        """One line for the log: tables and months, no personal data."""
        purged = sum(len(partitions) for partitions in self.purged.values())
        return (
            f"retention of {self.months} months: {self.partitions_dropped} partitions dropped"
            f"{_listing(self.dropped)}, deleted rows purged in {purged} partitions"
            f"{_listing(self.purged)}, {self.seconds:.3f} s"
        )


def _listing(partitions: dict[str, tuple[str, ...]]) -> str:
    if not partitions:
        return ""
    return " (" + "; ".join(f"{t} {' '.join(p)}" for t, p in sorted(partitions.items())) + ")"


def expired(partition_id: str, months: int, now: datetime) -> bool:
    """Whether the partition of month ``partition_id`` (YYYYMM) is past the retention at
    ``now`` (UTC). Its rows expire together when ``toStartOfMonth(ts) + months`` is reached,
    that is once the month ``months`` after it has begun."""
    if len(partition_id) != 6 or not partition_id.isdigit():
        return False  # not a month: not ours to judge
    year, month = divmod(int(partition_id), 100)
    return year * 12 + month - 1 + months <= now.year * 12 + now.month - 1


def run(
    store: Store,
    months: int,
    metrics: Metrics | None = None,
    *,
    now: datetime | None = None,
    wait: bool = False,
) -> RetentionReport:
    """Drop the expired partitions and start purging the deleted rows (``wait`` for the purge
    to finish: it holds the store for as long)."""
    started = time.monotonic()
    now = now or datetime.now(UTC)
    dropped: dict[str, list[str]] = {}
    purged: dict[str, list[str]] = {}
    found = retention_partitions(store)
    skipped = {table for table, table_months, _ in found if table_months != months}
    for table in sorted(skipped):
        log.warning("audience.%s has another retention than %d months: left alone", table, months)
    due = [(t, p) for t, m, p in found if m == months and expired(p, months, now)]
    with progress(
        "retention", len(due), unit="partitions", logger=log, delay=SHOW_AFTER_SECONDS
    ) as shown:
        for table, partition in due:
            shown.note(f"dropping audience.{table} {partition}")
            drop_partition(store, table, partition)
            dropped.setdefault(f"audience.{table}", []).append(partition)
            shown.advance()
        masked = masked_partitions(store)  # after the drops: none of those
        shown.set_total(len(due) + len(masked))
        for table, partition in masked:
            shown.note(f"purging audience.{table} {partition}")
            apply_deleted_mask(store, table, partition, wait=wait)
            purged.setdefault(f"audience.{table}", []).append(partition)
            shown.advance()
    report = RetentionReport(
        months,
        {table: tuple(partitions) for table, partitions in dropped.items()},
        {table: tuple(partitions) for table, partitions in purged.items()},
        tuple(sorted(skipped)),
        time.monotonic() - started,
    )
    if metrics is not None:
        metrics.retention_ran(report.partitions_dropped, time.time())
    log.info("%s", report.summary())
    return report


def run_logged(store: Store, months: int, metrics: Metrics) -> None:
    """A scheduled run: a failure is logged and counted, and the next day tries again."""
    try:
        run(store, months, metrics)
    except Exception:
        metrics.retention_failed()
        log.exception(
            "the retention job failed; it runs again in %d hours", INTERVAL_SECONDS // 3600
        )


def retention_partitions(store: Store) -> list[tuple[str, int, str]]:
    """(table, months, partition id) of each active partition of the audience tables that
    are partitioned by the month of a time column and whose only TTL is the retention's on
    that column, ``toStartOfMonth(column) + INTERVAL months MONTH``."""
    tables: dict[str, int] = {}
    for name, partition_key, engine_full in store.rows(statement("retention_tables")):
        months = _retention_ttl(partition_key, engine_full)
        if months is not None:
            tables[name] = months
    rows = store.rows(
        f"SELECT DISTINCT table, partition_id FROM {_parts(store.cluster)}"  # noqa: S608
        " WHERE database = 'audience' AND active AND has({t:Array(String)}, table)"
        " ORDER BY table, partition_id",
        {"t": sorted(tables)},
    )
    return [(table, tables[table], partition) for table, partition in rows]


def drop_partition(store: Store, table: str, partition_id: str) -> None:
    """Drop a partition of an audience table now, whatever its size."""
    store.command(
        f"ALTER TABLE audience.{{t:Identifier}}{on_cluster(store.cluster)}"
        " DROP PARTITION ID {p:String}",
        parameters={"t": table, "p": partition_id},
        settings={"max_partition_size_to_drop": 0},  # the TTL knows no size limit
    )


def masked_partitions(store: Store) -> list[tuple[str, str]]:
    """(table, partition id) of the audience partitions holding rows that a lightweight
    DELETE hid but left on disk."""
    rows = store.rows(
        f"SELECT DISTINCT table, partition_id FROM {_parts(store.cluster)}"  # noqa: S608
        " WHERE database = 'audience' AND active AND has_lightweight_delete"
        " ORDER BY table, partition_id"
    )
    return [(table, partition) for table, partition in rows]


def apply_deleted_mask(store: Store, table: str, partition_id: str, *, wait: bool) -> None:
    """Rewrite a partition's parts without their deleted rows: a mutation, left to run in
    the background unless ``wait`` (the store's lock is held while it waits)."""
    store.command(
        f"ALTER TABLE audience.{{t:Identifier}}{on_cluster(store.cluster)}"
        " APPLY DELETED MASK IN PARTITION ID {p:String}",
        parameters={"t": table, "p": partition_id},
        settings={"mutations_sync": 2 if wait else 0},
    )


def _parts(cluster: str | None) -> str:
    """The parts of the store's tables: on a cluster, those of every replica of every shard."""
    if on_cluster(cluster):
        return f"clusterAllReplicas('{cluster}', system.parts)"
    return "system.parts"


def _retention_ttl(partition_key: str, engine_full: str) -> int | None:
    """The months of a table's retention TTL: its partitions are the months of a column and its
    only TTL expires each row with its whole month of that column (retention.sql); else None."""
    partition = _MONTH_PARTITION.fullmatch(partition_key)
    ttl = _RETENTION_TTL.search(engine_full)
    if partition is None or ttl is None or ttl.group(1) != partition.group(1):
        return None
    return int(ttl.group(2))
