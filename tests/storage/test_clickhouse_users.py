"""docs/clickhouse-users.sql: every statement parses, and its grants follow the schema."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from collector.settings import Settings
from collector.storage.errors import StoreError
from collector.storage.store import Store
from tests.conftest import register

USERS_SQL = Path(__file__).resolve().parents[2] / "docs" / "clickhouse-users.sql"
_TABLE = re.compile(r"\bON audience\.(\w+)")


def statements() -> list[str]:
    lines = [line for line in USERS_SQL.read_text().splitlines() if not line.startswith("--")]
    return [" ".join(part.split()) for part in "\n".join(lines).split(";") if part.strip()]


def test_every_statement_parses_and_the_grants_follow_the_schema(settings: Settings) -> None:
    register(settings)  # a migrated embedded store: ClickHouse's own parser and the schema
    store = Store.connect(settings.clickhouse_url)
    try:
        formatted = [
            store.query_dicts("SELECT formatQuery({q:String}) AS sql", {"q": statement})[0]["sql"]
            for statement in statements()
        ]
        tables = {
            row["name"]
            for row in store.query_dicts(
                "SELECT name FROM system.tables"
                " WHERE database = 'audience' AND engine != 'MaterializedView'"
            )
        }
    finally:
        store.close()
    assert len(formatted) >= 20
    for statement in formatted:
        assert statement.startswith(("CREATE ROLE ", "CREATE USER ", "GRANT ")), statement
    granted = set(_TABLE.findall(USERS_SQL.read_text()))
    assert granted - tables == set(), "grants on tables the schema does not have"
    # every table but the migrations' own record is granted to the roles that use it
    assert tables - granted == {"schema_migrations"}


def test_a_broken_statement_would_be_caught(settings: Settings) -> None:
    store = Store.connect(settings.clickhouse_url)
    try:
        with pytest.raises(StoreError, match="Syntax error"):
            store.query_dicts("SELECT formatQuery({q:String})", {"q": "GRANT SELEKT ON a.b TO r"})
    finally:
        store.close()
