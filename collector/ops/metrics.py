"""Prometheus metrics of the collector: counters, gauges and histograms in process memory.

With ``--workers N`` every process also writes a snapshot of its metrics to a shared directory
each second, and ``/metrics`` in any of them adds them all up (``combined``), so a scrape through
the shared port sees the whole collector, not one worker picked by the kernel.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

BATCH_SIZE_BUCKETS = (1, 10, 100, 1_000, 10_000, 100_000)
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
COMMIT_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5)
COMMIT_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500)


class Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1


_COUNTERS = (
    "accepted",
    "stored_rows",
    "insert_failures",
    "spool_damaged_records",
    "retention_partitions_dropped",
    "retention_failures",
)
_HISTOGRAMS = ("batch_rows", "batch_seconds", "commit_records", "commit_seconds")
SNAPSHOT_SECONDS = 1.0
OWNER_SNAPSHOT = "owner.json"  # the store owner's; each worker's is worker-<pid>.json
RETENTION_LAST_RUN = "audience_retention_last_run_timestamp_seconds"
GAUGE_FRESH_SECONDS = 3 * SNAPSHOT_SECONDS


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.accepted = 0
        self.dropped: dict[str, int] = defaultdict(int)
        self.rejected: dict[int, int] = defaultdict(int)
        # beacons of a registered site refused or dropped, by "site reason": what the install
        # check tells (a site, a reason, a count, a time; nothing of a visitor)
        self.refused: dict[str, int] = defaultdict(int)
        self.refused_at: dict[str, float] = {}
        self.stored_rows = 0
        self.insert_failures = 0
        self.spool_damaged_records = 0
        self.retention_partitions_dropped = 0
        self.retention_failures = 0
        self.retention_last_run = 0.0  # the end of the last successful run, 0 before one
        self.batch_rows = Histogram(BATCH_SIZE_BUCKETS)
        self.batch_seconds = Histogram(LATENCY_BUCKETS)
        self.commit_seconds = Histogram(COMMIT_BUCKETS)
        self.commit_records = Histogram(COMMIT_SIZE_BUCKETS)
        self.gauges: dict[str, Callable[[], float]] = {
            RETENTION_LAST_RUN: lambda: self.retention_last_run
        }

    def drop(self, reason: str, count: int = 1) -> None:
        with self._lock:  # a snapshot may be copying the dict on another thread
            self.dropped[reason] += count

    def reject(self, status: int) -> None:
        with self._lock:
            self.rejected[status] += 1

    def refuse(self, site: str, reason: str, at: float) -> None:
        """A beacon of the registered ``site`` refused (or dropped) for ``reason``."""
        key = f"{site} {reason}"
        with self._lock:
            self.refused[key] += 1
            self.refused_at[key] = max(at, self.refused_at.get(key, 0.0))

    def refusals(self, site: str) -> dict[str, tuple[int, float]]:
        """The reasons beacons of ``site`` were refused: (how many, the last time)."""
        prefix = f"{site} "
        with self._lock:
            return {
                key[len(prefix) :]: (count, self.refused_at.get(key, 0.0))
                for key, count in self.refused.items()
                if key.startswith(prefix)
            }

    def batch_stored(self, rows: int, seconds: float) -> None:
        with self._lock:
            self.stored_rows += rows
            self.batch_rows.observe(rows)
            self.batch_seconds.observe(seconds)

    def spool_committed(self, records: int, seconds: float) -> None:
        """One group commit of the spool: ``records`` appends made durable by one fdatasync."""
        with self._lock:
            self.commit_records.observe(records)
            self.commit_seconds.observe(seconds)

    def retention_ran(self, partitions_dropped: int, at: float) -> None:
        """A run of the retention job (``collector.storage.retention``) succeeded at ``at``."""
        with self._lock:
            self.retention_partitions_dropped += partitions_dropped
            self.retention_last_run = at

    def retention_failed(self) -> None:
        with self._lock:
            self.retention_failures += 1

    def snapshot(self) -> dict[str, Any]:
        """Every figure as plain data: what a process shares with the others."""
        with self._lock:
            histograms = {
                name: {"counts": list(h.counts), "total": h.total, "count": h.count}
                for name, h in ((name, getattr(self, name)) for name in _HISTOGRAMS)
            }
            dropped = dict(self.dropped)
            rejected = {str(status): count for status, count in self.rejected.items()}
            refused = {
                key: [count, self.refused_at.get(key, 0.0)] for key, count in self.refused.items()
            }
        return {
            "at": time.time(),
            "counters": {name: getattr(self, name) for name in _COUNTERS},
            "dropped": dropped,
            "rejected": rejected,
            "refused": refused,
            "histograms": histograms,
            "gauges": {name: read() for name, read in self.gauges.items()},
        }

    @classmethod
    def combined(cls, snapshots: Iterable[dict[str, Any]]) -> Metrics:
        """The sum of several processes' snapshots. A gauge takes the largest value (each
        process measures the whole spool) among the fresh snapshots: a process that died keeps
        its counters in the sum, not its last gauges."""
        total = cls()
        gauges: dict[str, float] = {}
        fresh_since = time.time() - GAUGE_FRESH_SECONDS
        for snapshot in snapshots:
            for name, value in snapshot["counters"].items():
                setattr(total, name, getattr(total, name) + value)
            for reason, count in snapshot["dropped"].items():
                total.dropped[reason] += count
            for status, count in snapshot["rejected"].items():
                total.rejected[int(status)] += count
            for key, (count, at) in snapshot.get("refused", {}).items():
                total.refused[key] += count
                total.refused_at[key] = max(at, total.refused_at.get(key, 0.0))
            for name, figures in snapshot["histograms"].items():
                histogram: Histogram = getattr(total, name)
                histogram.counts = [
                    a + b for a, b in zip(histogram.counts, figures["counts"], strict=True)
                ]
                histogram.total += figures["total"]
                histogram.count += figures["count"]
            if snapshot.get("at", 0.0) < fresh_since:
                continue
            for name, value in snapshot["gauges"].items():
                gauges[name] = max(gauges.get(name, value), value)
        total.gauges = {name: _constant(value) for name, value in gauges.items()}
        return total

    def render(self) -> str:
        lines: list[str] = []
        _counter(lines, "audience_events_accepted_total", "Events accepted (202, durable).")
        lines.append(f"audience_events_accepted_total {self.accepted}")
        by_reason: dict[str, int] = defaultdict(int)
        by_bot_kind: dict[str, int] = {}
        for key, count in self.dropped.items():
            reason, _, kind = key.partition("/")  # "bot/monitor": a bot, and its kind
            by_reason[reason] += count
            if kind:
                by_bot_kind[kind] = count
        _counter(lines, "audience_events_dropped_total", "Events answered 202 but not stored.")
        for reason, count in sorted(by_reason.items()):
            lines.append(f'audience_events_dropped_total{{reason="{reason}"}} {count}')
        _counter(lines, "audience_bots_dropped_total", "Events of bots dropped, by kind of bot.")
        for kind, count in sorted(by_bot_kind.items()):
            lines.append(f'audience_bots_dropped_total{{kind="{kind}"}} {count}')
        _counter(lines, "audience_events_rejected_total", "Beacons refused, by status code.")
        for status, count in sorted(self.rejected.items()):
            lines.append(f'audience_events_rejected_total{{status="{status}"}} {count}')
        name = "audience_site_refusals_total"
        _counter(lines, name, "Beacons of a registered site refused or dropped, by reason.")
        with self._lock:
            refused = sorted(self.refused.items())
        for key, count in refused:
            site, _, reason = key.partition(" ")
            lines.append(f'{name}{{site="{site}",reason="{reason}"}} {count}')
        _counter(lines, "audience_rows_stored_total", "Rows inserted into ClickHouse.")
        lines.append(f"audience_rows_stored_total {self.stored_rows}")
        _counter(lines, "audience_insert_failures_total", "Failed batch inserts (retried).")
        lines.append(f"audience_insert_failures_total {self.insert_failures}")
        _counter(lines, "audience_spool_damaged_records_total", "Unreadable spool records.")
        lines.append(f"audience_spool_damaged_records_total {self.spool_damaged_records}")
        name = "audience_retention_partitions_dropped_total"
        _counter(lines, name, "Partitions past the retention dropped by the daily job.")
        lines.append(f"{name} {self.retention_partitions_dropped}")
        name = "audience_retention_failures_total"
        _counter(lines, name, "Runs of the retention job that failed (retried the next day).")
        lines.append(f"{name} {self.retention_failures}")
        for name, read in sorted(self.gauges.items()):
            lines += [f"# TYPE {name} gauge", f"{name} {read()}"]
        with self._lock:
            _histogram(lines, "audience_batch_rows", self.batch_rows)
            _histogram(lines, "audience_batch_seconds", self.batch_seconds)
            _histogram(lines, "audience_spool_commit_records", self.commit_records)
            _histogram(lines, "audience_spool_commit_seconds", self.commit_seconds)
        return "\n".join(lines) + "\n"


def _counter(lines: list[str], name: str, help_text: str) -> None:
    lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]


def _histogram(lines: list[str], name: str, histogram: Histogram) -> None:
    lines.append(f"# TYPE {name} histogram")
    cumulative = 0
    for bound, count in zip(histogram.buckets, histogram.counts, strict=False):
        cumulative += count
        lines.append(f'{name}_bucket{{le="{bound}"}} {cumulative}')
    lines.append(f'{name}_bucket{{le="+Inf"}} {histogram.count}')
    lines.append(f"{name}_sum {histogram.total}")
    lines.append(f"{name}_count {histogram.count}")


def _constant(value: float) -> Callable[[], float]:
    return lambda: value


def snapshot_directory(data_dir: Path) -> Path:
    return data_dir / "run" / "metrics"


class SharedMetrics:
    """The snapshot directory of ``--workers N``: ``publish`` this process's, read the sum."""

    def __init__(self, directory: Path, own_name: str) -> None:
        self.directory = directory
        self.own_name = own_name

    def publish(self, metrics: Metrics) -> None:
        write_snapshot(metrics, self.directory / self.own_name)

    def combined(self, metrics: Metrics) -> Metrics:
        """Every process's figures, this one's live."""
        others = read_snapshots(self.directory, skip=self.own_name)
        return Metrics.combined([*others, metrics.snapshot()])

    def clear(self) -> None:
        """At the store owner's start: the figures of an earlier run are gone (counters reset)."""
        for stale in self.directory.glob("*.json"):
            stale.unlink(missing_ok=True)


def write_snapshot(metrics: Metrics, path: Path) -> None:
    """Replace ``path`` with the metrics' snapshot, whole (written aside, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    draft.write_bytes(orjson.dumps(metrics.snapshot()))
    draft.replace(path)


def read_snapshots(directory: Path, *, skip: str) -> list[dict[str, Any]]:
    """The snapshots in ``directory`` but the file named ``skip`` (the reader's own)."""
    found = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(directory):
            if entry.name.endswith(".json") and entry.name != skip:
                with contextlib.suppress(OSError, orjson.JSONDecodeError):
                    found.append(orjson.loads(Path(entry.path).read_bytes()))
    return found
