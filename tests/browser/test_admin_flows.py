"""The product run from the browser, in real headless Chromium at desktop and phone widths
(screenshots kept), at the root of its host and under /stats/ behind a reverse proxy in the test:
an admin adds a site, pastes its tag in a page of the site, and the install check turns green
once a visitor consents there; invites a viewer, who joins on a phone and sees only that site;
creates an API key, uses it, revokes it; shares the dashboard behind a password and locked to a
page, which a stranger opens (and is throttled on another link after wrong passwords) until it is
revoked; turns on TOTP from the QR code the page draws (decoded here from a screenshot) and
signs in again with a code. No console error, no CSP violation, nothing wider than a phone."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from collector.settings import Settings
from collector.storage.sites import Site
from dashboards.accounts import Accounts
from tests.browser.conftest import DESKTOP_CHROME
from tests.browser.test_dashboard import DESKTOP, PHONE, SCREENSHOTS, WATCH_CSP, Console
from tests.conftest import IPHONE, SECRET, GeoFiles, LiveServer, environment, migrated_store
from tests.proxy import PrefixProxy, serving

zxingcpp = pytest.importorskip("zxingcpp", reason="install the test extra")
Image = pytest.importorskip("PIL.Image", reason="install the test extra")

ADMIN = "admin@shop.example"
PASSWORD = "correct horse battery staple"
LINK_PASSWORD = "for the board only 2026"


@dataclass
class Product:
    url: str  # the origin, where the site's own pages are too
    base: str  # where the product is: the origin, or the origin and /stats
    prefix: str
    live: LiveServer
    pages: dict[str, str] = field(default_factory=dict)


@pytest.fixture(params=["", "/stats"], ids=["at-the-root", "under-stats"])
def product(
    request: pytest.FixtureRequest, tmp_path: Path, geo_files: GeoFiles
) -> Iterator[Product]:
    prefix: str = request.param
    env = environment(tmp_path / "data", geo_files, AUDIENCE_ROOT_PATH=prefix,
                      AUDIENCE_MIN_CELL="1")  # fmt: skip
    settings = Settings.from_environ(env)
    store = migrated_store(settings)
    try:
        store.save_site(Site("other.example"))
        Accounts(store, SECRET.encode()).add_user(ADMIN, PASSWORD, "admin")
    finally:
        store.close()
    pages: dict[str, str] = {}

    async def site_page(request: Any) -> HTMLResponse:
        return HTMLResponse(pages[request.path_params["name"]])

    site = Starlette(routes=[Route("/page/{name}", site_page)])
    with LiveServer(settings) as live, serving(front(prefix, live.url, site)) as url:
        yield Product(url, f"{url}{prefix}", prefix, live, pages)


def front(prefix: str, product: str, site: Starlette) -> PrefixProxy:
    """The site's reverse proxy: its pages under /page/, the product under ``prefix``."""
    return PrefixProxy(prefix, product, site, site_paths=("/page/",))


WIDER_THAN_THE_SCREEN = """() => [...document.querySelectorAll('body *')]
  .filter((e) => !e.closest('.table-scroll') || e.matches('.table-scroll'))
  .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
  .slice(0, 5).map((e) => e.tagName + '.' + e.className + '#' + e.id)"""


def shoot(page: Any, name: str, prefix: str) -> None:
    """Screenshots at both widths; at the phone's, nothing is wider than the screen."""
    where = "stats" if prefix else "root"
    for size, label in ((DESKTOP, "1280"), (PHONE, "390")):
        page.set_viewport_size(size)
        page.screenshot(path=SCREENSHOTS / f"admin-{name}-{where}-{label}.png", full_page=True)
    wide = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    culprits = page.evaluate(WIDER_THAN_THE_SCREEN) if wide > 0 else []
    assert wide <= 0, f"{name} is {wide}px wider than a phone: {culprits}"
    page.set_viewport_size(DESKTOP)


def totp_code(secret_b32: str, at: float) -> str:
    """RFC 6238 (SHA-1, 6 digits, 30 s), written here from the RFC, not from the product."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(at // 30)), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return str((struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 10**6).zfill(6)


def sign_in(page: Any, base: str, email: str, password: str, code: str = "") -> None:
    page.goto(f"{base}/")
    assert urlsplit(page.url).path == f"{urlsplit(base).path}/login"  # sent to the login
    page.fill("#email", email)
    page.fill("#password", password)
    if code:
        page.fill("#code", code)
    page.click("main button[type=submit]")


def test_an_admin_runs_the_product_from_the_browser(product: Product, chromium: Any) -> None:
    base, prefix = product.base, product.prefix
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    console = Console()
    desk = chromium.new_context(viewport=DESKTOP, user_agent=DESKTOP_CHROME)
    phone = chromium.new_context(viewport=PHONE, user_agent=IPHONE, is_mobile=True)
    strangers = chromium.new_context(viewport=PHONE, user_agent=IPHONE, is_mobile=True)
    for context in (desk, phone, strangers):
        context.add_init_script(WATCH_CSP)
    try:
        admin = console.watch(desk.new_page())
        sign_in(admin, base, ADMIN, PASSWORD)
        admin.wait_for_url(f"{base}/")

        # A site, its tag in a page of the site, the install check green after consent.
        admin.click("text=Add a site")
        admin.fill("#domain", "shop.example")
        admin.fill("#origins", "http://127.0.0.1:*")
        admin.click("main button[type=submit]")
        admin.wait_for_url(f"{base}/sites/shop.example/install")
        tag = admin.locator("#tag-manual").text_content()
        assert tag is not None and f'src="{base}/js/audience.js"' in tag
        shoot(admin, "install", prefix)
        product.pages["shop.html"] = (
            f"<!doctype html><html><head><title>Shop</title>{tag}</head><body><h1>Shop</h1>"
            "<button id=accept onclick='audience.consent(true)'>Accept</button></body></html>"
        )
        visitor = console.watch(phone.new_page())
        visitor.goto(f"{product.url}/page/shop.html")
        visitor.click("#accept")
        admin.wait_for_selector("#install-status.installed", timeout=20_000)
        assert "/page/shop.html" in (admin.text_content("#install-status") or "")
        visitor.close()

        # A viewer invited by link joins on a phone and sees only that site.
        admin.goto(f"{base}/admin/team")
        admin.fill("#invite-email", "vic@shop.example")
        admin.check("input[name=sites][value='shop.example']")
        admin.click("text=Create the invitation")
        link = admin.input_value("#invitation-link")
        assert link.startswith(f"{base}/invite/")
        shoot(admin, "team", prefix)
        viewer = console.watch(phone.new_page())
        viewer.goto(link)
        shoot(viewer, "invitation", prefix)
        viewer.fill("#password", PASSWORD)
        viewer.fill("#password-again", PASSWORD)
        viewer.click("main button[type=submit]")
        viewer.wait_for_url(f"{base}/")
        assert viewer.locator(".site-card .domain").all_text_contents() == ["shop.example"]
        viewer.goto(f"{base}/sites/other.example")
        assert "no access" in (viewer.text_content("main") or "")

        # An API key: created, used, revoked.
        admin.goto(f"{base}/account/keys")
        admin.fill("#key-name", "weekly report")
        admin.check("input[name=sites][value='shop.example']")
        admin.click("text=Create the key")
        key = admin.input_value("#new-key")
        shoot(admin, "keys", prefix)
        bearer = {"authorization": f"Bearer {key}"}
        summary = f"{base}/api/stats/shop.example/summary"
        assert httpx.get(summary, headers=bearer).json()["current"]["visitors"] == 1
        assert (
            httpx.get(f"{base}/api/stats/other.example/summary", headers=bearer).status_code == 403
        )
        admin.click("button[aria-label='Revoke weekly report']")
        admin.wait_for_url(f"{base}/account/keys?done=revoked")
        assert httpx.get(summary, headers=bearer).status_code == 401

        # A shared link behind a password, locked to a page; another one throttled.
        shares = f"{base}/sites/shop.example/share"
        admin.goto(shares)
        admin.fill("#share-name", "board")
        admin.fill("#share-password", LINK_PASSWORD)
        admin.fill("#filter-page", "/page/shop.html")
        admin.click("text=Create the link")
        shared = admin.input_value("#shared-url")
        shoot(admin, "share", prefix)
        admin.goto(shares)
        admin.fill("#share-name", "spare")
        admin.fill("#share-password", LINK_PASSWORD)
        admin.click("text=Create the link")
        spare = admin.input_value("#shared-url")
        anonymous = console.watch(strangers.new_page())
        anonymous.goto(shared)
        anonymous.fill("#password", "a wrong guess")
        anonymous.click("main button[type=submit]")
        assert "wrong password" in (anonymous.text_content("#form-error") or "")
        anonymous.fill("#password", LINK_PASSWORD)
        anonymous.click("main button[type=submit]")
        anonymous.wait_for_selector("#shared-note")
        chip = anonymous.locator(".chip[data-filter=page]")
        assert "/page/shop.html" in (chip.text_content() or "")
        assert chip.locator("a").count() == 0  # locked: no way to remove it
        shoot(anonymous, "shared", prefix)
        anonymous.goto(spare)
        for _ in range(5):
            anonymous.fill("#password", "another wrong guess")
            anonymous.click("main button[type=submit]")
        anonymous.fill("#password", LINK_PASSWORD)
        anonymous.click("main button[type=submit]")
        assert "too many wrong passwords" in (anonymous.text_content("#form-error") or "")
        admin.goto(shares)
        admin.click("button[aria-label='Revoke board']")
        admin.wait_for_url(shares)
        assert anonymous.goto(shared).status == 404

        # TOTP from the QR code the page draws, then a sign-in with a code.
        admin.goto(f"{base}/account")
        admin.click("text=Turn it on")
        qr = admin.locator("#totp-qr").screenshot()
        [found] = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr)))
        uri = urlsplit(found.text)
        assert uri.scheme == "otpauth" and uri.path.endswith(ADMIN)
        secret = parse_qs(uri.query)["secret"][0]
        shoot(admin, "totp", prefix)
        now = time.time()
        admin.fill("#code", totp_code(secret, now))
        admin.click("text=Confirm")
        codes = admin.locator("#recovery-codes li").all_text_contents()
        assert len(codes) == 10
        admin.goto(f"{base}/")  # this browser's session goes on
        assert urlsplit(admin.url).path == f"{urlsplit(base).path}/"
        again = console.watch(strangers.new_page())  # a browser without the admin's session
        sign_in(again, base, ADMIN, PASSWORD)  # the password alone is not enough any more
        assert again.text_content("#login-error") == "wrong e-mail or password"
        again.fill("#password", PASSWORD)
        again.fill("#code", totp_code(secret, now + 30))  # the next step: a code is used once
        again.click("main button[type=submit]")
        again.wait_for_url(f"{base}/")
        assert again.locator(".site-card").count() == 2
    finally:
        for context in (desk, phone, strangers):
            context.close()
    # The refusals the flows ask for (403, 401, 404, 429 pages) are logged by the browser; a
    # failed asset, an exception or a CSP violation is not expected.
    unexpected = [
        error
        for error in console.errors
        if "Failed to load resource" not in error or "/static/" in error or "/js/" in error
    ]
    assert unexpected == []
    assert len(console.errors) <= 12
