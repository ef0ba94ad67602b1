"""create_app(settings) -> the collector's ASGI app: routes, lifespan, and the hot path in front.

``role`` says what this process does:
- ``all``: HTTP and the store, the default, and the only choice for one process;
- ``http``: a worker of ``--workers N``. It answers beacons into its spool, which the store owner
  drains, and its metrics are summed with the other processes'. For the dashboards it opens a
  connection of its own to a ClickHouse server; on the embedded store, which only the owner may
  open, it forwards them to the owner;
- ``owner``: the dashboards of the store owner, which serves them to its workers on a Unix socket
  (``collector.web.forward``).

The store's background work (writer, retention, sites and metrics snapshots) is one object,
``collector.storage.keeper.StoreKeeper``, which the app runs for ``all`` and the store owner
runs in the parent of workers: the same code in either place. The email reports
(``dashboards.report_delivery``) are a job added here to its scheduler, in both places.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route

from collector.console import arguments, commands
from collector.console.admin import AdminServer, Answer, Runner, admin_socket
from collector.ingest import agent, geo
from collector.ingest.endpoint import EventEndpoint
from collector.ingest.geo import GeoLocator
from collector.ingest.pipeline import Pipeline
from collector.ops import heap
from collector.ops.metrics import (
    OWNER_SNAPSHOT,
    SNAPSHOT_SECONDS,
    Metrics,
    SharedMetrics,
    snapshot_directory,
)
from collector.privacy.api import PrivacyAPI
from collector.privacy.page import PrivacyPage
from collector.settings import Settings
from collector.storage.erased import ErasedVisitors
from collector.storage.keeper import ERASED_SNAPSHOT, SITES_SNAPSHOT, StoreKeeper
from collector.storage.sites import SiteRegistry
from collector.storage.spool import SpoolProducer
from collector.storage.store import Store, is_embedded
from collector.storage.writer import Writer
from collector.web import views
from collector.web.asgi import Receive, Scope, Send
from collector.web.forward import ToStoreOwner
from collector.web.http import VisitorCookie
from collector.web.ratelimit import RateLimiter
from collector.web.security import SecurityHeaders, security_txt
from collector.web.sockets import owner_socket
from collector.web.visitor import StateSigner
from dashboards.app import create_dashboards
from dashboards.report_delivery import ReportDelivery

log = logging.getLogger("audience.app")

Role = Literal["all", "http", "owner"]
SNAPSHOT_POLL_SECONDS = 1.0


@dataclass
class Runtime:
    """What the lifespan opens and closes, and the views read."""

    settings: Settings
    metrics: Metrics
    sites: SiteRegistry
    role: Role
    store: Store | None = None
    keeper: StoreKeeper | None = None  # the store's background work, where this process runs it
    spool: SpoolProducer | None = None
    forward: ToStoreOwner | None = None
    erased: ErasedVisitors = field(default_factory=ErasedVisitors)
    geo: GeoLocator = field(default_factory=GeoLocator)
    shared_metrics: SharedMetrics | None = None  # with --workers N: the sum of all processes
    admin: AdminServer | None = None  # on the embedded store, in the process that holds it
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def writer(self) -> Writer | None:
        return self.keeper.writer if self.keeper is not None else None

    def refusals(self, site: str) -> dict[str, tuple[int, float]]:
        """Why beacons of ``site`` were refused, by every process: (how many, the last time)."""
        if self.shared_metrics is None:
            return self.metrics.refusals(site)
        return self.shared_metrics.combined(self.metrics).refusals(site)

    def sites_changed(self) -> None:
        """Sites changed in the dashboards: where the keeper runs, served at once and published
        for the workers; a worker on a ClickHouse server reads them from it again (the owner
        publishes them within its next reload)."""
        if self.keeper is not None:
            self.keeper.publish_sites()
        elif self.store is not None:
            self.sites.replace(self.store.sites())


class CollectorApp:
    """The ASGI entry point: /api/event goes straight to its handler, the rest to Starlette."""

    def __init__(self, runtime: Runtime, endpoint: EventEndpoint, web: SecurityHeaders) -> None:
        self.runtime = runtime
        self.endpoint = endpoint
        self.web = web
        self.event_path = runtime.settings.root_path + "/api/event"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.event_path:
            await self.endpoint(scope, receive, send)
        else:
            await self.web(scope, receive, send)


def create_app(
    settings: Settings,
    role: Role = "all",
    store: Store | None = None,
    metrics: Metrics | None = None,
    settle_heap: bool = False,
    keeper: StoreKeeper | None = None,
) -> CollectorApp:
    """``keeper`` is the store owner's, for ``role="owner"``: its store, metrics, sites and
    erased visitors are served. For ``role="all"``, ``store`` may be one already opened and
    migrated, which the app then closes when it stops (else it opens its own).
    ``settle_heap`` tunes the garbage collector once started (``collector.ops.heap``): for the
    serving processes of ``audience serve``, not for a test process."""
    if keeper is not None:
        store, metrics = keeper.store, keeper.metrics
    metrics = metrics or Metrics()
    runtime = Runtime(settings, metrics, SiteRegistry(), role, store=store, keeper=keeper)
    if keeper is not None:
        runtime.sites, runtime.erased = keeper.sites, keeper.erased
    elif role == "all":
        runtime.erased = ErasedVisitors(settings.data_dir / ERASED_SNAPSHOT)
    if role != "all":
        own = OWNER_SNAPSHOT if role == "owner" else f"worker-{os.getpid()}.json"
        runtime.shared_metrics = SharedMetrics(snapshot_directory(settings.data_dir), own)
    runtime.geo = GeoLocator(settings.geoip_city, settings.geoip_operator)
    pipeline = Pipeline(
        sites=runtime.sites,
        geo=runtime.geo,
        signer=StateSigner(settings.secret_key),
        limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
        metrics=metrics,
        erased=runtime.erased,
    )
    cookie = VisitorCookie(settings.root_path)
    endpoint = EventEndpoint(pipeline, settings.trusted_proxies, metrics, cookie)
    metrics.gauges["audience_spool_bytes"] = lambda: (
        runtime.spool.usage_bytes if runtime.spool else 0
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await _start(runtime)
        if settle_heap:
            heap.settle()
        endpoint.spool = runtime.spool
        try:
            yield
        finally:
            endpoint.spool = None
            await _stop(runtime)

    web = Starlette(
        routes=[
            Route("/healthz", views.healthz),
            Route("/readyz", views.readyz),
            Route("/metrics", views.metrics),
            Route("/js/{name}", views.script),
            Route("/.well-known/security.txt", security_txt),
            *_store_backed(settings, runtime),
        ],
        lifespan=lifespan,
    )
    web.state.runtime = runtime
    web.state.readiness = lambda: _readiness(runtime)
    web.state.writer_health = lambda: _writer_health(runtime)
    return CollectorApp(runtime, endpoint, SecurityHeaders(web, settings.trusted_proxies))


def _store_backed(settings: Settings, runtime: Runtime) -> list[BaseRoute]:
    """The visitor's privacy API and the dashboards: served here, or by the store owner when
    only it may open the store."""
    if runtime.role == "http" and is_embedded(settings.clickhouse_url):
        runtime.forward = ToStoreOwner(owner_socket(settings.data_dir))
        return [Mount("", app=runtime.forward)]
    privacy = PrivacyAPI(
        runtime, StateSigner(settings.secret_key), settings.secret_key, settings.retention_months
    )
    page = PrivacyPage(privacy, settings.privacy_contact)
    return [*privacy.routes(), *page.routes(), Mount("", app=create_dashboards(settings, runtime))]


async def _start(runtime: Runtime) -> None:
    settings = runtime.settings
    loop = asyncio.get_running_loop()
    # The rules common browsers need, compiled while the store opens; done before the process
    # serves (and freezes its heap, collector.ops.heap). The store owner of workers parses no agent.
    warming = None if runtime.role == "owner" else loop.run_in_executor(None, agent.warm_up)
    if runtime.role == "all":
        if runtime.store is None:
            runtime.store = await loop.run_in_executor(
                None, Store.open, settings.clickhouse_url, settings.retention_months
            )
        keeper = StoreKeeper(
            runtime.store, settings, runtime.metrics, runtime.sites, runtime.erased
        )
        schedule_reports(keeper, settings)
        await loop.run_in_executor(None, keeper.start)
        runtime.keeper = keeper
        await _serve_admin(runtime)
    elif runtime.role == "owner":
        await _serve_admin(runtime)
        return  # it serves no beacons: no spool
    else:
        runtime.sites.load_snapshot(settings.data_dir / SITES_SNAPSHOT)
        if not is_embedded(settings.clickhouse_url):  # a server takes many connections
            runtime.store = await loop.run_in_executor(None, Store.connect, settings.clickhouse_url)
        runtime.tasks.append(loop.create_task(_follow_snapshots(runtime)))
    writer = runtime.writer
    runtime.spool = SpoolProducer.of(
        settings,
        on_sealed=writer.wake.set if writer else None,
        on_commit=runtime.metrics.spool_committed,
    )
    await runtime.spool.start()
    runtime.tasks.append(loop.create_task(_reload_geoip(runtime.geo)))
    if runtime.shared_metrics is not None:
        runtime.tasks.append(loop.create_task(_publish_metrics(runtime, runtime.shared_metrics)))
    if warming is not None:
        await warming


def schedule_reports(keeper: StoreKeeper, settings: Settings) -> None:
    """The email reports due are sent by the process that runs the store's background work
    (this one, or the parent of workers): one process, so a period is never sent twice at once."""
    delivery = ReportDelivery(keeper.store, settings)
    keeper.scheduler.every(settings.reports_check_seconds, delivery.run, name="reports", long=True)


async def _serve_admin(runtime: Runtime) -> None:
    """On the embedded store, which no other process may open, the admin commands of other
    shells are run here (``collector.console.admin``)."""
    if not runtime.settings.is_embedded:
        return
    runtime.admin = AdminServer(admin_socket(runtime.settings.data_dir), _admin_runner(runtime))
    await runtime.admin.start()


def _admin_runner(runtime: Runtime) -> Runner:
    store, settings, keeper = runtime.store, runtime.settings, runtime.keeper
    assert store is not None and keeper is not None, "served where the store is kept"

    def sites_changed() -> None:  # in use at once here, within a second in the workers
        keeper.publish_sites()

    def run(words: list[str], stdin: io.StringIO) -> Answer:
        out, err = io.StringIO(), io.StringIO()
        context = commands.Context(
            settings, out, err, stdin, commands.borrowed_store(store), runtime.writer, sites_changed
        )
        status = arguments.run_in_server(words, context)
        return Answer(status, out.getvalue(), err.getvalue())

    return run


async def _publish_metrics(runtime: Runtime, shared: SharedMetrics) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(SNAPSHOT_SECONDS)
        try:
            await loop.run_in_executor(None, shared.publish, runtime.metrics)
        except Exception:  # the next second tries again
            log.exception("could not share this worker's metrics")


async def _follow_snapshots(runtime: Runtime) -> None:
    """A worker's sites and erased visitors: the store owner's snapshots, taken every second
    when they changed (a site added through the admin socket is served within a second)."""
    data_dir = runtime.settings.data_dir
    while True:
        await asyncio.sleep(SNAPSHOT_POLL_SECONDS)
        try:
            runtime.sites.load_snapshot(data_dir / SITES_SNAPSHOT)
            runtime.erased.load_snapshot(data_dir / ERASED_SNAPSHOT)
        except (OSError, ValueError) as error:
            log.warning("could not reload the sites, keeping the known ones: %s", error)


async def _reload_geoip(locator: GeoLocator) -> None:
    """A GeoIP database renamed over its file (``audience geoip update``) is used within seconds;
    each worker process reloads its own."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(geo.RELOAD_SECONDS)
        try:
            await loop.run_in_executor(None, locator.reload)
        except Exception:  # reload logs what it refuses; this is a bug, tried again next time
            log.exception("could not check the GeoIP databases")


async def _stop(runtime: Runtime) -> None:
    if runtime.admin is not None:
        await runtime.admin.close()
    for task in runtime.tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if runtime.shared_metrics is not None and runtime.role == "http":
        with contextlib.suppress(OSError):  # its last figures stay in the sum
            runtime.shared_metrics.publish(runtime.metrics)
    if runtime.spool is not None:
        await runtime.spool.close()
        runtime.spool = None
    loop = asyncio.get_running_loop()
    if runtime.keeper is not None and runtime.role == "all":  # the owner stops its own
        await loop.run_in_executor(None, runtime.keeper.stop)
    if runtime.forward is not None:
        await runtime.forward.aclose()
    if runtime.store is not None and runtime.role != "owner":  # the owner closes its own
        await loop.run_in_executor(None, runtime.store.close)


def _readiness(runtime: Runtime) -> dict[str, bool]:
    checks: dict[str, bool] = {}
    if runtime.role != "owner":
        checks["spool"] = runtime.spool is not None and runtime.spool.writable()
    if runtime.role == "owner":
        checks["store"] = bool(runtime.store and runtime.store.ping())
    elif runtime.role == "all":
        # The writer's health, not a query: a slow dashboard read must not make the collector
        # look dead to a load balancer (the writer's last insert or turn failed: not ready).
        checks["store"] = bool(
            runtime.store
            and runtime.writer
            and runtime.writer.running
            and runtime.writer.store_healthy
        )
    return checks


def _writer_health(runtime: Runtime) -> dict[str, float | None] | None:
    if runtime.writer is None or runtime.role != "all":
        return None
    return runtime.writer.health(time.time())
