"""Reads never wait on writes (collector.storage.store): a slow dashboard query holds one client
for reads, never the writer's client.

A real server on the embedded store takes beacons while a dashboard read sleeps for seconds in
ClickHouse (``sleepEachRow``, through ``Store.read``, the dashboards' and privacy API's reader):
the 202s stay fast, the writer goes on inserting (rows are stored while the read still runs),
and /readyz, which reads the writer's health and not the store, answers at once.
"""

from __future__ import annotations

import statistics
import threading
import time

import httpx

from collector.storage.store import READERS
from tests.conftest import LiveServer, beacon

SLOW_READ_SECONDS = 6.0
BEACONS = 300
P99_LIMIT_SECONDS = 0.025
READYZ_LIMIT_SECONDS = 0.1
SLOW_READ = (
    "SELECT sleepEachRow(0.5) AS slept FROM numbers({n:UInt32})"
    " SETTINGS max_block_size = 1, function_sleep_max_microseconds_per_block = 0"
)


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def test_a_slow_dashboard_read_holds_neither_beacons_nor_inserts_nor_readiness(
    live: LiveServer, client: httpx.Client
) -> None:
    store = live.store
    read: dict[str, float] = {}

    def slow_read() -> None:
        started = time.monotonic()
        rows = store.read(SLOW_READ, {"n": int(SLOW_READ_SECONDS * 2)})
        read["seconds"] = time.monotonic() - started
        read["rows"] = len(rows)

    reading = threading.Thread(target=slow_read)
    reading.start()
    time.sleep(0.5)  # the read holds its client now
    latencies, readiness = [], []
    for i in range(BEACONS):
        started = time.perf_counter()
        answer = client.post(
            "/api/event",
            json=beacon(url=f"https://example.com/while-reading/{i}"),
            headers={"x-forwarded-for": f"198.51.{i // 200}.{i % 200 + 1}"},
        )
        latencies.append(time.perf_counter() - started)
        assert answer.status_code == 202, answer.text
        if i % 50 == 0:
            started = time.perf_counter()
            ready = client.get("/readyz")
            readiness.append(time.perf_counter() - started)
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"spool": True, "store": True}
    stored = live.wait_stored(BEACONS, timeout=SLOW_READ_SECONDS)
    still_reading = reading.is_alive()
    health = client.get("/readyz").json()["writer"]
    reading.join()

    assert still_reading, "the inserts waited for the slow read to end"
    assert {row["path"] for row in stored} == {f"/while-reading/{i}" for i in range(BEACONS)}
    assert read["rows"] == SLOW_READ_SECONDS * 2
    assert read["seconds"] >= SLOW_READ_SECONDS - 0.5, read  # it was slow indeed
    assert p99(latencies) < P99_LIMIT_SECONDS, sorted(latencies)[-5:]
    assert max(readiness) < READYZ_LIMIT_SECONDS, readiness
    assert health["last_insert_seconds_ago"] is not None
    assert health["last_insert_seconds_ago"] < SLOW_READ_SECONDS


def test_reads_of_one_page_run_side_by_side(live: LiveServer) -> None:
    """``read_many`` runs independent reads at once: READERS slow reads take the time of one."""
    queries = [(SLOW_READ, {"n": 2})] * READERS  # one second each
    started = time.monotonic()
    answers = live.store.read_many(queries)
    elapsed = time.monotonic() - started
    assert [len(rows) for rows in answers] == [2] * READERS
    assert elapsed < 1.0 * READERS - 0.5, elapsed
