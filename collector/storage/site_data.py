"""A removed site's data, erased at once rather than left to the retention.

Every table of the store with a ``site`` column loses that site's rows: the events, the rollups,
the visits and the closed visits. The rollups need no rebuild, since the whole site goes. On a
cluster schema the shards' local tables (``<name>_local``, behind the Distributed tables, which a
DELETE cannot go through) are emptied ON CLUSTER; the tables replicated on every node, through
one replica.
"""

from __future__ import annotations

from collector.storage.cluster import DATABASE
from collector.storage.sql import statement
from collector.storage.store import Store, on_cluster


def site_tables(store: Store) -> list[str]:
    """The tables (without the database) holding rows of sites."""
    return [str(row[0]) for row in store.rows(statement("site_tables"))]


def erase_site(store: Store, domain: str) -> list[str]:
    """Delete every row of ``domain`` from the tables of sites' rows; the tables, in order."""
    tables = site_tables(store)
    for table in tables:
        if table.endswith("_local"):
            # A cluster's name cannot be a parameter: the one statement composed here.
            sql = (
                f"DELETE FROM {DATABASE}.{{table:Identifier}}{on_cluster(store.cluster)}"  # noqa: S608
                " WHERE site = {site:String}"
            )
            store.command(sql, {"table": table, "site": domain})
        else:
            store.command(statement("delete_site_rows"), {"table": table, "site": domain})
    return tables
