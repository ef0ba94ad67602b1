"""The writer on the embedded ClickHouse: batches, a store that goes away, damaged segments."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from collector.ops.metrics import Metrics
from collector.settings import Settings
from collector.storage.erased import ErasedVisitors
from collector.storage.rights_store import RightsStore
from collector.storage.rows import Row, encode_row
from collector.storage.spool_consumer import SpoolConsumer
from collector.storage.spool_records import frame
from collector.storage.store import Store
from collector.storage.writer import Writer
from tests.conftest import migrated_store


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = migrated_store(settings)
    try:
        yield opened
    finally:
        opened.close()


def encoded(path: str, visitor: int = 7) -> bytes:
    now = int(time.time())
    row = Row(
        "example.com", now, "pageview", path, visitor, 8, 1, 0, 0, "Lyon", "FR", "Orange",
        "Chrome", "131", "Windows", "desktop", "manual",
    )  # fmt: skip
    return encode_row(row)


def write_segment(root: Path, producer: str, seq: int, data: bytes, suffix: str = ".seg") -> Path:
    folder = root / producer
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{seq:010d}{suffix}"
    draft = folder / f".{seq:010d}.draft"
    draft.write_bytes(data)
    draft.rename(path)  # whole, as the producer's seal is: a running writer never sees it half made
    return path


def stored_paths(store: Store) -> list[str]:
    return [r["path"] for r in store.query_dicts("SELECT path FROM audience.events ORDER BY path")]


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_drain_inserts_each_segment_as_one_batch(tmp_path: Path, store: Store) -> None:
    spool = SpoolConsumer(tmp_path / "spool")
    for seq in range(3):
        data = b"".join(frame(encoded(f"/s{seq}/{i}")) for i in range(50))
        write_segment(spool.root, "p1-aa", seq, data)
    metrics = Metrics()
    assert Writer(spool, store, metrics).drain() == 150
    assert len(stored_paths(store)) == 150
    assert metrics.batch_rows.count == 3
    assert spool.sealed() == []


def test_rows_spooled_by_an_older_collector_are_stored_without_their_visit_steps(
    tmp_path: Path, store: Store
) -> None:
    """A spool written before schema/010_visits.sql holds rows with five more values (the visit
    start and steps, between engaged_ms and city): an upgrade stores them, never skips them."""
    spool = SpoolConsumer(tmp_path / "spool")
    now = int(time.time())
    legacy = [
        orjson.dumps([
            "example.com", now, "pageview", f"/old/{i}", 7, 8, 1, 0, 0,
            now, 1, 0, 1, 0,  # visit_start, event_number, since_previous, pageview_number, previous
            "Lyon", "FR", "Orange", "Chrome", "131", "Windows", "desktop", "manual",
        ])
        for i in range(3)
    ]  # fmt: skip
    write_segment(
        spool.root, "p1-old", 0, b"".join(frame(row) for row in [*legacy, encoded("/new")])
    )
    assert Writer(spool, store, Metrics()).drain() == 4
    rows = store.query_dicts("SELECT path, city, device, visit FROM audience.events ORDER BY path")
    assert rows == [
        {"path": "/new", "city": "Lyon", "device": "desktop", "visit": 8},
        *({"path": f"/old/{i}", "city": "Lyon", "device": "desktop", "visit": 8} for i in range(3)),
    ]


def test_damaged_segment_keeps_intact_records_and_reports(
    tmp_path: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    spool = SpoolConsumer(tmp_path / "spool")
    good = [frame(encoded(f"/ok/{i}")) for i in range(4)]
    torn = frame(encoded("/torn"))[:-7]  # a write cut short by the crash
    write_segment(
        spool.root, "p2-bb", 0, good[0] + good[1] + b"\x00garbage\xff" + good[2] + good[3]
    )
    write_segment(spool.root, "p2-bb", 1, good[0] + torn)
    metrics = Metrics()
    with caplog.at_level(logging.ERROR, logger="audience.writer"):
        Writer(spool, store, metrics).drain()
    assert stored_paths(store) == ["/ok/0", "/ok/0", "/ok/1", "/ok/2", "/ok/3"]
    assert metrics.spool_damaged_records == 2
    assert "damaged bytes skipped" in caplog.text


def test_store_away_then_back_loses_and_duplicates_nothing(tmp_path: Path, store: Store) -> None:
    spool = SpoolConsumer(tmp_path / "spool")
    metrics = Metrics()
    writer = Writer(spool, store, metrics)
    store.query_dicts("RENAME TABLE audience.events TO audience.events_away")
    writer.start()
    try:
        for seq in range(5):
            write_segment(spool.root, "p3-cc", seq, frame(encoded(f"/while-away/{seq}")))
        writer.wake.set()
        wait_until(lambda: metrics.insert_failures >= 2)
        assert not writer.store_healthy
        assert len(spool.sealed()) == 5  # kept, not dropped
        store.query_dicts("RENAME TABLE audience.events_away TO audience.events")
        wait_until(lambda: not spool.sealed())
    finally:
        writer.stop()
    stored = stored_paths(store)
    assert stored == [f"/while-away/{seq}" for seq in range(5)], stored
    assert writer.store_healthy, f"{metrics.insert_failures} failures, healthy flag still down"


def test_open_segments_of_a_dead_producer_are_adopted(tmp_path: Path, store: Store) -> None:
    spool = SpoolConsumer(tmp_path / "spool")
    write_segment(spool.root, "p4-dead", 0, frame(encoded("/orphan")), suffix=".open")
    writer = Writer(spool, store, Metrics())
    writer.start()
    writer.stop()
    assert stored_paths(store) == ["/orphan"]
    assert not (spool.root / "p4-dead").exists()


def test_rows_of_erased_visitors_are_never_inserted(tmp_path: Path, store: Store) -> None:
    spool = SpoolConsumer(tmp_path / "spool")
    write_segment(spool.root, "p1-aa", 0, frame(encoded("/kept", visitor=5)) + frame(encoded("/x")))
    metrics = Metrics()
    writer = Writer(spool, store, metrics, ErasedVisitors())
    writer.erased.add(7)
    assert writer.drain() == 1
    assert stored_paths(store) == ["/kept"]
    assert metrics.dropped["erased"] == 1


def test_the_writer_erases_again_what_it_stored_before_it_learned(
    tmp_path: Path, store: Store
) -> None:
    """An erasure made elsewhere (the DPO's command, another machine) reaches a running writer:
    it drops the visitor's rows from then on and erases those it stored before it knew."""
    spool = SpoolConsumer(tmp_path / "spool")
    writer = Writer(spool, store, Metrics(), ErasedVisitors(tmp_path / "erased.bin"))
    writer.start()
    try:
        RightsStore(store).mark_erased(7)  # a process without this writer, before its rows
        write_segment(spool.root, "p1-aa", 0, frame(encoded("/late")) + frame(encoded("/b", 5)))
        writer.wake.set()
        wait_until(lambda: stored_paths(store) == ["/b"] and 7 in writer.erased)
        worker_view = ErasedVisitors()
        worker_view.load_snapshot(tmp_path / "erased.bin")  # what HTTP workers read
        assert 7 in worker_view and 5 not in worker_view
    finally:
        writer.stop()


def test_an_erasure_waits_for_no_batch_and_reports_its_count(tmp_path: Path, store: Store) -> None:
    spool = SpoolConsumer(tmp_path / "spool")
    write_segment(spool.root, "p1-aa", 0, b"".join(frame(encoded(f"/{i}")) for i in range(4)))
    writer = Writer(spool, store, Metrics())
    writer.start()
    try:
        wait_until(lambda: len(stored_paths(store)) == 4)
        assert writer.erase(7, timeout=10) == 4
        assert stored_paths(store) == []
        assert writer.erase(7, timeout=10) == 0
    finally:
        writer.stop()


def test_at_start_the_writer_finishes_erasures_a_restart_cut_short(
    tmp_path: Path, store: Store
) -> None:
    spool = SpoolConsumer(tmp_path / "spool")
    write_segment(spool.root, "p1-aa", 0, frame(encoded("/a")) + frame(encoded("/b", 5)))
    assert Writer(spool, store, Metrics()).drain() == 2
    store.execute(  # erased long ago, its events still there: the process died before deleting
        "INSERT INTO audience.erased_visitors (visitor, erased_at, rollup_days)"
        " VALUES (7, now() - INTERVAL 3 DAY, [])"
    )
    writer = Writer(spool, store, Metrics())
    writer.start()
    try:
        wait_until(lambda: stored_paths(store) == ["/b"])
    finally:
        writer.stop()
