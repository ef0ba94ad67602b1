"""Annotations over HTTP: a member adds a note from the dashboard's chart, its author or an
administrator removes it, and scripts read them through the stats API.

Adding and removing need a signed-in member who may see the site (a session: an API key only
reads), behind the cross-site refusal of ``security`` as every form; both are audited. The forms
work without JavaScript: they go back to the dashboard they came from (``back``, a local path of
that site's dashboard). Their JSON twins answer 201 with the note, or 400 with the error and the
name of the field that is wrong.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from collector.web.http import root_path
from dashboards import auth
from dashboards.annotations import Annotation, AnnotationError, Annotations, shown
from dashboards.api import describe, stats_query
from dashboards.auth import Principal
from dashboards.context import dashboards_of, registered_site
from dashboards.pages import form_fields, json_wanted
from dashboards.periods import StatsQuery, today_in
from dashboards.security import safe_next

CHECKED = frozenset({"1", "on", "true", "yes"})


def _annotations(request: Request) -> Annotations:
    return dashboards_of(request).annotations()


async def _member(request: Request) -> tuple[Principal, str]:
    """The signed-in member changing a note of the request's site, and the site: 401 for nobody,
    403 for an API key or a member who cannot see the site, 404 for an unknown site."""
    site = str(request.path_params["site"])
    principal = await auth.require(request, site)
    if request.headers.get("authorization") is not None:
        raise HTTPException(403, "API keys read annotations; they never change them")
    return principal, registered_site(request).domain


def may_remove(principal: Principal, note: Annotation) -> bool:
    return principal.role == "admin" or principal.email == note.author


def form_context(request: Request, query: StatsQuery) -> dict[str, Any]:
    """What the dashboard's form for a new note needs: where it posts, the day it proposes
    (today, or the period's nearest end when today is outside it), the page to come back to."""
    period = query.period
    today = min(max(today_in(period.timezone), period.first), period.last)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return {
        "action": f"{root_path(request.scope)}/sites/{query.site}/annotations",
        "day": today.isoformat(),
        "first": period.first.isoformat(),
        "last": period.last.isoformat(),
        "back": here,
    }


def _back(request: Request, site: str, fields: dict[str, str]) -> RedirectResponse:
    """A 303 to the dashboard the form came from, else to the site's dashboard."""
    dashboard = f"{root_path(request.scope)}/sites/{site}"
    back = safe_next(fields.get("back"))
    if back is None or (back != dashboard and not back.startswith(f"{dashboard}?")):
        back = dashboard
    return RedirectResponse(f"{back.partition('#')[0]}#annotations", status_code=303)


def _refused(error: AnnotationError) -> Response:
    return JSONResponse({"error": error.message, "field": error.field}, 400)


async def add(request: Request) -> Response:
    principal, site = await _member(request)
    fields = await form_fields(request, max_fields=10)
    shared = fields.get("shared", "").strip().lower() in CHECKED
    try:
        note = await run_in_threadpool(
            _annotations(request).add,
            site, fields.get("day", ""), fields.get("text", ""), principal.email, shared,
        )  # fmt: skip
    except AnnotationError as error:
        if json_wanted(request):
            return _refused(error)
        raise HTTPException(400, error.message) from None
    detail = f"note {note.id} of {note.day}" + ("; shown on shared links" if shared else "")
    await _audit(request, principal, "annotation.add", site, f"{detail}: {note.text!r}")
    if json_wanted(request):
        registered = dashboards_of(request).backend.sites.get(site)
        timezone = registered.timezone if registered else "UTC"
        return JSONResponse({"annotation": note.as_dict("day", timezone)}, 201)
    return _back(request, site, fields)


async def remove(request: Request) -> Response:
    principal, site = await _member(request)
    fields = await form_fields(request, max_fields=5)
    annotations = _annotations(request)
    note = await run_in_threadpool(annotations.find, site, request.path_params["annotation"])
    if note is None:
        raise HTTPException(404, f"no such annotation of {site}")
    if not may_remove(principal, note):
        raise HTTPException(403, "only its author or an administrator removes a note")
    await run_in_threadpool(annotations.remove, note)
    detail = f"note {note.id} of {note.day} by {note.author}: {note.text!r}"
    await _audit(request, principal, "annotation.remove", site, detail)
    if json_wanted(request):
        return JSONResponse({"removed": note.id})
    return _back(request, site, fields)


async def listed(request: Request) -> Response:
    """``GET /api/stats/{site}/annotations``: the notes of the period, for the team and keys."""
    _, query = await stats_query(request)
    notes = await run_in_threadpool(shown, _annotations(request), query)
    return JSONResponse({**describe(query), "annotations": notes})


async def _audit(
    request: Request, principal: Principal, action: str, site: str, detail: str
) -> None:
    audit = dashboards_of(request).team().audit
    await run_in_threadpool(audit.record, principal.email, action, site, detail)
