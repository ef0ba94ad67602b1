"""The cohort retention panel in real headless Chromium against the real server: the grid of the
visitors fed through the real pipeline, its switch from weeks to months, its CSV, and on a phone a
grid that scrolls inside its box while the page does not (screenshots kept), with no console
error or CSP violation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from collector.settings import Settings
from collector.storage.sites import Site
from tests.browser.test_dashboard import (
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    SITE,
    VISITORS,
    WATCH_CSP,
    Console,
    add_user,
    download_csv,
    feed,
    page_data,
    sign_in,
)
from tests.conftest import GeoFiles, LiveServer, environment, register


@pytest.fixture
def dashboard(tmp_path: Path, geo_files: GeoFiles) -> Iterator[LiveServer]:
    env = environment(tmp_path / "data", geo_files, AUDIENCE_MIN_CELL="1")
    settings = Settings.from_environ(env)
    register(settings, Site(SITE, timezone="Europe/Paris"))
    add_user(env)
    with LiveServer(settings) as live:
        live.wait_stored(feed(live))
        yield live


def grid(page: Any) -> dict[str, list[str]]:
    """The panel's rows as shown: cohort -> the texts of its cells (size first)."""
    rows: dict[str, list[str]] = page.locator("#cohorts-table tbody tr").evaluate_all(
        """rows => Object.fromEntries(rows.map(row => [row.querySelector('th').textContent.trim(),
             Array.from(row.querySelectorAll('td'), cell => cell.textContent.trim())]))"""
    )
    return rows


def test_cohort_panel_shows_the_grid_switches_interval_and_scrolls_on_a_phone(
    dashboard: LiveServer, chromium: Any
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    console = Console()
    context = chromium.new_context(viewport=DESKTOP, accept_downloads=True)
    context.add_init_script(WATCH_CSP)
    today = datetime.now(ZoneInfo("Europe/Paris")).date()
    monday, first = today - timedelta(days=today.weekday()), today.replace(day=1)
    try:
        page = console.watch(context.new_page())
        sign_in(page, f"{dashboard.url}/sites/{SITE}")

        # Weekly by default for 30 days: this week's cohort holds every visitor, 100 % at week 0.
        assert page.locator("#title-cohorts").text_content() == "Cohort retention by week"
        shown = grid(page)
        label = f"{monday.day} {monday.strftime('%b')} {monday.year}"
        assert shown[label][:2] == [str(len(VISITORS)), "100%"], shown
        assert page_data(page)["cohorts"]["rows"][-1]["cohort"] == monday.isoformat()
        page.screenshot(path=SCREENSHOTS / "cohorts-1280.png", full_page=True)

        # Months, over 12 months: twelve rows, this month's last; the CSV says the same.
        page.goto(f"{dashboard.url}/sites/{SITE}?period=12mo")
        page.click("#panel-cohorts nav a:text-is('Month')")
        page.wait_for_url("**cohorts=month*")
        assert page.locator("#title-cohorts").text_content() == "Cohort retention by month"
        shown = grid(page)
        assert len(shown) == 12
        assert shown[first.strftime("%b %Y")][:2] == [str(len(VISITORS)), "100%"], shown
        header, *rows = download_csv(page, "cohorts")
        assert header[:4] == ["cohort", "visitors", "month_0_visitors", "month_0_share"]
        assert rows[-1][:4] == [first.isoformat(), str(len(VISITORS)), str(len(VISITORS)), "1.0"]

        # A phone: the grid of thirteen columns scrolls inside its box, the page does not.
        page.set_viewport_size(PHONE)
        page.reload()
        page.locator("#panel-cohorts").scroll_into_view_if_needed()
        page.screenshot(path=SCREENSHOTS / "cohorts-390.png", full_page=True)
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], width
        box = page.locator("#panel-cohorts .table-scroll").evaluate(
            "box => [box.scrollWidth, box.clientWidth, box.getBoundingClientRect().right]"
        )
        assert box[0] > box[1] and box[2] <= PHONE["width"], box
    finally:
        context.close()
    assert console.errors == []
