"""Who is asking: a signed-in user (session cookie) or a script (``Authorization: Bearer <key>``).

Views call ``await require(request, site)``: it answers the principal, or raises 401 (nobody
authenticated) or 403 (this principal cannot see ``site``). ``security`` turns those into a JSON
error, or a redirection to the login page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import Scope

from collector.web.http import request_facts, root_path
from dashboards.account_rules import User
from dashboards.context import dashboards_of
from dashboards.sessions import SessionPolicy, cookie_name, session_cookie

REFRESHED_COOKIE = "audience.session_cookie"  # scope key: a Set-Cookie the middleware adds
_PRINCIPAL = "audience.principal"  # scope key: this request's principal, once known


@dataclass(frozen=True)
class Principal:
    email: str
    role: Literal["admin", "viewer"]
    sites: frozenset[str] | None  # None: every site

    def can_see(self, site: str) -> bool:
        return self.sites is None or site in self.sites

    @classmethod
    def of(cls, user: User) -> Principal:
        return cls(user.email, user.role, user.sites)


async def require(request: Request, site: str | None = None) -> Principal:
    """The authenticated principal; HTTPException 401 if none, 403 if it cannot see ``site``."""
    principal = await authenticate(request)
    if principal is None:
        raise HTTPException(401, "sign-in required", headers={"WWW-Authenticate": "Bearer"})
    if site is not None and not principal.can_see(site):
        raise HTTPException(403, "no access to this site")
    return principal


async def require_admin(request: Request) -> Principal:
    """An administrator signed in with a session: 401 if nobody is, 403 for anyone else. API
    keys read statistics; they never administer."""
    principal = await require(request)
    if principal.role != "admin" or request.headers.get("authorization") is not None:
        raise HTTPException(403, "administrators only")
    return principal


async def authenticate(request: Request) -> Principal | None:
    """The principal of the request's API key or session cookie, or None."""
    if _PRINCIPAL in request.scope:
        known: Principal | None = request.scope[_PRINCIPAL]
        return known
    header = request.headers.get("authorization")
    if header is not None:
        principal = await _from_key(request, header)
    else:
        principal = await _from_session(request)
    request.scope[_PRINCIPAL] = principal
    return principal


async def _from_key(request: Request, header: str) -> Principal | None:
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    accounts = dashboards_of(request).accounts()
    user = await run_in_threadpool(accounts.key_user, key.strip())
    return Principal.of(user) if user else None


async def _from_session(request: Request) -> Principal | None:
    context = dashboards_of(request)
    secure, root = is_secure(request.scope), root_path(request.scope)
    token = request.cookies.get(cookie_name(secure, root))
    if not token:
        return None
    accounts = context.accounts()
    session = accounts.sessions.verify(token)
    policy = SessionPolicy.from_settings(context.settings)
    now = accounts.now_ms()
    if session is None or not policy.is_live(session, now):
        return None
    user = await run_in_threadpool(accounts.user, session.email)
    if user is None or session.issued_ms < user.revoked_before_ms:
        return None
    refreshed = policy.refreshed(session, now)
    if refreshed is not None:
        cookie = session_cookie(
            accounts.sessions.sign(refreshed), policy.max_age(refreshed, now), secure, root
        )
        request.scope[REFRESHED_COOKIE] = cookie
    return Principal.of(user)


def known_principal(request: Request) -> Principal | None:
    """The principal this request already authenticated as, without asking again."""
    known: Principal | None = request.scope.get(_PRINCIPAL)
    return known


def is_secure(scope: Scope) -> bool:
    """The request came over https (directly, or through a trusted proxy that says so)."""
    app = scope.get("app")
    context = getattr(getattr(app, "state", None), "dashboards", None)
    proxies = context.settings.trusted_proxies if context is not None else ()
    return request_facts(scope, proxies).secure
