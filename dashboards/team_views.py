"""The team in the browser: members and their access, invitations (administrators), and the
page where an invitee accepts one (anyone holding the link).

Every change goes through ``dashboards.team``, the implementation the CLI uses, and is audited.
Pages answer JSON too (``?format=json``).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dashboards import auth, install, mail
from dashboards.account_rules import ROLES, AccountError
from dashboards.auth import Principal
from dashboards.context import dashboards_of
from dashboards.login import signed_in
from dashboards.pages import (
    data_page,
    form_fields,
    json_wanted,
    listed,
    page,
    redirect,
    refused,
    under_root,
)
from dashboards.team import Invited


def _member(user: Any) -> dict[str, Any]:
    return {
        "email": user.email,
        "role": user.role,
        "sites": None if user.sites is None else sorted(user.sites),
        "second_factor": bool(user.totp_nonce),
    }


async def _team_page(
    request: Request,
    principal: Principal,
    *,
    invited: Invited | None = None,
    error: str | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    context = dashboards_of(request)
    team = context.team()
    members = [_member(user) for user in await run_in_threadpool(context.accounts().users)]
    pending = [i.as_dict() for i in await run_in_threadpool(team.invitations.pending)]
    data: dict[str, Any] = {"members": members, "invitations": pending}
    if invited is not None:
        data["invited"] = {
            **invited.invitation.as_dict(),
            "link": invited.link,
            "mailed": invited.mailed,
            "mail_problem": invited.mail_problem,
        }
    return data_page(
        request,
        "team.html",
        principal,
        data,
        error=error,
        created=invited is not None,
        roles=ROLES,
        sites=[site.domain for site in context.backend.sites.all()],
        mail_configured=mail.configured(context.settings),
        values=values or {"role": "viewer", "sites": []},
    )


async def team(request: Request) -> Response:
    principal = await auth.require_admin(request)
    return await _team_page(request, principal)


async def invite(request: Request) -> Response:
    principal = await auth.require_admin(request)
    fields = await form_fields(request, max_fields=200)
    context = dashboards_of(request)
    base = install.collector_base(request, context.settings)
    sites = listed(fields, "sites")
    role = fields.get("role", "viewer")
    try:
        invited = await run_in_threadpool(
            context.team().invite, principal.email, fields.get("email", ""), role, sites, base
        )
    except AccountError as error:
        values = {"email": fields.get("email", ""), "role": role, "sites": sites}
        return await _team_page(request, principal, error=error.message, values=values)
    return await _team_page(request, principal, invited=invited)


async def revoke_invitation(request: Request) -> Response:
    principal = await auth.require_admin(request)
    team_ = dashboards_of(request).team()
    invitation_id = request.path_params["invitation"]
    try:
        await run_in_threadpool(team_.revoke_invitation, principal.email, invitation_id)
    except AccountError as error:
        return await _team_page(request, principal, error=error.message)
    return _done(request, {"revoked": invitation_id})


async def change_access(request: Request) -> Response:
    principal = await auth.require_admin(request)
    fields = await form_fields(request, max_fields=200)
    email = request.path_params["email"]
    team_ = dashboards_of(request).team()
    try:
        user = await run_in_threadpool(
            team_.set_access,
            principal.email,
            email,
            fields.get("role", ""),
            listed(fields, "sites"),
        )
    except AccountError as error:
        return await _team_page(request, principal, error=error.message)
    return _done(request, _member(user))


async def remove_member(request: Request) -> Response:
    principal = await auth.require_admin(request)
    email = request.path_params["email"]
    try:
        await run_in_threadpool(dashboards_of(request).team().remove, principal.email, email)
    except AccountError as error:
        return await _team_page(request, principal, error=error.message)
    return _done(request, {"removed": email})


def _done(request: Request, data: dict[str, Any]) -> Response:
    if json_wanted(request):
        return JSONResponse(data)
    return redirect(request, "/admin/team")


# The invitee's side: no sign-in, the link's secret is the credential.


async def invitation(request: Request) -> Response:
    team_ = dashboards_of(request).team()
    try:
        found = await run_in_threadpool(team_.invitations.find, request.path_params["token"])
    except AccountError as error:
        return _invalid(request, error.message)
    if json_wanted(request):
        return JSONResponse({k: v for k, v in found.as_dict().items() if k != "invited_by"})
    return page(request, "invitation.html", None, invitation=found)


async def accept_invitation(request: Request) -> Response:
    fields = await form_fields(request, max_fields=10)
    team_ = dashboards_of(request).team()
    token = request.path_params["token"]
    password = fields.get("password", "")
    try:
        found = await run_in_threadpool(team_.invitations.find, token)
    except AccountError as error:
        return _invalid(request, error.message)
    if password != fields.get("password_again", password):
        return refused(request, "the two passwords differ", "invitation.html", None,
                       invitation=found)  # fmt: skip
    try:
        user = await run_in_threadpool(team_.accept, token, password)
    except AccountError as error:
        return refused(request, error.message, "invitation.html", None, invitation=found)
    if json_wanted(request):
        response: Response = JSONResponse(_member(user), 201)
        signed = signed_in(request, user.email, under_root(request, "/"))
        for value in signed.headers.getlist("set-cookie"):
            response.headers.append("set-cookie", value)
        return response
    return signed_in(request, user.email, under_root(request, "/"))


def _invalid(request: Request, message: str) -> Response:
    if json_wanted(request):
        return JSONResponse({"error": message}, 404)
    return page(request, "invitation.html", None, status=404, invitation=None, error=message)
