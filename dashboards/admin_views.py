"""Administration in the browser: sites (add, edit, remove, install) and the audit of actions.

Administrators only (``auth.require_admin``), behind the login and the cross-site refusal of
``security``. Every change goes through the implementation the CLI uses (``site_admin``) and is
audited. Pages answer JSON too (``?format=json``), as the others do.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from collector.storage.sites import DEFAULT_ENGAGED_SECONDS, DEFAULT_TIMEZONE, Site, SiteError
from dashboards import auth, install
from dashboards.auth import Principal
from dashboards.context import dashboards_of
from dashboards.pages import form_fields, json_wanted, page, redirect, refused
from dashboards.site_admin import site_from

TIMEZONES = sorted(available_timezones())


def _site_of_form(fields: dict[str, str], domain: str | None = None) -> Site:
    origins = fields.get("origins", "").replace(",", "\n").splitlines()
    return site_from(
        domain or fields.get("domain", ""),
        [origin.strip() for origin in origins],
        fields.get("timezone", DEFAULT_TIMEZONE),
        respect_gpc=fields.get("gpc") != "ignore",
        count_outside_gdpr=fields.get("outside_gdpr") == "count",
        engaged_seconds=fields.get("engaged_seconds", "").strip() or DEFAULT_ENGAGED_SECONDS,
    )


def _form_values(site: Site | None, fields: dict[str, str] | None = None) -> dict[str, Any]:
    if fields is not None:
        return {
            "domain": fields.get("domain", ""),
            "origins": fields.get("origins", ""),
            "timezone": fields.get("timezone", DEFAULT_TIMEZONE),
            "gpc": fields.get("gpc", "honour"),
            "outside_gdpr": fields.get("outside_gdpr", "nothing"),
            "engaged_seconds": fields.get("engaged_seconds", DEFAULT_ENGAGED_SECONDS),
        }
    return {
        "domain": site.domain if site else "",
        "origins": "\n".join(site.origins) if site else "",
        "timezone": site.timezone if site else DEFAULT_TIMEZONE,
        "gpc": "honour" if site is None or site.respect_gpc else "ignore",
        "outside_gdpr": "count" if site and site.count_outside_gdpr else "nothing",
        "engaged_seconds": site.engaged_seconds if site else DEFAULT_ENGAGED_SECONDS,
    }


def _site_form(
    request: Request,
    principal: Principal,
    site: Site | None,
    values: dict[str, Any],
    error: str | None = None,
) -> Response:
    """The site's form, or the form sent back with what is wrong (its JSON twin: the error)."""
    context: dict[str, Any] = {"site": site, "values": values, "timezones": TIMEZONES}
    if error is not None:
        return refused(request, error, "site_form.html", principal, **context)
    return page(request, "site_form.html", principal, **context)


async def new_site(request: Request) -> Response:
    principal = await auth.require_admin(request)
    return _site_form(request, principal, None, _form_values(None))


async def add_site(request: Request) -> Response:
    principal = await auth.require_admin(request)
    fields = await form_fields(request)
    admin = dashboards_of(request).site_admin()
    try:
        site = _site_of_form(fields)
        await run_in_threadpool(admin.add, principal.email, site)
    except SiteError as error:
        return _site_form(request, principal, None, _form_values(None, fields), error.message)
    if json_wanted(request):
        return JSONResponse(install.site_json(site), 201)
    return redirect(request, f"/sites/{site.domain}/install")


async def site_settings(request: Request) -> Response:
    principal = await auth.require_admin(request)
    site = await _existing(request)
    if json_wanted(request):
        return JSONResponse(install.site_json(site))
    return _site_form(request, principal, site, _form_values(site))


async def save_site_settings(request: Request) -> Response:
    principal = await auth.require_admin(request)
    known = await _existing(request)
    fields = await form_fields(request)
    admin = dashboards_of(request).site_admin()
    try:
        site = _site_of_form(fields, known.domain)
        await run_in_threadpool(admin.edit, principal.email, site)
    except SiteError as error:
        values = _form_values(known, fields) | {"domain": known.domain}
        return _site_form(request, principal, known, values, error.message)
    if json_wanted(request):
        return JSONResponse(install.site_json(site))
    return redirect(request, f"/sites/{site.domain}/settings?saved=1")


async def confirm_removal(request: Request) -> Response:
    principal = await auth.require_admin(request)
    site = await _existing(request)
    months = dashboards_of(request).settings.retention_months
    return page(request, "site_remove.html", principal, site=site, retention_months=months)


async def remove_site(request: Request) -> Response:
    principal = await auth.require_admin(request)
    site = await _existing(request)
    fields = await form_fields(request)
    if fields.get("confirm") != site.domain:
        months = dashboards_of(request).settings.retention_months
        error = f"type the domain {site.domain} to confirm"
        return refused(
            request, error, "site_remove.html", principal, site=site, retention_months=months
        )
    admin = dashboards_of(request).site_admin()
    erase = fields.get("data") == "erase"
    removal = await run_in_threadpool(admin.remove, principal.email, site.domain, erase=erase)
    if json_wanted(request):
        return JSONResponse({"removed": removal.domain, "erased": bool(removal.erased_tables)})
    return redirect(request, "/")


async def install_page(request: Request) -> Response:
    principal = await auth.require_admin(request)
    site = await _existing(request)
    context = dashboards_of(request)
    guide = install.guide(site, install.collector_base(request, context.settings))
    if json_wanted(request):
        return JSONResponse(install.site_json(site) | {"install": guide})
    return page(request, "install.html", principal, site=site, guide=guide)


async def install_status(request: Request) -> Response:
    await auth.require_admin(request)
    site = await _existing(request)
    context = dashboards_of(request)
    found = await run_in_threadpool(install.status, context.store(), site.domain)
    refused = await run_in_threadpool(context.backend.refusals, site.domain)
    return JSONResponse({**found, "refused": install.refusals(refused)})


async def audit(request: Request) -> Response:
    principal = await auth.require_admin(request)
    log = dashboards_of(request).site_admin().audit
    actions = [action.as_dict() for action in await run_in_threadpool(log.recent)]
    if json_wanted(request):
        return JSONResponse({"actions": actions})
    return page(request, "audit.html", principal, actions=actions)


async def _existing(request: Request) -> Site:
    admin = dashboards_of(request).site_admin()
    try:
        return await run_in_threadpool(admin.existing, request.path_params["site"])
    except SiteError as error:
        raise HTTPException(404, error.message) from None
