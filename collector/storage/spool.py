"""The durable spool: an accepted event is on disk before its 202.

Each producer (one per HTTP process) owns a directory ``<root>/<producer>/`` that it holds an
exclusive lock on, and appends framed records to its open segment ``<seq>.open``. Appends are
group-committed: whatever arrives while one write+fdatasync is in flight goes into the next one,
so throughput does not pay one fsync per request. A segment is sealed (renamed ``<seq>.seg``) when
it holds ``batch_rows`` records or is ``flush_interval`` old; sealed segments are the writer's
batches, and ``<producer>-<seq>`` is their deduplication token.

A record is framed by ``collector.storage.spool_records``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

from collector import AudienceError
from collector.settings import Settings
from collector.storage.spool_records import MAX_ROW_BYTES, frame

log = logging.getLogger("audience.spool")

OPEN_SUFFIX, SEALED_SUFFIX, LOCK_NAME = ".open", ".seg", "lock"


class SpoolFull(AudienceError):
    """The spool has reached its disk quota: the event cannot be kept, answer 503."""

    status = 503


class SpoolUnavailable(AudienceError):
    """The spool cannot write (disk full, I/O error): the event was not kept, answer 503."""

    status = 503


def lock_exclusive(path: Path) -> int | None:
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
    """This process's appender: group commit on its own I/O thread, sealing on size and age.

    The event loop queues records; the I/O thread takes whatever is queued, writes and fdatasyncs
    it, and hands the outcome back to the loop, then takes the next batch at once: a commit never
    waits for the loop to get round to starting it. The thread alone touches the segment files;
    the loop alone settles futures and keeps the usage figures, in the order the thread posts them.
    """

    def __init__(
        self,
        root: Path,
        *,
        quota_bytes: int,
        batch_rows: int,
        flush_interval: float,
        on_sealed: Callable[[], None] | None = None,
        on_commit: Callable[[int, float], None] | None = None,
    ) -> None:
        self.root = root
        self.quota_bytes = quota_bytes
        self.batch_rows = batch_rows
        self.flush_interval = flush_interval
        self._on_sealed = on_sealed
        self._on_commit = on_commit  # (records, seconds) of each write + fdatasync
        root.mkdir(parents=True, exist_ok=True)
        self.name = f"p{os.getpid()}-{secrets.token_hex(4)}"
        # Made under a hidden name and renamed once locked, so the writer never sees it unlocked.
        hidden = root / f".{self.name}"
        hidden.mkdir()
        lock_fd = lock_exclusive(hidden / LOCK_NAME)
        assert lock_fd is not None, "a new producer directory is never locked"
        self._lock_fd = lock_fd
        self.directory = root / self.name
        hidden.rename(self.directory)
        _fsync_directory(root)
        self._queue = threading.Condition()
        self._pending: list[tuple[bytes, asyncio.Future[None]]] = []  # guarded by _queue
        self._closing = False  # guarded by _queue
        self._failed = ""  # guarded by _queue: why the I/O thread stopped, if it did
        self._pending_bytes = 0  # loop only
        self._usage = disk_usage(root)  # loop only
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="spool-io", daemon=True)
        # I/O thread only:
        self._in_flight: list[tuple[bytes, asyncio.Future[None]]] = []
        self._fd: int | None = None
        self._seq = 0
        self._size = 0
        self._rows = 0
        self._opened_at = 0.0

    @classmethod
    def of(
        cls,
        settings: Settings,
        on_sealed: Callable[[], None] | None = None,
        on_commit: Callable[[int, float], None] | None = None,
    ) -> SpoolProducer:
        """A producer in the spool directory, with the quota and batches the settings say."""
        return cls(
            settings.spool_dir,
            quota_bytes=settings.spool_quota_bytes,
            batch_rows=settings.batch_rows,
            flush_interval=settings.flush_interval,
            on_sealed=on_sealed,
            on_commit=on_commit,
        )

    @property
    def usage_bytes(self) -> int:
        return self._usage + self._pending_bytes

    def writable(self) -> bool:
        """The directory takes writes and the quota has room for one more beacon's row."""
        room = self.quota_bytes - self.usage_bytes
        working = not self._failed and (self._loop is None or self._thread.is_alive())
        return working and os.access(self.directory, os.W_OK) and room >= MAX_ROW_BYTES

    async def start(self) -> None:
        """Start the I/O thread now (the first append would, otherwise) and its sealing ticks."""
        self._begin()

    def _begin(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._thread.start()

    async def append(self, payload: bytes) -> None:
        """Return once ``payload`` is on disk; raise SpoolFull or SpoolUnavailable otherwise."""
        record = frame(payload)
        if self.usage_bytes + len(record) > self.quota_bytes:
            raise SpoolFull(f"spool quota of {self.quota_bytes} bytes reached")
        self._begin()
        assert self._loop is not None
        done: asyncio.Future[None] = self._loop.create_future()
        with self._queue:
            if self._closing or self._failed:
                raise SpoolUnavailable(self._failed or "the spool is closing")
            self._pending.append((record, done))
            self._queue.notify()
        self._pending_bytes += len(record)
        # A cancelled wait (the client went away) cancels only ``done``: the record stays in its
        # batch, and settling skips futures that are already done.
        await done

    async def close(self) -> None:
        """Finish in-flight appends, seal the open segment and give the directory up."""
        with self._queue:
            self._closing = True
            self._queue.notify()
        if self._thread.is_alive():
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
        os.close(self._lock_fd)

    # On the loop, in the order the I/O thread posted them.

    def _settle(
        self,
        batch: list[tuple[bytes, asyncio.Future[None]]],
        size: int,
        error: OSError | None,
        seconds: float,
    ) -> None:
        self._pending_bytes -= size
        if error is None:
            self._usage += size
            if self._on_commit is not None:
                self._on_commit(len(batch), seconds)
        for _, done in batch:
            if done.done():
                continue
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(SpoolUnavailable(f"spool write failed: {error}"))

    def _set_usage(self, usage: int) -> None:
        self._usage = usage

    # On the I/O thread.

    def _run(self) -> None:
        try:
            self._serve_appends()
        except BaseException as error:  # never leave appends waiting on a dead thread
            log.exception("the spool's I/O thread stopped")
            with self._queue:
                self._failed = f"the spool's I/O thread stopped: {error!r}"
                batch, self._pending = self._in_flight + self._pending, []
            failure = OSError(self._failed)
            self._post(self._settle, batch, sum(len(r) for r, _ in batch), failure, 0.0)

    def _serve_appends(self) -> None:
        tick = min(self.flush_interval, 0.5)
        next_tick = time.monotonic() + tick
        while True:
            with self._queue:
                if not self._pending and not self._closing:
                    self._queue.wait(max(0.0, next_tick - time.monotonic()))
                batch, self._pending = self._pending, []
                closing = self._closing
            if batch:
                self._in_flight = batch
                self._commit(batch)
                self._in_flight = []
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + tick
                self._seal_if_due()
            if closing and not batch:
                self._guarded(self._seal)
                return

    def _post(self, callback: Callable[..., None], *arguments: object) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            self._loop.call_soon_threadsafe(callback, *arguments)

    def _commit(self, batch: list[tuple[bytes, asyncio.Future[None]]]) -> None:
        data = b"".join(record for record, _ in batch)
        started = time.perf_counter()
        try:
            self._write(data, len(batch))
        except OSError as error:
            log.error("spool write failed: %s", error.strerror or error)
            self._post(self._settle, batch, len(data), error, 0.0)
        else:
            self._post(self._settle, batch, len(data), None, time.perf_counter() - started)

    def _write(self, data: bytes, rows: int) -> None:
        """Append and fdatasync, or leave the segment as it was and raise."""
        fd = self._fd if self._fd is not None else self._open_segment()
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fdatasync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, self._size)
            self._guarded(self._seal)
            raise
        self._size += len(data)
        self._rows += rows
        if self._rows >= self.batch_rows:
            self._guarded(self._seal)

    def _open_segment(self) -> int:
        """A new open segment, made durable in its directory before any record goes in."""
        path = self.directory / f"{self._seq:010d}{OPEN_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        try:
            _fsync_directory(self.directory)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        self._fd = fd
        self._size, self._rows, self._opened_at = 0, 0, time.monotonic()
        return fd

    def _seal_if_due(self) -> None:
        """Seal the open segment if it is old enough, and post the spool's disk usage."""
        if self._fd is not None and time.monotonic() - self._opened_at >= self.flush_interval:
            self._guarded(self._seal)
        try:
            # Posted after the settles of the writes the scan already sees: counted once.
            self._post(self._set_usage, disk_usage(self.root))
        except OSError as error:
            log.error("spool usage scan failed: %s", error.strerror or error)

    def _guarded(self, action: Callable[[], None]) -> None:
        """Run a sealing step; a failure is logged and the next tick tries again."""
        try:
            action()
        except OSError as error:
            log.error("spool sealing failed: %s", error.strerror or error)

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
