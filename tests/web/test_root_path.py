"""The whole product under a path of the site's own origin (``AUDIENCE_ROOT_PATH=/stats``),
behind a reverse proxy that strips the prefix, as deploy/nginx.conf does: the snippet and the
beacons, the visitor cookie's Path, the privacy page and API, the dashboards' links, static
files, login redirects and session cookie, the install guide's tags. (In real Chromium:
tests/browser/test_admin_flows.py.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from collector.settings import Settings
from collector.storage.sites import Site
from dashboards.accounts import Accounts
from tests.conftest import CHROME, SECRET, GeoFiles, LiveServer, environment, migrated_store
from tests.proxy import PrefixProxy, serving

ADMIN = "ana@example.com"
PASSWORD = "correct horse battery staple"


def site_pages() -> Starlette:
    async def home(request: object) -> HTMLResponse:
        return HTMLResponse(
            '<!doctype html><script defer src="/stats/js/audience.js" data-site="127.0.0.1">'
            "</script><h1>The site's own page</h1>"
        )

    return Starlette(routes=[Route("/", home)])


@pytest.fixture
def proxied(tmp_path: Path, geo_files: GeoFiles) -> Iterator[tuple[str, LiveServer]]:
    env = environment(tmp_path / "data", geo_files, AUDIENCE_ROOT_PATH="/stats/")
    settings = Settings.from_environ(env)
    assert settings.root_path == "/stats"
    store = migrated_store(settings)
    try:
        store.save_site(Site("127.0.0.1", origins=("http://127.0.0.1:*",)))
        Accounts(store, SECRET.encode()).add_user(ADMIN, PASSWORD, "admin")
    finally:
        store.close()
    with (
        LiveServer(settings) as live,
        serving(PrefixProxy("/stats", live.url, site_pages())) as url,
    ):
        yield url, live


def test_everything_works_under_the_prefix(proxied: tuple[str, LiveServer]) -> None:
    url, live = proxied
    origin = {"origin": url, "user-agent": CHROME}
    with httpx.Client(base_url=url, headers={"user-agent": CHROME}, timeout=15) as browser:
        assert browser.get("/").status_code == 200  # the site's own page, not ours
        assert browser.get("/stats/js/audience.js").status_code == 200
        sent = browser.post(
            "/stats/api/event",
            json={"site": "127.0.0.1", "type": "pageview", "url": f"{url}/pricing",
                  "consent": "manual"},
            headers=origin,
        )  # fmt: skip
        assert sent.status_code == 202, sent.text
        cookie = sent.headers["set-cookie"]
        assert cookie.startswith("audience=") and "; Path=/stats;" in cookie
        [row] = live.wait_stored(1)
        assert row["path"] == "/pricing"
        me = browser.get("/stats/api/privacy/me", headers=origin)
        assert me.status_code == 200 and len(me.json()["events"]) == 1
        privacy = browser.get("/stats/privacy")
        assert privacy.status_code == 200
        for link in re.findall(r'(?:href|src|action)="([^"#]+)"', privacy.text):
            if not link.startswith(("http", "mailto:")):
                target = httpx.URL(f"{url}/stats/privacy").join(link)
                assert target.path.startswith("/stats/"), link

        anonymous = browser.get("/stats/sites/127.0.0.1")
        assert anonymous.status_code == 303
        assert anonymous.headers["location"] == "/stats/login?next=/stats/sites/127.0.0.1"
        assert browser.get("/stats/").headers["location"] == "/stats/login"
        login = browser.get("/stats/login")
        links = re.findall(r'(?:href|src|action)="(/[^"]*)"', login.text)
        assert links and all(link.startswith("/stats/") for link in links), links
        for asset in (link for link in links if "/static/" in link):
            assert browser.get(asset).status_code == 200, asset
        form = {"email": ADMIN, "password": PASSWORD, "next": "/stats/sites/127.0.0.1"}
        signed = browser.post("/stats/login", data=form, headers={"sec-fetch-site": "same-origin"})
        assert signed.status_code == 303
        assert signed.headers["location"] == "/stats/sites/127.0.0.1"
        session = signed.headers["set-cookie"]
        assert session.startswith("audience-session=") and "; Path=/stats;" in session
        page = browser.get("/stats/sites/127.0.0.1")
        assert page.status_code == 200
        links = re.findall(r'(?:href|src|action)="(/[^"]*)"', page.text)
        assert links and all(link.startswith("/stats/") for link in links), links
        data = browser.get("/stats/sites/127.0.0.1", params={"format": "json"}).json()
        assert data["breakdowns"]["page"]["csv"].startswith("/stats/sites/127.0.0.1/export/")
        listed = browser.get("/stats/", headers={"accept": "application/json"}).json()
        assert listed["sites"][0]["url"] == "/stats/sites/127.0.0.1"
        guide = browser.get("/stats/sites/127.0.0.1/install", params={"format": "json"}).json()
        assert f'src="{url}/stats/js/audience.js"' in guide["install"]["tags"][0]["tag"]
        added = browser.post("/stats/admin/sites", data={"domain": "shop.example"},
                             headers={"sec-fetch-site": "same-origin"})  # fmt: skip
        assert added.headers["location"] == "/stats/sites/shop.example/install"
        out = browser.post("/stats/logout", headers={"sec-fetch-site": "same-origin"})
        assert out.headers["location"] == "/stats/login"
        assert "; Path=/stats;" in out.headers["set-cookie"]


def test_a_secure_cookie_under_a_prefix_is_not_a_host_cookie(
    proxied: tuple[str, LiveServer],
) -> None:
    url, _ = proxied
    https = {"x-forwarded-proto": "https", "user-agent": CHROME, "origin": url}
    # The proxy says http: ask the collector directly, as the trusted proxy would over https.
    live = proxied[1]
    sent = httpx.post(
        f"{live.url}/api/event",
        json={"site": "127.0.0.1", "type": "pageview", "url": f"{url}/", "consent": "manual"},
        headers=https,
    )
    assert sent.status_code == 202, sent.text
    cookie = sent.headers["set-cookie"]
    # A __Host- cookie must have Path=/: under a prefix the secure cookie is __Secure-.
    assert cookie.startswith("__Secure-audience=") and "; Path=/stats;" in cookie
    assert "; Secure" in cookie
