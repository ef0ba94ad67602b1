"""The durable spool: record framing and recovery, the producer's group commit and sealing, and
the consumer's view of sealed segments and dead producers' leftovers."""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
import time
import zlib
from pathlib import Path

import pytest

from collector.storage.spool import (
    LOCK_NAME,
    OPEN_SUFFIX,
    SEALED_SUFFIX,
    SpoolFull,
    SpoolProducer,
    SpoolUnavailable,
    disk_usage,
)
from collector.storage.spool_consumer import Segment, SpoolConsumer
from collector.storage.spool_records import (
    MAGIC,
    MAX_RECORD_BYTES,
    MAX_ROW_BYTES,
    Records,
    frame,
    read_records,
)

HEADER_BYTES = 10
PAYLOADS = [b'["example.com",1,"pageview"]', b"", b"x" * 300, b"\x00\x01\x02 binary", b"last"]


def payload(number: int) -> bytes:
    return f'["example.com",{number},"pageview","/page/{number}"]'.encode()


def producer(root: Path, **options: float) -> SpoolProducer:
    settings: dict[str, float] = {
        "quota_bytes": 10 * 2**20,
        "batch_rows": 10_000,
        "flush_interval": 60.0,
        **options,
    }
    return SpoolProducer(
        root,
        quota_bytes=int(settings["quota_bytes"]),
        batch_rows=int(settings["batch_rows"]),
        flush_interval=settings["flush_interval"],
    )


def files(directory: Path, suffix: str) -> list[Path]:
    return sorted(path for path in directory.iterdir() if path.name.endswith(suffix))


def read_all(paths: list[Path]) -> list[bytes]:
    found: list[bytes] = []
    for path in paths:
        records = read_records(path.read_bytes())
        assert records.damaged_bytes == 0
        found += records.payloads
    return found


# --- framing and recovery ---------------------------------------------------------------------


def test_frame_layout() -> None:
    framed = frame(b"hello")
    assert framed[:2] == MAGIC
    assert int.from_bytes(framed[2:6], "big") == 5
    assert int.from_bytes(framed[6:10], "big") == zlib.crc32(b"hello")
    assert framed[HEADER_BYTES:] == b"hello"


def test_round_trip() -> None:
    data = b"".join(frame(p) for p in PAYLOADS)
    assert read_records(data) == Records(PAYLOADS, 0, 0)


def test_round_trip_of_payloads_containing_the_magic() -> None:
    tricky = [MAGIC, MAGIC * 50, b"before" + MAGIC + b"after", frame(b"a framed record")]
    data = b"".join(frame(p) for p in tricky)
    assert read_records(data) == Records(tricky, 0, 0)


def test_round_trip_of_the_largest_record() -> None:
    big = bytes(range(256)) * (MAX_RECORD_BYTES // 256)
    assert len(big) == MAX_RECORD_BYTES
    data = frame(b"small") + frame(big) + frame(b"after")
    assert read_records(data) == Records([b"small", big, b"after"], 0, 0)


def test_empty_data() -> None:
    assert read_records(b"") == Records([], 0, 0)


def test_record_longer_than_the_maximum_is_damage() -> None:
    big = b"y" * (MAX_RECORD_BYTES + 1)
    data = frame(b"before") + frame(big) + frame(b"after")
    records = read_records(data)
    assert records.payloads == [b"before", b"after"]
    assert records.damaged_bytes == len(frame(big))


@pytest.mark.parametrize(
    "keep",
    [
        pytest.param(1, id="one-byte-of-magic"),
        pytest.param(2, id="magic-only"),
        pytest.param(6, id="inside-header"),
        pytest.param(HEADER_BYTES, id="header-only"),
        pytest.param(HEADER_BYTES + 150, id="half-payload"),
        pytest.param(HEADER_BYTES + 299, id="one-byte-short"),
    ],
)
def test_torn_tail_keeps_the_previous_records(keep: int) -> None:
    intact = [payload(n) for n in range(5)]
    last = frame(b"z" * 300)
    data = b"".join(frame(p) for p in intact) + last[:keep]
    records = read_records(data)
    assert records.payloads == intact
    assert records.damaged_bytes == keep


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(b"\x00" * 37, id="zeros"),
        pytest.param(b"\xff" * 100, id="ones"),
        pytest.param(b"some text a crash left behind", id="text"),
        pytest.param(MAGIC + b"\xff\xff\xff\xff" + b"\x00" * 20, id="fake-header-huge-length"),
        pytest.param(
            MAGIC + b"\x00\x00\x00\x04" + b"\x00\x00\x00\x00wxyz", id="fake-header-bad-crc"
        ),
        pytest.param(frame(b"a torn record that was cut")[:20], id="torn-record"),
    ],
)
def test_garbage_in_the_middle_is_skipped_and_reading_resumes(garbage: bytes) -> None:
    before = [payload(n) for n in range(3)]
    after = [payload(n) for n in range(3, 7)]
    data = b"".join(frame(p) for p in before) + garbage + b"".join(frame(p) for p in after)
    records = read_records(data)
    assert records.payloads == before + after
    assert records.damaged_bytes == len(garbage)


def test_several_damaged_stretches() -> None:
    data = (
        b"junk"
        + frame(b"one")
        + b"\x00" * 9
        + frame(b"two")
        + frame(b"three")[:-1]
        + frame(b"four")
        + b"tail"
    )
    records = read_records(data)
    assert records.payloads == [b"one", b"two", b"four"]
    assert records.damaged_bytes == 4 + 9 + len(frame(b"three")) - 1 + 4


@pytest.mark.parametrize("position", [0, 7, 13, 29])
def test_flipped_payload_byte_fails_the_crc(position: int) -> None:
    damaged_payload = payload(1)
    assert MAGIC not in damaged_payload
    framed = bytearray(frame(damaged_payload))
    framed[HEADER_BYTES + position] ^= 0x01
    data = frame(payload(0)) + bytes(framed) + frame(payload(2))
    records = read_records(data)
    assert records.payloads == [payload(0), payload(2)]
    assert records.damaged_bytes == len(framed)


def test_flipped_checksum_or_length_byte_is_damage() -> None:
    for index in (2, 5, 6, 9):  # length field, checksum field
        framed = bytearray(frame(payload(1)))
        framed[index] ^= 0x10
        records = read_records(frame(payload(0)) + bytes(framed) + frame(payload(2)))
        assert records.payloads == [payload(0), payload(2)], index
        assert records.damaged_bytes == len(framed), index


# --- producer ----------------------------------------------------------------------------------


def test_concurrent_appends_are_durable_and_group_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fdatasync = os.fdatasync
    calls: list[int] = []
    lock = threading.Lock()

    def counting_fdatasync(fd: int) -> None:
        with lock:
            calls.append(fd)
        real_fdatasync(fd)

    monkeypatch.setattr(os, "fdatasync", counting_fdatasync)
    expected = [payload(n) for n in range(200)]

    async def scenario() -> list[bytes]:
        spool = producer(tmp_path, batch_rows=10_000)
        try:
            await asyncio.gather(*(spool.append(p) for p in expected))
            # every append has returned: all of them are on disk in the open segment
            assert files(spool.directory, SEALED_SUFFIX) == []
            on_disk = read_all(files(spool.directory, OPEN_SUFFIX))
            assert spool.usage_bytes == sum(len(frame(p)) for p in expected)
        finally:
            await spool.close()
        return on_disk

    on_disk = asyncio.run(scenario())
    assert sorted(on_disk) == sorted(expected)
    assert on_disk == expected  # in the order they were appended
    assert 1 <= len(calls) < len(expected) // 10


def test_concurrent_appends_with_small_batches_are_all_sealed(tmp_path: Path) -> None:
    expected = [payload(n) for n in range(200)]

    async def scenario() -> Path:
        spool = producer(tmp_path, batch_rows=1)
        try:
            await asyncio.gather(*(spool.append(p) for p in expected))
        finally:
            await spool.close()
        return spool.directory

    directory = asyncio.run(scenario())
    sealed = files(directory, SEALED_SUFFIX)
    assert files(directory, OPEN_SUFFIX) == []
    assert sorted(read_all(sealed)) == sorted(expected)
    # one segment per write batch: far fewer than one per append
    assert 1 <= len(sealed) < len(expected) // 10


def test_sealing_by_batch_rows(tmp_path: Path) -> None:
    sealed_calls: list[int] = []

    async def scenario() -> Path:
        spool = SpoolProducer(
            tmp_path,
            quota_bytes=2**20,
            batch_rows=10,
            flush_interval=60.0,
            on_sealed=lambda: sealed_calls.append(1),
        )
        try:
            for number in range(25):
                await spool.append(payload(number))
            assert len(files(spool.directory, SEALED_SUFFIX)) == 2
            assert len(files(spool.directory, OPEN_SUFFIX)) == 1
            assert len(sealed_calls) == 2
        finally:
            await spool.close()
        return spool.directory

    directory = asyncio.run(scenario())
    sealed = files(directory, SEALED_SUFFIX)
    assert [path.name for path in sealed] == [
        f"0000000000{SEALED_SUFFIX}",
        f"0000000001{SEALED_SUFFIX}",
        f"0000000002{SEALED_SUFFIX}",
    ]
    assert [len(read_records(path.read_bytes()).payloads) for path in sealed] == [10, 10, 5]
    assert read_all(sealed) == [payload(n) for n in range(25)]
    assert len(sealed_calls) == 3


def test_sealing_by_age(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[Path], list[Path], Path]:
        spool = producer(tmp_path, flush_interval=0.05)
        await spool.start()
        try:
            await asyncio.gather(spool.append(payload(1)), spool.append(payload(2)))
            deadline = time.monotonic() + 5
            while not files(spool.directory, SEALED_SUFFIX) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            sealed_early = files(spool.directory, SEALED_SUFFIX)
            still_open = files(spool.directory, OPEN_SUFFIX)
            await spool.append(payload(3))  # goes into a new segment
        finally:
            await spool.close()
        return sealed_early, still_open, spool.directory

    sealed_early, still_open, directory = asyncio.run(scenario())
    assert len(sealed_early) == 1
    assert still_open == []
    assert read_all(sealed_early) == [payload(1), payload(2)]
    sealed = files(directory, SEALED_SUFFIX)
    assert len(sealed) == 2
    assert read_all(sealed) == [payload(1), payload(2), payload(3)]


def test_quota_refuses_with_spool_full(tmp_path: Path) -> None:
    record = b"r" * (100 - HEADER_BYTES)
    assert len(frame(record)) == 100

    async def scenario() -> Path:
        spool = producer(tmp_path, quota_bytes=1000)
        try:
            for _ in range(10):
                await spool.append(record)
            assert spool.usage_bytes == 1000
            assert not spool.writable()
            with pytest.raises(SpoolFull, match="1000 bytes"):
                await spool.append(record)
            with pytest.raises(SpoolFull):
                await spool.append(b"")
        finally:
            await spool.close()
        return spool.directory

    directory = asyncio.run(scenario())
    assert read_all(files(directory, SEALED_SUFFIX)) == [record] * 10


def test_quota_refuses_a_single_oversized_record(tmp_path: Path) -> None:
    async def scenario() -> Path:
        spool = producer(tmp_path, quota_bytes=100)
        try:
            with pytest.raises(SpoolFull):
                await spool.append(b"p" * 200)
        finally:
            await spool.close()
        return spool.directory

    directory = asyncio.run(scenario())
    assert files(directory, OPEN_SUFFIX) == files(directory, SEALED_SUFFIX) == []


def test_quota_counts_the_other_producers_segments(tmp_path: Path) -> None:
    other = tmp_path / "p0-other"
    other.mkdir()
    (other / f"0000000000{SEALED_SUFFIX}").write_bytes(frame(b"o" * 890))

    async def scenario() -> None:
        spool = producer(tmp_path, quota_bytes=1000)
        try:
            assert spool.usage_bytes == 900
            await spool.append(b"a" * 90)  # 100 bytes: exactly at the quota
            assert spool.usage_bytes == 1000
            with pytest.raises(SpoolFull):
                await spool.append(b"")
        finally:
            await spool.close()

    asyncio.run(scenario())


def test_writable_needs_room_for_a_row(tmp_path: Path) -> None:
    async def scenario() -> None:
        spool = producer(tmp_path, quota_bytes=MAX_ROW_BYTES + 100)
        try:
            assert spool.writable()
            await spool.append(b"a" * 90)
            assert spool.writable()
            await spool.append(b"")
            assert not spool.writable()
        finally:
            await spool.close()

    asyncio.run(scenario())


def test_close_seals_the_open_segment(tmp_path: Path) -> None:
    async def scenario() -> Path:
        spool = producer(tmp_path)
        try:
            for number in range(3):
                await spool.append(payload(number))
            assert [p.name for p in files(spool.directory, OPEN_SUFFIX)] == ["0000000000.open"]
            assert files(spool.directory, SEALED_SUFFIX) == []
        finally:
            await spool.close()
        return spool.directory

    directory = asyncio.run(scenario())
    assert files(directory, OPEN_SUFFIX) == []
    assert [p.name for p in files(directory, SEALED_SUFFIX)] == ["0000000000.seg"]
    assert read_all(files(directory, SEALED_SUFFIX)) == [payload(n) for n in range(3)]
    # the directory's lock is given up
    fd = os.open(directory / LOCK_NAME, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


def test_close_without_appends_leaves_no_segment(tmp_path: Path) -> None:
    async def scenario() -> Path:
        spool = producer(tmp_path)
        await spool.start()
        await spool.close()
        return spool.directory

    directory = asyncio.run(scenario())
    assert sorted(path.name for path in directory.iterdir()) == [LOCK_NAME]


def test_each_producer_has_its_own_directory(tmp_path: Path) -> None:
    async def scenario() -> tuple[SpoolProducer, SpoolProducer]:
        one, two = producer(tmp_path), producer(tmp_path)
        try:
            await one.append(b"from one")
            await two.append(b"from two")
        finally:
            await one.close()
            await two.close()
        return one, two

    one, two = asyncio.run(scenario())
    assert one.directory != two.directory
    assert one.directory.parent == two.directory.parent == tmp_path
    assert read_all(files(one.directory, SEALED_SUFFIX)) == [b"from one"]
    assert read_all(files(two.directory, SEALED_SUFFIX)) == [b"from two"]


def test_disk_usage(tmp_path: Path) -> None:
    assert disk_usage(tmp_path / "absent") == 0
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.seg").write_bytes(b"1" * 10)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "y.open").write_bytes(b"2" * 5)
    (tmp_path / "stray-file").write_bytes(b"3" * 100)  # not in a producer directory
    assert disk_usage(tmp_path) == 15


# --- consumer ----------------------------------------------------------------------------------


def write_segment(path: Path, payloads: list[bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(frame(p) for p in payloads))
    return path


def test_sealed_lists_segments_in_order(tmp_path: Path) -> None:
    write_segment(tmp_path / "p2-b" / "0000000000.seg", [b"b0"])
    write_segment(tmp_path / "p1-a" / "0000000010.seg", [b"a10"])
    write_segment(tmp_path / "p1-a" / "0000000002.seg", [b"a2"])
    write_segment(tmp_path / "p1-a" / "0000000011.open", [b"a11 still open"])
    write_segment(tmp_path / "p2-b" / "0000000001.seg", [b"b1"])
    (tmp_path / "p1-a" / LOCK_NAME).touch()
    (tmp_path / "not-a-directory.seg").write_bytes(frame(b"ignored"))
    consumer = SpoolConsumer(tmp_path)
    sealed = consumer.sealed()
    assert [(s.path.parent.name, s.path.name) for s in sealed] == [
        ("p1-a", "0000000002.seg"),
        ("p1-a", "0000000010.seg"),
        ("p2-b", "0000000000.seg"),
        ("p2-b", "0000000001.seg"),
    ]
    assert [consumer.read(s).payloads for s in sealed] == [[b"a2"], [b"a10"], [b"b0"], [b"b1"]]


def test_sealed_of_an_empty_or_missing_root(tmp_path: Path) -> None:
    consumer = SpoolConsumer(tmp_path / "spool")
    assert consumer.sealed() == []
    assert (tmp_path / "spool").is_dir()
    assert consumer.adopt_orphans() == 0


def test_read_reports_damage_and_remove_is_idempotent(tmp_path: Path) -> None:
    path = write_segment(tmp_path / "p1-a" / "0000000000.seg", [b"one", b"two"])
    with path.open("ab") as handle:
        handle.write(frame(b"three")[:7])
    consumer = SpoolConsumer(tmp_path)
    (segment,) = consumer.sealed()
    assert consumer.read(segment) == Records([b"one", b"two"], 7, 1)
    consumer.remove(segment)
    assert not path.exists()
    consumer.remove(segment)
    assert consumer.sealed() == []


def test_segment_token_is_stable_across_sealing(tmp_path: Path) -> None:
    opened = Segment(tmp_path / "p1234-abcd0123" / "0000000007.open")
    sealed = Segment(tmp_path / "p1234-abcd0123" / "0000000007.seg")
    assert opened.token == sealed.token == "p1234-abcd0123-0000000007"
    assert Segment(tmp_path / "p1234-abcd0123" / "0000000008.seg").token != sealed.token
    assert Segment(tmp_path / "p9-ffff" / "0000000007.seg").token != sealed.token


def test_adopt_orphans_seals_a_dead_producers_segments(tmp_path: Path) -> None:
    dead = tmp_path / "p1-dead"
    write_segment(dead / "0000000000.seg", [b"sealed before the crash"])
    write_segment(dead / "0000000001.open", [b"one", b"two"])
    with (dead / "0000000001.open").open("ab") as handle:
        handle.write(frame(b"torn by the crash")[:12])
    (dead / "0000000002.open").touch()  # opened, never written
    (dead / LOCK_NAME).touch()  # nobody holds it: the producer is gone
    consumer = SpoolConsumer(tmp_path)
    assert consumer.adopt_orphans() == 1
    assert sorted(path.name for path in dead.iterdir()) == [
        "0000000000.seg",
        "0000000001.seg",
        LOCK_NAME,
    ]
    sealed = consumer.sealed()
    assert [s.token for s in sealed] == ["p1-dead-0000000000", "p1-dead-0000000001"]
    assert consumer.read(sealed[1]) == Records([b"one", b"two"], 12, 1)
    assert consumer.adopt_orphans() == 0  # nothing left to adopt

    # once the writer has drained it, the dead directory goes
    for segment in sealed:
        consumer.remove(segment)
    assert consumer.adopt_orphans() == 0
    assert not dead.exists()


def test_adopt_orphans_removes_an_emptied_dead_directory(tmp_path: Path) -> None:
    empty_dead = tmp_path / "p2-dead"
    empty_dead.mkdir()
    (empty_dead / "0000000000.open").touch()
    (empty_dead / LOCK_NAME).touch()
    no_lock_file = tmp_path / "p3-dead"
    no_lock_file.mkdir()  # died before it created its lock file
    consumer = SpoolConsumer(tmp_path)
    assert consumer.adopt_orphans() == 0
    assert not empty_dead.exists()
    assert not no_lock_file.exists()
    assert list(tmp_path.iterdir()) == []


def test_adopt_orphans_leaves_a_live_producer_alone(tmp_path: Path) -> None:
    dead = tmp_path / "p1-dead"
    write_segment(dead / "0000000000.open", [b"orphan"])
    (dead / LOCK_NAME).touch()

    async def scenario() -> Path:
        spool = producer(tmp_path)
        try:
            await spool.append(b"live one")
            await spool.append(b"live two")
            before = sorted(path.name for path in spool.directory.iterdir())
            consumer = SpoolConsumer(tmp_path)
            assert consumer.adopt_orphans() == 1  # only the dead producer's segment
            assert sorted(path.name for path in spool.directory.iterdir()) == before
            assert files(spool.directory, OPEN_SUFFIX) != []
            assert [s.token for s in consumer.sealed()] == ["p1-dead-0000000000"]
            await spool.append(b"live three")  # the live producer goes on in its segment
        finally:
            await spool.close()
        return spool.directory

    directory = asyncio.run(scenario())
    assert read_all(files(directory, SEALED_SUFFIX)) == [b"live one", b"live two", b"live three"]
    assert read_all(files(dead, SEALED_SUFFIX)) == [b"orphan"]
    # a closed producer's directory is kept while it holds sealed segments
    consumer = SpoolConsumer(tmp_path)
    assert consumer.adopt_orphans() == 0
    assert directory.exists()
    assert len(consumer.sealed()) == 2


def test_a_dead_io_thread_fails_appends_instead_of_leaving_them_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_commit(self: SpoolProducer, batch: object) -> None:
        raise RuntimeError("a bug in the I/O thread")

    monkeypatch.setattr(SpoolProducer, "_commit", broken_commit)

    async def scenario() -> None:
        spool = producer(tmp_path)
        with pytest.raises(SpoolUnavailable, match="I/O thread stopped"):
            await asyncio.wait_for(spool.append(payload(1)), 10)
        with pytest.raises(SpoolUnavailable, match="I/O thread stopped"):
            await spool.append(payload(2))
        assert not spool.writable()  # /readyz says so
        await spool.close()

    asyncio.run(scenario())
