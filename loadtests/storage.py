"""Bytes per stored event, after ClickHouse's compression, in a store filled by ``generate``.

    AUDIENCE_DATA_DIR=./bench python -m loadtests.generate --events 1000000 --days 30
    AUDIENCE_DATA_DIR=./bench python -m loadtests.storage

It merges the parts first (OPTIMIZE … FINAL, as ClickHouse's background merges do in time), then
reads system.parts: the events table alone, the four rollups, and the whole database, each in
compressed bytes on disk per event stored. The sizing table of docs/deployment.md uses them.
"""

from __future__ import annotations

import argparse

from collector.ops import startup
from collector.settings import Settings
from collector.storage.store import Store

TABLES = ("events", "visits", "traffic_hourly", "traffic_daily")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-merge", action="store_true", help="measure the parts as they are")
    arguments = parser.parse_args()
    settings = startup.prepare(Settings.from_environ())
    store = Store.connect(settings.clickhouse_url)
    try:
        if not arguments.no_merge:
            for table in TABLES:
                store.execute(f"OPTIMIZE TABLE audience.{table} FINAL")
        [events] = store.query_dicts("SELECT count() AS n FROM audience.events")
        parts = store.query_dicts(
            "SELECT table, sum(rows) AS rows, sum(bytes_on_disk) AS disk,"
            " sum(data_uncompressed_bytes) AS raw, count() AS parts"
            " FROM system.parts WHERE database = 'audience' AND active"
            " GROUP BY table ORDER BY disk DESC"
        )
    finally:
        store.close()
    stored = events["n"]
    if not stored:
        raise SystemExit("no events stored: run loadtests.generate first")
    print(f"{stored:,} events stored")
    print(f"{'table':<22}{'rows':>12}{'on disk':>14}{'bytes/event':>13}{'ratio':>8}")
    total = 0
    for part in parts:
        total += part["disk"]
        ratio = part["raw"] / part["disk"] if part["disk"] else 0.0
        print(
            f"{part['table']:<22}{part['rows']:>12,}{part['disk']:>14,}"
            f"{part['disk'] / stored:>13.1f}{ratio:>8.1f}"
        )
    print(f"{'all of audience':<22}{'':>12}{total:>14,}{total / stored:>13.1f}")


if __name__ == "__main__":
    main()
