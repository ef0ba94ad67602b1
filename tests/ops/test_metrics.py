"""Metrics of several processes add up: counters and histograms sum, a gauge takes the largest."""

from __future__ import annotations

import time
from pathlib import Path

from collector.ops.metrics import Metrics, SharedMetrics


def worker(accepted: int, bot_drops: int, spool_bytes: float) -> Metrics:
    metrics = Metrics()
    metrics.accepted = accepted
    for _ in range(bot_drops):
        metrics.drop("bot")
    metrics.reject(503)
    metrics.spool_committed(records=accepted, seconds=0.002)
    metrics.gauges["audience_spool_bytes"] = lambda: spool_bytes
    return metrics


def test_combined_sums_counters_and_histograms_and_keeps_the_largest_gauge() -> None:
    total = Metrics.combined([worker(7, 1, 500.0).snapshot(), worker(5, 2, 800.0).snapshot()])
    text = total.render()
    assert "audience_events_accepted_total 12" in text
    assert 'audience_events_dropped_total{reason="bot"} 3' in text
    assert 'audience_events_rejected_total{status="503"} 2' in text
    assert "audience_spool_commit_records_count 2" in text
    assert "audience_spool_commit_records_sum 12" in text
    assert "audience_spool_bytes 800.0" in text  # each process measures the whole spool


def test_shared_metrics_reads_the_others_and_its_own_live_figures(tmp_path: Path) -> None:
    SharedMetrics(tmp_path, "worker-1.json").publish(worker(4, 0, 0.0))
    mine = worker(1, 0, 0.0)
    shared = SharedMetrics(tmp_path, "worker-2.json")
    shared.publish(mine)
    mine.accepted = 10  # moved on since its last snapshot: the live figure counts
    assert "audience_events_accepted_total 14" in shared.combined(mine).render()
    shared.clear()
    assert shared.combined(mine).render().count("audience_events_accepted_total 10") == 1


def test_a_dead_process_keeps_its_counters_in_the_sum_but_not_its_last_gauges() -> None:
    dead = worker(3, 0, 9_000.0).snapshot() | {"at": time.time() - 60}
    alive = worker(2, 0, 100.0).snapshot()
    text = Metrics.combined([dead, alive]).render()
    assert "audience_events_accepted_total 5" in text
    assert "audience_spool_bytes 100.0" in text
