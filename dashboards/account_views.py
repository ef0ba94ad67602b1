"""My account: the password, the TOTP second factor (a QR code drawn here, recovery codes shown
once), and API keys. Signed-in users only, with their session (never an API key).

A change that ends the user's sessions (password, second factor) starts a new one for the
browser that made it; the others are signed out.
"""

from __future__ import annotations

from typing import Any

import segno
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dashboards import auth, totp
from dashboards.account_rules import AccountError
from dashboards.accounts import Throttled
from dashboards.api_keys import ApiKey
from dashboards.auth import Principal
from dashboards.context import dashboards_of
from dashboards.login import signed_in
from dashboards.pages import (
    data_page,
    form_fields,
    json_wanted,
    last_moment,
    listed,
    page,
    redirect,
    refused,
    under_root,
)

NOTICES = {
    "renewed": "Your password is changed; your other sessions are signed out.",
    "totp-off": "The second factor is removed; your other sessions are signed out.",
    "revoked": "The key is revoked: it stops working at once.",
}


async def _signed_in(request: Request) -> Principal:
    principal = await auth.require(request)
    if request.headers.get("authorization") is not None:
        raise HTTPException(403, "an API key cannot manage an account")
    return principal


async def account(request: Request) -> Response:
    principal = await _signed_in(request)
    accounts = dashboards_of(request).accounts()
    user = await run_in_threadpool(accounts.user_now, principal.email)
    codes_left = await run_in_threadpool(accounts.recovery_codes.remaining, principal.email)
    data = {
        "email": principal.email,
        "role": principal.role,
        "sites": None if principal.sites is None else sorted(principal.sites),
        "second_factor": bool(user and user.totp_nonce),
        "recovery_codes_left": codes_left if user and user.totp_nonce else 0,
    }
    if json_wanted(request):
        return JSONResponse(data)
    notice = NOTICES.get(request.query_params.get("done", ""))
    return page(request, "account.html", principal, data=data, notice=notice)


async def change_password(request: Request) -> Response:
    principal = await _signed_in(request)
    fields = await form_fields(request, max_fields=10)
    new = fields.get("new_password", "")
    team = dashboards_of(request).team()
    try:
        if new != fields.get("new_password_again", new):
            raise AccountError("the two new passwords differ")
        current = fields.get("current_password", "")
        await run_in_threadpool(team.change_password, principal.email, current, new)
    except (AccountError, Throttled) as error:
        return await _account_refused(request, principal, error.message)
    return signed_in(request, principal.email, under_root(request, "/account?done=renewed"))


async def _account_refused(request: Request, principal: Principal, message: str) -> Response:
    accounts = dashboards_of(request).accounts()
    user = await run_in_threadpool(accounts.user_now, principal.email)
    data = {"email": principal.email, "second_factor": bool(user and user.totp_nonce)}
    return refused(request, message, "account.html", principal, data=data)


async def totp_enrolment(request: Request) -> Response:
    """A new secret to enrol, as a QR code and as text; nothing is saved until a code confirms
    it (``confirm_totp``)."""
    principal = await _signed_in(request)
    return _enrolment_page(request, principal, totp.new_nonce())


def _enrolment_page(
    request: Request, principal: Principal, nonce: str, error: str | None = None
) -> Response:
    accounts = dashboards_of(request).accounts()
    secret = accounts.totp_secret(principal.email, nonce)
    uri = totp.otpauth_uri(principal.email, secret)
    data = {"nonce": nonce, "otpauth_uri": uri, "secret": totp.encode_secret(secret)}
    if json_wanted(request) and error is None:
        return JSONResponse(data)
    if error is not None and json_wanted(request):
        return JSONResponse({"error": error}, 400)
    qr = segno.make(uri, error="m").svg_data_uri(scale=5, border=4, dark="#111", light="#fff")
    return page(
        request, "totp.html", principal, status=400 if error else 200, data=data, qr=qr, error=error
    )


async def confirm_totp(request: Request) -> Response:
    principal = await _signed_in(request)
    fields = await form_fields(request, max_fields=10)
    nonce, code = fields.get("nonce", ""), fields.get("code", "")
    team = dashboards_of(request).team()
    try:
        codes = await run_in_threadpool(team.confirm_totp, principal.email, nonce, code)
    except AccountError as error:
        return _enrolment_page(request, principal, totp.new_nonce(), error.message)
    if codes is None:
        return _enrolment_page(request, principal, nonce, "wrong code: try the next one")
    if json_wanted(request):
        response: Response = JSONResponse({"recovery_codes": codes}, 201)
    else:
        response = page(request, "recovery_codes.html", principal, codes=codes)
    session = signed_in(request, principal.email, under_root(request, "/account"))
    for value in session.headers.getlist("set-cookie"):
        response.headers.append("set-cookie", value)
    return response


async def disable_totp(request: Request) -> Response:
    principal = await _signed_in(request)
    fields = await form_fields(request, max_fields=10)
    accounts = dashboards_of(request).accounts()
    user = await run_in_threadpool(accounts.user_now, principal.email)
    password = fields.get("current_password", "")
    code = fields.get("code", "")
    try:
        checked = (
            user is not None
            and (await run_in_threadpool(accounts.sign_in, principal.email, password, code))
            is not None
        )
    except Throttled as error:
        return await _account_refused(request, principal, error.message)
    if not checked:
        return await _account_refused(request, principal, "the password or the code is wrong")
    team = dashboards_of(request).team()
    await run_in_threadpool(team.disable_totp, principal.email, principal.email)
    return signed_in(request, principal.email, under_root(request, "/account?done=totp-off"))


# API keys


def _visible_keys(keys: list[ApiKey], principal: Principal) -> list[ApiKey]:
    return keys if principal.role == "admin" else [k for k in keys if k.email == principal.email]


async def keys(request: Request) -> Response:
    principal = await _signed_in(request)
    return await _keys_page(request, principal)


async def _keys_page(
    request: Request,
    principal: Principal,
    *,
    created: tuple[ApiKey, str] | None = None,
    error: str | None = None,
) -> Response:
    context = dashboards_of(request)
    found = await run_in_threadpool(context.accounts().keys.all)
    data: dict[str, Any] = {"keys": [k.as_dict() for k in _visible_keys(found, principal)]}
    if created is not None:
        data["created"] = {**created[0].as_dict(), "key": created[1]}
    sites = [s.domain for s in context.backend.sites.all() if principal.can_see(s.domain)]
    notice = NOTICES.get(request.query_params.get("done", ""))
    return data_page(
        request, "keys.html", principal, data, error=error, created=created is not None,
        sites=sites, notice=notice,
    )  # fmt: skip


async def create_key(request: Request) -> Response:
    principal = await _signed_in(request)
    fields = await form_fields(request, max_fields=200)
    team = dashboards_of(request).team()
    try:
        expires = last_moment(fields.get("expires", ""))
        created = await run_in_threadpool(
            team.create_key,
            principal.email,
            principal.email,
            fields.get("name", ""),
            listed(fields, "sites"),
            expires,
        )
    except AccountError as error:
        return await _keys_page(request, principal, error=error.message)
    return await _keys_page(request, principal, created=created)


async def revoke_key(request: Request) -> Response:
    principal = await _signed_in(request)
    owner = None if principal.role == "admin" else principal.email
    key_id = request.path_params["key"]
    team = dashboards_of(request).team()
    try:
        await run_in_threadpool(team.revoke_key, principal.email, key_id, owner)
    except AccountError as error:
        return await _keys_page(request, principal, error=error.message)
    if json_wanted(request):
        return JSONResponse({"revoked": key_id})
    return redirect(request, "/account/keys?done=revoked")
