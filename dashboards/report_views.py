"""A site's email reports in the browser (administrators): the list with each report's last
deliveries (failures, their time and attempts), a new report, removal, and "send a test now".

Administrators only (``auth.require_admin``): a viewer gets 403, an API key 403, nobody 401 (a
browser is sent to the login). Changes are audited. Pages answer JSON too (``?format=json``).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from collector.storage.sites import Site
from dashboards import auth, mail
from dashboards.account_rules import AccountError
from dashboards.auth import Principal
from dashboards.context import dashboards_of, registered_site
from dashboards.mail import MailError
from dashboards.pages import data_page, form_fields, json_wanted, listed, redirect
from dashboards.report_delivery import ReportDelivery
from dashboards.reports import FREQUENCIES, Reports

DELIVERIES_SHOWN = 3


def _delivery(request: Request) -> ReportDelivery:
    context = dashboards_of(request)
    return ReportDelivery(context.store(), context.settings)


def _listing(reports: Reports, site: str) -> list[dict[str, Any]]:
    found = reports.of_site(site)
    deliveries = reports.deliveries(report.id for report in found)
    return [
        {
            **report.as_dict(),
            "deliveries": [d.as_dict() for d in deliveries if d.report == report.id][
                :DELIVERIES_SHOWN
            ],
        }
        for report in found
    ]


async def _reports_page(
    request: Request,
    principal: Principal,
    site: Site,
    *,
    error: str | None = None,
    notice: str | None = None,
    created: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    context = dashboards_of(request)
    reports = Reports(context.store())
    data: dict[str, Any] = {
        "site": site.domain,
        "reports": await run_in_threadpool(_listing, reports, site.domain),
        "mail_configured": mail.configured(context.settings),
        "dashboard_link": context.settings.public_url is not None,
    }
    if created is not None:
        data["created"] = created
    if notice is not None:
        data["notice"] = notice
    return data_page(
        request, "reports.html", principal, data, error=error, created=created is not None,
        frequencies=FREQUENCIES, values=values or {"frequency": "weekly", "recipients": ""},
    )  # fmt: skip


async def reports_page(request: Request) -> Response:
    principal = await auth.require_admin(request)
    site = registered_site(request)
    sent = request.query_params.get("tested")
    notice = f"Test report {sent} sent." if sent and sent.isalnum() and len(sent) <= 12 else None
    return await _reports_page(request, principal, site, notice=notice)


async def add_report(request: Request) -> Response:
    principal = await auth.require_admin(request)
    site = registered_site(request)
    fields = await form_fields(request)
    context = dashboards_of(request)
    frequency, recipients = fields.get("frequency", ""), listed(fields, "recipients")
    try:
        report = await run_in_threadpool(
            Reports(context.store()).add, site.domain, frequency, recipients, principal.email
        )
    except AccountError as error:
        values = {"frequency": frequency, "recipients": fields.get("recipients", "")}
        return await _reports_page(request, principal, site, error=error.message, values=values)
    detail = f"report {report.id}, {report.frequency}, {len(report.recipients)} recipient(s)"
    audit = context.team().audit
    await run_in_threadpool(audit.record, principal.email, "report.add", site.domain, detail)
    if not json_wanted(request):
        return redirect(request, f"/sites/{site.domain}/reports")
    return await _reports_page(request, principal, site, created=report.as_dict())


async def remove_report(request: Request) -> Response:
    principal = await auth.require_admin(request)
    site = registered_site(request)
    context = dashboards_of(request)
    try:
        report = await run_in_threadpool(
            Reports(context.store()).remove, site.domain, request.path_params["report"]
        )
    except AccountError as error:
        return await _reports_page(request, principal, site, error=error.message)
    audit = context.team().audit
    detail = f"report {report.id}, {report.frequency}"
    await run_in_threadpool(audit.record, principal.email, "report.remove", site.domain, detail)
    if json_wanted(request):
        return JSONResponse({"removed": report.id})
    return redirect(request, f"/sites/{site.domain}/reports")


async def send_test_report(request: Request) -> Response:
    """The last complete period, mailed at once to the report's recipients; a failure is said
    on the page (502 for JSON), with the SMTP server's answer."""
    principal = await auth.require_admin(request)
    site = registered_site(request)
    context = dashboards_of(request)
    delivery = _delivery(request)
    try:
        report = await run_in_threadpool(delivery.reports.find, site.domain,
                                         request.path_params["report"])  # fmt: skip
        sent = await run_in_threadpool(delivery.send_test, report, site.timezone)
    except AccountError as error:
        return await _reports_page(request, principal, site, error=error.message)
    except MailError as error:
        problem = f"The test report was not sent: {error.message}"
        if json_wanted(request):
            return JSONResponse({"error": problem}, error.status)
        return await _reports_page(request, principal, site, error=problem)
    audit = context.team().audit
    detail = f"report {report.id}, test of {sent.period.first.isoformat()}"
    await run_in_threadpool(audit.record, principal.email, "report.test", site.domain, detail)
    if json_wanted(request):
        return JSONResponse({"sent": report.id, **sent.as_dict()})
    return redirect(request, f"/sites/{site.domain}/reports?tested={report.id}")
