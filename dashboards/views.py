"""The dashboards' pages: each renders HTML, and the same data as JSON (``?format=json`` or
``Accept: application/json``), so what a page shows can be fetched and checked as data."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from collector.web.http import root_path
from dashboards import auth
from dashboards.annotation_views import form_context
from dashboards.annotations import Annotations, shown
from dashboards.api import describe, stats_query
from dashboards.cohorts import INTERVALS as COHORT_INTERVALS
from dashboards.cohorts import Cohort, Cohorts, as_json, cohort_interval
from dashboards.context import dashboards_of
from dashboards.conversions import Conversions
from dashboards.goals import Goals
from dashboards.pages import json_wanted
from dashboards.periods import FILTERS, INTERVALS, PERIODS, StatsQuery, named_period
from dashboards.stats import DIMENSIONS, Stats, kpis

KPIS = tuple(kpis({}))


def _render(request: Request, template: str, data: dict[str, Any], **context: Any) -> Response:
    if json_wanted(request):
        return JSONResponse(data)
    templates = dashboards_of(request).templates
    return templates.TemplateResponse(request, template, {"data": data, **context})


async def sites(request: Request) -> Response:
    principal = await auth.require(request)
    context = dashboards_of(request)
    visible = [site for site in context.backend.sites.all() if principal.can_see(site.domain)]
    stats = context.stats()

    def visitors(domain: str, timezone: str) -> int:
        query = StatsQuery(domain, named_period("30d", timezone), {}, "day")
        return int(stats.totals(query)["visitors"])

    listed = [
        {
            "domain": site.domain,
            "timezone": site.timezone,
            "url": f"{root_path(request.scope)}/sites/{site.domain}",
            "visitors_30d": await run_in_threadpool(visitors, site.domain, site.timezone),
        }
        for site in visible
    ]
    return _render(request, "sites.html", {"sites": listed}, principal=principal, sites=listed)


@dataclass(frozen=True)
class View:
    """Where a dashboard is shown: its page (``/stats/sites/example.com``, or a shared link's),
    the filters its viewer cannot remove, whether its tables link to their CSV, and whether it
    shows every annotation with its author (the team's) or only those marked for shared links."""

    page: str
    locked: frozenset[str] = frozenset()
    exports: bool = True
    team_notes: bool = True


async def dashboard_data(
    stats: Stats,
    query: StatsQuery,
    metric: str,
    view: View,
    annotations: Annotations | None = None,
    cohorts: str | None = None,
) -> dict[str, Any]:
    """Everything the dashboard page shows, in one dict (the page's JSON twin), its links to
    ``view``. Its reads are independent: they run at once, each on a client for reads of the
    store. The annotations of the period come from ``annotations`` (none without it);
    ``cohorts`` is the interval of the cohort grid asked for (week|month, else the period's
    default)."""
    # Every read of the page sees the same closed visits, and reads where they end only once.
    stats = await run_in_threadpool(stats.pinned, query.site)
    previous = query.period.previous()
    by = cohorts if cohorts in COHORT_INTERVALS else cohort_interval(None, query.period)
    (
        summary,
        current_series,
        previous_series,
        found,
        realtime,
        (goals, funnels, grid),
    ) = await asyncio.gather(
        run_in_threadpool(stats.summary, query),
        run_in_threadpool(stats.timeseries, query),
        run_in_threadpool(stats.timeseries, query, previous),
        run_in_threadpool(stats.breakdowns, query, list(DIMENSIONS), 50),
        run_in_threadpool(stats.realtime, query.site),
        _insight(stats, query, by),
    )
    base = _params(query, metric)
    for goal in goals:
        goal["filter_url"] = (
            None if "goal" in view.locked else _url(view.page, {**base, "goal": goal["pattern"]})
        )
    for funnel in funnels:
        funnel["csv"] = (
            _url(view.page, base, f"/export/funnels/{funnel['id']}.csv") if view.exports else None
        )
    breakdowns = {}
    for name, rows in found.items():
        spec = DIMENSIONS[name]
        for row in rows:
            row["filter_url"] = (
                None
                if row["other"] or spec.filter is None or spec.filter in view.locked
                else _url(view.page, {**base, spec.filter: row["value"]})
            )
        breakdowns[name] = {
            "title": spec.title,
            "dimension": name,
            "filter": spec.filter,
            "columns": list(spec.columns),
            "rows": rows,
            "csv": _url(view.page, base, f"/export/{name}.csv") if view.exports else None,
        }
    return {
        **describe(query),
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "previous": {"from": previous.first.isoformat(), "to": previous.last.isoformat()},
        "metric": metric,
        "summary": {k: summary[k] for k in ("current", "previous", "change")},
        "timeseries": {
            "interval": query.interval,
            "current": current_series,
            "previous": previous_series,
        },
        "breakdowns": breakdowns,
        "goals": goals,
        "goals_csv": _url(view.page, base, "/export/goals.csv") if view.exports else None,
        "funnels": funnels,
        "realtime": realtime,
        "annotations": (
            await run_in_threadpool(shown, annotations, query, team=view.team_notes)
            if annotations is not None
            else []
        ),
        "cohorts": _cohorts(grid, by, base, view, stats.min_cell),
    }


def _cohorts(
    grid: list[Cohort], by: str, base: dict[str, str], view: View, min_cell: int
) -> dict[str, Any]:
    """The cohort panel: its grid, its CSV and the links to the other interval."""
    chosen = {**base, "cohorts": by}
    return {
        "interval": by,
        "min_cell": min_cell,
        "rows": as_json(grid),
        "offsets": max((len(row.cells) for row in grid), default=0),
        "csv": _url(view.page, chosen, "/export/cohorts.csv") if view.exports else None,
        "intervals": [
            {"name": name, "url": _url(view.page, {**base, "cohorts": name}), "current": name == by}
            for name in COHORT_INTERVALS
        ],
    }


async def _insight(
    stats: Stats, query: StatsQuery, by: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Any]]:
    """The goals, the funnels and the cohort grid (by ``by``), their reads at once."""
    (goals, funnels), grid = await asyncio.gather(
        _conversions(stats, query),
        run_in_threadpool(Cohorts.of(stats).grid, query, by),
    )
    return goals, funnels, grid


async def _conversions(
    stats: Stats, query: StatsQuery
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The site's goals and funnels with their figures; the funnels' reads run at once."""
    definitions = Goals(stats.store)
    conversions = Conversions(stats)
    goals = await run_in_threadpool(definitions.goals_of, query.site)
    funnels = await run_in_threadpool(definitions.funnels_of, query.site)
    found = await asyncio.gather(
        run_in_threadpool(conversions.goals, query, goals),
        *(run_in_threadpool(conversions.funnel, query, funnel) for funnel in funnels),
    )
    return found[0], list(found[1:])


async def dashboard(request: Request) -> Response:
    stats, query = await stats_query(request)
    principal = await auth.require(request, query.site)
    metric = request.query_params.get("metric", "visitors")
    metric = metric if metric in KPIS else "visitors"
    view = View(f"{root_path(request.scope)}/sites/{query.site}")
    manage = f"{view.page}/goals" if principal.role == "admin" else None
    # Members signed in add notes on the chart; an API key reads them only.
    annotate = None if "authorization" in request.headers else form_context(request, query)
    return await render_dashboard(
        request,
        stats,
        query,
        metric,
        view,
        request.query_params.get("cohorts"),
        principal=principal,
        manage_goals=manage,
        annotate=annotate,
    )


async def render_dashboard(
    request: Request,
    stats: Stats,
    query: StatsQuery,
    metric: str,
    view: View,
    cohorts: str | None = None,
    **context: Any,
) -> Response:
    """The dashboard page of ``query`` at ``view``, or its JSON twin."""
    annotations = dashboards_of(request).annotations()
    data = await dashboard_data(stats, query, metric, view, annotations, cohorts)
    if json_wanted(request):
        return JSONResponse(data)
    templates = dashboards_of(request).templates
    return templates.TemplateResponse(
        request,
        "site.html",
        {
            "principal": None,
            "data": data,
            "data_json": _script_json(data),
            "links": _links(query, metric, view),
            **context,
        },
    )


def _params(query: StatsQuery, metric: str) -> dict[str, str]:
    """The query parameters that reproduce this view (period, filters, interval, metric)."""
    period = query.period
    params = (
        {"from": period.first.isoformat(), "to": period.last.isoformat()}
        if period.name == "custom"
        else {"period": period.name}
    )
    params.update(query.filters)
    if query.interval != period.default_interval():
        params["interval"] = query.interval
    if metric != "visitors":
        params["metric"] = metric
    return params


def _url(page: str, params: dict[str, str], suffix: str = "") -> str:
    return f"{page}{suffix}" + (f"?{urlencode(params)}" if params else "")


def _links(query: StatsQuery, metric: str, view: View) -> dict[str, Any]:
    base = _params(query, metric)
    kept = {k: v for k, v in base.items() if k in FILTERS or k == "metric"}
    periods = [
        {
            "name": name,
            "label": label,
            "url": _url(view.page, {"period": name, **kept}),
            "current": name == query.period.name,
        }
        for name, label in PERIODS.items()
        if name != "custom"
    ]
    without_interval = {k: v for k, v in base.items() if k != "interval"}
    return {
        "periods": periods,
        "intervals": [
            {
                "name": interval,
                "url": _url(view.page, {**without_interval, "interval": interval}),
                "current": interval == query.interval,
            }
            for interval in INTERVALS
            if interval != "hour" or query.period.days <= 31
        ],
        "remove_filter": {
            name: _url(view.page, {k: v for k, v in base.items() if k != name})
            for name in query.filters
            if name not in view.locked
        },
        "json": _url(view.page, {**base, "format": "json"}),
        "custom_action": view.page,
        "hidden_params": kept,
    }


def _script_json(data: dict[str, Any]) -> str:
    """JSON safe inside a <script type="application/json"> element."""
    text = json.dumps(data, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
