"""The migrations on the embedded ClickHouse: the contract's columns, idempotence, retention."""

from __future__ import annotations

import re
import time

import pytest

from collector.settings import Settings
from collector.storage.errors import StoreError
from collector.storage.migrations import retention_sql, schema_files, statements
from collector.storage.rights_store import (
    EVENT_ROLLUPS,
    ROLLUP_CASCADES,
    VISITOR_TABLES,
    delete_events_sql,
)
from collector.storage.rows import COLUMNS, Row, encode_row
from collector.storage.store import Store
from tests.conftest import register

CONTRACT_TYPES = {
    "site": "LowCardinality(String)",
    "ts": "DateTime('UTC')",
    "visitor": "UInt64",
    "visit": "UInt64",
    "visit_number": "UInt32",
    "days_since_last_visit": "UInt16",
    "engaged_ms": "UInt32",
}


def test_migrations_are_numbered_and_applied_once(store: Store) -> None:
    versions = [version for version, _, _ in schema_files()]
    assert versions == sorted(set(versions)) and versions[0] == 0
    first = store.migrate(25)
    numbered = [name for version, name, _ in schema_files() if version > 0]
    assert first == [*numbered, "retention.sql (25 months)"]
    assert first[:2] == ["001_events.sql", "002_sites.sql"]
    assert store.migrate(25) == []


def test_an_up_to_date_schema_is_only_read(settings: Settings) -> None:
    """Once `audience migrate` ran, opening the store runs no DDL: `audience serve` may run as a
    user without DDL rights. Here the connection is read-only (``readonly = 2``), which refuses
    any DDL, as a change of retention shows."""
    register(settings)  # `audience migrate`, by a user who may change the schema
    read_only = f"{settings.clickhouse_url}?ch_readonly=2"
    opened = Store.open(read_only, 25)
    assert opened.sites() == {}
    opened.close()
    with pytest.raises(StoreError, match="readonly"):
        Store.open(read_only, 13)


def test_events_table_has_exactly_the_row_columns(store: Store) -> None:
    store.migrate(25)
    columns = store.query_dicts(
        "SELECT name, type FROM system.columns WHERE database = 'audience' AND table = 'events'"
        " AND default_kind != 'ALIAS' ORDER BY position"
    )
    assert tuple(column["name"] for column in columns) == COLUMNS
    types = {column["name"]: column["type"] for column in columns}
    assert {name: types[name] for name in CONTRACT_TYPES} == CONTRACT_TYPES
    forbidden = ("ip", "addr", "agent", "ua", "cookie", "query")
    assert not [name for name in COLUMNS if any(word in name.split("_") for word in forbidden)]


def test_table_layout_partitions_monthly_and_indexes_visitors(store: Store) -> None:
    store.migrate(25)
    [table] = store.query_dicts(
        "SELECT partition_key, sorting_key, engine_full FROM system.tables"
        " WHERE database = 'audience' AND name = 'events'"
    )
    assert table["partition_key"] == "toYYYYMM(ts)"
    assert "visitor" in table["sorting_key"]
    assert "toStartOfMonth(ts) + toIntervalMonth(25)" in table["engine_full"]
    [index] = store.query_dicts(
        "SELECT expr, type FROM system.data_skipping_indices"
        " WHERE database = 'audience' AND table = 'events'"
    )
    assert (index["expr"], index["type"]) == ("visitor", "bloom_filter")


def test_changing_the_retention_updates_the_ttl(store: Store) -> None:
    store.migrate(25)
    assert store.migrate(13) == ["retention.sql (13 months)"]
    [table] = store.query_dicts(
        "SELECT engine_full FROM system.tables WHERE database = 'audience' AND name = 'events'"
    )
    assert "toIntervalMonth(13)" in table["engine_full"]
    assert store.migrate(13) == []


def row(ts: int, path: str) -> bytes:
    """A pageview of one visitor, a visit of its own."""
    values = Row(
        "example.com", ts, "pageview", path, 1, ts, 1, 0, 0, "", "", "", "", "", "", "desktop",
        "manual",
    )  # fmt: skip
    return encode_row(values)


def test_no_row_outlives_the_retention(store: Store) -> None:
    store.migrate(2)
    now = int(time.time())
    month = 31 * 86_400
    store.insert_events(
        [row(now, "/fresh"), row(now - month, "/last-month"), row(now - 3 * month, "/too-old")],
        "retention-test",
    )
    store.query_dicts("OPTIMIZE TABLE audience.events FINAL")
    paths = {r["path"] for r in store.query_dicts("SELECT path FROM audience.events")}
    assert paths == {"/fresh", "/last-month"}


def test_a_replayed_batch_is_stored_once(store: Store) -> None:
    store.migrate(25)
    batch = [row(int(time.time()), f"/page/{i}") for i in range(100)]
    store.insert_events(batch, "producer-0000000001")
    store.insert_events(batch, "producer-0000000001")  # the writer died before deleting it
    store.insert_events(batch[:10], "producer-0000000002")  # a different batch is kept
    [count] = store.query_dicts("SELECT count() AS n FROM audience.events")
    assert count["n"] == 110


def test_erasure_knows_every_rollup(store: Store) -> None:
    """Erasing a visitor rebuilds the rollup days it counted in, or deletes its rows: a new
    materialized view must be listed in ``EVENT_ROLLUPS`` (fed from the events, rebuilt),
    ``ROLLUP_CASCADES`` (fed from one) or ``VISITOR_TABLES`` (rows holding the visitor)."""
    store.migrate(25)
    views = store.query_dicts(
        "SELECT name, create_table_query FROM system.tables"
        " WHERE database = 'audience' AND engine = 'MaterializedView'"
    )
    fed_from_events = {
        v["name"] for v in views if "FROM audience.events" in v["create_table_query"]
    }
    assert fed_from_events == set(EVENT_ROLLUPS) | set(VISITOR_TABLES)
    targets = {
        re.search(r"\bTO (\S+)", view["create_table_query"]).group(1)  # type: ignore[union-attr]
        for view in views
    }
    cascaded = {table for tables in ROLLUP_CASCADES.values() for table in tables}
    assert targets == set(ROLLUP_CASCADES) | cascaded | set(VISITOR_TABLES.values())
    for view, table in VISITOR_TABLES.items():
        [definition] = [v["create_table_query"] for v in views if v["name"] == view]
        assert f" TO {table} " in definition
        columns = store.query_dicts(f"SELECT name FROM system.columns WHERE table = '{table[9:]}'")
        assert {"name": "visitor"} in columns
    for view, (target, _) in EVENT_ROLLUPS.items():
        [definition] = [v["create_table_query"] for v in views if v["name"] == view]
        assert f" TO {target} " in definition


def test_erasure_deletes_every_table_holding_visitors(store: Store) -> None:
    """Every table with a ``visitor`` column but the list of erased visitors is one an erasure
    deletes the visitor's rows from."""
    store.migrate(25)
    holding = {
        f"audience.{r['table']}"
        for r in store.query_dicts(
            "SELECT table FROM system.columns WHERE database = 'audience' AND name = 'visitor'"
            " AND table NOT IN (SELECT name FROM system.tables WHERE database = 'audience'"
            " AND engine = 'MaterializedView')"
        )
    }
    deleted = {re.search(r"DELETE FROM (\S+)", sql).group(1) for sql in delete_events_sql(None)}  # type: ignore[union-attr]
    assert holding - {"audience.erased_visitors"} == deleted


def test_a_store_of_visit_steps_migrates_to_visits(store: Store) -> None:
    """A store migrated up to 009 holds events with the visit steps, and visits_hourly: 010 turns
    its events into visits (what the old sums said, where they were right) and drops the steps."""
    for version, _, sql in schema_files():
        if version <= 9:
            for statement in statements(sql):
                store.execute(statement)
            if version:
                record = "INSERT INTO audience.schema_migrations (version) VALUES ({v:UInt32})"
                store.execute(record, {"v": version})
    store.execute(statements(retention_sql(25))[0])
    now = int(time.time()) // 3600 * 3600
    old_columns = (
        "site, ts, type, path, visitor, visit, visit_number, days_since_last_visit, engaged_ms,"
        " visit_start, event_number, since_previous, pageview_number, previous_page, city, country,"
        " operator, browser, browser_version, os, device, consent"
    )
    store.execute(
        f"INSERT INTO audience.events ({old_columns}) VALUES"
        " ('a.example', {t0:UInt32}, 'pageview', '/home', 1, 10, 1, 0, 0, {t0:UInt32}, 1, 0, 1, 0,"
        "  'Lyon', 'FR', 'Orange', 'Chrome', '131', 'Windows', 'desktop', 'manual'),"
        " ('a.example', {t1:UInt32}, 'pageview', '/pricing', 1, 10, 1, 0, 0, {t0:UInt32}, 2, 40, 2,"
        "  0, 'Lyon', 'FR', 'Orange', 'Chrome', '131', 'Windows', 'desktop', 'manual'),"
        " ('a.example', {t2:UInt32}, 'engagement', '/pricing', 1, 10, 1, 0, 900, {t0:UInt32}, 3,"
        "  20, 0, 0, 'Lyon', 'FR', 'Orange', 'Chrome', '131', 'Windows', 'desktop', 'manual'),"
        " ('a.example', {t1:UInt32}, 'pageview', '/home', 2, 20, 3, 5, 0, {t1:UInt32}, 1, 0, 1, 0,"
        "  'Paris', 'FR', 'Free', 'Firefox', '133', 'Linux', 'desktop', 'manual')",
        {"t0": now, "t1": now + 40, "t2": now + 60},
    )
    assert store.migrate(25) == [
        "010_visits.sql",
        "011_closed_visits.sql",
        "012_visit_rollup_daily.sql",
        "013_visit_pairs.sql",
        "014_sites_outside_gdpr.sql",
        "015_admin_audit.sql",
        "016_team.sql",
        "017_shared_links.sql",
        "018_goals_funnels.sql",
        "019_annotations.sql",
        "020_email_reports.sql",
        "021_engagement.sql",
        "022_funnel_pageviews.sql",
        "023_funnel_visit_cells.sql",
        "retention.sql (25 months)",
    ]

    found = "SELECT name FROM system.columns WHERE database = 'audience' AND table = 'events'"
    columns = {r["name"] for r in store.query_dicts(found)}
    assert columns == set(COLUMNS) | {"browser_release", "visitor_type"}
    tables = {r["name"] for r in store.query_dicts("SHOW TABLES FROM audience")}
    assert not {"visits_hourly", "visits_daily", "visits_hourly_mv", "visits_daily_mv"} & tables
    visits = store.query_dicts(
        "SELECT visit, any(visitor) AS visitor, toUnixTimestamp(min(start)) AS start,"
        " toUnixTimestamp(max(end)) AS end, sum(pageviews) AS pageviews,"
        " min(entry).2 AS entry, max(exit).2 AS exit,"
        " min(city).2 AS first_city, min(visit_number).2 AS number"
        " FROM audience.visits GROUP BY visit ORDER BY visit"
    )
    assert visits == [
        {"visit": 10, "visitor": 1, "start": now, "end": now + 60, "pageviews": 2,
         "entry": "/home", "exit": "/pricing", "first_city": "Lyon", "number": 1},
        {"visit": 20, "visitor": 2, "start": now + 40, "end": now + 40, "pageviews": 1,
         "entry": "/home", "exit": "/home", "first_city": "Paris", "number": 3},
    ]  # fmt: skip
    # 021: the engaged time of the stored events counts, per visit and per page it showed.
    engaged = store.query_dicts(
        "SELECT visit, sum(engaged_ms) AS engaged_ms, sumMap(pages) AS pages"
        " FROM audience.visits GROUP BY visit ORDER BY visit"
    )
    assert engaged == [
        {"visit": 10, "engaged_ms": 900, "pages": (["/home", "/pricing"], [1, 1], [0, 900])},
        {"visit": 20, "engaged_ms": 0, "pages": (["/home"], [1], [0])},
    ]
