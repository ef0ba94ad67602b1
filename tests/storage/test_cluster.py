"""The cluster schema (collector.storage.cluster): generated from schema/, parsed by ClickHouse,
run by it.

schema/ is the one source: turning each cluster statement back (no ON CLUSTER, plain engines, no
Distributed table, no ``_local`` suffix) gives exactly the single-node statement.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest

from collector.storage import cluster, retention
from collector.storage.cluster import DROPPED, SHARDING_KEYS, ClusterError, cluster_statements
from collector.storage.errors import StoreError
from collector.storage.migrations import retention_sql, schema_files, statements
from collector.storage.rights_store import (
    EVENT_ROLLUPS,
    ROLLUP_CASCADES,
    RightsStore,
    delete_events_sql,
    rebuild_sql,
)
from collector.storage.rows import COLUMNS, Row, encode_row
from collector.storage.store import Store
from collector.web.visitor import StateSigner, new_visitor
from tests.conftest import GeoFiles, environment
from tests.console.test_cli import audience

NAME = "audience"
ON_CLUSTER = re.compile(rf" ON CLUSTER {NAME}\b")
REPLICATED = re.compile(
    r"Replicated(?P<engine>\w*MergeTree)\('(?P<path>[^']*)', '(?P<replica>[^']*)'"
)
DISTRIBUTED = re.compile(
    rf"Distributed\('{NAME}', 'audience', '(?P<local>\w+)_local', (?P<key>.+)\)$"
)
DDL = ("CREATE ", "ALTER ", "DROP ", "TRUNCATE ")


def single_node_statements() -> list[str]:
    """Every statement of schema/: the migrations, then the retention TTL."""
    sources = [sql for _, _, sql in schema_files()] + [retention_sql(25)]
    return [statement for sql in sources for statement in statements(sql)]


def plain_engines(statement: str) -> str:
    """The statement with each Replicated engine replaced by its engine and its own arguments."""
    match = REPLICATED.search(statement)
    if match is None:
        return statement
    rest = statement[match.end() :]
    arguments = rest.removeprefix(", ") if rest.startswith(", ") else rest.removeprefix(")")
    engine = f"{match['engine']}(" if rest.startswith(", ") else match["engine"]
    return statement[: match.start()] + engine + arguments


def back_to_single_node(statements_: list[str], distributed: set[str]) -> list[str]:
    """The cluster form undone: Distributed tables' DDL dropped, ON CLUSTER, Replicated engines
    and ``_local`` suffixes removed."""
    kept = [
        statement
        for statement in statements_
        if not (statement.startswith(DDL) and _names_table(statement, distributed))
    ]
    return [ON_CLUSTER.sub("", plain_engines(s)).replace("_local", "") for s in kept]


def _names_table(statement: str, tables: set[str]) -> bool:
    head = re.match(
        r"(?:CREATE|ALTER|DROP|TRUNCATE) \w+(?: IF (?:NOT )?EXISTS)? audience\.(\w+)",
        statement,
    )
    return head is not None and head[1] in tables


def distributed_tables() -> set[str]:
    created = [
        statement
        for single in single_node_statements()
        for statement in cluster_statements(NAME, single)
        if "ENGINE = Distributed(" in statement
    ]
    return {DISTRIBUTED.search(statement)["local"] for statement in created}  # type: ignore[index]


def test_the_cluster_form_differs_only_in_engines_macros_and_on_cluster() -> None:
    distributed = distributed_tables()
    assert distributed == set(SHARDING_KEYS)
    for single in single_node_statements():
        clustered = cluster_statements(NAME, single)
        assert back_to_single_node(clustered, distributed) == [single]
        for statement in clustered:
            if statement.startswith(DDL):
                assert ON_CLUSTER.search(statement.split("\n")[0]), statement
            for engine in REPLICATED.finditer(statement):
                table = engine["path"].rsplit("/", 1)[1]
                if table.removesuffix("_local") in SHARDING_KEYS:  # one copy per shard
                    assert engine["path"] == f"/clickhouse/tables/{{shard}}/{{database}}/{table}"
                    assert engine["replica"] == "{replica}"
                else:  # one copy on every node
                    assert engine["path"] == f"/clickhouse/tables/all/{{database}}/{table}"
                    assert engine["replica"] == "{shard}-{replica}"


def test_sharded_tables_are_local_tables_behind_distributed_ones() -> None:
    by_table = {}
    for single in single_node_statements():
        for statement in cluster_statements(NAME, single):
            found = DISTRIBUTED.search(statement)
            if found:
                by_table[found["local"]] = (statement, found["key"])
    assert {table: key for table, (_, key) in by_table.items()} == SHARDING_KEYS
    assert SHARDING_KEYS["events"] == "visitor"
    statement, _ = by_table["events"]
    assert statement.startswith(
        "CREATE TABLE IF NOT EXISTS audience.events ON CLUSTER audience AS audience.events_local\n"
    )
    views = [s for s in single_node_statements() if s.startswith("CREATE MATERIALIZED VIEW")]
    # The history: 010 drops the visit-step views, 013 and 021 make visits again.
    assert len(views) == 7
    for view in views:  # each shard rolls up its own events, into its own rollups
        [clustered] = cluster_statements(NAME, view)
        names = set(re.findall(r"\baudience\.(\w+)", clustered))
        assert {name for name in names if not name.endswith("_mv")} <= {
            f"{table}_local" for table in SHARDING_KEYS
        }


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("SELECT 1", "no cluster form"),
        (
            "CREATE MATERIALIZED VIEW audience.v TO audience.sites AS SELECT 1 FROM audience.t",
            "must write TO a sharded table",
        ),
        (
            "ALTER TABLE audience.events ADD COLUMN x UInt8, MODIFY SETTING index_granularity = 1",
            "mixes column and table changes",
        ),
        ("CREATE TABLE audience.t (x UInt8) ENGINE = Memory", "not a MergeTree-family table"),
    ],
)
def test_statements_without_a_cluster_form_are_refused(statement: str, message: str) -> None:
    with pytest.raises(ClusterError, match=message):
        cluster_statements(NAME, statement)


def test_other_ddl_gets_on_cluster_too() -> None:
    assert cluster_statements(NAME, "DROP TABLE IF EXISTS audience.events") == [
        "DROP TABLE IF EXISTS audience.events ON CLUSTER audience",
        "DROP TABLE IF EXISTS audience.events_local ON CLUSTER audience",
    ]
    assert cluster_statements(NAME, "TRUNCATE TABLE audience.sites") == [
        "TRUNCATE TABLE audience.sites ON CLUSTER audience"
    ]
    with pytest.raises(ClusterError, match="expected a cluster name"):
        cluster.transformer("my cluster; DROP")


def test_every_cluster_statement_parses(store: Store) -> None:
    """ClickHouse's own parser (formatQuery) reads each statement, ON CLUSTER and macros too."""
    count = 0
    for single in single_node_statements():
        for statement in cluster_statements(NAME, single):
            [row] = store.query_dicts("SELECT formatQuery({q:String}) AS sql", {"q": statement})
            if statement.startswith(DDL):
                assert f"ON CLUSTER {NAME}" in row["sql"], statement
            count += 1
    assert count > len(single_node_statements())
    with pytest.raises(StoreError, match="Syntax error"):
        store.query_dicts("SELECT formatQuery({q:String})", {"q": "CREATE TABLE ON CLUSTER x"})


def test_the_printed_single_node_schema_is_what_migrate_applies(store: Store) -> None:
    """The embedded ClickHouse takes `audience migrate --print` as it stands, and migrate finds
    nothing left to do after it: versions recorded, retention set."""
    for statement in statements(cluster.script(25)):
        store.execute(statement)
    assert store.migrate(25) == []
    assert store.find_cluster() == "" and store.cluster is None
    columns = store.query_dicts(
        "SELECT name FROM system.columns WHERE database = 'audience' AND table = 'events'"
        " AND default_kind != 'ALIAS' ORDER BY position"
    )
    assert tuple(column["name"] for column in columns) == COLUMNS


def event(visitor: int, number: int, now: int) -> bytes:
    """An event of ``visitor`` differing from its other events in every other column."""
    at = now - number * 3_700
    row = Row(
        site=f"site{number}.example",
        ts=at,
        type="pageview" if number % 2 else "engagement",
        path=f"/page/{number}",
        visitor=visitor,
        visit=visitor ^ number,
        visit_number=number + 1,
        days_since_last_visit=number,
        engaged_ms=number * 10,
        city=f"City{number}",
        country=("FR", "BE", "DE")[number % 3],
        operator=f"Operator{number}",
        browser=("Chrome", "Firefox")[number % 2],
        browser_version=str(100 + number),
        os=("Windows", "macOS")[number % 2],
        device=("desktop", "mobile")[number % 2],
        consent="manual",
    )
    return encode_row(row)


def test_the_sharding_key_keeps_each_visitor_on_one_shard(store: Store) -> None:
    """The events' Distributed table sends a row to shard ``key % 2`` on two shards of equal
    weight: evaluated here over real visitor hashes, each visitor's rows share one shard, and
    the visitors spread over both."""
    store.migrate(25)
    [created] = [
        statement
        for statement in cluster_statements(NAME, statements(schema_files()[1][2])[0])
        if "Distributed" in statement
    ]
    key = DISTRIBUTED.search(created)["key"]  # type: ignore[index]
    signer = StateSigner(b"a sharding test secret that is long enough")
    now = int(time.time())
    visitors = [signer.visitor_hash(new_visitor(now)) for _ in range(200)]
    store.insert_events(
        [event(visitor, number, now) for visitor in visitors for number in range(6)], "sharding"
    )
    shards_per_visitor = store.query_dicts(
        f"SELECT visitor, uniqExact(({key}) % 2) AS shards, count() AS events"
        " FROM audience.events GROUP BY visitor"
    )
    assert len(shards_per_visitor) == 200
    assert {(row["shards"], row["events"]) for row in shards_per_visitor} == {(1, 6)}
    visitors_per_shard = store.query_dicts(
        f"SELECT ({key}) % 2 AS shard, uniqExact(visitor) AS visitors"
        " FROM audience.events GROUP BY shard ORDER BY shard"
    )
    assert [row["shard"] for row in visitors_per_shard] == [0, 1]
    assert all(60 <= row["visitors"] <= 140 for row in visitors_per_shard), visitors_per_shard


ONE_SHARD_CONFIG = """<clickhouse>
    <tcp_port>9000</tcp_port>
    <remote_servers>
        <audience>
            <shard><replica><host>localhost</host><port>9000</port></replica></shard>
        </audience>
    </remote_servers>
</clickhouse>
"""


def test_the_cluster_schema_runs_on_clickhouse(tmp_path: Path) -> None:
    """Distributed tables, their local tables and the views over them, as ClickHouse runs them:
    chDB with a cluster of one local shard in its config (a child process: the config holds for
    the process's engine). What it cannot run: ON CLUSTER (no DDL queue without a server) and the
    Replicated engines (their tables stay read-only without a Keeper), so those are the plain
    engines of schema/ here; formatQuery checks them above, a real cluster runs them."""
    config = tmp_path / "config.xml"
    config.write_text(ONE_SHARD_CONFIG)
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from tests.storage.test_cluster import one_shard;"
            " one_shard(*sys.argv[1:])",
            str(tmp_path / "clickhouse"),
            str(config),
        ],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    seen = json.loads(child.stdout.splitlines()[-1])
    assert seen["applied"][-1] == "retention.sql (25 months)"
    assert seen["cluster"] == NAME
    assert seen["again"] == []  # up to date: the retention is read from events_local
    assert "run `audience migrate --cluster audience`" in seen["refused"]
    assert seen["events"] == seen["events_local"] == 10  # the replayed batch stored once
    assert seen["rollup"] == {"pageviews": 5, "visitors": 3}  # the views read events_local
    assert seen["daily_pageviews"] == 5
    engines = seen["engines"]
    assert {engines[table] for table in SHARDING_KEYS if table not in DROPPED} == {"Distributed"}
    assert not DROPPED & set(engines)
    assert engines["events_local"] == "MergeTree"
    assert engines["traffic_hourly_mv"] == "MaterializedView"


def one_shard(path: str, config: str) -> None:
    """In the child process of the test above: prints what it saw, as JSON."""
    client = clickhouse_connect.get_client(
        interface="chdb", path=path, chdb_options={"config-file": config}
    )
    store = Store(client)

    def on_one_shard(statement: str) -> list[str]:
        clustered = cluster_statements(NAME, statement)
        return [ON_CLUSTER.sub("", plain_engines(each)) for each in clustered]

    seen: dict[str, object] = {"applied": store.migrate(25, on_one_shard)}
    seen["cluster"] = store.cluster  # learnt by migrate
    seen["again"] = store.migrate(25)
    try:
        store.migrate(13)
    except StoreError as error:
        seen["refused"] = str(error)
    now = int(time.time())
    batch = [event(100 + number % 3, number, now) for number in range(10)]
    store.insert_events(batch, "one-shard-1")
    store.insert_events(batch, "one-shard-1")  # a replay, through the Distributed table
    for table in ("events", "events_local"):
        seen[table] = store.rows(f"SELECT count() FROM audience.{table}")[0][0]
    [rollup] = store.query_dicts(
        "SELECT sum(pageviews) AS pageviews, uniqCombinedMerge(15)(visitors) AS visitors"
        " FROM audience.traffic_hourly WHERE dimension = ''"
    )
    seen["rollup"] = rollup
    seen["daily_pageviews"] = store.rows(
        "SELECT sum(pageviews) FROM audience.traffic_daily WHERE dimension = ''"
    )[0][0]
    seen["engines"] = dict(
        store.rows("SELECT name, engine FROM system.tables WHERE database = 'audience'")
    )
    store.close()
    print(json.dumps(seen))


def test_migrate_prints_a_stable_schema(tmp_path: Path, geo_files: GeoFiles) -> None:
    outputs = []
    for run in ("one", "two"):
        env = environment(tmp_path / run, geo_files, AUDIENCE_RETENTION_MONTHS="13")
        result = audience(env, "migrate", "--cluster", NAME, "--print")
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    printed = outputs[0]
    assert outputs[1] == printed == cluster.script(13, NAME)
    for local in (str(tmp_path), socket.gethostname(), os.getcwd(), str(Path.home())):
        assert local not in printed
    assert "INTERVAL 13 MONTH" in printed
    assert "{shard}" in printed and "{replica}" in printed  # macros, left to each server

    single = audience(environment(tmp_path / "one", geo_files), "migrate", "--print")
    assert single.returncode == 0, single.stderr
    assert single.stdout == cluster.script(25)
    assert not re.search(r"ON CLUSTER|Replicated|Distributed|_local\b", single.stdout)


def test_migrate_cluster_needs_a_server(tmp_path: Path, geo_files: GeoFiles) -> None:
    env = environment(tmp_path / "data", geo_files)
    embedded = audience(env, "migrate", "--cluster", NAME)
    assert embedded.returncode == 2
    assert "AUDIENCE_CLICKHOUSE_URL must name a server of the cluster" in embedded.stderr
    bad = audience(env, "migrate", "--cluster", "two words", "--print")
    assert bad.returncode == 2 and "expected a cluster name" in bad.stderr


def parses(store: Store, statement: str) -> str:
    [row] = store.query_dicts("SELECT formatQuery({q:String}) AS sql", {"q": statement})
    return str(row["sql"])


def cluster_view_select(view: str) -> str:
    """The SELECT of a materialized view of the cluster schema: it reads the shard's events."""
    [single] = [s for s in single_node_statements() if f"VIEW IF NOT EXISTS audience.{view} " in s]
    [clustered] = cluster_statements(NAME, single)
    return clustered[clustered.index("SELECT") :]


def test_erasure_statements_on_a_cluster(store: Store) -> None:
    """The deletes run ON CLUSTER on the local tables of the sharded ones, on the replicated
    table itself for the closed visits and the funnels' rows (replicated on every node); the
    rebuild reads every shard's events and inserts through the Distributed rollup; on one node
    the statements name the tables."""
    assert delete_events_sql(NAME) == [
        "DELETE FROM audience.events_local ON CLUSTER audience WHERE visitor = {v:UInt64}",
        "DELETE FROM audience.visits_local ON CLUSTER audience WHERE visitor = {v:UInt64}",
        "DELETE FROM audience.closed_visits WHERE visitor = {v:UInt64}",
        "DELETE FROM audience.funnel_pageviews WHERE visitor = {v:UInt64}",
    ]
    assert delete_events_sql(None) == [
        "DELETE FROM audience.events WHERE visitor = {v:UInt64}",
        "DELETE FROM audience.visits WHERE visitor = {v:UInt64}",
        "DELETE FROM audience.closed_visits WHERE visitor = {v:UInt64}",
        "DELETE FROM audience.funnel_pageviews WHERE visitor = {v:UInt64}",
    ]
    for view, (target, _) in EVENT_ROLLUPS.items():
        select = cluster_view_select(view)
        assert "audience.events_local" in select
        *deletes, insert = rebuild_sql(target, "a, b", select, NAME)
        tables = [target, *ROLLUP_CASCADES[target]]
        assert [d.split(" WHERE ")[0] for d in deletes] == [
            f"DELETE FROM {table}_local ON CLUSTER audience" for table in tables
        ]
        assert insert.startswith(f"INSERT INTO {target} (a, b) SELECT a, b FROM (SELECT")
        assert "_local" not in insert and "FROM audience.events" in insert
        for statement in (*deletes, insert):
            parses(store, statement)
        *single, _ = rebuild_sql(target, "a, b", select, None)
        assert [d.split(" WHERE ")[0] for d in single] == [f"DELETE FROM {t}" for t in tables]


def test_erase_runs_the_cluster_statements_of_its_store(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that learnt its cluster erases with them (recorded here: chDB has no DDL queue)."""
    store.migrate(25)
    now = int(time.time())
    store.insert_events([event(7, number, now) for number in range(3)], "erase-on-cluster")
    store.cluster = NAME
    executed: list[tuple[str, dict[str, Any] | None]] = []
    monkeypatch.setattr(
        store, "execute", lambda sql, parameters=None: executed.append((sql, parameters))
    )
    assert RightsStore(store).erase(7) == 3
    heads = [sql.split(" WHERE ")[0].split(" (")[0] for sql, _ in executed]
    assert heads[0] == "INSERT INTO audience.visit_rollup_stale"  # the visit rollup hours marked
    assert heads[1] == "DELETE FROM audience.events_local ON CLUSTER audience"
    assert heads[2] == "DELETE FROM audience.visits_local ON CLUSTER audience"
    assert heads[3] == "DELETE FROM audience.closed_visits"
    assert heads[4] == "DELETE FROM audience.funnel_pageviews"
    for target in ("audience.traffic_hourly",):
        daily = target.replace("hourly", "daily")
        at = heads.index(f"DELETE FROM {target}_local ON CLUSTER audience")
        assert heads[at + 1 : at + 3] == [
            f"DELETE FROM {daily}_local ON CLUSTER audience",
            f"INSERT INTO {target}",
        ]
    # the mark, the events, visits, closed visits and funnel rows deletes, then 3 sites (one an
    # event each), 1 view: 2 deletes, 1 insert
    assert len(executed) == 1 + 4 + 3 * 1 * 3
    for sql, _ in executed:
        parses(store, sql)


class EveryNodeIsThisOne:
    """The store's client as if every node were this one: reads of all replicas' parts read
    this node's; ALTERs are recorded, not run (no DDL queue here)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.queries: list[str] = []
        self.commands: list[tuple[str, dict[str, Any]]] = []

    def query(self, sql: str, parameters: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        self.queries.append(sql)
        here = sql.replace(f"clusterAllReplicas('{NAME}', system.parts)", "system.parts")
        return self.client.query(here, parameters=parameters, **kwargs)

    def command(self, sql: str, parameters: dict[str, Any], **kwargs: Any) -> None:
        self.commands.append((sql, parameters))


def test_retention_on_a_cluster_reads_every_replica_and_alters_on_cluster(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.migrate(25)
    store.execute("SYSTEM STOP TTL MERGES audience.events")
    now = datetime.now(UTC)
    old = datetime(now.year - 3, now.month, 1, tzinfo=UTC)
    store.insert_events([event(8, 0, int(old.timestamp())), event(9, 0, int(now.timestamp()))], "r")
    store.execute("DELETE FROM audience.events WHERE visitor = 9")
    client = EveryNodeIsThisOne(store._client)
    monkeypatch.setattr(store, "_client", client)
    store.cluster = NAME
    report = retention.run(store, 25, now=now)
    parts = [
        sql for sql in client.queries if "FROM clusterAllReplicas('audience', system.parts)" in sql
    ]
    assert len(parts) == 2 and not [sql for sql in client.queries if "FROM system.parts" in sql]
    old_month = f"{old.year}{old.month:02d}"
    assert report.dropped["audience.events"] == (old_month,)
    assert (
        "ALTER TABLE audience.{t:Identifier} ON CLUSTER audience DROP PARTITION ID {p:String}",
        {"t": "events", "p": old_month},
    ) in client.commands
    masks = [p for sql, p in client.commands if "ON CLUSTER audience APPLY DELETED MASK" in sql]
    assert {"t": "events", "p": f"{now.year}{now.month:02d}"} in masks
    monkeypatch.undo()
    for sql in [*client.queries, *(sql for sql, _ in client.commands)]:
        parses(store, sql)
