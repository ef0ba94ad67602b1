"""Browser tests: real headless Chromium (Debian's), driven by Playwright, against test pages
served beside the real collector on 127.0.0.1. Skipped, with the reason, without Chromium."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from collector.app import CollectorApp
from collector.settings import Settings
from collector.storage.sites import Site
from tests.conftest import LiveServer, environment, register
from tests.proxy import serving

HERE = Path(__file__).parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TARTEAUCITRON = HERE / "node_modules" / "tarteaucitronjs" / "tarteaucitron.js"
IAB_TCF = HERE / "node_modules" / "@iabtechlabtcf"  # the IAB Tech Lab's stub, CMP API and core
_IAB_IMPORTS = {
    "imports": {
        "@iabtechlabtcf/core": "/vendor/iabtcf/core/lib/mjs/index.js",
        "@iabtechlabtcf/cmpapi": "/vendor/iabtcf/cmpapi/lib/mjs/index.js",
    }
}
# A desktop browser's User-Agent: the headless one names itself HeadlessChrome, a bot marker.
DESKTOP_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]

if CHROMIUM is None:
    pytest.skip(
        "Chromium is not installed (Debian: apt-get install chromium); .ci/run installs it",
        allow_module_level=True,
    )
playwright_sync = pytest.importorskip("playwright.sync_api", reason="install the test extra")


def page_html(
    collector: str, script: str, cmp: str | None, attributes: str = "", cmp_after_ms: int = 0
) -> str:
    """A page with the snippet and a CMP: loaded with the page, or inserted by a timer after
    ``cmp_after_ms`` (a CMP behind a slow network or an asynchronous tag manager)."""
    setup = ""
    source, kind = f"/cmps/{cmp}.js", "text/javascript"
    if cmp == "tarteaucitron":
        setup = '<script src="/vendor/tarteaucitron/tarteaucitron.js"></script>'
    if cmp == "iab":  # the IAB stub inline first, as sites do; the CMP a module, maybe late
        setup = '<script src="/vendor/iabtcf/stub/lib/stub.js"></script>'
        setup += f'<script type="importmap">{json.dumps(_IAB_IMPORTS)}</script>'
        source, kind = "/cmps/iab.mjs", "module"
    if cmp and cmp_after_ms:
        setup += (
            "<script>setTimeout(function () { var s = document.createElement('script'); "
            f"s.type = '{kind}'; s.src = '{source}'; document.head.appendChild(s); }}, "
            f"{cmp_after_ms});</script>"
        )
    elif cmp:
        setup += f'<script type="{kind}" src="{source}"></script>'
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>Test page</title>"
        f'{setup}<script defer src="{collector}/js/{script}" data-site="localhost" '
        f"{attributes}></script></head><body><h1>A page</h1></body></html>"
    )


def site_app(collector_url: str) -> Starlette:
    """The test website: /page/{script}/{cmp}/{name}.html pages, the CMP stubs, tarteaucitron."""

    async def page(request: Any) -> Response:
        params = request.path_params
        cmp = None if params["cmp"] == "none" else params["cmp"]
        attributes = request.query_params.get("attrs", "")
        cmp_after_ms = int(request.query_params.get("cmp_after_ms", "0"))
        return HTMLResponse(
            page_html(collector_url, params["script"], cmp, attributes, cmp_after_ms)
        )

    routes = [
        Route("/page/{script}/{cmp}/{name:path}", page),
        Mount("/cmps", StaticFiles(directory=HERE / "cmps")),
    ]
    if IAB_TCF.exists():
        routes.append(Mount("/vendor/iabtcf", StaticFiles(directory=IAB_TCF)))
    if TARTEAUCITRON.exists():
        routes.append(Mount("/vendor/tarteaucitron", StaticFiles(directory=TARTEAUCITRON.parent)))
    return Starlette(routes=routes)


class SameOrigin:
    """The collector and the site on one origin, as behind the site's own reverse proxy."""

    def __init__(self, collector: CollectorApp, url: str) -> None:
        self.collector = collector
        self.site = site_app(url)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(("/page/", "/cmps/", "/vendor/")):
            await self.site(scope, receive, send)
        else:
            await self.collector(scope, receive, send)


@dataclass
class Browser:
    live: LiveServer
    context: Any
    requests: list[str] = field(default_factory=list)
    set_cookies: list[str] = field(default_factory=list)

    def open(self, url: str) -> Any:
        page = self.context.new_page()
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("response", self._response)
        page.goto(url)
        return page

    def _response(self, response: Any) -> None:
        if "/api/" in response.url:
            cookie = response.header_value("set-cookie")  # .headers hides cookies
            if cookie:
                self.set_cookies.append(cookie)

    def collector_requests(self) -> list[str]:
        return [url for url in self.requests if "/api/" in url]

    def our_cookies(self) -> list[dict[str, Any]]:
        return [
            c
            for c in self.context.cookies()
            if c["name"].startswith(("audience", "__Host-audience"))
        ]


@contextmanager
def website(collector_url: str) -> Iterator[str]:
    """The test website alone, on its own port of ``localhost``: another site than 127.0.0.1."""
    with serving(site_app(collector_url)) as url:
        yield url.replace("127.0.0.1", "localhost")


@pytest.fixture
def cross_site(tmp_path: Path, geo_files: Any, chromium: Any) -> Iterator[tuple[Browser, str]]:
    """The collector on 127.0.0.1, the pages on localhost: the snippet keeps the state itself."""
    settings = Settings.from_environ(environment(tmp_path / "data", geo_files))
    register(settings, Site("localhost"))
    with LiveServer(settings) as live, website(live.url) as site_url:
        context = chromium.new_context(user_agent=DESKTOP_CHROME)
        yield Browser(live, context), site_url
        context.close()


@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    """One browser for the browser tests; gone after them, with the event loop Playwright's
    synchronous API keeps running meanwhile (other tests use asyncio.run)."""
    with playwright_sync.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        browser.close()


@contextmanager
def same_origin_browser(path: Path, geo_files: Any, chromium: Any, site: Site) -> Iterator[Browser]:
    """A browser on the test website, served with the collector on one origin for ``site``."""
    settings = Settings.from_environ(environment(path / "data", geo_files))
    register(settings, site)
    with LiveServer(settings, wrap=SameOrigin) as live:
        context = chromium.new_context(user_agent=DESKTOP_CHROME)
        yield Browser(live, context)
        context.close()


@pytest.fixture
def same_origin(tmp_path: Path, geo_files: Any, chromium: Any) -> Iterator[Browser]:
    with same_origin_browser(tmp_path, geo_files, chromium, Site("localhost")) as browser:
        yield browser
