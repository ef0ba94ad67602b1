"""The durable spool: an accepted event is on disk before its 202.

Each producer (one per HTTP process) owns a directory ``<root>/<producer>/`` that it holds an
exclusive lock on, and appends framed records to its open segment ``<seq>.open``. Appends are
group-committed: whatever arrives while one write+fdatasync is in flight goes into the next one,
so throughput does not pay one fsync per request. A segment is sealed (renamed ``<seq>.seg``) when
it holds ``batch_rows`` records or is ``flush_interval`` old; sealed segments are the writer's
batches, and ``<producer>-<seq>`` is their deduplication token.

A record is ``magic, length, crc32, payload``. Reading checks every record and resynchronises on
the magic after damage, so a torn write at a crash costs only the records it touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import struct
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("audience.spool")

MAGIC = b"\xa7\x5c"
_HEADER = struct.Struct(">2sII")
MAX_RECORD_BYTES = 1 << 20
MAX_ROW_BYTES = 4096  # a row is smaller than the beacon it came from
OPEN_SUFFIX, SEALED_SUFFIX, LOCK_NAME = ".open", ".seg", "lock"


class SpoolFull(Exception):
    """The spool has reached its disk quota: the event cannot be kept, answer 503."""


class SpoolUnavailable(Exception):
    """The spool cannot write (disk full, I/O error): the event was not kept, answer 503."""


def frame(payload: bytes) -> bytes:
    return _HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


@dataclass(frozen=True)
class Records:
    payloads: list[bytes]
    damaged_bytes: int
    damaged_stretches: int  # damaged records, as far as can be told: each stretch skipped


def read_records(data: bytes) -> Records:
    """Every intact record in ``data``; damaged stretches are skipped, counted and measured."""
    payloads: list[bytes] = []
    damaged, stretches, offset, end = 0, 0, 0, len(data)
    in_damage = False
    while offset < end:
        if offset + _HEADER.size <= end:
            magic, length, checksum = _HEADER.unpack_from(data, offset)
            start = offset + _HEADER.size
            if magic == MAGIC and length <= MAX_RECORD_BYTES and start + length <= end:
                payload = data[start : start + length]
                if zlib.crc32(payload) == checksum:
                    payloads.append(payload)
                    offset = start + length
                    in_damage = False
                    continue
        following = data.find(MAGIC, offset + 1)
        following = end if following < 0 else following
        stretches += 0 if in_damage else 1
        in_damage = True
        damaged += following - offset
        offset = following
    return Records(payloads, damaged, stretches)


def _lock(path: Path) -> int | None:
    """An exclusive lock on ``path`` (its file descriptor), or None when another holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def disk_usage(root: Path) -> int:
    total = 0
    with contextlib.suppress(FileNotFoundError):
        for directory in os.scandir(root):
            if directory.is_dir():
                with contextlib.suppress(FileNotFoundError):
                    for entry in os.scandir(directory.path):
                        with contextlib.suppress(FileNotFoundError):
                            total += entry.stat().st_size
    return total


class SpoolProducer:
    """This process's appender: group commit on an I/O thread, sealing on size and age."""

    def __init__(
        self,
        root: Path,
        *,
        quota_bytes: int,
        batch_rows: int,
        flush_interval: float,
        on_sealed: Callable[[], None] | None = None,
    ) -> None:
        self.root = root
        self.quota_bytes = quota_bytes
        self.batch_rows = batch_rows
        self.flush_interval = flush_interval
        self._on_sealed = on_sealed
        root.mkdir(parents=True, exist_ok=True)
        self.name = f"p{os.getpid()}-{secrets.token_hex(4)}"
        # Made under a hidden name and renamed once locked, so the writer never sees it unlocked.
        hidden = root / f".{self.name}"
        hidden.mkdir()
        lock_fd = _lock(hidden / LOCK_NAME)
        assert lock_fd is not None, "a new producer directory is never locked"
        self._lock_fd = lock_fd
        self.directory = root / self.name
        hidden.rename(self.directory)
        _fsync_directory(root)
        self._io = ThreadPoolExecutor(1, thread_name_prefix="spool-io")
        self._pending: list[tuple[bytes, asyncio.Future[None]]] = []
        self._pending_bytes = 0
        self._flusher: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._fd: int | None = None
        self._seq = 0
        self._size = 0
        self._rows = 0
        self._opened_at = 0.0
        self._usage = disk_usage(root)

    @property
    def usage_bytes(self) -> int:
        return self._usage + self._pending_bytes

    def writable(self) -> bool:
        """The directory takes writes and the quota has room for one more beacon's row."""
        room = self.quota_bytes - self.usage_bytes
        return os.access(self.directory, os.W_OK) and room >= MAX_ROW_BYTES

    async def append(self, payload: bytes) -> None:
        """Return once ``payload`` is on disk; raise SpoolFull or SpoolUnavailable otherwise."""
        record = frame(payload)
        if self.usage_bytes + len(record) > self.quota_bytes:
            raise SpoolFull(f"spool quota of {self.quota_bytes} bytes reached")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((record, done))
        self._pending_bytes += len(record)
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        # A cancelled wait (the client went away) cancels only ``done``: the record stays in its
        # batch, and the flush skips futures that are already done.
        await done

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch, self._pending = self._pending, []
            data = b"".join(record for record, _ in batch)
            try:
                await loop.run_in_executor(self._io, self._write, data, len(batch))
            except OSError as error:
                log.error("spool write failed: %s", error.strerror or error)
                outcome: BaseException | None = SpoolUnavailable(f"spool write failed: {error}")
            else:
                outcome = None
            finally:
                self._pending_bytes -= len(data)
            self._usage += len(data) if outcome is None else 0
            for _, done in batch:
                if done.done():
                    continue
                if outcome is None:
                    done.set_result(None)
                else:
                    done.set_exception(outcome)

    def _write(self, data: bytes, rows: int) -> None:
        """On the I/O thread: append and fdatasync, or leave the segment as it was and raise."""
        if self._fd is None:
            path = self.directory / f"{self._seq:010d}{OPEN_SUFFIX}"
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            _fsync_directory(self.directory)
            self._size, self._rows, self._opened_at = 0, 0, time.monotonic()
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            os.fdatasync(self._fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            self._seal()
            raise
        self._size += len(data)
        self._rows += rows
        if self._rows >= self.batch_rows:
            self._seal()

    def _seal(self) -> None:
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        name = f"{self._seq:010d}"
        self._seq += 1
        opened = self.directory / f"{name}{OPEN_SUFFIX}"
        if self._size == 0:
            opened.unlink()
            return
        opened.rename(self.directory / f"{name}{SEALED_SUFFIX}")
        if self._on_sealed is not None:
            self._on_sealed()

    def _seal_if_due(self) -> int:
        """On the I/O thread: seal the open segment if it is old enough; the spool's disk usage."""
        if self._fd is not None and time.monotonic() - self._opened_at >= self.flush_interval:
            self._seal()
        return disk_usage(self.root)

    async def start(self) -> None:
        self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(self.flush_interval, 0.5))
            try:
                # Assigned on the loop, after the writes that ran before the scan were counted
                # by their flushes: the I/O thread runs in order and so do the callbacks.
                self._usage = await loop.run_in_executor(self._io, self._seal_if_due)
            except OSError as error:  # the next tick tries again; appends report their own errors
                log.error("spool sealing failed: %s", error.strerror or error)

    async def close(self) -> None:
        """Finish in-flight appends, seal the open segment and give the directory up."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._flusher is not None:
            await self._flusher
        await asyncio.get_running_loop().run_in_executor(self._io, self._seal)
        self._io.shutdown(wait=True)
        os.close(self._lock_fd)


@dataclass(frozen=True)
class Segment:
    path: Path

    @property
    def token(self) -> str:
        """Stable across renames and replays: the producer and the sequence number."""
        return f"{self.path.parent.name}-{self.path.name.split('.', 1)[0]}"


class SpoolConsumer:
    """The writer's view: sealed segments to drain, and the leftovers of dead producers."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def sealed(self) -> list[Segment]:
        found: list[Segment] = []
        with contextlib.suppress(FileNotFoundError):
            for directory in sorted(os.scandir(self.root), key=lambda entry: entry.name):
                if directory.is_dir():
                    found += [
                        Segment(Path(directory.path) / name)
                        for name in sorted(os.listdir(directory.path))
                        if name.endswith(SEALED_SUFFIX)
                    ]
        return found

    def read(self, segment: Segment) -> Records:
        return read_records(segment.path.read_bytes())

    def remove(self, segment: Segment) -> None:
        with contextlib.suppress(FileNotFoundError):
            segment.path.unlink()

    def adopt_orphans(self) -> int:
        """Seal the open segments of producers that died, and remove their emptied directories.

        Returns how many segments were sealed. A producer that is alive holds its lock, so its
        directory is left alone.
        """
        sealed = 0
        with contextlib.suppress(FileNotFoundError):
            for directory in os.scandir(self.root):
                if not directory.is_dir() or directory.name.startswith("."):
                    continue
                path = Path(directory.path)
                lock_fd = _lock(path / LOCK_NAME)
                if lock_fd is None:
                    continue
                try:
                    sealed += _seal_open_segments(path)
                    if not any(name.endswith(SEALED_SUFFIX) for name in os.listdir(path)):
                        (path / LOCK_NAME).unlink(missing_ok=True)
                        with contextlib.suppress(OSError):  # not empty after all: next time
                            path.rmdir()
                finally:
                    os.close(lock_fd)
        return sealed


def _seal_open_segments(directory: Path) -> int:
    sealed = 0
    for name in sorted(os.listdir(directory)):
        if name.endswith(OPEN_SUFFIX):
            opened = directory / name
            if opened.stat().st_size == 0:
                opened.unlink()
                continue
            opened.rename(directory / (name[: -len(OPEN_SUFFIX)] + SEALED_SUFFIX))
            sealed += 1
    return sealed
