"""The dashboards' sign-in, sessions, API keys, access rules and security headers over real HTTP:
a real uvicorn on the embedded store, the real login views and middleware, and small probe
routes that call ``auth.require`` as the dashboards' views do. Time moves by a clock, not sleep.

One server serves the module; each test has its own clock and its own accounts, with e-mails
no other test uses (so none sees another's sessions, throttling or keys), made when it first
names them. The product's own mounting of this layer: test_mounted_auth.py."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from collector.app import CollectorApp
from collector.settings import Settings
from collector.storage.sites import Site
from collector.web.asgi import Receive, Scope, Send
from dashboards import auth, login, totp
from dashboards.accounts import Accounts
from dashboards.context import Dashboards, dashboards_of
from dashboards.security import CONTENT_SECURITY_POLICY, SecurityMiddleware
from dashboards.sessions import PLAIN_COOKIE, SECURE_COOKIE
from dashboards.throttle import THROTTLE_WINDOW_SECONDS
from tests.conftest import CHROME, GeoFiles, LiveServer, environment, register

PASSWORD = "correct horse battery staple"
SAME_ORIGIN = {"sec-fetch-site": "same-origin"}
HTTPS = {"x-forwarded-proto": "https"}  # from 127.0.0.1, a trusted proxy in the test settings
PROBE_ROUTES = ("/login", "/logout", "/probe", "/api/probe", "/static/")


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def page(request: Request) -> Response:
    """An HTML page that needs a signed-in user (who can see the site, when there is one)."""
    principal = await auth.require(request, request.path_params.get("site"))
    templates = dashboards_of(request).templates
    return templates.TemplateResponse(request, "base.html", {"principal": principal})


async def api(request: Request) -> Response:
    principal = await auth.require(request, request.path_params["site"])
    sites = None if principal.sites is None else sorted(principal.sites)
    return JSONResponse({"email": principal.email, "role": principal.role, "sites": sites})


async def broken(request: Request) -> Response:
    raise RuntimeError("secret detail of a bug")


def probe_app(settings: Settings, backend: Any, static: Path) -> Starlette:
    app = Starlette(
        routes=[
            Route("/login", login.form, methods=["GET"]),
            Route("/login", login.submit, methods=["POST"]),
            Route("/logout", login.logout, methods=["POST"]),
            Route("/probe", page),
            Route("/probe/{site}", page),
            Route("/probe-broken", broken),
            Route("/api/probe-broken", broken),
            Route("/api/probe/{site}", api),
            Mount("/static", StaticFiles(directory=static)),
        ],
        middleware=[Middleware(SecurityMiddleware)],
    )
    app.state.dashboards = Dashboards(settings, backend)
    return app


_tests = itertools.count()  # numbers the e-mails of each test's accounts


@dataclass
class Served:
    """The module's server: one store and one app for every test, the probe routes in front."""

    live: LiveServer
    http: httpx.Client
    dashboards: Dashboards


class Server:
    """A test's view of the module's server: its own clock and accounts (fresh e-mails: the
    accounts, sessions, throttling and keys of other tests are never its own)."""

    def __init__(self, served: Served) -> None:
        self.live = served.live
        self.http = served.http
        self.dashboards = served.dashboards
        self.clock = Clock()
        self.accounts.clock = self.clock
        self.number = next(_tests)

    @property
    def accounts(self) -> Accounts:
        return self.dashboards.accounts()

    @cached_property
    def admin(self) -> str:
        """The e-mail of this test's admin, made at first use (an Argon2 hash each)."""
        email = f"ana-{self.number}@example.com"
        self.accounts.add_user(email, PASSWORD, "admin")
        return email

    @cached_property
    def viewer(self) -> str:
        """The e-mail of this test's viewer of example.com, made at first use."""
        email = f"bob-{self.number}@example.com"
        self.accounts.add_user(email, PASSWORD, "viewer", ["example.com"])
        return email

    @cached_property
    def key(self) -> str:
        """An API key of the viewer."""
        _, key = self.accounts.keys.create(self.viewer, "reporting")
        return key

    def request(
        self, method: str, path: str, cookie: str | None = None, secure: bool = False, **kw: Any
    ) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if cookie is not None:
            headers["cookie"] = f"{SECURE_COOKIE if secure else PLAIN_COOKIE}={cookie}"
        if secure:
            headers.update(HTTPS)
        response = self.http.request(method, path, headers=headers, **kw)
        self.http.cookies.clear()  # every test says which cookie it sends
        return response

    def login(
        self, email: str, password: str, next_path: str = "", code: str | None = None, **kw: Any
    ) -> httpx.Response:
        headers = {**SAME_ORIGIN, **kw.pop("headers", {})}
        form = {"email": email, "password": password, "next": next_path}
        if code is not None:
            form["code"] = code
        return self.request("POST", "/login", data=form, headers=headers, **kw)

    def session(self, email: str | None = None, secure: bool = False) -> str:
        """A session of ``email`` (the admin when None), signed in through the form."""
        response = self.login(email or self.admin, PASSWORD, secure=secure)
        assert response.status_code == 303, response.text
        token = session_token(response, secure)
        assert token
        return token


def session_token(response: httpx.Response, secure: bool = False) -> str | None:
    name = SECURE_COOKIE if secure else PLAIN_COOKIE
    for header in response.headers.get_list("set-cookie"):
        cookie_name, _, rest = header.partition("=")
        if cookie_name == name:
            return rest.split(";", 1)[0]
    return None


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, geo_files: GeoFiles) -> Iterator[Served]:
    """One server for the module (a store, an app and a client made once: a second per test)."""
    folder = tmp_path_factory.mktemp("dashboard-auth")
    settings = Settings.from_environ(environment(folder / "data", geo_files))
    register(settings, Site("example.com"), Site("shop.test"))
    static = folder / "static"
    static.mkdir()
    (static / "probe.css").write_text("main { margin: 0 }\n")
    made: dict[str, Starlette] = {}

    def wrap(collector: CollectorApp, url: str) -> Any:
        made["app"] = probe_app(settings, collector.runtime, static)

        async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["path"].startswith(PROBE_ROUTES):
                await made["app"](scope, receive, send)
            else:
                await collector(scope, receive, send)

        return dispatch

    with (
        LiveServer(settings, wrap) as live,
        httpx.Client(base_url=live.url, headers={"user-agent": CHROME}, timeout=10) as http,
    ):
        yield Served(live, http, made["app"].state.dashboards)


@pytest.fixture
def server(served: Served) -> Server:
    return Server(served)


# Sign-in


def test_login_page_renders_an_accessible_form(server: Server) -> None:
    response = server.request("GET", "/login", params={"next": "/probe/example.com?from=x&y=1"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<html lang="en">' in html and "<main" in html and "Kalido Audience" in html
    assert '<label for="email">' in html and '<label for="password">' in html
    assert 'value="/probe/example.com?from=x&amp;y=1"' in html
    assert "<script" not in html and "style=" not in html
    assert 'action="/logout"' not in html  # nobody signed in
    hostile = server.request("GET", "/login", params={"next": "//evil.test/"})
    assert 'name="next" value=""' in hostile.text


def test_login_sets_a_session_cookie_and_rotates_it(server: Server) -> None:
    response = server.login(server.admin, PASSWORD, next_path="/probe/example.com?from=2025-01-01")
    assert response.status_code == 303
    assert response.headers["location"] == "/probe/example.com?from=2025-01-01"
    [set_cookie] = response.headers.get_list("set-cookie")
    assert set_cookie.startswith(f"{PLAIN_COOKIE}=")
    assert set_cookie.endswith("; Path=/; Max-Age=3600; HttpOnly; SameSite=Strict")
    first = session_token(response)
    page_response = server.request("GET", "/probe/example.com", cookie=first)
    assert page_response.status_code == 200
    assert server.admin in page_response.text and 'action="/logout"' in page_response.text

    again = server.login(server.admin, PASSWORD, cookie=first)  # the old cookie is discarded
    second = session_token(again)
    signer = server.accounts.sessions
    old, new = signer.verify(first), signer.verify(second)
    assert old is not None and new is not None
    assert old.email == new.email == server.admin
    assert old.session_id != new.session_id
    assert server.request("GET", "/api/probe/example.com", cookie=second).status_code == 200


def test_login_over_https_uses_a_host_prefixed_secure_cookie(server: Server) -> None:
    response = server.login(server.admin, PASSWORD, secure=True)
    [set_cookie] = response.headers.get_list("set-cookie")
    assert set_cookie.startswith(f"{SECURE_COOKIE}=")
    assert set_cookie.endswith("; Path=/; Max-Age=3600; HttpOnly; Secure; SameSite=Strict")
    token = session_token(response, secure=True)
    assert server.request("GET", "/api/probe/shop.test", cookie=token, secure=True).is_success
    # over https only the __Host- cookie counts; over http the secure one is not read
    plain = {"cookie": f"{PLAIN_COOKIE}={token}", **HTTPS}
    assert server.request("GET", "/api/probe/shop.test", headers=plain).status_code == 401
    secure_over_http = {"cookie": f"{SECURE_COOKIE}={token}"}
    assert (
        server.request("GET", "/api/probe/shop.test", headers=secure_over_http).status_code == 401
    )


def test_login_next_must_be_a_local_path(server: Server) -> None:
    for hostile in ("https://evil.test/", "//evil.test/x", "/\\evil.test"):
        response = server.login(server.admin, PASSWORD, next_path=hostile)
        assert (response.status_code, response.headers["location"]) == (303, "/")


@pytest.mark.parametrize("who", ["admin", "nobody"])
def test_wrong_password_or_unknown_email_gets_the_same_401(server: Server, who: str) -> None:
    email = server.admin if who == "admin" else "nobody@example.com"
    response = server.login(email, "not the password")
    assert response.status_code == 401
    assert "wrong e-mail or password" in response.text
    assert session_token(response) is None
    assert "not the password" not in response.text
    assert "no such" not in response.text and "unknown" not in response.text


def test_throttling_after_five_failures(server: Server) -> None:
    for _ in range(5):
        assert server.login(server.admin, "not the password").status_code == 401
    throttled = server.login(server.admin, PASSWORD)  # even the right password is not checked
    assert throttled.status_code == 429
    assert 1 <= int(throttled.headers["retry-after"]) <= THROTTLE_WINDOW_SECONDS + 1
    assert session_token(throttled) is None
    # only that account is throttled
    assert server.login(server.viewer, PASSWORD).status_code == 303
    server.clock.advance(THROTTLE_WINDOW_SECONDS + 1)
    assert server.login(server.admin, PASSWORD).status_code == 303


# Second factor


def wrong_code(secret: bytes, now: float) -> str:
    """Six digits that are not a code of ``secret`` in the window around ``now``."""
    valid = {totp.generate(secret, now + offset) for offset in (-30, 0, 30)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in valid)


def test_login_page_has_an_optional_accessible_one_time_code_field(server: Server) -> None:
    html = server.request("GET", "/login").text
    assert '<label for="code">One-time code</label>' in html
    field = html[html.index('<input id="code"') :].split(">", 1)[0]
    for attribute in (
        'name="code"',
        'autocomplete="one-time-code"',
        'inputmode="numeric"',
        'aria-describedby="code-hint"',
    ):
        assert attribute in field
    assert "required" not in field
    assert 'id="code-hint"' in html


def test_a_user_with_totp_needs_the_password_and_a_fresh_code(server: Server) -> None:
    admin = server.admin
    secret = server.accounts.enable_totp(admin)
    wrong_password = server.login(admin, "not the password")
    assert wrong_password.status_code == 401
    now = server.clock()
    code = totp.generate(secret, now)
    failures = {  # with the wrong password: 4 of the 5 failures before throttling
        "no code": server.login(admin, PASSWORD),
        "wrong code": server.login(admin, PASSWORD, code=wrong_code(secret, now)),
        "code of a minute ago": server.login(admin, PASSWORD, code=totp.generate(secret, now - 60)),
    }
    for name, response in failures.items():
        assert response.status_code == 401, name
        assert response.text == wrong_password.text, name  # the same page, the same message
        assert session_token(response) is None, name

    signed_in = server.login(admin, PASSWORD, code=f"{code[:3]} {code[3:]}")
    assert signed_in.status_code == 303
    token = session_token(signed_in)
    assert server.request("GET", "/api/probe/example.com", cookie=token).status_code == 200

    replay = server.login(admin, PASSWORD, code=code)  # the same code, still in its 30 seconds
    assert replay.status_code == 401 and replay.text == wrong_password.text
    assert session_token(replay) is None
    server.clock.advance(totp.STEP_SECONDS)
    later = server.login(admin, PASSWORD, code=totp.generate(secret, server.clock()))
    assert later.status_code == 303


def test_users_without_totp_sign_in_as_before(server: Server) -> None:
    server.accounts.enable_totp(server.admin)
    assert server.login(server.viewer, PASSWORD).status_code == 303
    assert server.login(server.viewer, PASSWORD, code="not a code").status_code == 303
    assert server.login(server.viewer, "not the password", code="123456").status_code == 401


def test_code_failures_count_toward_throttling(server: Server) -> None:
    secret = server.accounts.enable_totp(server.admin)
    now = server.clock()
    for code in (None, "", wrong_code(secret, now), "abcdef", wrong_code(secret, now)):
        assert server.login(server.admin, PASSWORD, code=code).status_code == 401
    throttled = server.login(server.admin, PASSWORD, code=totp.generate(secret, now))
    assert throttled.status_code == 429 and session_token(throttled) is None
    server.clock.advance(THROTTLE_WINDOW_SECONDS + 1)
    code = totp.generate(secret, server.clock())
    assert server.login(server.admin, PASSWORD, code=code).status_code == 303


def test_enrolment_and_disable_sign_the_user_out(server: Server) -> None:
    before = server.session()
    secret = server.accounts.enable_totp(server.admin)
    assert server.request("GET", "/api/probe/example.com", cookie=before).status_code == 401
    signed_in = server.login(server.admin, PASSWORD, code=totp.generate(secret, server.clock()))
    with_code = session_token(signed_in)
    assert server.request("GET", "/api/probe/example.com", cookie=with_code).status_code == 200

    server.clock.advance(1)  # sign-outs have a millisecond resolution
    assert server.accounts.disable_totp(server.admin)
    assert server.request("GET", "/api/probe/example.com", cookie=with_code).status_code == 401
    assert server.login(server.admin, PASSWORD).status_code == 303  # no code needed any more
    assert not server.accounts.disable_totp(server.admin)


def test_re_enrolling_invalidates_the_old_secret(server: Server) -> None:
    old = server.accounts.enable_totp(server.admin)
    new = server.accounts.enable_totp(server.admin)
    assert new != old
    now = server.clock()
    assert server.login(server.admin, PASSWORD, code=totp.generate(old, now)).status_code == 401
    assert server.login(server.admin, PASSWORD, code=totp.generate(new, now)).status_code == 303


def test_a_password_change_keeps_totp(server: Server) -> None:
    secret = server.accounts.enable_totp(server.admin)
    server.accounts.add_user(server.admin, "a brand new password", "admin")
    assert server.login(server.admin, "a brand new password").status_code == 401
    code = totp.generate(secret, server.clock())
    assert server.login(server.admin, PASSWORD, code=code).status_code == 401  # the old password
    assert server.login(server.admin, "a brand new password", code=code).status_code == 303


# Sessions over time


def test_idle_timeout_and_refresh_at_most_once_a_minute(server: Server) -> None:
    token = server.session()
    server.clock.advance(30)
    quiet = server.request("GET", "/api/probe/example.com", cookie=token)
    assert quiet.status_code == 200 and session_token(quiet) is None  # not a minute yet

    server.clock.advance(59 * 60)  # 59 min 30 s after the sign-in
    active = server.request("GET", "/api/probe/example.com", cookie=token)
    assert active.status_code == 200
    refreshed = session_token(active)
    assert refreshed and refreshed != token
    assert "Max-Age=3600;" in active.headers["set-cookie"]

    server.clock.advance(2 * 60)  # 61 min 30 s: idle for the first cookie, not the refreshed one
    assert server.request("GET", "/api/probe/example.com", cookie=token).status_code == 401
    assert server.request("GET", "/api/probe/example.com", cookie=refreshed).status_code == 200
    server.clock.advance(61 * 60)
    assert server.request("GET", "/api/probe/example.com", cookie=refreshed).status_code == 401


def test_absolute_timeout_holds_for_an_active_session(server: Server) -> None:
    token = server.session()
    for _ in range(14):  # a request every 50 minutes: 11 h 40 min
        server.clock.advance(50 * 60)
        response = server.request("GET", "/api/probe/example.com", cookie=token)
        assert response.status_code == 200
        token = session_token(response) or token
    assert "Max-Age=1200;" in response.headers["set-cookie"]  # never past the 12 hours
    server.clock.advance(19 * 60)
    assert server.request("GET", "/api/probe/example.com", cookie=token).status_code == 200
    server.clock.advance(60)
    assert server.request("GET", "/api/probe/example.com", cookie=token).status_code == 401


def test_logout_makes_a_copied_cookie_useless(server: Server) -> None:
    token = server.session()
    other_device = server.session()
    copied = token
    refused = server.request(
        "POST", "/logout", cookie=token, headers={"sec-fetch-site": "cross-site"}
    )
    assert refused.status_code == 403
    assert server.request("GET", "/api/probe/example.com", cookie=token).status_code == 200

    response = server.request("POST", "/logout", cookie=token, headers=SAME_ORIGIN)
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    assert f"{PLAIN_COOKIE}=; " in response.headers["set-cookie"]
    assert "Max-Age=0" in response.headers["set-cookie"]
    for cookie in (copied, other_device):
        assert server.request("GET", "/api/probe/example.com", cookie=cookie).status_code == 401
    fresh = server.session()  # signing in again works at once
    assert server.request("GET", "/api/probe/example.com", cookie=fresh).status_code == 200


def test_forged_cookies_are_refused(server: Server) -> None:
    token = server.session()
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for cookie in (forged, "garbage", ""):
        assert server.request("GET", "/api/probe/example.com", cookie=cookie).status_code == 401


# API keys and access rules


def test_bearer_key_works_on_the_api_until_revoked(server: Server) -> None:
    bearer = {"authorization": f"Bearer {server.key}"}
    response = server.request("GET", "/api/probe/example.com", headers=bearer)
    assert response.status_code == 200
    assert response.json() == {"email": server.viewer, "role": "viewer", "sites": ["example.com"]}
    other = server.request("GET", "/api/probe/shop.test", headers=bearer)
    assert (other.status_code, other.json()) == (403, {"error": "no access to this site"})

    [record] = [own for own in server.accounts.keys.all() if own.email == server.viewer]
    server.accounts.keys.revoke(record.id)
    revoked = server.request("GET", "/api/probe/example.com", headers=bearer)
    assert (revoked.status_code, revoked.json()) == (401, {"error": "sign-in required"})
    assert revoked.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer",
        "Bearer aud_0000_x",
        "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
        "bearer aud_1234abcd_" + "x" * 43,
    ],
)
def test_bad_authorization_headers_get_401(server: Server, authorization: str) -> None:
    response = server.request(
        "GET", "/api/probe/example.com", headers={"authorization": authorization}
    )
    assert (response.status_code, response.json()) == (401, {"error": "sign-in required"})


def test_anonymous_gets_401_on_the_api_and_the_login_page_in_a_browser(server: Server) -> None:
    api_response = server.request("GET", "/api/probe/example.com")
    assert (api_response.status_code, api_response.json()) == (401, {"error": "sign-in required"})
    page_response = server.request("GET", "/probe/example.com", params={"from": "2025-01-01"})
    assert page_response.status_code == 303
    location = page_response.headers["location"]
    assert location == "/login?next=/probe/example.com%3Ffrom%3D2025-01-01"
    assert unquote(location.partition("next=")[2]) == "/probe/example.com?from=2025-01-01"
    root = server.request("GET", "/probe")
    assert root.headers["location"] == "/login?next=/probe"
    as_json = server.request("GET", "/probe/example.com", headers={"accept": "application/json"})
    assert (as_json.status_code, as_json.json()) == (401, {"error": "sign-in required"})


def test_viewer_sees_only_its_sites(server: Server) -> None:
    viewer = server.session(server.viewer)
    assert server.request("GET", "/api/probe/example.com", cookie=viewer).status_code == 200
    api_response = server.request("GET", "/api/probe/shop.test", cookie=viewer)
    assert (api_response.status_code, api_response.json()) == (
        403,
        {"error": "no access to this site"},
    )
    page_response = server.request("GET", "/probe/shop.test", cookie=viewer)
    assert page_response.status_code == 403
    assert "no access to this site" in page_response.text
    assert 'action="/logout"' in page_response.text  # still signed in: the header says so
    admin = server.session(server.admin)
    assert server.request("GET", "/api/probe/shop.test", cookie=admin).json()["sites"] is None


def test_a_removed_user_is_signed_out(server: Server) -> None:
    viewer = server.session(server.viewer)
    bearer = {"authorization": f"Bearer {server.key}"}
    server.accounts.remove_user(server.viewer)
    assert server.request("GET", "/api/probe/example.com", cookie=viewer).status_code == 401
    assert server.request("GET", "/api/probe/example.com", headers=bearer).status_code == 401


# Cross-site requests and headers


@pytest.mark.parametrize(
    "headers",
    [
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
        {"sec-fetch-site": "cross-site", "origin": "SELF"},
        {"origin": "https://evil.test"},
        {"origin": "null"},
        {},
    ],
    ids=["cross-site", "same-site", "fetch-metadata-wins", "foreign-origin", "null", "no-header"],
)
def test_cross_site_posts_are_refused(server: Server, headers: dict[str, str]) -> None:
    headers = {k: (server.live.url if v == "SELF" else v) for k, v in headers.items()}
    form = {"email": server.admin, "password": PASSWORD, "next": ""}
    response = server.request("POST", "/login", data=form, headers=headers)
    assert (response.status_code, response.json()) == (403, {"error": "cross-site request refused"})
    assert session_token(response) is None
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    for method in ("PUT", "PATCH", "DELETE"):
        assert server.request(method, "/probe", headers=headers).status_code == 403


def test_same_origin_posts_pass(server: Server) -> None:
    form = {"email": server.admin, "password": PASSWORD, "next": ""}
    own = server.request("POST", "/login", data=form, headers={"origin": server.live.url})
    assert own.status_code == 303
    https_origin = {"origin": server.live.url.replace("http:", "https:"), **HTTPS}
    assert server.request("POST", "/login", data=form, headers=https_origin).status_code == 303
    none = server.request("POST", "/login", data=form, headers={"sec-fetch-site": "none"})
    assert none.status_code == 303


def test_security_headers_on_every_response(server: Server) -> None:
    token = server.session()
    responses = {
        "login page": server.request("GET", "/login"),
        "signed-in page": server.request("GET", "/probe", cookie=token),
        "redirect": server.request("GET", "/probe"),
        "api 401": server.request("GET", "/api/probe/example.com"),
        "failed login": server.login(server.admin, "wrong password!"),
        "not found": server.request("GET", "/probe/example.com/nothing", cookie=token),
    }
    for name, response in responses.items():
        headers = response.headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, name
        assert headers["x-content-type-options"] == "nosniff", name
        assert headers["referrer-policy"] == "same-origin", name
        assert headers["x-frame-options"] == "DENY", name
        assert headers["cache-control"] == "no-store", name
    static = server.request("GET", "/static/probe.css")
    assert static.status_code == 200
    assert static.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert static.headers["x-content-type-options"] == "nosniff"
    assert static.headers.get("cache-control") != "no-store"


def test_unknown_errors_leak_nothing(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    token = server.session()
    api_response = server.request("GET", "/api/probe-broken", cookie=token)
    assert (api_response.status_code, api_response.json()) == (500, {"error": "internal error"})
    page_response = server.request("GET", "/probe-broken?secret=query", cookie=token)
    assert page_response.status_code == 500
    assert "secret detail" not in page_response.text and "Traceback" not in page_response.text
    assert page_response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    logged = caplog.text
    assert "unhandled error in GET /probe-broken" in logged
    assert "secret=query" not in logged and token not in logged


def test_logs_hold_no_password_key_or_cookie(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    token = server.session()
    server.login(server.admin, "a wrong password")
    server.request(
        "GET", "/api/probe/example.com", headers={"authorization": f"Bearer {server.key}"}
    )
    server.request("POST", "/logout", cookie=token, headers=SAME_ORIGIN)
    for secret in (PASSWORD, "a wrong password", server.key, token):
        assert secret not in caplog.text
