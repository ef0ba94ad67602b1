"""The login page, sign-in and sign-out.

A sign-in issues a new session (a new random id: any cookie sent with the form is discarded). A
wrong e-mail and a wrong password get the same answer, in the same time; so does a missing, wrong
or reused one-time code of a user with a second factor (the field is ignored for the others).
After too many failures for one e-mail, further attempts get 429 without the password being
checked. Sign-out records that the user's sessions issued until now are over, so a copied cookie
is useless too.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from collector.web.http import root_path
from dashboards.accounts import Throttled
from dashboards.auth import is_secure
from dashboards.context import dashboards_of
from dashboards.security import safe_next
from dashboards.sessions import (
    SessionPolicy,
    cleared_cookie,
    cookie_name,
    new_session,
    session_cookie,
)

WRONG_CREDENTIALS = "wrong e-mail or password"
THROTTLED = "too many failed attempts: try again later"
MAX_FIELD_BYTES = 4096


async def form(request: Request) -> Response:
    return _page(request, next_path=safe_next(request.query_params.get("next")) or "")


async def submit(request: Request) -> Response:
    async with request.form(max_files=0, max_fields=10, max_part_size=MAX_FIELD_BYTES) as data:
        fields = {name: value for name, value in data.items() if isinstance(value, str)}
    email = fields.get("email", "")[:320]
    next_path = safe_next(fields.get("next")) or ""
    context = dashboards_of(request)
    accounts = context.accounts()
    try:
        password, code = fields.get("password", ""), fields.get("code", "")
        user = await run_in_threadpool(accounts.sign_in, email, password, code)
    except Throttled as throttled:
        headers = {"Retry-After": str(throttled.retry_after)}
        return _page(request, next_path, email, THROTTLED, status=429, headers=headers)
    if user is None:
        return _page(request, next_path, email, WRONG_CREDENTIALS, status=401)
    return signed_in(request, user.email, next_path or f"{root_path(request.scope)}/")


def signed_in(request: Request, email: str, target: str) -> Response:
    """A redirection to ``target`` that starts a new session of ``email`` (a sign-in, or the
    session that continues after the user's own change ended the others)."""
    context = dashboards_of(request)
    accounts = context.accounts()
    user = accounts.user_now(email)
    revoked_before_ms = user.revoked_before_ms if user else 0
    secure, root = is_secure(request.scope), root_path(request.scope)
    policy = SessionPolicy.from_settings(context.settings)
    now = accounts.now_ms()
    session = new_session(email, max(now, revoked_before_ms))  # after any sign-out
    response = RedirectResponse(target, status_code=303)
    token = accounts.sessions.sign(session)
    max_age = policy.max_age(session, now)
    response.headers.append("set-cookie", session_cookie(token, max_age, secure, root))
    return response


async def logout(request: Request) -> Response:
    secure, root = is_secure(request.scope), root_path(request.scope)
    accounts = dashboards_of(request).accounts()
    session = accounts.sessions.verify(request.cookies.get(cookie_name(secure, root)))
    if session is not None:
        await run_in_threadpool(accounts.revoke_sessions, session.email)
    response = RedirectResponse(f"{root}/login", status_code=303)
    response.headers.append("set-cookie", cleared_cookie(secure, root))
    return response


def _page(
    request: Request,
    next_path: str,
    email: str = "",
    error: str | None = None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    context: dict[str, Any] = {"next": next_path, "email": email, "error": error, "principal": None}
    return dashboards_of(request).templates.TemplateResponse(
        request, "login.html", context, status_code=status, headers=headers
    )
