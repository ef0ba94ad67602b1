"""The JSON stats API (DESIGN section 4) and the CSV exports of the dashboard's tables.

Every call answers for one site the principal may see, with the same parameters: a period
(``period=…`` or ``from``/``to``), filters and, for the series, an interval. A wrong parameter
gets a 400 naming it; an unknown dimension or site a 404.
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from collector.web.csvcells import safe_cell
from dashboards import auth
from dashboards.account_rules import AccountError
from dashboards.cohorts import Cohorts, as_json, cohort_interval
from dashboards.context import dashboards_of, registered_site
from dashboards.periods import QueryError, StatsQuery, parse_query
from dashboards.stats import DIMENSIONS, Stats


async def stats_query(request: Request) -> tuple[Stats, StatsQuery]:
    """The stats and the parsed query of a request, once the principal may see the site."""
    await auth.require(request, request.path_params["site"])
    context = dashboards_of(request)
    registered = registered_site(request)
    try:
        query = parse_query(registered.domain, request.query_params, registered.timezone)
    except QueryError as error:
        raise HTTPException(400, str(error)) from None
    return context.stats(), query


def dimension_of(request: Request) -> str:
    dimension: str = request.path_params["dimension"]
    if dimension not in DIMENSIONS:
        raise HTTPException(404, f"unknown dimension: expected one of {', '.join(DIMENSIONS)}")
    return dimension


def describe(query: StatsQuery) -> dict[str, Any]:
    return {
        "site": query.site,
        "timezone": query.period.timezone,
        "period": {
            "name": query.period.name,
            "label": query.period.label,
            "from": query.period.first.isoformat(),
            "to": query.period.last.isoformat(),
            "interval": query.interval,
        },
        "filters": query.filters,
    }


async def summary(request: Request) -> Response:
    stats, query = await stats_query(request)
    found = await run_in_threadpool(stats.summary, query)
    return JSONResponse({**describe(query), **found})


async def breakdown(request: Request) -> Response:
    stats, query = await stats_query(request)
    dimension = dimension_of(request)
    limit = _limit(request.query_params.get("limit", "100"))
    rows = await run_in_threadpool(stats.breakdown, query, dimension, limit)
    if request.query_params.get("format") == "csv":
        return csv_response(query, dimension, rows)
    spec = DIMENSIONS[dimension]
    return JSONResponse(
        {**describe(query), "dimension": dimension, "columns": list(spec.columns), "rows": rows}
    )


async def timeseries(request: Request) -> Response:
    stats, query = await stats_query(request)
    points = await run_in_threadpool(stats.timeseries, query)
    return JSONResponse({**describe(query), "points": points})


async def realtime(request: Request) -> Response:
    stats, query = await stats_query(request)
    return JSONResponse(await run_in_threadpool(stats.realtime, query.site))


async def goals(request: Request) -> Response:
    """The site's goals with their figures; ``format=csv`` as a table."""
    query, rows = await _goal_rows(request)
    if request.query_params.get("format") == "csv":
        return goals_csv(query, rows)
    return JSONResponse({**describe(query), "goals": rows})


async def export_goals(request: Request) -> Response:
    return goals_csv(*await _goal_rows(request))


async def _goal_rows(request: Request) -> tuple[StatsQuery, list[dict[str, Any]]]:
    _, query = await stats_query(request)
    context = dashboards_of(request)
    defined = await run_in_threadpool(context.goals().goals_of, query.site)
    return query, await run_in_threadpool(context.conversions().goals, query, defined)


async def funnels(request: Request) -> Response:
    """Every funnel of the site with its steps' figures."""
    _, query = await stats_query(request)
    context = dashboards_of(request)
    defined = await run_in_threadpool(context.goals().funnels_of, query.site)
    conversions = context.conversions()
    found = [await run_in_threadpool(conversions.funnel, query, funnel) for funnel in defined]
    return JSONResponse({**describe(query), "funnels": found})


async def funnel(request: Request) -> Response:
    """One funnel's steps; ``format=csv`` as a table."""
    query, found = await _funnel_steps(request)
    if request.query_params.get("format") == "csv":
        return funnel_csv(query, found)
    return JSONResponse({**describe(query), "funnel": found})


async def export_funnel(request: Request) -> Response:
    return funnel_csv(*await _funnel_steps(request))


async def _funnel_steps(request: Request) -> tuple[StatsQuery, dict[str, Any]]:
    _, query = await stats_query(request)
    context = dashboards_of(request)
    try:
        defined = await run_in_threadpool(
            context.goals().funnel, query.site, request.path_params["funnel"]
        )
    except AccountError as error:
        raise HTTPException(404, error.message) from None
    return query, await run_in_threadpool(context.conversions().funnel, query, defined)


async def export_csv(request: Request) -> Response:
    stats, query = await stats_query(request)
    dimension = dimension_of(request)
    rows = await run_in_threadpool(stats.breakdown, query, dimension, 10_000)
    return csv_response(query, dimension, rows)


def csv_response(query: StatsQuery, dimension: str, rows: list[dict[str, Any]]) -> Response:
    spec = DIMENSIONS[dimension]
    columns = ["label", *spec.columns]
    header = [dimension if column == "label" else column for column in columns]
    return _csv(query, dimension, header, [[row.get(c) for c in columns] for row in rows])


def goals_csv(query: StatsQuery, rows: list[dict[str, Any]]) -> Response:
    """The goals as a table; a blank cell is a number of fewer visitors than the small-cell
    threshold."""
    header = ["goal", "pattern", "visitors", "conversions", "conversion_rate"]
    table = [
        [row["name"], row["pattern"], *(row["current"][name] for name in header[2:])]
        for row in rows
    ]
    return _csv(query, "goals", header, table)


def funnel_csv(query: StatsQuery, found: dict[str, Any]) -> Response:
    header = ["step", "pattern", "visitors", "from_previous", "from_first", "drop_off",
              "median_seconds"]  # fmt: skip
    table = [[step[name] for name in header] for step in found["steps"]]
    return _csv(query, f"funnel-{found['id']}", header, table)


def _csv(query: StatsQuery, name: str, header: list[str], table: list[list[Any]]) -> Response:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    for row in table:
        writer.writerow([safe_cell(cell) for cell in row])
    name = f"{query.site}-{name}-{query.period.first}-{query.period.last}.csv"
    return Response(
        text.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 10_000:
        raise HTTPException(400, "limit: expected a whole number from 1 to 10000")
    return int(text)


# ---- cohort retention (dashboards/cohorts.py) ----------------------------------------------


async def cohort_query(request: Request) -> tuple[Cohorts, StatsQuery]:
    """The cohorts reader and the query of a request, its interval the cohorts' (week|month)."""
    stats, query = await stats_query(request)
    try:
        # ``cohorts`` is how the dashboard's links name it, beside the chart's own interval.
        asked = request.query_params.get("cohorts") or request.query_params.get("interval")
        interval = cohort_interval(asked, query.period)
    except QueryError as error:
        raise HTTPException(400, str(error)) from None
    return Cohorts.of(stats), replace(query, interval=interval)


async def cohorts(request: Request) -> Response:
    reader, query = await cohort_query(request)
    rows = await run_in_threadpool(reader.grid, query, query.interval)
    return JSONResponse({**describe(query), "cohorts": as_json(rows)})


async def export_cohorts(request: Request) -> Response:
    """The grid as CSV: a row per cohort, its size, then the visitors and share of each week or
    month after it (blank: under the small-cell threshold, or not begun yet)."""
    reader, query = await cohort_query(request)
    rows = as_json(await run_in_threadpool(reader.grid, query, query.interval))
    width = max((len(row["cells"]) for row in rows), default=0)
    text = io.StringIO()
    writer = csv.writer(text)
    unit = query.interval
    header = ["cohort", "visitors"]
    for offset in range(width):
        header += [f"{unit}_{offset}_visitors", f"{unit}_{offset}_share"]
    writer.writerow(header)
    for row in rows:
        line = [row["cohort"], _blank(row["visitors"])]
        for cell in row["cells"]:
            line += [_blank(cell["visitors"]), _blank(cell["share"])]
        writer.writerow(line)
    name = f"{query.site}-cohorts-{unit}-{query.period.first}-{query.period.last}.csv"
    return Response(
        text.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _blank(value: float | None) -> str:
    return "" if value is None else str(value)
