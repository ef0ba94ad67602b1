"""The store's background work, owned by one object: the process that holds the store runs it.

``StoreKeeper`` runs the writer (its thread drains the spools into the store, rolls up closed
visits and carries out erasures), and on one scheduler thread the periodic jobs: the sites read
from the store and published as a snapshot for the HTTP workers, this process's metrics
published for the workers' /metrics, and the daily retention. With one process it runs in the
serving process; with ``--workers N``, in their parent (``collector.serve``).
"""

from __future__ import annotations

import logging

from collector.ops.metrics import SNAPSHOT_SECONDS, Metrics, SharedMetrics
from collector.ops.scheduler import Scheduler
from collector.settings import Settings
from collector.storage import retention
from collector.storage.erased import ErasedVisitors
from collector.storage.errors import StoreError
from collector.storage.sites import SiteRegistry
from collector.storage.spool_consumer import SpoolConsumer
from collector.storage.store import Store
from collector.storage.writer import Writer

log = logging.getLogger("audience.keeper")
SITES_RELOAD_SECONDS = 5.0
SITES_SNAPSHOT = "sites.json"
ERASED_SNAPSHOT = "erased-visitors.bin"


class StoreKeeper:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        metrics: Metrics,
        sites: SiteRegistry,
        erased: ErasedVisitors,
        shared_metrics: SharedMetrics | None = None,
    ) -> None:
        """``sites`` and ``erased`` are the ones this process serves with: kept up to date here.
        ``shared_metrics``: with HTTP workers, where this process's metrics are published."""
        self.store = store
        self.metrics = metrics
        self.sites = sites
        self.erased = erased
        self.shared_metrics = shared_metrics
        self._sites_snapshot = settings.data_dir / SITES_SNAPSHOT
        self.writer = Writer(
            SpoolConsumer(settings.spool_dir), store, metrics, erased, roll_up_visits=True
        )
        months = settings.retention_months
        self.scheduler = Scheduler()
        self.scheduler.every(SITES_RELOAD_SECONDS, self._publish_sites, name="sites")
        if shared_metrics is not None:
            self.scheduler.every(SNAPSHOT_SECONDS, self._publish_metrics, name="metrics")
        self.scheduler.every(
            retention.INTERVAL_SECONDS,
            lambda: retention.run_logged(store, months, metrics),
            name="retention",
            first=retention.START_DELAY_SECONDS,
            long=True,
        )

    def start(self) -> None:
        """Read the sites (a store that cannot answer stops the start), then start the work."""
        if self.shared_metrics is not None:
            self.shared_metrics.clear()
        self.publish_sites()
        self.writer.start()
        self.scheduler.start()

    def stop(self) -> None:
        """Before the store closes: the periodic jobs end (a retention run under way is waited
        for), the writer drains the spool one last time, the last metrics are published."""
        self.scheduler.stop()
        self.writer.stop()
        if self.shared_metrics is not None:
            self._publish_metrics()

    def publish_sites(self) -> None:
        """At once (a site added through the admin socket): here, and for the workers."""
        self.sites.replace(self.store.sites())
        self.sites.save_snapshot(self._sites_snapshot)

    def _publish_sites(self) -> None:
        try:
            self.publish_sites()
        except (StoreError, OSError) as error:
            log.warning("could not reload the sites, keeping the known ones: %s", error)

    def _publish_metrics(self) -> None:
        assert self.shared_metrics is not None
        try:
            self.shared_metrics.publish(self.metrics)
        except OSError as error:  # the next second tries again
            log.warning("could not share this process's metrics: %s", error)
