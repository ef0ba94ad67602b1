"""The schema on a ClickHouse cluster, generated from the single-node statements of schema/.

``audience migrate --cluster NAME`` runs every statement of schema/ through
``cluster_statements(NAME, statement)``: schema/ stays the one source, and the cluster form
differs from it only in

- ``ON CLUSTER NAME`` after the object of every DDL statement (DDL runs on every node);
- the engines: a sharded table (the events and their rollups) becomes ``audience.<t>_local``,
  ``Replicated<Engine>`` over the replicas of each shard, behind a ``Distributed`` table named as
  the original ``audience.<t>``, so every query and insert of the product keeps its table names;
  a small table (sites, accounts, the erased visitors...) is ``Replicated<Engine>`` with one
  replica on every node of the cluster;
- the materialized views, which read and write the ``_local`` tables of their own shard (a plain
  view reads the Distributed tables, every shard).

The servers define the macros ``{shard}`` and ``{replica}``, and the cluster NAME in
``remote_servers``. Pure text, no I/O: tests/storage/test_cluster.py parses every statement with
ClickHouse's own parser and turns the cluster form back into the single-node one.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from collector import AudienceError
from collector.storage.migrations import retention_sql, schema_files, statements

DATABASE = "audience"
# The sharded tables, with the sharding key of their Distributed table.
# events: `visitor` is a keyed 64-bit hash already, so all of a visitor's events land on one
# shard (their visits are never split; a query for one visitor may skip the other shards, with
# optimize_skip_unused_shards) and the visitors spread evenly over the shards.
# The rollups: the materialized views fill each shard's rollup from that shard's events, never
# through the Distributed table; only the backfill of 006 and the rebuild of an erased visitor's
# days insert through it. Every read merges the aggregate states of all shards by its key, so a
# row inserted there is right on any shard: rand() spreads them.
SHARDING_KEYS = {
    "events": "visitor",
    "visits": "visitor",  # filled on each shard from its events: a visit stays on one shard
    "traffic_hourly": "rand()",
    "visits_hourly": "rand()",
    "traffic_daily": "rand()",
    "visits_daily": "rand()",
}
# Sharded tables of earlier migrations that a later one drops (010_visits.sql): the migrations
# still make them, in their cluster form, before they go.
DROPPED = frozenset({"visits_hourly", "visits_daily"})
# Keeper paths. A table replicated on every node has one replica per node: its replica name
# joins both macros, unique whether `{replica}` is unique in the cluster or only in its shard.
SHARDED_PATH = "/clickhouse/tables/{shard}/{database}/%s"
SHARDED_REPLICA = "{replica}"
EVERYWHERE_PATH = "/clickhouse/tables/all/{database}/%s"
EVERYWHERE_REPLICA = "{shard}-{replica}"

_CLUSTER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TABLE = rf"{DATABASE}\.(?P<table>\w+)"
_CREATE_DATABASE = re.compile(r"CREATE\s+DATABASE\s+(?:IF\s+NOT\s+EXISTS\s+)?\w+")
_CREATE_TABLE = re.compile(rf"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{_TABLE}")
_CREATE_VIEW = re.compile(rf"CREATE\s+MATERIALIZED\s+VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?{_TABLE}")
_CREATE_PLAIN_VIEW = re.compile(rf"CREATE\s+VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?{_TABLE}")
_ALTER_TABLE = re.compile(rf"ALTER\s+TABLE\s+{_TABLE}")
_DROP = re.compile(rf"(?:DROP|TRUNCATE)\s+(?:TABLE|VIEW)\s+(?:IF\s+EXISTS\s+)?{_TABLE}")
_INSERT = re.compile(r"INSERT\s+INTO\s")
# An engine and its arguments (one level of nested parentheses).
_ENGINE = re.compile(r"\bENGINE\s*=\s*(?P<name>\w+)(?:\((?P<args>(?:[^()]|\([^()]*\))*)\))?")
_VIEW_TARGET = re.compile(rf"\bTO\s+{_TABLE}")
_COLUMN_COMMAND = re.compile(r"(?:ADD|DROP|MODIFY|RENAME|COMMENT)\s+COLUMN\b", re.IGNORECASE)
_SHARDED_NAME = re.compile(rf"\b{DATABASE}\.({'|'.join(SHARDING_KEYS)})\b")


class ClusterError(AudienceError, ValueError):
    """A statement of schema/ has no cluster form here (or the cluster name is not valid)."""


def check_cluster_name(name: str) -> str:
    if not _CLUSTER_NAME.fullmatch(name):
        raise ClusterError(f"--cluster: expected a cluster name of remote_servers, got {name!r}")
    return name


def transformer(cluster: str) -> Callable[[str], list[str]]:
    """``Store.migrate``'s statement transformer for the cluster NAME."""
    check_cluster_name(cluster)
    return lambda statement: cluster_statements(cluster, statement)


def cluster_statements(cluster: str, statement: str) -> list[str]:
    """The statements doing on the cluster what ``statement`` does on one node."""
    if match := _CREATE_DATABASE.match(statement):
        return [_on_cluster(statement, match.end(), cluster)]
    if match := _CREATE_TABLE.match(statement):
        return _create_table(cluster, statement, match)
    if match := _CREATE_VIEW.match(statement):
        return [_create_view(cluster, statement, match)]
    if match := _CREATE_PLAIN_VIEW.match(statement):
        # A view (011's visit_summaries) on every node, reading the Distributed tables.
        return [_on_cluster(statement, match.end(), cluster)]
    if match := _ALTER_TABLE.match(statement):
        return _alter_table(cluster, statement, match)
    if match := _DROP.match(statement):
        return _drop(cluster, statement, match)
    if _INSERT.match(statement):
        # A backfill (006): through the Distributed tables it reads every shard and spreads what
        # it writes; on a new cluster it finds nothing, and costs nothing.
        return [statement]
    raise ClusterError(f"no cluster form for: {statement.splitlines()[0]}")


def script(retention_months: int, cluster: str | None = None) -> str:
    """The whole DDL, for ``audience migrate [--cluster NAME] --print``: every migration, the
    record of its version (as ``audience migrate`` keeps it) and the retention TTL."""
    transform = transformer(cluster) if cluster else lambda statement: [statement]
    target = f"the ClickHouse cluster {cluster}" if cluster else "one ClickHouse server"
    parts = [f"-- The Kalido Audience schema on {target}, generated from schema/."]
    for version, name, sql in schema_files():
        parts.append(f"-- {name}")
        parts.extend(f"{each};" for statement in statements(sql) for each in transform(statement))
        if version > 0:
            parts.append(
                "INSERT INTO audience.schema_migrations (version, name)"  # noqa: S608 (a number
                f" VALUES ({version}, '{name}');"  # and a file name)
            )
    parts.append(f"-- retention.sql ({retention_months} months)")
    retention = statements(retention_sql(retention_months))
    parts.extend(f"{each};" for statement in retention for each in transform(statement))
    return "\n\n".join(parts) + "\n"


def _on_cluster(statement: str, at: int, cluster: str) -> str:
    return f"{statement[:at]} ON CLUSTER {cluster}{statement[at:]}"


def _localize(sql: str) -> str:
    """Every sharded table named in ``sql`` replaced by its shard's local table."""
    return _SHARDED_NAME.sub(r"\g<0>_local", sql)


def _create_table(cluster: str, statement: str, match: re.Match[str]) -> list[str]:
    table = match["table"]
    if table not in SHARDING_KEYS:
        replicated = _replicated(statement, EVERYWHERE_PATH % table, EVERYWHERE_REPLICA)
        return [_on_cluster(replicated, match.end(), cluster)]
    local = _localize(statement)  # CREATE TABLE ... AS audience.<t> copies the local table
    local = _replicated(local, SHARDED_PATH % f"{table}_local", SHARDED_REPLICA)
    distributed = (
        f"{match[0]} ON CLUSTER {cluster} AS {DATABASE}.{table}_local\n"
        f"ENGINE = Distributed('{cluster}', '{DATABASE}', '{table}_local', "
        f"{SHARDING_KEYS[table]})"
    )
    return [_on_cluster(local, match.end() + len("_local"), cluster), distributed]


def _replicated(statement: str, path: str, replica: str) -> str:
    """The statement with its MergeTree-family engine replicated, its arguments kept."""
    engine = _ENGINE.search(statement)
    if engine is None or not engine["name"].endswith("MergeTree"):
        raise ClusterError(f"not a MergeTree-family table: {statement.splitlines()[0]}")
    arguments = [f"'{path}'", f"'{replica}'"]
    if engine["args"]:
        arguments.append(engine["args"])
    replicated = f"ENGINE = Replicated{engine['name']}({', '.join(arguments)})"
    return statement[: engine.start()] + replicated + statement[engine.end() :]


def _create_view(cluster: str, statement: str, match: re.Match[str]) -> str:
    """A materialized view reads and writes the local tables: each shard rolls up its events."""
    target = _VIEW_TARGET.search(statement)
    if target is None or target["table"] not in SHARDING_KEYS:
        raise ClusterError(
            f"materialized view {match['table']} must write TO a sharded table (SHARDING_KEYS)"
        )
    return _on_cluster(_localize(statement), match.end(), cluster)


def _alter_table(cluster: str, statement: str, match: re.Match[str]) -> list[str]:
    """An ALTER of a sharded table changes its local tables; a change of columns, the
    Distributed table too (it must have every column the product reads or inserts)."""
    if match["table"] not in SHARDING_KEYS:
        return [_on_cluster(statement, match.end(), cluster)]
    commands = _top_level_parts(statement[match.end() :])
    columns = [command for command in commands if _COLUMN_COMMAND.match(command)]
    if columns and len(columns) != len(commands):
        raise ClusterError(
            f"ALTER TABLE audience.{match['table']} mixes column and table changes: split it"
        )
    local = f"{match[0]}_local ON CLUSTER {cluster}{statement[match.end() :]}"
    return [local, _on_cluster(statement, match.end(), cluster)] if columns else [local]


def _drop(cluster: str, statement: str, match: re.Match[str]) -> list[str]:
    if match["table"] not in SHARDING_KEYS:
        return [_on_cluster(statement, match.end(), cluster)]
    local = f"{match[0]}_local ON CLUSTER {cluster}{statement[match.end() :]}"
    if statement.upper().startswith("TRUNCATE"):
        return [local]  # the data is in the local tables
    return [_on_cluster(statement, match.end(), cluster), local]


def _top_level_parts(sql: str) -> list[str]:
    """``sql`` split at the commas outside parentheses and string literals."""
    parts, depth, start, quoted, index = [], 0, 0, False, 0
    while index < len(sql):
        char = sql[index]
        if char == "\\" and quoted:
            index += 1  # an escaped character
        elif char == "'":
            quoted = not quoted
        elif not quoted and char in "([":
            depth += 1
        elif not quoted and char in ")]":
            depth -= 1
        elif not quoted and char == "," and depth == 0:
            parts.append(sql[start:index].strip())
            start = index + 1
        index += 1
    parts.append(sql[start:].strip())
    return parts
