"""``audience serve``: one process, or a store owner and N HTTP worker processes.

With one worker, a single process serves HTTP, spools and writes to the store. With ``--workers N``
the parent process owns the store (only one process may open the embedded engine): it runs the
writer, which drains the spools of N uvicorn worker processes that only parse, enrich and spool.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

import uvicorn

from collector.app import CollectorApp, create_app, schedule_reports
from collector.ingest.geo import GeoLocator
from collector.ops import logs
from collector.ops.metrics import (
    OWNER_SNAPSHOT,
    Metrics,
    SharedMetrics,
    snapshot_directory,
)
from collector.ops.shutdown import run_server, run_workers
from collector.ops.startup import store_variable
from collector.settings import Settings, SettingsError
from collector.storage.erased import ErasedVisitors
from collector.storage.errors import StoreError
from collector.storage.keeper import ERASED_SNAPSHOT, StoreKeeper
from collector.storage.sites import SiteRegistry
from collector.storage.store import Store, is_embedded
from collector.web.forward import ClientScope
from collector.web.sockets import owner_socket, private_directory

log = logging.getLogger("audience.serve")
GRACEFUL_SHUTDOWN_SECONDS = 10
OWNER_START_SECONDS = 30


class Companion(Protocol):
    """Something that runs beside the server (the demo, ``collector.demo``): prepared with the
    store the server opened, started once it is ready to serve, stopped when it stops."""

    def prepare(self, settings: Settings, store: Store) -> Settings: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


def serve(
    settings: Settings, host: str, port: int, workers: int, companion: Companion | None = None
) -> int:
    if not 1 <= workers <= 64:
        raise SettingsError(f"--workers: expected 1 to 64, got {workers}")
    GeoLocator(settings.geoip_city, settings.geoip_operator).close()  # fail before listening
    # Migrations are applied at start, and an unreachable store stops it here. The store opened
    # here is the one the process serves with: the app or the store owner closes it when it stops.
    try:
        store = Store.open(settings.clickhouse_url, settings.retention_months)
    except StoreError as error:
        raise SettingsError(f"{store_variable(settings)}: {error}") from None
    if companion is not None:
        try:
            settings = companion.prepare(settings, store)
        except BaseException:
            store.close()
            raise
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_config": logs.uvicorn_log_config(settings.log_level),
        "access_log": False,
        "proxy_headers": False,
        "server_header": False,
        "ws": "none",
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
        "root_path": settings.root_path,
    }
    if companion is not None:
        companion.start()
    try:
        if workers == 1:
            app = create_app(settings, store=store, settle_heap=True)
            config = uvicorn.Config(app, **options)
            return run_server(config, lambda: app.runtime.metrics.stored_rows)
        owner = StoreOwner(settings, store, options["log_config"])
        owner.start()
        config = uvicorn.Config(WorkerApp(settings), factory=True, workers=workers, **options)
        return run_workers(config, lambda: owner.metrics.stored_rows, owner.stop)
    finally:
        if companion is not None:
            companion.stop()


@dataclass(frozen=True)
class WorkerApp:
    """The app factory of each worker process of ``--workers N``: HTTP and spool, no store.
    It travels to the worker with uvicorn's config (pickled by the process spawn), so a worker
    serves with the settings of its parent, never with the environment read again."""

    settings: Settings

    def __call__(self) -> CollectorApp:
        return create_app(self.settings, role="http", settle_heap=True)


class StoreOwner:
    """The parent of HTTP workers: the store's keeper (writer, retention, the sites and metrics
    snapshots the workers read), and on the embedded store the dashboards and privacy API the
    workers forward to its Unix socket."""

    def __init__(self, settings: Settings, store: Store, log_config: dict[str, Any]) -> None:
        self.settings = settings
        self.store = store  # opened and migrated; closed by stop()
        self.metrics = Metrics()
        self.keeper = StoreKeeper(
            store,
            settings,
            self.metrics,
            SiteRegistry(),
            ErasedVisitors(settings.data_dir / ERASED_SNAPSHOT),
            SharedMetrics(snapshot_directory(settings.data_dir), OWNER_SNAPSHOT),
        )
        schedule_reports(self.keeper, settings)
        self.web: uvicorn.Server | None = None
        if is_embedded(settings.clickhouse_url):
            self.web = _owner_server(settings, self.keeper, log_config)
        self._web_thread = threading.Thread(target=self._serve_web, name="audience-owner-web")

    def start(self) -> None:
        self.keeper.start()
        if self.web is not None:
            self._web_thread.start()
            self._wait_for_web(self.web)

    def _wait_for_web(self, web: uvicorn.Server) -> None:
        """The workers forward to it: a socket that cannot be served stops the start."""
        deadline = time.monotonic() + OWNER_START_SECONDS
        while not web.started:
            if not self._web_thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                socket_path = owner_socket(self.settings.data_dir)
                raise StoreError(f"the store owner could not serve its workers on {socket_path}")
            time.sleep(0.02)

    def _serve_web(self) -> None:
        assert self.web is not None
        try:
            self.web.run()
        except BaseException:  # uvicorn exits with SystemExit when it cannot bind or start
            log.exception("the store owner's server for its workers stopped")

    def stop(self) -> None:
        if self.web is not None and self._web_thread.is_alive():
            self.web.should_exit = True
            self._web_thread.join(GRACEFUL_SHUTDOWN_SECONDS + 5)
        self.keeper.stop()
        self.store.close()


def _owner_server(
    settings: Settings, keeper: StoreKeeper, log_config: dict[str, Any]
) -> uvicorn.Server:
    """The owner's app on a Unix socket in a directory only this user may enter."""
    socket_path = owner_socket(settings.data_dir)
    try:
        private_directory(socket_path.parent)
    except OSError as error:
        raise StoreError(f"cannot serve the workers on {socket_path}: {error}") from error
    socket_path.unlink(missing_ok=True)  # left by a process that was killed
    owner = create_app(settings, role="owner", keeper=keeper)
    app = ClientScope(owner)
    config = uvicorn.Config(
        app,
        uds=str(socket_path),
        root_path=settings.root_path,  # the workers forward the path without it
        log_config=log_config,
        access_log=False,
        server_header=False,
        ws="none",
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    return uvicorn.Server(config)
