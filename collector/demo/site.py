"""``audience serve --demo``: a demo site, made-up GeoIP databases, traffic through the pipeline.

The demo visitors' beacons take the same road as real ones: the pipeline (consent, bots, GeoIP,
User-Agent, visitor state), the durable spool and the writer. Thirty days of history are played
first, with their own timestamps, then visitors keep arriving live.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import replace

import orjson

from collector.demo.geodb import write_city_db, write_isp_db
from collector.demo.traffic import PlannedEvent, VisitorModel, networks
from collector.ingest.geo import GeoLocator
from collector.ingest.pipeline import Accepted, Incoming, Pipeline
from collector.ops.metrics import Metrics
from collector.settings import Settings
from collector.storage.sites import Site, SiteRegistry
from collector.storage.spool import SpoolProducer
from collector.storage.store import Store
from collector.web.ratelimit import RateLimiter
from collector.web.visitor import StateSigner
from dashboards.accounts import Accounts

log = logging.getLogger("audience.demo")

DEMO_SITE = "demo.example"
DEMO_USER = "demo@example.com"
HISTORY_DAYS = 30
VISITORS = 3000
CONCURRENCY = 512


class Demo:
    """``audience serve --demo``: registers the demo site in the store the server opened, and
    plays its traffic while the server runs (``collector.serve.Companion``)."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.settings: Settings | None = None

    def prepare(self, settings: Settings, store: Store) -> Settings:
        """Register the demo site and, when no GeoIP database is configured, write made-up ones:
        the settings the server (and each of its workers) then runs with."""
        settings = with_demo_geoip(settings)
        password = secrets.token_urlsafe(12)
        if DEMO_SITE not in store.sites():
            store.save_site(Site(DEMO_SITE, timezone="Europe/Paris"))
        Accounts(store, settings.secret_key).add_user(DEMO_USER, password, "admin")
        log.info("demo site %s registered", DEMO_SITE)
        log.warning(
            "dashboards: sign in at /login as %s with the password %s (new at each demo start)",
            DEMO_USER,
            password,
        )
        self.settings = settings
        return settings

    def start(self) -> None:
        """Play history, then live visits, on a thread with its own event loop and spool."""
        self._thread = threading.Thread(target=self._run, name="audience-demo", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def _run(self) -> None:
        asyncio.run(self._play())

    async def _play(self) -> None:
        settings = self.settings
        assert settings is not None, "prepared before it starts"
        pipeline = unlimited_pipeline(settings, Site(DEMO_SITE))
        spool = SpoolProducer.of(settings)
        await spool.start()
        player = Player(pipeline, spool, VisitorModel(VISITORS), DEMO_SITE)
        try:
            now = int(time.time())
            played = await player.play(player.model.plan(now - HISTORY_DAYS * 86_400, now))
            log.info("demo history played: %d events", played)
            while not self._stop.is_set():
                start = int(time.time())
                for event in player.model.plan(start, start + 60):
                    while event.ts > time.time() and not self._stop.is_set():
                        await asyncio.sleep(min(1.0, event.ts - time.time()))
                    if self._stop.is_set():
                        break
                    await player.play([event])
        finally:
            await spool.close()


def with_demo_geoip(settings: Settings) -> Settings:
    """When no GeoIP database is configured, made-up ones of the demo's networks, written under
    the data directory, in the settings."""
    if settings.geoip_city is not None or settings.geoip_operator is not None:
        return settings
    folder = settings.data_dir / "demo-geoip"
    folder.mkdir(parents=True, exist_ok=True)
    plan = networks()
    city = write_city_db(folder / "city.mmdb", {n: (c, k) for n, (c, k, _) in plan.items()})
    isp = write_isp_db(folder / "isp.mmdb", {n: op for n, (_, _, op) in plan.items()})
    return replace(settings, geoip_city=city, geoip_operator=isp)


def unlimited_pipeline(settings: Settings, site: Site) -> Pipeline:
    """The real pipeline for one site, without a rate limit: synthetic visitors share addresses."""
    return Pipeline(
        sites=SiteRegistry({site.domain: site}),
        geo=GeoLocator(settings.geoip_city, settings.geoip_operator),
        signer=StateSigner(settings.secret_key),
        limiter=RateLimiter(0, 1),
        metrics=Metrics(),
    )


class Player:
    """Plays planned events through the pipeline into the spool, keeping each visitor's state."""

    def __init__(
        self, pipeline: Pipeline, spool: SpoolProducer, model: VisitorModel, site: str
    ) -> None:
        self.pipeline = pipeline
        self.spool = spool
        self.model = model
        self.site = site
        self.tokens: dict[int, str] = {}

    async def play(self, events: Iterable[PlannedEvent]) -> int:
        played, pending = 0, []
        for event in events:
            outcome = self.pipeline.run(self._incoming(event))
            if isinstance(outcome, Accepted):
                self.tokens[event.visitor] = outcome.token
                pending.append(self.spool.append(outcome.payload))
                played += 1
            if len(pending) >= CONCURRENCY:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
        return played

    def _incoming(self, event: PlannedEvent) -> Incoming:
        persona = self.model.personas[event.visitor]
        beacon = {
            "site": self.site,
            "type": event.type,
            "url": f"https://{self.site}{event.path}",
            "consent": persona.consent,
            "engaged_ms": event.engaged_ms,
        }
        return Incoming(
            body=orjson.dumps(beacon),
            client_ip=persona.ip,
            user_agent=persona.user_agent,
            origin=f"https://{self.site}",
            cookie_state=self.tokens.get(event.visitor),
            global_privacy_control=False,
            now=event.ts,
        )
