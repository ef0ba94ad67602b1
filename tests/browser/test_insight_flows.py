"""Goals, funnels and annotations from the browser, in real headless Chromium at desktop and
phone widths (screenshots kept): scripted visitors' beacons go through the collector; an admin
creates a goal and a funnel in the Goals page, sees on the dashboard the numbers those visits
make, adds a note from the chart's form and finds its marker on the chart at its day. No console
error, no CSP violation, nothing wider than a phone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from collector.settings import Settings
from collector.storage.sites import Site
from dashboards.accounts import Accounts
from tests.browser.conftest import DESKTOP_CHROME
from tests.browser.test_admin_flows import shoot, sign_in
from tests.browser.test_dashboard import DESKTOP, SCREENSHOTS, WATCH_CSP, Console
from tests.conftest import (
    SECRET,
    GeoFiles,
    LiveServer,
    environment,
    migrated_store,
    walk,
)

ADMIN = "admin@shop.example"
PASSWORD = "correct horse battery staple"
# One visit per visitor: 3 go /… → /pricing → /thanks; one reaches /thanks without /pricing.
JOURNEYS = (
    ("/", "/pricing", "/thanks"),
    ("/blog/a", "/pricing", "/thanks"),
    ("/", "/pricing", "/thanks"),
    ("/", "/thanks"),
    ("/", "/pricing"),
    ("/docs/install",),
)


@pytest.fixture
def live(tmp_path: Path, geo_files: GeoFiles) -> Iterator[LiveServer]:
    env = environment(tmp_path / "data", geo_files, AUDIENCE_MIN_CELL="1")
    settings = Settings.from_environ(env)
    store = migrated_store(settings)
    try:
        store.save_site(Site("shop.example"))
        Accounts(store, SECRET.encode()).add_user(ADMIN, PASSWORD, "admin")
    finally:
        store.close()
    with LiveServer(settings) as server:
        sent = walk(server.url, "shop.example", JOURNEYS)
        server.wait_stored(sent)
        yield server


def cells(page: Any, selector: str) -> list[list[str]]:
    """The text of each row's cells (header cell first) of the table under ``selector``."""
    rows: list[list[str]] = page.eval_on_selector_all(
        f"{selector} tbody tr",
        "rows => rows.map(r => [...r.children].map(c => c.textContent.trim()))",
    )
    return rows


def test_goals_funnels_and_notes_from_the_browser(live: LiveServer, chromium: Any) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    console = Console()
    context = chromium.new_context(viewport=DESKTOP, user_agent=DESKTOP_CHROME)
    context.add_init_script(WATCH_CSP)
    try:
        page = console.watch(context.new_page())
        sign_in(page, live.url, ADMIN, PASSWORD)
        page.wait_for_url(f"{live.url}/")
        page.goto(f"{live.url}/sites/shop.example?period=7d")
        page.click("#manage-goals")
        page.wait_for_url(f"{live.url}/sites/shop.example/goals")

        page.fill("#goal-pattern", "/thanks")
        page.fill("#goal-name", "Thank-you page")
        page.click("#goal-form button[type=submit]")
        page.wait_for_selector('tr[data-goal="/thanks"]')
        page.fill("#funnel-name", "Pricing to thanks")
        for step, pattern in enumerate(("/**", "/pricing", "/thanks"), start=1):
            page.fill(f"#funnel-step-{step}", pattern)
        page.check('input[name=within][value="visit"]')
        page.click("#funnel-form button[type=submit]")
        page.wait_for_selector("tr[data-funnel]")
        shoot(page, "goals-page", "")

        page.goto(f"{live.url}/sites/shop.example?period=7d")
        # 4 of the 6 visitors reached /thanks; the funnel: 6, then 4 at /pricing, then 3.
        [goal] = cells(page, "#panel-goals")
        assert goal[0].startswith("Thank-you page") and goal[1:3] == ["4", "4"]
        assert goal[3].startswith("67%")
        steps = cells(page, "section.funnel")
        assert [row[1] for row in steps] == ["6", "4", "3"]
        assert [row[4] for row in steps] == ["—", "2", "1"]  # drop-off
        assert [row[2] for row in steps][1:] == ["67%", "75%"]  # from the previous step

        # The goal filters the dashboard: the visitors who reached /thanks.
        page.click("#panel-goals tbody a")
        page.wait_for_url("**goal=%2Fthanks**")
        assert page.locator('.chip[data-filter="goal"]').count() == 1
        visitors = page.locator(".kpi-value[data-kpi=visitors]")
        assert visitors.text_content().strip().startswith("4"), visitors.text_content()
        page.goto(f"{live.url}/sites/shop.example?period=7d")

        # A note from the chart's form, drawn at its day.
        today = datetime.now(UTC).date().isoformat()
        page.fill("#annotation-form input[name=day]", today)
        page.fill("#annotation-form input[name=text]", "Pricing page redesigned")
        page.click("#annotation-form button[type=submit]")
        page.wait_for_selector(f'li[data-annotation="{today}"]')
        marker = page.locator(f'.annotation-marker[data-annotation="{today}"]')
        marker.wait_for()
        assert marker.is_visible()
        chart = page.locator("canvas").first.bounding_box()
        spot = marker.bounding_box()
        assert chart and spot and chart["x"] <= spot["x"] <= chart["x"] + chart["width"]
        shoot(page, "dashboard-goals-funnels-note", "")
        assert console.errors == []
    finally:
        context.close()
