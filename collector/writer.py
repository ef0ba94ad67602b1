"""The writer: spool -> ClickHouse in batches, with a deduplication token per batch.

One thread in the process that owns the store. It drains sealed segments in order, deletes a
segment only after its insert succeeded, retries a failing store with exponential backoff, adopts
the segments of producers that died, and drains what is left at shutdown.
"""

from __future__ import annotations

import logging
import threading
import time

from collector.metrics import Metrics
from collector.rows import decode_row
from collector.spool import Segment, SpoolConsumer
from collector.store import Store, StoreError

log = logging.getLogger("audience.writer")

IDLE_POLL_SECONDS = 0.5
ORPHAN_SCAN_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 5.0  # a store that is back is used within 5 s: the spool may be full


class Writer:
    def __init__(self, spool: SpoolConsumer, store: Store, metrics: Metrics) -> None:
        self.spool = spool
        self.store = store
        self.metrics = metrics
        self.wake = threading.Event()
        self.store_healthy = True
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audience-writer", daemon=True)
        self._backoff = 0.0

    def start(self) -> None:
        self.spool.adopt_orphans()
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after one last drain, waiting at most ``timeout`` seconds for it."""
        self._stopping.set()
        self.wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("writer still draining at shutdown; the spool keeps the rest")

    def drain(self) -> int:
        """Insert every sealed segment now; returns the rows stored. Raises StoreError."""
        stored = 0
        for segment in self.spool.sealed():
            stored += self._insert(segment)
        return stored

    def _run(self) -> None:
        last_orphan_scan = time.monotonic()
        while True:
            stopping = self._stopping.is_set()
            try:
                if time.monotonic() - last_orphan_scan > ORPHAN_SCAN_SECONDS or stopping:
                    last_orphan_scan = time.monotonic()
                    self.spool.adopt_orphans()
                self.drain()
            except Exception as error:  # the writer must outlive any failure
                self._failed(error)
                if stopping:
                    return
                self._stopping.wait(self._backoff)
                continue
            self._backoff = 0.0
            self.store_healthy = True
            if stopping:
                return
            self.wake.wait(IDLE_POLL_SECONDS)
            self.wake.clear()

    def _failed(self, error: Exception) -> None:
        self.metrics.insert_failures += 1
        self.store_healthy = False
        self._backoff = min(MAX_BACKOFF_SECONDS, max(0.25, self._backoff * 2))
        if isinstance(error, StoreError):
            log.warning("insert failed, retrying in %.1f s: %s", self._backoff, error)
        else:
            log.exception("writer error, retrying in %.1f s", self._backoff)

    def _insert(self, segment: Segment) -> int:
        records = self.spool.read(segment)
        rows, unreadable = [], []
        for payload in records.payloads:
            try:
                decode_row(payload)  # a record that is not a row would fail its whole batch
            except ValueError as error:
                unreadable.append(str(error))
            else:
                rows.append(payload)
        if rows:
            started = time.perf_counter()
            self.store.insert_events(rows, segment.token)
            self.metrics.batch_stored(len(rows), time.perf_counter() - started)
        # Reported once, when the segment is done with (a failed insert reads it again).
        if records.damaged_bytes:
            log.error(
                "spool segment %s: %d damaged bytes skipped (%d damaged stretches), "
                "%d intact records kept",
                segment.token,
                records.damaged_bytes,
                records.damaged_stretches,
                len(records.payloads),
            )
        for problem in unreadable:
            log.error("spool segment %s: unreadable record skipped (%s)", segment.token, problem)
        self.metrics.spool_damaged_records += records.damaged_stretches + len(unreadable)
        self.spool.remove(segment)
        return len(rows)
