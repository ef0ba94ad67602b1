"""Shared links in the browser: an admin makes and revokes a site's links; anyone holding a link
sees that site's dashboard, read-only, after its password when it has one.

A shared page is never indexed (``X-Robots-Tag`` and a robots meta), exports no CSV, and keeps
the filters the link locks. It may be framed only when it has no password, and only by the
origins of ``AUDIENCE_SHARE_FRAME_ANCESTORS`` (by none without that setting).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from collector.web.http import root_path
from dashboards import auth, install
from dashboards.account_rules import AccountError
from dashboards.accounts import Throttled
from dashboards.auth import Principal
from dashboards.context import dashboards_of, registered_site
from dashboards.pages import data_page, form_fields, json_wanted, last_moment, page, redirect
from dashboards.periods import FILTERS, QueryError, StatsQuery, parse_query
from dashboards.security import FRAME_ANCESTORS
from dashboards.shared_links import SharedLink, SharedLinks
from dashboards.views import KPIS, View, render_dashboard

SHARE_COOKIE = "audience-share"  # the pass of a shared link with a password
NOINDEX = {"x-robots-tag": "noindex, nofollow"}


def _links(request: Request) -> SharedLinks:
    return dashboards_of(request).shared_links()


# The admin's side.


async def _share_page(
    request: Request,
    principal: Principal,
    site: str,
    *,
    created: tuple[SharedLink, str] | None = None,
    error: str | None = None,
) -> Response:
    links = await run_in_threadpool(_links(request).of_site, site)
    data: dict[str, Any] = {"site": site, "links": [link.as_dict() for link in links]}
    if created is not None:
        base = install.collector_base(request, dashboards_of(request).settings)
        data["created"] = {**created[0].as_dict(), "url": f"{base}/share/{created[1]}"}
    return data_page(
        request, "share.html", principal, data, error=error, created=created is not None,
        filters=FILTERS,
    )  # fmt: skip


async def shares(request: Request) -> Response:
    principal = await auth.require_admin(request)
    return await _share_page(request, principal, registered_site(request).domain)


async def create_share(request: Request) -> Response:
    principal = await auth.require_admin(request)
    site = registered_site(request).domain
    fields = await form_fields(request)
    locked = {name: fields.get(f"filter_{name}", "") for name in FILTERS}
    team = dashboards_of(request).team()
    name, password = fields.get("name", ""), fields.get("password", "")
    try:
        expires = last_moment(fields.get("expires", ""))
        created = await run_in_threadpool(
            _links(request).create, site, name, locked, password, principal.email, expires
        )
    except AccountError as error:
        return await _share_page(request, principal, site, error=error.message)
    link = created[0]
    detail = f"link {link.id} {link.name!r}; " + (
        "password" if link.has_password else "no password"
    )
    if link.filters:
        detail += "; locked to " + ", ".join(f"{k}={v}" for k, v in link.filters.items())
    await run_in_threadpool(team.audit.record, principal.email, "share.create", site, detail)
    return await _share_page(request, principal, site, created=created)


async def revoke_share(request: Request) -> Response:
    principal = await auth.require_admin(request)
    site = registered_site(request).domain
    link_id = request.path_params["link"]
    try:
        link = await run_in_threadpool(_links(request).revoke, site, link_id)
    except AccountError as error:
        return await _share_page(request, principal, site, error=error.message)
    audit = dashboards_of(request).team().audit
    await run_in_threadpool(
        audit.record, principal.email, "share.revoke", site, f"link {link.id} {link.name!r}"
    )
    if json_wanted(request):
        return JSONResponse({"revoked": link.id})
    return redirect(request, f"/sites/{site}/share")


# The visitor of a link: no account.


async def _found(request: Request) -> SharedLink:
    link = await run_in_threadpool(_links(request).find, request.path_params["token"])
    if link is None or dashboards_of(request).backend.sites.get(link.site) is None:
        raise HTTPException(404, "this link does not work: it was revoked or never existed")
    return link


async def shared(request: Request) -> Response:
    link = await _found(request)
    if link.has_password and not _links(request).pass_is_valid(
        link, request.cookies.get(SHARE_COOKIE)
    ):
        return _password_page(request, link, status=401)
    if not link.has_password:
        ancestors = dashboards_of(request).settings.share_frame_ancestors
        if ancestors:
            request.scope[FRAME_ANCESTORS] = " ".join(ancestors)
    context = dashboards_of(request)
    registered = context.backend.sites.get(link.site)
    assert registered is not None
    try:
        asked = parse_query(link.site, request.query_params, registered.timezone)
    except QueryError as error:
        raise HTTPException(400, str(error)) from None
    query = StatsQuery(link.site, asked.period, {**asked.filters, **link.filters}, asked.interval)
    metric = request.query_params.get("metric", "visitors")
    metric = metric if metric in KPIS else "visitors"
    view = View(
        f"{root_path(request.scope)}/share/{request.path_params['token']}",
        locked=frozenset(link.filters),
        exports=False,
        team_notes=False,
    )
    cohorts = request.query_params.get("cohorts")
    response = await render_dashboard(
        request, context.stats(), query, metric, view, cohorts, shared=link.as_dict()
    )
    response.headers.update(NOINDEX)
    return response


async def unlock(request: Request) -> Response:
    link = await _found(request)
    fields = await form_fields(request, max_fields=5)
    links = _links(request)
    try:
        right = await run_in_threadpool(links.check_password, link, fields.get("password", ""))
    except Throttled as throttled:
        headers = {"retry-after": str(throttled.retry_after)}
        return _password_page(request, link, 429, "too many wrong passwords: try later", headers)
    if not right:
        return _password_page(request, link, 401, "wrong password")
    here = f"/share/{request.path_params['token']}"
    path = f"{root_path(request.scope)}{here}"
    response = redirect(request, here)
    secure = auth.is_secure(request.scope)
    flags = "; HttpOnly; Secure; SameSite=Strict" if secure else "; HttpOnly; SameSite=Strict"
    response.headers.append(
        "set-cookie",
        f"{SHARE_COOKIE}={links.issue_pass(link)}; Path={path}; Max-Age=43200{flags}",
    )
    return response


def _password_page(
    request: Request,
    link: SharedLink,
    status: int,
    error: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if json_wanted(request):
        message = error or "this shared dashboard needs its password"
        return JSONResponse({"error": message}, status, headers={**NOINDEX, **(headers or {})})
    response = page(request, "share_password.html", None, status=status, link=link, error=error)
    response.headers.update({**NOINDEX, **(headers or {})})
    return response
