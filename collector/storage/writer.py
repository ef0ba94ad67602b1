"""The writer: spool -> ClickHouse in batches, with a deduplication token per batch.

One thread in the process that owns the store. It drains sealed segments in order, deletes a
segment only after its insert succeeded, retries a failing store with exponential backoff, adopts
the segments of producers that died, and drains what is left at shutdown.

Between drains, the writer of the process that owns the store rolls up the visits that closed
(``collector.storage.closed_visits``); every writer marks the hours of the events it stores late,
whose visits may be rolled up already: before the insert, so that no reader takes the rollups of
those hours once the events are visible, and again after it, so that a rewrite another process
made in between (it forgets the marks it saw) cannot leave them out of the rollups.

It also keeps erasure final (``collector.storage.erased``): it drops the rows of erased visitors
before each insert, erases visitors between two batches when this process is asked to, and erases
again the visitors it learns were erased elsewhere (the DPO's command, another machine), which
catches any row it inserted before it knew.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field

from collector.ops.metrics import Metrics
from collector.storage.closed_visits import ClosedVisits
from collector.storage.erased import ErasedVisitors
from collector.storage.errors import StoreError
from collector.storage.rights_store import RightsStore
from collector.storage.rows import SITE_INDEX, TS_INDEX, VISITOR_INDEX, decode_row
from collector.storage.spool_consumer import Segment, SpoolConsumer
from collector.storage.store import Store

log = logging.getLogger("audience.writer")

IDLE_POLL_SECONDS = 0.5
ORPHAN_SCAN_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 5.0  # a store that is back is used within 5 s: the spool may be full
ERASED_RELOAD_SECONDS = 5.0
RECENT_ERASURE_SECONDS = 86_400  # at start, erased this recently: rollups rebuilt again here
ERASURE_BUDGET_SECONDS = 1.0  # erasures per turn of the loop, then a drain: beacons go first
# The last drain, at shutdown. A writer that kept up leaves it one flush interval of beacons, a
# fraction of a second's work; a backlog (the store was slow or away) may take longer, and what
# is not stored by then stays in the spool for the next start. Bounded below the 30 s that the
# compose files give a stopping collector, so that it exits by itself and says what it left.
SHUTDOWN_DRAIN_SECONDS = 15.0


@dataclass
class _Erasure:
    done: threading.Event = field(default_factory=threading.Event)
    events: int = 0


class Writer:
    def __init__(
        self,
        spool: SpoolConsumer,
        store: Store,
        metrics: Metrics,
        erased: ErasedVisitors | None = None,
        *,
        roll_up_visits: bool = False,
    ) -> None:
        self.spool = spool
        self.store = store
        self.metrics = metrics
        self.erased = erased if erased is not None else ErasedVisitors()
        self.closed_visits = ClosedVisits(store)
        self.roll_up_visits = roll_up_visits
        self.rights = RightsStore(store, self.closed_visits)
        self._erasures: dict[int, _Erasure] = {}
        self._erasures_lock = threading.Lock()
        self._erased_loaded_at: float | None = None
        self.wake = threading.Event()
        self.store_healthy = True  # the last insert (or turn) succeeded
        self.last_insert_at: float | None = None  # time.time() of the last batch stored
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audience-writer", daemon=True)
        self._backoff = 0.0

    def start(self) -> None:
        self.spool.adopt_orphans()
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = SHUTDOWN_DRAIN_SECONDS) -> None:
        """Stop after one last drain of every sealed segment, waiting at most ``timeout`` seconds
        for it; what is left (the time is up, or the store failed) is logged, and kept."""
        self._stopping.set()
        self.wake.set()
        self._thread.join(timeout)
        gave_up = self._thread.is_alive()
        left = self.spool.sealed()
        if gave_up or left:
            size = 0
            for segment in left:
                with contextlib.suppress(FileNotFoundError):  # stored meanwhile
                    size += segment.path.stat().st_size
            what = f"gave up its last drain after {timeout:g} s" if gave_up else "stopped"
            log.warning(
                "writer %s: %d spool segments (%d bytes) not stored, kept for the next start",
                what,
                len(left),
                size,
            )

    def health(self, now: float) -> dict[str, float | None]:
        """What /readyz reports of the writer, read without the store: seconds since its last
        stored batch, and the age of the oldest sealed segment waiting for it (None: none)."""
        oldest = None
        for segment in self.spool.sealed():
            with contextlib.suppress(FileNotFoundError):  # stored meanwhile
                modified = segment.path.stat().st_mtime
                oldest = modified if oldest is None else min(oldest, modified)
        last = self.last_insert_at
        return {
            "last_insert_seconds_ago": None if last is None else round(now - last, 3),
            "oldest_spooled_seconds": None if oldest is None else round(max(0.0, now - oldest), 3),
        }

    def erase(self, visitor: int, timeout: float) -> int | None:
        """Erase a visitor's stored events between two batches; from now on its rows are dropped.

        Returns the number of events erased, or None when it did not finish within ``timeout``
        (the store is down or slow): it stays pending and is retried until it succeeds.
        """
        self.erased.add(visitor)
        with self._erasures_lock:
            erasure = self._erasures.setdefault(visitor, _Erasure())
        self.wake.set()
        return erasure.events if erasure.done.wait(timeout) else None

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
                if self._erased_reload_due() or stopping:
                    self._reload_erased()
                self._run_erasures()
                self.drain()
                if self._roll_up_due(stopping) and self.closed_visits.turn():
                    self.wake.set()  # more hours are ready: after a drain
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

    def _roll_up_due(self, stopping: bool) -> bool:
        return self.roll_up_visits and not stopping and self.closed_visits.due()

    def _erased_reload_due(self) -> bool:
        loaded = self._erased_loaded_at
        return loaded is None or time.monotonic() - loaded > ERASED_RELOAD_SECONDS

    def _reload_erased(self) -> None:
        """Take the erasures made elsewhere, and erase those visitors again here."""
        stored = self.rights.erased_visitors()
        first = self._erased_loaded_at is None
        new = self.erased.replace({*self.erased, *stored})
        if first:  # all are new: redo those a restart may have cut short, not every one
            recent = time.time() - RECENT_ERASURE_SECONDS
            new = {v for v in new if stored[v] >= recent} | self.rights.erased_with_events()
        for visitor in new:
            with self._erasures_lock:
                self._erasures.setdefault(visitor, _Erasure())
        self._erased_loaded_at = time.monotonic()

    def _run_erasures(self) -> None:
        with self._erasures_lock:
            pending = [(v, e) for v, e in self._erasures.items() if not e.done.is_set()]
        started = time.monotonic()
        for visitor, erasure in pending:
            if time.monotonic() - started > ERASURE_BUDGET_SECONDS:
                self.wake.set()  # the rest after this turn's drain
                return
            erasure.events = self.rights.erase(visitor)  # a failure: retried next time
            erasure.done.set()
            with self._erasures_lock:
                del self._erasures[visitor]
            log.info("erasure done: %d events erased", erasure.events)

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
        rows, unreadable, erased = [], [], 0
        late: list[tuple[str, int]] = []  # (site, ts) of the rows that came late
        late_before = self.closed_visits.late_before(time.time())
        for payload in records.payloads:
            try:
                values, payload = decode_row(payload)  # a record not a row would fail its batch
            except ValueError as error:
                unreadable.append(str(error))
            else:
                if values[VISITOR_INDEX] in self.erased:
                    erased += 1
                else:
                    rows.append(payload)
                    ts = values[TS_INDEX]
                    if isinstance(ts, int) and ts < late_before:
                        late.append((str(values[SITE_INDEX]), ts))
        if rows:
            self.closed_visits.mark_late(late)  # for the readers
            started = time.perf_counter()
            self.store.insert_events(rows, segment.token)
            self.metrics.batch_stored(len(rows), time.perf_counter() - started)
            self.last_insert_at = time.time()
            self.closed_visits.mark_late(late)  # for the rollups' writer
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
        if erased:
            self.metrics.drop("erased", erased)
        self.spool.remove(segment)
        return len(rows)
