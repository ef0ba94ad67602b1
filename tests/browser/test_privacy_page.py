"""The privacy page in real headless Chromium: a visitor who consented through the snippet opens
/privacy, sees their events, exports them, erases them through the form and sees them gone; with
no console error or CSP violation, a visible focus, and no sideways scrolling on a phone."""

from __future__ import annotations

import json
from pathlib import Path

from collector.privacy.texts import TEXTS
from collector.storage.rights_store import RightsStore
from tests.browser.conftest import Browser
from tests.browser.test_dashboard import DESKTOP, PHONE, SCREENSHOTS, WATCH_CSP, Console
from tests.browser.test_snippet import PAGE, pageviews

EN = TEXTS["en"]
PATHS = [f"{PAGE}/index.html", f"{PAGE}/second.html"]


def test_a_visitor_sees_exports_and_erases_their_events(same_origin: Browser) -> None:
    live, context = same_origin.live, same_origin.context
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context.add_init_script(WATCH_CSP)

    # Consent on a page of the site, then a second page: two pageviews and the cookie.
    site = same_origin.open(f"{live.url}{PAGE}/index.html")
    site.evaluate("() => __cmp.set(true)")
    pageviews(same_origin, 1)  # the cookie is set: the next beacon carries it
    site.evaluate("() => history.pushState({}, '', '/page/audience.js/manual/second.html')")
    [visitor] = {row["visitor"] for row in pageviews(same_origin, 2)}

    console = Console()
    page = console.watch(context.new_page())
    page.set_viewport_size(DESKTOP)
    page.goto(f"{live.url}/privacy")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").count() == 1
    shown = page.locator("table.events td.path").all_text_contents()
    assert set(PATHS) <= set(shown), shown
    identifier = page.locator("code#visitor-id").text_content()
    assert identifier is not None and len(identifier) == 16
    labelled = page.locator("input").evaluate_all("inputs => inputs.map(i => i.labels.length)")
    assert labelled == [1, 1]
    page.keyboard.press("Tab")  # the first link, focused from the keyboard, shows its ring
    ring = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert ring == "solid"
    page.screenshot(path=SCREENSHOTS / "privacy-1280.png", full_page=True)

    # A phone: the table scrolls in its own box, the page does not scroll sideways.
    page.set_viewport_size(PHONE)
    page.reload()
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width
    table = page.locator(".table-scroll").evaluate("box => [box.scrollWidth, box.clientWidth]")
    assert table[0] > table[1], table
    page.screenshot(path=SCREENSHOTS / "privacy-390.png", full_page=True)

    # Export (JSON): a download holding those events.
    with page.expect_download() as download:
        page.click("#export-json")
    assert download.value.suggested_filename == f"audience-data-{identifier}.json"
    exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert exported["visitor"] == identifier
    assert set(PATHS) <= {event["path"] for event in exported["events"]}

    # Erase: refused by the browser until the confirmation is ticked, then done.
    page.click("#erase button[type=submit]")
    assert page.locator("#erase-confirm").evaluate("box => box.validity.valueMissing")
    assert page.url == f"{live.url}/privacy"
    page.check("#erase-confirm")
    page.click("#erase button[type=submit]")
    page.wait_for_url(f"{live.url}/privacy?done=erased")
    assert page.locator("[role=status]").text_content() == EN["done_erased"]
    assert page.locator("table.events").count() == 0
    assert page.locator("#no-data h2").text_content() == EN["h_no_data"]
    assert same_origin.our_cookies() == []
    assert RightsStore(live.store).count_events(visitor) == 0
    live.settle()  # the site's page, still open, has no cookie left to send
    assert RightsStore(live.store).count_events(visitor) == 0
    assert console.errors == []
