"""SQL in its places (collector.storage.sql): every statement file is used, loads whole, and
parses as ClickHouse's own parser reads it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.storage.rows import VISITOR_FIELDS
from collector.storage.sql import load, statement
from collector.storage.store import Store

ROOT = Path(__file__).resolve().parents[2]
STORAGE_SQL = sorted((ROOT / "collector" / "storage" / "sql").glob("*.sql"))
# Parts of other statements (the funnel_ ones: of the dashboards' funnels too), not run alone.
INCLUDED = {
    "visit_summaries",
    "visits_started",
    "funnel_pageview",
    "funnel_reached",
    "funnel_visit_reach",
}
CODE = "\n".join(
    path.read_text()
    for package in ("collector", "dashboards")
    for path in (ROOT / package).rglob("*.py")
)


_PARAMETER = re.compile(r"\{(\w+):([^{}]+?)\}(?!\})")


def parsable(sql: str) -> str:
    """The statement with each server-side parameter replaced by a value of its type, as the
    server substitutes them (an identifier by a table's name), for EXPLAIN AST."""

    def value(found: re.Match[str]) -> str:
        kind = found.group(2)
        quoted = kind.replace("'", "\\'")
        return "events" if kind == "Identifier" else f"defaultValueOfTypeName('{quoted}')"

    return _PARAMETER.sub(value, sql)


@pytest.fixture(scope="module")
def parser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store.connect(f"chdb://{tmp_path_factory.mktemp('parser')}")
    yield store
    store.close()


@pytest.mark.parametrize("path", STORAGE_SQL, ids=lambda path: path.stem)
def test_each_statement_is_used_and_parses(path: Path, parser: Store) -> None:
    name = path.stem
    text = statement(name)
    assert "/* include" not in text and not re.search(r"^\s*--", text, re.M)
    if name in INCLUDED:
        assert any(f"/* include {name} */" in other.read_text() for other in STORAGE_SQL)
        return
    assert f'statement("{name}")' in CODE
    ast = parser.rows(f"EXPLAIN AST {parsable(text)}")
    assert ast, name


def test_the_right_of_access_reads_every_field_but_the_visitor_hash() -> None:
    select = statement("visitor_events")
    first = select.split("FROM", 1)[0].removeprefix("SELECT")
    assert tuple(column.strip() for column in first.split(",")) == VISITOR_FIELDS


def test_there_is_one_loader_and_the_dashboards_use_it() -> None:
    assert load("dashboards", "queries/summary_rollup").startswith(("SELECT", "WITH"))
    loaders = re.findall(r"importlib\.resources\.files\([^)]*\)\.joinpath\([^)]*\.sql", CODE)
    assert loaders == ['importlib.resources.files(package).joinpath(f"{name}.sql']  # its own


def test_an_include_may_name_another_wings_file() -> None:
    """The dashboards number a funnel's pageviews with the writer's one expression."""
    numbering = statement("funnel_pageview")
    assert numbering in load("dashboards", "queries/funnel_event_pageviews")
    assert numbering in statement("roll_up_funnel")
    assert "/* include" not in load("dashboards", "queries/funnel_steps_by_visitor")
