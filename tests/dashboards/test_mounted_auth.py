"""The dashboards as mounted in the product use the sign-in layer of test_dashboard_auth.py: a
real uvicorn running the whole app on its own embedded store (that file's tests share one server
for their probe routes, and a process holds one embedded store at a time)."""

from __future__ import annotations

import httpx

from collector.settings import Settings
from collector.storage.sites import Site
from collector.storage.store import Store
from dashboards.accounts import Accounts
from dashboards.security import CONTENT_SECURITY_POLICY
from tests.conftest import CHROME, SECRET, LiveServer, register

VIEWER = "bob@example.com"
PASSWORD = "correct horse battery staple"
SAME_ORIGIN = {"sec-fetch-site": "same-origin"}


def test_the_mounted_dashboards_use_this_layer(settings: Settings) -> None:
    register(settings, Site("example.com"), Site("shop.test"))
    store = Store.connect(settings.clickhouse_url)
    try:
        Accounts(store, SECRET.encode()).add_user(VIEWER, PASSWORD, "viewer", ["example.com"])
    finally:
        store.close()
    with (
        LiveServer(settings) as live,
        httpx.Client(base_url=live.url, headers={"user-agent": CHROME}, timeout=10) as http,
    ):
        anonymous = http.get("/")
        assert (anonymous.status_code, anonymous.headers["location"]) == (303, "/login")
        assert anonymous.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        form = {"email": VIEWER, "password": PASSWORD, "next": "/"}
        signed_in = http.post("/login", data=form, headers=SAME_ORIGIN)
        assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/")
        sites = http.get("/", headers={"accept": "application/json"})
        assert sites.status_code == 200
        assert [site["domain"] for site in sites.json()["sites"]] == ["example.com"]
        page = http.get("/")
        assert page.status_code == 200 and 'action="/logout"' in page.text
        assert http.get("/sites/shop.test").status_code == 403
        assert http.post("/logout", headers={"origin": "https://evil.test"}).status_code == 403
        assert http.post("/logout", headers=SAME_ORIGIN).headers["location"] == "/login"
        assert http.get("/", headers={"accept": "application/json"}).status_code == 401
        assert http.get("/healthz").status_code == 200  # the collector's routes stay its own
