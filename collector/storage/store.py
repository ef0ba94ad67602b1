"""The ClickHouse store: connect, migrate, the one insert of events, and the site registry.

The same code runs on the embedded engine (``chdb:///path``) and on a server (``http(s)://``).
The embedded engine allows one open store per process and the driver is not made for concurrent
use, so every call goes through one lock.
"""

from __future__ import annotations

import fcntl
import importlib.resources
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from collector.ops.progress import progress
from collector.storage.rows import COLUMNS, ROWS_FORMAT
from collector.storage.sites import Site

log = logging.getLogger("audience.store")
EVENTS_TABLE = "audience.events"
SLOW_MIGRATION_SECONDS = 2.0  # a migration lasting this long is shown and timed
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_DISTRIBUTED = re.compile(r"Distributed\('?([^',)]+)")
_CLUSTER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MONTH_PARTITION = re.compile(r"toYYYYMM\((\w+)\)")
_RETENTION_TTL = re.compile(
    r" TTL toStartOfMonth\((\w+)\) \+ toIntervalMonth\((\d+)\)(?: SETTINGS |$)"
)


class StoreError(RuntimeError):
    """The store cannot be reached or refused a statement; the message says which."""


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
    sql = importlib.resources.files("schema").joinpath("retention.sql").read_text()
    return sql.format(retention_months=int(retention_months))


def on_cluster(cluster: str | None) -> str:
    """`` ON CLUSTER NAME`` after the table of a statement changing data: on a cluster schema it
    runs on every node (each changes its own shard's tables); "" on one node."""
    if not cluster:
        return ""
    if not _CLUSTER_NAME.fullmatch(cluster):
        raise StoreError(f"not a cluster name: {cluster!r}")
    return f" ON CLUSTER {cluster}"


def _parts(cluster: str | None) -> str:
    """The parts of the store's tables: on a cluster, those of every replica of every shard."""
    if on_cluster(cluster):
        return f"clusterAllReplicas('{cluster}', system.parts)"
    return "system.parts"


# Turns a statement of schema/ into the statements to run instead (``collector.storage.cluster``).
Transform = Callable[[str], list[str]]


class Store:
    def __init__(self, client: Client) -> None:
        self._client = client
        self._lock = threading.Lock()
        # The cluster its schema is distributed over, None on one node: read by ``migrate``.
        self.cluster: str | None = None

    @classmethod
    def connect(cls, url: str) -> Store:
        if is_embedded(url) and embedded_store_in_use(url):
            raise StoreError(
                f"the embedded store {url} is in use by another process (a running "
                "`audience serve`?): stop it first, or use a ClickHouse server"
            )
        try:
            if is_embedded(url):
                client = clickhouse_connect.get_client(dsn=url)
            else:
                client = clickhouse_connect.get_client(dsn=url, autogenerate_session_id=False)
        except Exception as error:  # the driver raises several kinds, all meaning "cannot connect"
            raise StoreError(f"cannot open ClickHouse at {_redact(url)}: {error}") from error
        return cls(client)

    @classmethod
    def open(cls, url: str, retention_months: int) -> Store:
        """Connect and apply the migrations: how every command and ``serve`` start."""
        store = cls.connect(url)
        try:
            applied = store.migrate(retention_months)
        except StoreError:
            store.close()
            raise
        for name in applied:
            log.info("migration applied: %s", name)
        return store

    def close(self) -> None:
        with self._lock:
            self._client.close()

    @contextmanager
    def _driver(self) -> Iterator[Client]:
        """The client, under the lock, with the driver's errors turned into StoreError."""
        with self._lock:
            try:
                yield self._client
            except ClickHouseError as error:
                raise StoreError(str(error)) from error

    def _command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        with self._driver() as client:
            return client.command(sql, parameters=parameters)

    def _rows(self, sql: str, parameters: dict[str, Any] | None = None) -> Sequence[Sequence[Any]]:
        with self._driver() as client:
            return client.query(sql, parameters=parameters).result_rows

    def rows(self, sql: str, parameters: dict[str, Any] | None = None) -> Sequence[Sequence[Any]]:
        """Rows as tuples: for the store's companions (``collector.storage.rights_store``)."""
        return self._rows(sql, parameters)

    def query_dicts(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Rows as dicts: for operators' checks and tests (the dashboards have their own reader)."""
        with self._driver() as client:
            result = client.query(sql, parameters=parameters)
        return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]

    def read(
        self, sql: str, parameters: dict[str, Any] | None = None, timeout_seconds: int = 30
    ) -> list[dict[str, Any]]:
        """A read-only query (the server refuses any write in it): the dashboards' reader."""
        settings = {"readonly": 2, "max_execution_time": timeout_seconds}
        with self._driver() as client:
            result = client.query(sql, parameters=parameters, settings=settings)
        return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]

    def execute(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        """One statement that changes data: accounts and sessions of the dashboards."""
        self._command(sql, parameters)

    def ping(self) -> bool:
        try:
            return bool(self._rows("SELECT 1"))
        except StoreError:
            return False

    def migrate(self, retention_months: int, transform: Transform | None = None) -> list[str]:
        """Apply the migrations not applied yet, then the retention TTL if it changed, and learn
        the cluster of the schema (``self.cluster``).

        An up-to-date schema is only read (audience.schema_migrations and the events' TTL): no
        DDL, so a user without DDL rights can start once ``audience migrate`` ran as one that
        has them. ``transform`` (``collector.storage.cluster``) rewrites each statement of schema/.
        """
        done = self._migrate(retention_months, transform)
        self.cluster = self.find_cluster() or None
        return done

    def _migrate(self, retention_months: int, transform: Transform | None) -> list[str]:
        migrations = schema_files()
        applied = self._applied_versions()
        pending = [migration for migration in migrations[1:] if migration[0] not in applied]
        retention_due = self.retention_months() != retention_months
        if not pending and not retention_due:
            return []
        cluster = self.find_cluster()
        if cluster and transform is None:
            raise StoreError(
                f"the schema of the ClickHouse cluster {cluster} is not up to date (or its"
                f" retention differs): run `audience migrate --cluster {cluster}`"
            )
        self._run_ddl(migrations[0][2], transform)  # the database and the record, if missing
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
                self._run_ddl(sql, transform)
                if version:  # retention.sql is not a numbered migration
                    self._command(
                        "INSERT INTO audience.schema_migrations (version, name)"
                        " VALUES ({v:UInt32}, {n:String})",
                        {"v": version, "n": name},
                    )
                seconds = time.monotonic() - started
                if seconds >= SLOW_MIGRATION_SECONDS:
                    log.info("migration %s took %.1f s", name, seconds)
                done.append(name)
                shown.advance()
        return done

    def _run_ddl(self, sql: str, transform: Transform | None) -> None:
        for statement in statements(sql):
            for each in transform(statement) if transform else [statement]:
                self._command(each)

    def _applied_versions(self) -> set[int]:
        """The versions audience.schema_migrations records; none before the first migration."""
        if not self._rows(
            "SELECT 1 FROM system.tables WHERE database = 'audience' AND name = 'schema_migrations'"
        ):
            return set()
        return {row[0] for row in self._rows("SELECT version FROM audience.schema_migrations")}

    def retention_months(self) -> int | None:
        """The months of the events' TTL; on a cluster, the TTL of the shards' local table."""
        rows = self._rows(
            "SELECT engine_full FROM system.tables"
            " WHERE database = 'audience' AND name IN ('events', 'events_local')"
        )
        for (engine_full,) in rows:
            match = re.search(r"TTL .*toIntervalMonth\((\d+)\)", engine_full)
            if match:
                return int(match.group(1))
        return None

    def find_cluster(self) -> str | None:
        """The cluster audience.events is distributed over (``audience migrate --cluster``);
        "" on a single-node schema, None before the first migration."""
        rows = self._rows(
            "SELECT engine_full FROM system.tables WHERE database = 'audience' AND name = 'events'"
        )
        if not rows:
            return None
        match = _DISTRIBUTED.match(rows[0][0])
        return match.group(1) if match else ""

    # Retention: what may go, and dropping it (collector.storage.retention decides when).

    def retention_partitions(self) -> list[tuple[str, int, str]]:
        """(table, months, partition id) of each active partition of the audience tables that
        are partitioned by the month of a time column and whose only TTL is the retention's on
        that column, ``toStartOfMonth(column) + INTERVAL months MONTH``."""
        tables: dict[str, int] = {}
        for name, partition_key, engine_full in self._rows(
            "SELECT name, partition_key, engine_full FROM system.tables"
            " WHERE database = 'audience' AND engine LIKE '%MergeTree'"
        ):
            months = _retention_ttl(partition_key, engine_full)
            if months is not None:
                tables[name] = months
        rows = self._rows(
            f"SELECT DISTINCT table, partition_id FROM {_parts(self.cluster)}"  # noqa: S608
            " WHERE database = 'audience' AND active AND has({t:Array(String)}, table)"
            " ORDER BY table, partition_id",
            {"t": sorted(tables)},
        )
        return [(table, tables[table], partition) for table, partition in rows]

    def drop_partition(self, table: str, partition_id: str) -> None:
        """Drop a partition of an audience table now, whatever its size."""
        with self._driver() as client:
            client.command(
                f"ALTER TABLE audience.{{t:Identifier}}{on_cluster(self.cluster)}"
                " DROP PARTITION ID {p:String}",
                parameters={"t": table, "p": partition_id},
                settings={"max_partition_size_to_drop": 0},  # the TTL knows no size limit
            )

    def masked_partitions(self) -> list[tuple[str, str]]:
        """(table, partition id) of the audience partitions holding rows that a lightweight
        DELETE hid but left on disk."""
        rows = self._rows(
            f"SELECT DISTINCT table, partition_id FROM {_parts(self.cluster)}"  # noqa: S608
            " WHERE database = 'audience' AND active AND has_lightweight_delete"
            " ORDER BY table, partition_id"
        )
        return [(table, partition) for table, partition in rows]

    def apply_deleted_mask(self, table: str, partition_id: str, *, wait: bool) -> None:
        """Rewrite a partition's parts without their deleted rows: a mutation, left to run in
        the background unless ``wait`` (the store's lock is held while it waits)."""
        with self._driver() as client:
            client.command(
                f"ALTER TABLE audience.{{t:Identifier}}{on_cluster(self.cluster)}"
                " APPLY DELETED MASK IN PARTITION ID {p:String}",
                parameters={"t": table, "p": partition_id},
                settings={"mutations_sync": 2 if wait else 0},
            )

    def insert_events(self, payloads: Sequence[bytes], token: str) -> None:
        """Insert one batch of encoded rows (``rows.encode_row``: JSON arrays in column order).

        ClickHouse parses the batch itself: no per-row encoding in Python.
        Replaying the same token is a no-op, so at-least-once delivery stores each batch once.
        """
        with self._driver() as client:
            client.raw_insert(
                EVENTS_TABLE,
                list(COLUMNS),
                b"\n".join(payloads),
                settings={"insert_deduplication_token": token},
                fmt=ROWS_FORMAT,
            )

    def sites(self) -> dict[str, Site]:
        rows = self._rows(
            "SELECT domain, origins, timezone, respect_gpc, count_outside_gdpr"
            " FROM audience.sites FINAL ORDER BY domain"
        )
        return {
            domain: Site(domain, tuple(origins), timezone, bool(gpc), bool(outside_gdpr))
            for domain, origins, timezone, gpc, outside_gdpr in rows
        }

    def save_site(self, site: Site, *, deleted: bool = False) -> None:
        self._command(
            "INSERT INTO audience.sites"
            " (domain, origins, timezone, respect_gpc, count_outside_gdpr, updated_at, deleted)"
            " VALUES ({d:String}, {o:Array(String)}, {t:String}, {g:UInt8}, {c:UInt8},"
            " fromUnixTimestamp64Milli({u:Int64}, 'UTC'), {x:UInt8})",
            {
                "d": site.domain,
                "o": list(site.origins),
                "t": site.timezone,
                "g": int(site.respect_gpc),
                "c": int(site.count_outside_gdpr),
                "u": int(time.time() * 1000),
                "x": int(deleted),
            },
        )


def is_embedded(url: str) -> bool:
    """The URL names the embedded engine, which one process at a time may open."""
    return url.startswith("chdb:")


def embedded_store_in_use(url: str) -> bool:
    """The embedded engine locks ``<path>/status`` while it runs, as a ClickHouse server does."""
    status = Path(url.removeprefix("chdb://")) / "status"
    try:
        fd = os.open(status, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _retention_ttl(partition_key: str, engine_full: str) -> int | None:
    """The months of a table's retention TTL: its partitions are the months of a column and its
    only TTL expires each row with its whole month of that column (retention.sql); else None."""
    partition = _MONTH_PARTITION.fullmatch(partition_key)
    ttl = _RETENTION_TTL.search(engine_full)
    if partition is None or ttl is None or ttl.group(1) != partition.group(1):
        return None
    return int(ttl.group(2))


def _redact(url: str) -> str:
    return re.sub(r"//[^/@]*@", "//***@", url)
