"""The ClickHouse store: connect, migrate, the one insert of events, and the site registry.

The same code runs on the embedded engine (``chdb:///path``) and on a server (``http(s)://``).
A client of the driver is not made for concurrent use, so the statements that write (the
writer's inserts, rollups, erasures, accounts) go through one client under one lock, and the
reads of the dashboards and of the privacy API through clients of their own, ``READERS`` at
most, each used by one thread at a time: a slow dashboard query never holds an insert, and the
independent reads of one page run side by side (``read_many``). The embedded engine runs the
queries of two clients of one process concurrently, as a server runs those of two connections.
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from collector.storage import migrations
from collector.storage.errors import StoreError
from collector.storage.migrations import Transform
from collector.storage.rows import COLUMNS, ROWS_FORMAT
from collector.storage.sites import DEFAULT_ENGAGED_SECONDS, Site
from collector.storage.sql import statement

log = logging.getLogger("audience.store")
EVENTS_TABLE = "audience.events"
READERS = 3  # clients for reads: a page's independent reads at once, on two cores
_CLUSTER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def on_cluster(cluster: str | None) -> str:
    """`` ON CLUSTER NAME`` after the table of a statement changing data: on a cluster schema it
    runs on every node (each changes its own shard's tables); "" on one node."""
    if not cluster:
        return ""
    if not _CLUSTER_NAME.fullmatch(cluster):
        raise StoreError(f"not a cluster name: {cluster!r}")
    return f" ON CLUSTER {cluster}"


Query = tuple[str, dict[str, Any]]  # SQL and its server-side parameters


class Store:
    def __init__(self, client: Client, connect_reader: Callable[[], Client] | None = None) -> None:
        self._client = client
        self._lock = threading.Lock()
        # Clients for reads, made on first use, READERS at most; without a way to connect them
        # (a store built on a given client), reads take the writing client's lock.
        self._connect_reader = connect_reader
        self._idle_readers: queue.LifoQueue[Client] = queue.LifoQueue()
        self._readers: list[Client] = []
        self._readers_lock = threading.Lock()
        self._read_pool: ThreadPoolExecutor | None = None
        # The cluster its schema is distributed over, None on one node: read by ``migrate``.
        self.cluster: str | None = None

    @classmethod
    def connect(cls, url: str) -> Store:
        if is_embedded(url) and embedded_store_in_use(url):
            raise StoreError(
                f"the embedded store {url} is in use by another process (a running "
                "`audience serve`?): stop it first, or use a ClickHouse server"
            )
        return cls(_client(url), lambda: _client(url))

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
        if self._read_pool is not None:
            self._read_pool.shutdown(wait=True)
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for reader in readers:
            reader.close()
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

    def command(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Any:
        """One statement on the writing client: migrations, retention, the store's companions."""
        with self._driver() as client:
            return client.command(sql, parameters=parameters, settings=settings)

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
        """A read-only query (the server refuses any write in it), on a client for reads: the
        dashboards' and the privacy API's reader, which never waits for the writer."""
        settings = {"readonly": 2, "max_execution_time": timeout_seconds}
        with self._reader() as client:
            result = client.query(sql, parameters=parameters, settings=settings)
        return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]

    def read_many(self, queries: Sequence[Query]) -> list[list[dict[str, Any]]]:
        """Independent reads at once, on the clients for reads; their rows in their order."""
        if len(queries) < 2 or self._connect_reader is None:
            return [self.read(sql, parameters) for sql, parameters in queries]
        with self._readers_lock:
            if self._read_pool is None:
                self._read_pool = ThreadPoolExecutor(READERS, thread_name_prefix="audience-read")
            pool = self._read_pool
        futures = [pool.submit(self.read, sql, parameters) for sql, parameters in queries]
        return [future.result() for future in futures]

    @contextmanager
    def _reader(self) -> Iterator[Client]:
        """A client for reads, for this thread alone until the block ends."""
        if self._connect_reader is None:
            with self._driver() as client:
                yield client
            return
        client = self._take_reader(self._connect_reader)
        try:
            yield client
        except ClickHouseError as error:
            raise StoreError(str(error)) from error
        finally:
            self._idle_readers.put(client)

    def _take_reader(self, connect: Callable[[], Client]) -> Client:
        try:
            return self._idle_readers.get_nowait()
        except queue.Empty:
            pass
        with self._readers_lock:
            if len(self._readers) < READERS:
                client = connect()  # a StoreError that names the store when it cannot
                self._readers.append(client)
                return client
        return self._idle_readers.get()

    def execute(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        """One statement that changes data: accounts and sessions of the dashboards."""
        self._command(sql, parameters)

    def ping(self) -> bool:
        try:
            return bool(self._rows("SELECT 1"))
        except StoreError:
            return False

    def migrate(self, retention_months: int, transform: Transform | None = None) -> list[str]:
        """Apply the migrations not applied yet (``collector.storage.migrations``)."""
        return migrations.migrate(self, retention_months, transform)

    def find_cluster(self) -> str | None:
        return migrations.find_cluster(self)

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
        rows = self._rows(statement("sites"))
        return {
            domain: Site(domain, tuple(origins), timezone, bool(gpc), bool(outside_gdpr), engaged)
            for domain, origins, timezone, gpc, outside_gdpr, engaged in rows
        }

    def engaged_seconds(self, site: str) -> int:
        """A site's engaged-visit threshold (the default for a site never registered)."""
        rows = self.read(statement("engaged_seconds"), {"site": site})
        return int(next(iter(rows[0].values()))) if rows else DEFAULT_ENGAGED_SECONDS

    def save_site(self, site: Site, *, deleted: bool = False) -> None:
        self._command(
            statement("save_site"),
            {
                "d": site.domain,
                "o": list(site.origins),
                "t": site.timezone,
                "g": int(site.respect_gpc),
                "c": int(site.count_outside_gdpr),
                "e": site.engaged_seconds,
                "u": int(time.time() * 1000),
                "x": int(deleted),
            },
        )


def _client(url: str) -> Client:
    try:
        if is_embedded(url):
            return clickhouse_connect.get_client(dsn=url)
        return clickhouse_connect.get_client(dsn=url, autogenerate_session_id=False)
    except Exception as error:  # the driver raises several kinds, all meaning "cannot connect"
        raise StoreError(f"cannot open ClickHouse at {_redact(url)}: {error}") from error


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


def _redact(url: str) -> str:
    return re.sub(r"//[^/@]*@", "//***@", url)
