"""``audience serve``: one process, or a store owner and N HTTP worker processes.

With one worker, a single process serves HTTP, spools and writes to the store. With ``--workers N``
the parent process owns the store (only one process may open the embedded engine): it runs the
writer, which drains the spools of N uvicorn worker processes that only parse, enrich and spool.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import uvicorn

from collector import logs
from collector.app import SITES_RELOAD_SECONDS, SITES_SNAPSHOT, create_app
from collector.geo import GeoLocator
from collector.metrics import Metrics
from collector.settings import Settings, SettingsError
from collector.sites import SiteRegistry
from collector.spool import SpoolConsumer
from collector.store import Store, StoreError
from collector.writer import Writer

if TYPE_CHECKING:
    from collector.demo import DemoTraffic

log = logging.getLogger("audience.serve")
GRACEFUL_SHUTDOWN_SECONDS = 10


def serve(settings: Settings, host: str, port: int, workers: int, demo: bool) -> int:
    if not 1 <= workers <= 64:
        raise SettingsError(f"--workers: expected 1 to 64, got {workers}")
    if demo:
        from collector.demo import prepare_demo

        settings = prepare_demo(settings)
    GeoLocator(settings.geoip_city, settings.geoip_operator).close()  # fail before listening
    # Migrations are applied at start, and an unreachable store stops it here.
    Store.open(settings.clickhouse_url, settings.retention_months).close()
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_config": logs.uvicorn_log_config(settings.log_level),
        "access_log": False,
        "proxy_headers": False,
        "server_header": False,
        "ws": "none",
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
    }
    demo_traffic = _start_demo(settings) if demo else None
    try:
        if workers == 1:
            uvicorn.run(create_app(settings), **options)
        else:
            owner = StoreOwner(settings)
            owner.start()
            try:
                uvicorn.run(
                    "collector.serve:http_worker_app", factory=True, workers=workers, **options
                )
            finally:
                owner.stop()
    finally:
        if demo_traffic is not None:
            demo_traffic.stop()
    return 0


def http_worker_app() -> object:
    """The app of each worker process of ``--workers N``: HTTP and spool, no store."""
    return create_app(Settings.from_environ(), role="http")


def _start_demo(settings: Settings) -> DemoTraffic:
    from collector.demo import DemoTraffic

    traffic = DemoTraffic(settings)
    traffic.start()
    return traffic


class StoreOwner:
    """The parent of HTTP workers: the writer, and the sites snapshot the workers read."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store.open(settings.clickhouse_url, settings.retention_months)
        self.metrics = Metrics()
        self.writer = Writer(SpoolConsumer(settings.spool_dir), self.store, self.metrics)
        self.sites = SiteRegistry()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._refresh_sites, name="audience-sites")

    def start(self) -> None:
        self._publish_sites()
        self.writer.start()
        self._thread.start()

    def _publish_sites(self) -> None:
        try:
            self.sites.replace(self.store.sites())
            self.sites.save_snapshot(self.settings.data_dir / SITES_SNAPSHOT)
        except (StoreError, OSError) as error:
            log.warning("could not publish the sites, keeping the last snapshot: %s", error)

    def _refresh_sites(self) -> None:
        while not self._stop.wait(SITES_RELOAD_SECONDS):
            self._publish_sites()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.writer.stop()
        self.store.close()
