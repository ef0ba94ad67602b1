"""The schema's migrations: schema/NNN_*.sql applied in order, then the retention TTL.

An up-to-date schema is only read (audience.schema_migrations and the events' TTL): no DDL, so a
user without DDL rights can start once ``audience migrate`` ran as one that has them.
"""

from __future__ import annotations

import importlib.resources
import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from collector.ops.progress import progress
from collector.storage import sql as sql_files
from collector.storage.errors import StoreError

if TYPE_CHECKING:
    from collector.storage.store import Store

log = logging.getLogger("audience.store")
SLOW_MIGRATION_SECONDS = 2.0  # a migration lasting this long is shown and timed
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_DISTRIBUTED = re.compile(r"Distributed\('?([^',)]+)")

# Turns a statement of schema/ into the statements to run instead (``collector.storage.cluster``).
Transform = Callable[[str], list[str]]


def schema_files() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every numbered migration, in order."""
    migrations = []
    for entry in importlib.resources.files("schema").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            migrations.append((int(match.group(1)), entry.name, entry.read_text()))
    return sorted(migrations)


def statements(sql: str) -> list[str]:
    """The statements of a schema file, without their comment lines (nor a comment that follows
    the ``;`` of a statement on its line)."""
    pieces = _without_comments(sql).split(";")
    return [statement for statement in map(_without_comments, pieces) if statement]


def _without_comments(sql: str) -> str:
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return "\n".join(lines).strip()


def retention_sql(retention_months: int) -> str:
    """schema/retention.sql for this many months."""
    return sql_files.load("schema", "retention").format(retention_months=int(retention_months))


def migrate(store: Store, retention_months: int, transform: Transform | None = None) -> list[str]:
    """Apply the migrations not applied yet, then the retention TTL if it changed, and learn
    the cluster of the schema (``store.cluster``).

    An up-to-date schema is only read (audience.schema_migrations and the events' TTL): no
    DDL, so a user without DDL rights can start once ``audience migrate`` ran as one that
    has them. ``transform`` (``collector.storage.cluster``) rewrites each statement of schema/.
    """
    done = _migrate(store, retention_months, transform)
    store.cluster = find_cluster(store) or None
    return done


def _migrate(store: Store, retention_months: int, transform: Transform | None) -> list[str]:
    migrations = schema_files()
    applied = _applied_versions(store)
    pending = [migration for migration in migrations[1:] if migration[0] not in applied]
    retention_due = ttl_months(store) != retention_months
    if not pending and not retention_due:
        return []
    cluster = find_cluster(store)
    if cluster and transform is None:
        raise StoreError(
            f"the schema of the ClickHouse cluster {cluster} is not up to date (or its"
            f" retention differs): run `audience migrate --cluster {cluster}`"
        )
    _run_ddl(store, migrations[0][2], transform)  # the database and the record, if missing
    done = []
    # A migration that rewrites data (a TTL materialized, parts rewritten) may take long on
    # a big store: shown once it lasts SLOW_MIGRATION_SECONDS, its time logged at its end.
    retention = f"retention.sql ({retention_months} months)"
    steps = [*pending, (0, retention, retention_sql(retention_months))]  # new tables too
    with progress(
        "migrations", len(steps), unit="migrations", logger=log, delay=SLOW_MIGRATION_SECONDS
    ) as shown:
        for version, name, sql in steps:
            shown.note(f"applying {name}")
            started = time.monotonic()
            _run_ddl(store, sql, transform)
            if version:  # retention.sql is not a numbered migration
                store.command(sql_files.statement("record_migration"), {"v": version, "n": name})
            seconds = time.monotonic() - started
            if seconds >= SLOW_MIGRATION_SECONDS:
                log.info("migration %s took %.1f s", name, seconds)
            done.append(name)
            shown.advance()
    return done


def _run_ddl(store: Store, sql: str, transform: Transform | None) -> None:
    for statement in statements(sql):
        for each in transform(statement) if transform else [statement]:
            store.command(each)


def _applied_versions(store: Store) -> set[int]:
    """The versions audience.schema_migrations records; none before the first migration."""
    if not store.rows(sql_files.statement("migrations_table")):
        return set()
    return {row[0] for row in store.rows(sql_files.statement("applied_migrations"))}


def ttl_months(store: Store) -> int | None:
    """The months of the events' TTL; on a cluster, the TTL of the shards' local table."""
    for _, engine_full in store.rows(sql_files.statement("events_engines")):
        match = re.search(r"TTL .*toIntervalMonth\((\d+)\)", engine_full)
        if match:
            return int(match.group(1))
    return None


def find_cluster(store: Store) -> str | None:
    """The cluster audience.events is distributed over (``audience migrate --cluster``);
    "" on a single-node schema, None before the first migration."""
    engines = {
        str(name): str(engine) for name, engine in store.rows(sql_files.statement("events_engines"))
    }
    if "events" not in engines:
        return None
    match = _DISTRIBUTED.match(engines["events"])
    return match.group(1) if match else ""
