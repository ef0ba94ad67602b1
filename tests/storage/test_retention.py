"""The retention job on the embedded ClickHouse: expired months go on the day it runs, rows erased
by a lightweight DELETE leave the disk, and the server and ``audience retention`` run it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from collector.ops.metrics import Metrics
from collector.settings import Settings
from collector.storage import retention
from collector.storage.store import Store
from tests.conftest import (
    GeoFiles,
    LiveServer,
    ServerProcess,
    environment,
    query_stopped_store,
    register,
)
from tests.console.test_cli import audience
from tests.storage.test_schema import row

RETENTION_TABLES = ("events", "traffic_daily", "traffic_hourly", "visits")
ROLLUPS = RETENTION_TABLES[1:]


def month_start(months_back: int, now: datetime | None = None) -> datetime:
    """The first second of the month ``months_back`` months before the current one (UTC)."""
    now = now or datetime.now(UTC)
    index = now.year * 12 + now.month - 1 - months_back
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def month_id(moment: datetime) -> str:
    return f"{moment.year}{moment.month:02d}"


def insert(store: Store, token: str, **at: datetime) -> None:
    """One pageview per path (keyword: the path without its slash) at the given time."""
    batch = [row(int(moment.timestamp()), f"/{path}") for path, moment in at.items()]
    store.insert_events(batch, token)


def paths(store: Store) -> set[str]:
    return {r["path"] for r in store.query_dicts("SELECT path FROM audience.events")}


def partitions(store: Store, table: str) -> set[str]:
    rows = store.query_dicts(
        "SELECT DISTINCT partition_id FROM system.parts"
        " WHERE database = 'audience' AND table = {t:String} AND active AND rows > 0",
        {"t": table},
    )
    return {r["partition_id"] for r in rows}


def keep_expired_rows(store: Store) -> None:
    """No TTL merge in the tables, for good: expired rows stay until the job drops them, in any
    process that opens the store (``SYSTEM STOP TTL MERGES`` holds for this one only)."""
    for table in RETENTION_TABLES:
        store.execute(
            f"ALTER TABLE audience.{table} MODIFY SETTING max_number_of_merges_with_ttl_in_pool = 0"
        )


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = Store.connect(settings.clickhouse_url)
    try:
        opened.migrate(settings.retention_months)
        for table in RETENTION_TABLES:
            opened.execute(f"SYSTEM STOP TTL MERGES audience.{table}")
        yield opened
    finally:
        opened.close()


NOW = datetime(2026, 11, 15, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("partition", "months", "now", "gone"),
    [
        ("202409", 25, NOW, True),  # 26 months back
        ("202410", 25, NOW, True),  # its 25 months ended with October 2026
        ("202411", 25, NOW, False),  # the oldest month kept
        ("202611", 25, NOW, False),
        ("202410", 25, datetime(2026, 11, 1, tzinfo=UTC), True),  # TTL reached: expired
        ("202410", 25, datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC), False),
        ("202512", 1, datetime(2026, 1, 1, tzinfo=UTC), True),  # across a year
        ("202601", 1, datetime(2026, 1, 31, tzinfo=UTC), False),
        ("all", 25, NOW, False),  # not a month
        ("20241", 25, NOW, False),
    ],
)
def test_a_month_expires_when_the_ttl_of_its_first_second_does(
    partition: str, months: int, now: datetime, gone: bool
) -> None:
    assert retention.expired(partition, months, now) is gone


def test_the_job_drops_the_months_past_the_retention_in_events_and_rollups(store: Store) -> None:
    oldest_kept = month_start(24)  # with 25 months: its TTL is the start of next month
    old = month_start(26) + timedelta(days=10)
    last_expired = oldest_kept - timedelta(seconds=1)
    now = datetime.now(UTC)
    insert(store, "r1", old=old, last_expired=last_expired, edge=oldest_kept, fresh=now)
    assert paths(store) == {"/old", "/last_expired", "/edge", "/fresh"}
    expired = {month_id(old), month_id(last_expired)}
    kept = {month_id(oldest_kept), month_id(now)}
    for table in ROLLUPS:  # their materialized views counted the old rows too
        assert partitions(store, table) == expired | kept, table

    metrics = Metrics()
    report = retention.run(store, 25, metrics)

    assert report.dropped == {
        f"audience.{table}": tuple(sorted(expired)) for table in RETENTION_TABLES
    }
    assert paths(store) == {"/edge", "/fresh"}
    for table in RETENTION_TABLES:
        assert partitions(store, table) == kept, table
    assert not report.mask_applied and report.skipped == ()
    assert metrics.retention_partitions_dropped == 2 * len(RETENTION_TABLES)
    assert metrics.retention_last_run == pytest.approx(time.time(), abs=60)
    dropped = 2 * len(RETENTION_TABLES)
    assert f"audience_retention_partitions_dropped_total {dropped}" in metrics.render()
    assert gauge(metrics.render(), "audience_retention_last_run_timestamp_seconds") == (
        metrics.retention_last_run
    )

    again = retention.run(store, 25, metrics)
    assert again.dropped == {} and again.partitions_dropped == 0
    assert metrics.retention_partitions_dropped == 2 * len(RETENTION_TABLES)


def gauge(text: str, name: str) -> float:
    [value] = [line.split()[1] for line in text.splitlines() if line.startswith(f"{name} ")]
    return float(value)


def test_a_changed_retention_updates_every_table_and_the_job_follows_it(
    store: Store,
) -> None:
    fourteen_months = month_start(14) + timedelta(days=3)
    insert(store, "r2", fourteen=fourteen_months, fresh=datetime.now(UTC))
    assert retention.run(store, 25).dropped == {}
    assert paths(store) == {"/fourteen", "/fresh"}

    assert store.migrate(13) == ["retention.sql (13 months)"]
    for table in RETENTION_TABLES:
        [found] = store.query_dicts(
            "SELECT engine_full FROM system.tables"
            " WHERE database = 'audience' AND name = {t:String}",
            {"t": table},
        )
        assert "TTL toStartOfMonth(" in found["engine_full"], table
        assert "toIntervalMonth(13)" in found["engine_full"], table
    # The new TTL is applied to the parts there were (a mutation, in the background): a row
    # inserted now is the job's to drop.
    insert(store, "r2-again", fourteen_again=fourteen_months)

    stale = retention.run(store, 25)  # a job told another retention than the tables': hands off
    assert stale.dropped == {} and stale.skipped == RETENTION_TABLES
    report = retention.run(store, 13)
    assert report.dropped == {
        f"audience.{table}": (month_id(fourteen_months),) for table in RETENTION_TABLES
    }
    assert paths(store) == {"/fresh"}


def test_tables_with_another_ttl_or_none_are_left_alone(store: Store) -> None:
    store.execute(
        "CREATE TABLE audience.probe_day_ttl (ts DateTime('UTC')) ENGINE = MergeTree"
        " PARTITION BY toYYYYMM(ts) ORDER BY ts TTL ts + INTERVAL 30 YEAR"
    )
    store.execute(
        "CREATE TABLE audience.probe_no_ttl (ts DateTime('UTC')) ENGINE = MergeTree"
        " PARTITION BY toYYYYMM(ts) ORDER BY ts"
    )
    old = month_start(40)
    for table in ("probe_day_ttl", "probe_no_ttl"):
        store.execute(
            f"INSERT INTO audience.{table} SELECT toDateTime({{t:UInt32}}, 'UTC')",
            {"t": int(old.timestamp())},
        )
    insert(store, "r3", old=old)

    report = retention.run(store, 25)

    assert set(report.dropped) == {f"audience.{table}" for table in RETENTION_TABLES}
    assert (
        partitions(store, "probe_day_ttl") == partitions(store, "probe_no_ttl") == {month_id(old)}
    )


def test_rows_erased_by_a_lightweight_delete_leave_the_disk(store: Store) -> None:
    now = datetime.now(UTC)
    insert(store, "r4", kept=now, erased=now - timedelta(seconds=1))
    store.execute("DELETE FROM audience.events WHERE path = '/erased'")
    assert paths(store) == {"/kept"}
    on_disk = "SELECT path FROM audience.events SETTINGS apply_deleted_mask = 0"
    assert {r["path"] for r in store.query_dicts(on_disk)} == {"/kept", "/erased"}

    report = retention.run(store, 25)  # as the server runs it: the rewrite goes on in background

    assert report.mask_applied and report.purged["audience.events"] == (month_id(now),)
    deadline = time.monotonic() + 30
    while {r["path"] for r in store.query_dicts(on_disk)} != {"/kept"}:
        assert time.monotonic() < deadline, "the erased row is still on disk"
        time.sleep(0.05)
    [part] = store.query_dicts(
        "SELECT rows, has_lightweight_delete FROM system.parts"
        " WHERE database = 'audience' AND table = 'events' AND active"
    )
    assert part == {"rows": 1, "has_lightweight_delete": 0}
    assert retention.run(store, 25).purged == {}  # nothing masked: no mutation at all


def prepare_expired_store(settings: Settings) -> tuple[str, str]:
    """A migrated store holding an expired month and the current one: their partition ids."""
    register(settings)
    store = Store.connect(settings.clickhouse_url)
    try:
        keep_expired_rows(store)
        old, fresh = month_start(26), datetime.now(UTC)
        insert(store, "prepared", old=old, fresh=fresh)
        store.execute("DELETE FROM audience.events WHERE path = '/fresh'")
        insert(store, "prepared-2", kept=fresh)
        assert paths(store) == {"/old", "/kept"}
    finally:
        store.close()
    return month_id(old), month_id(fresh)


def test_audience_retention_runs_the_job_now(tmp_path: Path, geo_files: GeoFiles) -> None:
    env = environment(tmp_path / "data", geo_files)
    settings = Settings.from_environ(env)
    old, fresh = prepare_expired_store(settings)

    result = audience(env, "retention")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for table in RETENTION_TABLES:
        assert f"audience.{table}: dropped {old}" in lines
    assert f"audience.events: erased rows purged from {fresh}" in lines
    on_disk = "SELECT path FROM audience.events SETTINGS apply_deleted_mask = 0"
    assert {r["path"] for r in query_stopped_store(settings, on_disk)} == {"/kept"}
    again = audience(env, "retention")
    assert again.stdout == "nothing is past the retention of 25 months\n", again.stderr


def test_the_server_runs_the_job_soon_after_its_start(settings: Settings) -> None:
    _, fresh = prepare_expired_store(settings)
    with LiveServer(settings) as server:
        metrics = wait_for_the_job(server.url)
        assert paths(server.store) == {"/kept"}
        for table in RETENTION_TABLES:
            assert partitions(server.store, table) == {fresh}, table
    assert "audience_retention_failures_total 0" in metrics
    assert gauge(metrics, "audience_retention_last_run_timestamp_seconds") > time.time() - 60


def wait_for_the_job(url: str) -> str:
    """The server's metrics, once they show the job dropped the prepared store's partitions: one
    month in each table."""
    deadline = time.monotonic() + 30
    while True:
        metrics = httpx.get(f"{url}/metrics").text
        if f"audience_retention_partitions_dropped_total {len(RETENTION_TABLES)}" in metrics:
            return metrics
        assert time.monotonic() < deadline, metrics
        time.sleep(0.1)


def test_the_store_owner_of_workers_runs_the_job(tmp_path: Path, geo_files: GeoFiles) -> None:
    env = environment(tmp_path / "data", geo_files)
    settings = Settings.from_environ(env)
    old, fresh = prepare_expired_store(settings)
    server = ServerProcess(env, tmp_path / "server.log", "--workers", "2")
    try:
        server.wait_ready()
        wait_for_the_job(server.url)
    finally:
        server.stop()
    log = server.log_path.read_text()
    dropped = len(RETENTION_TABLES)
    assert f"retention of 25 months: {dropped} partitions dropped (audience.events {old};" in log
    rows = query_stopped_store(
        settings,
        "SELECT DISTINCT partition_id FROM system.parts WHERE database = 'audience' AND active"
        f" AND rows > 0 AND table IN {RETENTION_TABLES}",
    )
    assert [r["partition_id"] for r in rows] == [fresh]


def test_a_failed_run_is_logged_and_counted_not_raised(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    closed = Store.connect(settings.clickhouse_url)
    closed.migrate(settings.retention_months)
    closed.close()
    metrics = Metrics()
    retention.run_logged(closed, 25, metrics)  # what the daily schedules call
    assert metrics.retention_failures == 1 and metrics.retention_last_run == 0.0
    assert "the retention job failed; it runs again in 24 hours" in caplog.text
    assert "audience_retention_failures_total 1" in metrics.render()
