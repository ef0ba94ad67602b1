"""A site's goals and funnels in the browser (administrators): the list, add, remove.

Each change is audited. The figures are on the dashboard (``dashboards.views``) and in the stats
API (``dashboards.api``); the definitions are ``dashboards.goals``.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dashboards import auth
from dashboards.account_rules import AccountError
from dashboards.auth import Principal
from dashboards.context import dashboards_of, registered_site
from dashboards.goals import MAX_STEPS, Goal, Goals
from dashboards.pages import data_page, form_fields, json_wanted, redirect


def _goals(request: Request) -> Goals:
    return dashboards_of(request).goals()


async def _goals_page(
    request: Request,
    principal: Principal,
    site: str,
    *,
    error: str | None = None,
    created: Goal | None = None,
) -> Response:
    goals = _goals(request)
    defined = await run_in_threadpool(goals.goals_of, site)
    funnels = await run_in_threadpool(goals.funnels_of, site)
    data: dict[str, Any] = {
        "site": site,
        "goals": [goal.as_dict() for goal in defined],
        "funnels": [funnel.as_dict() for funnel in funnels],
    }
    return data_page(
        request, "goals.html", principal, data, error=error, created=created is not None,
        max_steps=MAX_STEPS,
    )  # fmt: skip


async def goals_page(request: Request) -> Response:
    principal = await auth.require_admin(request)
    return await _goals_page(request, principal, registered_site(request).domain)


async def add_goal(request: Request) -> Response:
    principal = await auth.require_admin(request)
    site = registered_site(request).domain
    fields = await form_fields(request, max_fields=5)
    try:
        goal = await run_in_threadpool(
            _goals(request).add_goal,
            site, fields.get("name", ""), fields.get("pattern", ""), principal.email,
        )  # fmt: skip
    except AccountError as error:
        return await _goals_page(request, principal, site, error=error.message)
    await _audit(request, principal, "goal.add", site, f"goal {goal.id} {goal.pattern}")
    if json_wanted(request):
        return JSONResponse(goal.as_dict(), 201)
    return redirect(request, f"/sites/{site}/goals")


async def remove_goal(request: Request) -> Response:
    principal = await auth.require_admin(request)
    site = registered_site(request).domain
    try:
        goal = await run_in_threadpool(
            _goals(request).remove_goal, site, request.path_params["goal"], principal.email
        )
    except AccountError as error:
        return await _goals_page(request, principal, site, error=error.message)
    await _audit(request, principal, "goal.remove", site, f"goal {goal.id} {goal.pattern}")
    if json_wanted(request):
        return JSONResponse({"removed": goal.id})
    return redirect(request, f"/sites/{site}/goals")


async def add_funnel(request: Request) -> Response:
    principal = await auth.require_admin(request)
    site = registered_site(request).domain
    fields = await form_fields(request, max_fields=MAX_STEPS + 5)
    steps = [fields.get(f"step_{k}", "") for k in range(1, MAX_STEPS + 1)]
    try:
        funnel = await run_in_threadpool(
            _goals(request).add_funnel,
            site, fields.get("name", ""), steps, fields.get("within", "visit"), principal.email,
        )  # fmt: skip
    except AccountError as error:
        return await _goals_page(request, principal, site, error=error.message)
    detail = f"funnel {funnel.id} within {funnel.within}: " + " > ".join(funnel.steps)
    await _audit(request, principal, "funnel.add", site, detail)
    if json_wanted(request):
        return JSONResponse(funnel.as_dict(), 201)
    return redirect(request, f"/sites/{site}/goals")


async def remove_funnel(request: Request) -> Response:
    principal = await auth.require_admin(request)
    site = registered_site(request).domain
    try:
        funnel = await run_in_threadpool(
            _goals(request).remove_funnel, site, request.path_params["funnel"], principal.email
        )
    except AccountError as error:
        return await _goals_page(request, principal, site, error=error.message)
    await _audit(request, principal, "funnel.remove", site, f"funnel {funnel.id} {funnel.name}")
    if json_wanted(request):
        return JSONResponse({"removed": funnel.id})
    return redirect(request, f"/sites/{site}/goals")


async def _audit(
    request: Request, principal: Principal, action: str, site: str, detail: str
) -> None:
    audit = dashboards_of(request).team().audit
    await run_in_threadpool(audit.record, principal.email, action, site, detail)
