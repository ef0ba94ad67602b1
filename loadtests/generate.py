"""Fill a store with N realistic events through the real pipeline, spool and writer.

    python -m loadtests.generate --events 10000000 --days 30

Visitors of ``collector.demo.traffic`` (returning ones, visits of several pages, cities, operators,
devices) are played by producer processes through the pipeline into the durable spool; this
process runs the writer that inserts the sealed segments into ClickHouse, as ``serve`` does.
Settings come from the AUDIENCE_* environment (the store is AUDIENCE_CLICKHOUSE_URL, by default
the embedded one under AUDIENCE_DATA_DIR), which must not be in use by a running collector.
The events stored so far show as a bar on a terminal, else as a log line every few seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import threading
import time

from collector.demo.site import Player, unlimited_pipeline, with_demo_geoip
from collector.demo.traffic import VisitorModel
from collector.ingest.pipeline import Pipeline
from collector.ops import startup
from collector.ops.metrics import Metrics
from collector.ops.progress import progress
from collector.settings import Settings
from collector.storage.sites import Site
from collector.storage.spool import SpoolProducer
from collector.storage.spool_consumer import SpoolConsumer
from collector.storage.store import Store
from collector.storage.writer import Writer

SITE = "bench.example"
EVENTS_PER_VISITOR_MONTH = 24  # what the traffic model makes, measured on the demo
POLL_SECONDS = 0.5  # how often the writer's count of stored rows is read
log = logging.getLogger("audience.generate")


def prepare(settings: Settings) -> Settings:
    """Made-up GeoIP databases (unless configured) and the site, in a migrated store."""
    return with_demo_geoip(settings)


def produce(settings: Settings, share: int, visitors: int, days: int, target: int) -> int:
    """One producer: ``visitors`` visitors (seeded by ``share``) until ``target`` events."""
    pipeline = unlimited_pipeline(settings, Site(SITE, timezone="Europe/Paris"))
    return asyncio.run(_produce(settings, pipeline, share, visitors, days, target))


async def _produce(
    settings: Settings, pipeline: Pipeline, share: int, visitors: int, days: int, target: int
) -> int:
    spool = SpoolProducer.of(settings)
    await spool.start()
    player = Player(pipeline, spool, VisitorModel(visitors, seed=1000 + share), SITE)
    played, end = 0, int(time.time())
    try:
        for day in range(days, 0, -1):
            start = end - day * 86_400
            played += await player.play(player.model.plan(start, start + 86_400))
            if played >= target:
                break
    finally:
        await spool.close()
    return played


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--processes", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings = prepare(startup.prepare(Settings.from_environ()))  # folders and secret made
    store = Store.open(settings.clickhouse_url, settings.retention_months)
    store.save_site(Site(SITE, timezone="Europe/Paris"))
    metrics = Metrics()
    writer = Writer(SpoolConsumer(settings.spool_dir), store, metrics)
    writer.start()
    visitors = arguments.events * 30 // (EVENTS_PER_VISITOR_MONTH * arguments.days)
    share = arguments.events // arguments.processes
    began = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    # What the writer stored (its metrics) is the progress: the producers' events count once
    # they are in the store. The total is the target, then what the producers made.
    with progress("events stored", arguments.events, logger=log) as shown:
        with context.Pool(arguments.processes) as pool:
            jobs = [
                (settings, index, visitors // arguments.processes, arguments.days, share)
                for index in range(arguments.processes)
            ]
            playing = pool.starmap_async(produce, jobs)
            while not playing.ready():
                playing.wait(POLL_SECONDS)
                shown.advance(metrics.stored_rows - shown.done)
            played = sum(playing.get())
        produced = time.perf_counter() - began
        shown.set_total(played)
        stopping = threading.Thread(target=writer.stop, kwargs={"timeout": 600})
        stopping.start()  # the last drain, followed here
        while stopping.is_alive():
            stopping.join(POLL_SECONDS)
            shown.advance(metrics.stored_rows - shown.done)
    stored = store.query_dicts(
        "SELECT count() AS n FROM audience.events WHERE site = {s:String}", {"s": SITE}
    )[0]["n"]
    store.close()
    elapsed = time.perf_counter() - began
    print(
        f"{played:,} events played by {arguments.processes} producers in {produced:.0f} s; "
        f"{stored:,} stored for {SITE} after {elapsed:.0f} s "
        f"({played / elapsed:,.0f} events/s through pipeline, spool and writer)"
    )


if __name__ == "__main__":
    main()
