"""The dashboard in real headless Chromium against the real server: sign in through the form,
read the figures of events fed through the real pipeline, filter by a city, download a panel's
CSV, and look right on a desktop and on a phone (screenshots kept), with no console error or CSP
violation."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from collector.settings import Settings
from collector.storage.sites import Site
from tests.browser.conftest import HERE
from tests.conftest import CHROME, IPHONE, GeoFiles, LiveServer, environment, register

SITE = "shop.example"
EMAIL = "marketing@shop.example"
PASSWORD = "correct horse battery staple 42"
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)
# Visitors per city, each with its own address in the test GeoIP ranges, device and pages, so
# that a city filter shows in every panel: Lyon on desktop Chrome, Paris on iPhones, Brussels
# on Android.
VISITORS = [
    ("81.2.69.11", CHROME, ["/", "/pricing"]),
    ("81.2.69.12", CHROME, ["/", "/pricing", "/docs"]),
    ("81.2.69.13", CHROME, ["/pricing"]),
    ("2a01:e0a:1::21", IPHONE, ["/", "/paris"]),
    ("2a01:e0a:1::22", IPHONE, ["/paris"]),
    ("5.10.20.31", ANDROID, ["/"]),
]
CITY_VISITORS = {"Lyon": 3, "Paris": 2, "Brussels": 1}
PARTITIONS = {"city", "country", "operator", "browser", "browser_version", "os", "device"}
SCREENSHOTS = Path(os.environ.get("AUDIENCE_SCREENSHOTS") or HERE / "screenshots")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
WATCH_CSP = """document.addEventListener('securitypolicyviolation', (event) => {
  console.error('CSP violation: ' + event.violatedDirective + ' ' + event.blockedURI);
});"""


@dataclass
class Console:
    """Errors a page reported: console errors (CSP refusals among them) and uncaught exceptions."""

    errors: list[str] = field(default_factory=list)

    def watch(self, page: Any) -> Any:
        page.on("console", self._message)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        return page

    def _message(self, message: Any) -> None:
        if message.type not in ("error", "warning"):
            return
        where = message.location.get("url", "")
        if where.endswith("/favicon.ico"):  # the browser asks for it whatever the page says
            return
        self.errors.append(f"{message.type}: {message.text} ({where})")


def add_user(settings_env: dict[str, str]) -> None:
    """The user, created through the CLI as an operator would (before the server owns the store)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIENCE_")}
    env.update(settings_env)
    result = subprocess.run(
        [sys.executable, "-m", "collector.cli", "users", "add", EMAIL, "--role", "admin"]
        + ["--password-stdin"],
        input=PASSWORD + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def feed(live: LiveServer) -> int:
    """Pageviews of new visitors through POST /api/event (the real pipeline); how many events."""
    count = 0
    for address, agent, paths in VISITORS:
        headers = {"user-agent": agent, "x-forwarded-for": address, "origin": f"https://{SITE}"}
        with httpx.Client(base_url=live.url, headers=headers, timeout=10) as visitor:
            for path in paths:
                beacon = {"site": SITE, "type": "pageview", "url": f"https://{SITE}{path}"}
                response = visitor.post("/api/event", json={**beacon, "consent": "manual"})
                assert response.status_code == 202, response.text
                count += 1
    return count


@pytest.fixture
def dashboard(tmp_path: Path, geo_files: GeoFiles) -> Iterator[LiveServer]:
    env = environment(tmp_path / "data", geo_files, AUDIENCE_MIN_CELL="1")
    settings = Settings.from_environ(env)
    register(settings, Site(SITE, timezone="Europe/Paris"))
    add_user(env)
    with LiveServer(settings) as live:
        live.wait_stored(feed(live))
        yield live


def page_data(page: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(page.locator("#dashboard-data").text_content())
    return data


def panel_rows(page: Any, name: str) -> dict[str, list[str]]:
    """A breakdown panel's rows as shown: label -> the texts of its number cells."""
    rows: dict[str, list[str]] = page.locator(f"#panel-{name} tbody tr").evaluate_all(
        """rows => Object.fromEntries(rows.filter(row => row.querySelector('th')).map(row => [
             row.querySelector('th .label-text').firstChild.textContent.trim(),
             Array.from(row.querySelectorAll('td'), cell => cell.textContent.trim())]))"""
    )
    return rows


def visitors_column(page: Any, name: str) -> dict[str, int]:
    headers = page.locator(f"#panel-{name} thead th").all_text_contents()
    column = [h.strip().lower() for h in headers].index("visitors") - 1
    return {label: int(cells[column]) for label, cells in panel_rows(page, name).items()}


def canvas_is_drawn(page: Any, selector: str) -> bool:
    drawn: bool = page.locator(selector).evaluate(
        """canvas => {
             if (!canvas.width || !canvas.height) return false;
             const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
             for (let i = 3; i < pixels.data.length; i += 4) if (pixels.data[i]) return true;
             return false;
           }"""
    )
    return drawn


def sign_in(page: Any, url: str) -> None:
    page.goto(url)
    assert urlsplit(page.url).path == "/login"
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(url + "*")


def kpi(page: Any, name: str) -> str:
    text: str = page.locator(f".kpi-value[data-kpi={name}]").text_content()
    return text.strip()


def charts_drawn(page: Any) -> None:
    page.wait_for_function("() => window.Chart && Chart.getChart('timeseries')")
    page.wait_for_selector("#panel-country .map-box:not([hidden])")
    page.wait_for_function("() => Chart.getChart('country-map')")
    assert canvas_is_drawn(page, "#timeseries")
    assert canvas_is_drawn(page, "#country-map")


def download_csv(page: Any, panel: str) -> list[list[str]]:
    with page.expect_download() as download:
        page.click(f"#panel-{panel} a.csv")
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_dashboard_signs_in_filters_by_city_exports_and_fits_a_phone(
    dashboard: LiveServer, chromium: Any
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    console = Console()
    context = chromium.new_context(viewport=DESKTOP, accept_downloads=True)
    context.add_init_script(WATCH_CSP)
    try:
        page = console.watch(context.new_page())
        sign_in(page, f"{dashboard.url}/sites/{SITE}")

        # Everyone's figures, the chart and the map drawn.
        total = len(VISITORS)
        assert kpi(page, "visitors") == str(total)
        assert page.locator("#realtime strong").text_content() == str(total)
        assert page.locator(".kpi[aria-pressed=true]").get_attribute("data-metric") == "visitors"
        charts_drawn(page)
        assert visitors_column(page, "city") == CITY_VISITORS
        # The engagement rate beside the bounce rate; the pages' time on page and exit rate.
        summary = page_data(page)["summary"]["current"]
        engaged = summary["engagement_rate"] * 100
        shown = f"{engaged:.1f}%" if 0 < engaged < 10 else f"{engaged:.0f}%"
        assert kpi(page, "engagement_rate") == shown
        headers = [h.strip() for h in page.locator("#panel-page thead th").all_text_contents()]
        assert headers[-3:] == ["Time on page", "Median time", "Exit rate"], headers
        page.screenshot(path=SCREENSHOTS / "dashboard-1280.png", full_page=True)

        # A KPI card, used from the keyboard, chooses the charted figure; the URL keeps it.
        page.focus(".kpi[data-metric=pageviews]")
        page.keyboard.press("Enter")
        assert page.locator(".kpi[aria-pressed=true]").get_attribute("data-metric") == "pageviews"
        assert page.locator("#chart-metric").text_content() == "Pageviews"
        assert parse_qs(urlsplit(page.url).query)["metric"] == ["pageviews"]

        # A panel's CSV: its header, then one row per city.
        header, *rows = download_csv(page, "city")
        assert header[:2] == ["city", "visitors"], header
        assert {row[0]: int(row[1]) for row in rows} == CITY_VISITORS

        # A city's row adds its filter; every panel then counts that city's visitors only.
        page.click("#panel-city tbody a:text-is('Lyon')")
        page.wait_for_url("**city=Lyon*")
        assert parse_qs(urlsplit(page.url).query)["city"] == ["Lyon"]
        assert page_data(page)["filters"] == {"city": "Lyon"}
        charts_drawn(page)
        lyon = CITY_VISITORS["Lyon"]
        assert kpi(page, "visitors") == str(lyon)
        chip = page.locator(".filters .chip")
        assert chip.count() == 1
        assert " ".join(chip.inner_text().split()).startswith("City is Lyon")
        assert visitors_column(page, "city") == {"Lyon": lyon}
        assert visitors_column(page, "country") == {"France": lyon}
        assert visitors_column(page, "operator") == {"Orange": lyon}
        assert visitors_column(page, "browser") == {"Chrome": lyon}
        assert visitors_column(page, "device") == {"desktop": lyon}
        assert visitors_column(page, "page") == {"/": 2, "/pricing": 3, "/docs": 1}
        for panel in page.locator("section.breakdown").evaluate_all(
            "panels => panels.map(panel => panel.dataset.breakdown)"
        ):
            if "Visitors" in page.locator(f"#panel-{panel} thead th").all_text_contents():
                counts = visitors_column(page, panel).values()
                assert max(counts) <= lyon, panel
                if panel in PARTITIONS:  # each visitor in one row
                    assert sum(counts) == lyon, panel

        # A custom range keeps the filter.
        today = page_data(page)["period"]["to"]
        page.click(".custom-range summary")
        page.fill(".custom-range input[name=from]", today)
        page.fill(".custom-range input[name=to]", today)
        page.click(".custom-range button[type=submit]")
        page.wait_for_url("**period=custom*")
        assert page_data(page)["period"]["name"] == "custom"
        assert page_data(page)["filters"] == {"city": "Lyon"}
        assert kpi(page, "visitors") == str(lyon)

        # The chip removes the filter.
        page.click(".filters .chip a")
        page.wait_for_function("() => !new URL(location.href).searchParams.has('city')")
        assert kpi(page, "visitors") == str(total)

        # A phone: one column, no sideways scrolling of the page.
        page.set_viewport_size(PHONE)
        page.reload()
        charts_drawn(page)
        page.screenshot(path=SCREENSHOTS / "dashboard-390.png", full_page=True)
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], width
    finally:
        context.close()
    assert console.errors == []
