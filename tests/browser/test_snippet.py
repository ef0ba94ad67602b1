"""The snippet in real headless Chromium: nothing before consent, pages, SPA navigations,
engaged time and the cookie after it, silence after withdrawal, and Global Privacy Control."""

from __future__ import annotations

import time
from typing import Any

from collector.web.visitor import add_months
from tests.browser.conftest import Browser
from tests.conftest import events

PAGE = "/page/audience.js/manual"
HIDE = """() => {
  Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});
  document.dispatchEvent(new Event('visibilitychange'));
}"""


def rows_of(browser: Browser, count: int) -> list[dict[str, Any]]:
    return browser.live.wait_stored(count)


def pageviews(browser: Browser, count: int, timeout: float = 15) -> list[dict[str, Any]]:
    """The stored pageviews once there are ``count`` (other events may come and go around them)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = [row for row in events(browser.live.store) if row["type"] == "pageview"]
        if len(rows) >= count or time.monotonic() > deadline:
            assert len(rows) == count
            return rows
        time.sleep(0.05)


def test_nothing_is_sent_and_no_cookie_is_set_before_consent(same_origin: Browser) -> None:
    page = same_origin.open(f"{same_origin.live.url}{PAGE}/index.html")
    page.evaluate("() => history.pushState({}, '', '/page/audience.js/manual/spa.html')")
    page.evaluate(HIDE)
    page.wait_for_timeout(800)
    assert same_origin.collector_requests() == []
    assert same_origin.our_cookies() == []
    assert any(url.endswith("/js/audience.js") for url in same_origin.requests)
    assert same_origin.live.settle() == []


def test_consent_counts_pages_spa_navigations_and_engaged_time(same_origin: Browser) -> None:
    live = same_origin.live
    page = same_origin.open(f"{live.url}{PAGE}/index.html?email=jane%40mail.test#top")
    started = time.monotonic()
    page.evaluate("() => __cmp.set(true)")
    [first] = rows_of(same_origin, 1)
    assert (first["type"], first["path"]) == ("pageview", f"{PAGE}/index.html")
    assert first["consent"] == "manual"
    assert (first["browser"], first["device"]) == ("Chrome", "desktop")

    page.wait_for_timeout(300)
    page.evaluate("() => history.pushState({}, '', '/page/audience.js/manual/next.html?q=1')")
    rows = rows_of(same_origin, 3)
    pageviews = [row for row in rows if row["type"] == "pageview"]
    assert [row["path"] for row in pageviews] == [f"{PAGE}/index.html", f"{PAGE}/next.html"]
    assert len({row["visit"] for row in rows}) == 1

    page.wait_for_timeout(400)
    page.evaluate(HIDE)
    elapsed_ms = (time.monotonic() - started) * 1000
    rows = rows_of(same_origin, 4)
    engagements = [row for row in rows if row["type"] == "engagement"]
    assert [row["path"] for row in engagements] == [f"{PAGE}/index.html", f"{PAGE}/next.html"]
    assert 250 <= engagements[0]["engaged_ms"] <= elapsed_ms
    assert 350 <= engagements[1]["engaged_ms"] <= elapsed_ms
    assert sum(row["engaged_ms"] for row in engagements) <= elapsed_ms


def test_cookie_is_httponly_lax_and_its_expiry_never_moves(same_origin: Browser) -> None:
    live = same_origin.live
    first = same_origin.open(f"{live.url}{PAGE}/index.html")
    created = int(time.time())
    first.evaluate("() => __cmp.set(true)")
    rows_of(same_origin, 1)
    [cookie] = same_origin.our_cookies()
    assert cookie["name"] == "audience"
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert add_months(created - 5, 13) <= cookie["expires"] < add_months(created + 3, 13)

    time.sleep(1.1)
    later = same_origin.open(f"{live.url}{PAGE}/later.html")
    later.evaluate("() => __cmp.set(true)")
    rows = pageviews(same_origin, 2)
    for _ in range(100):  # the response events reach the test a little after the rows
        if len(same_origin.set_cookies) >= 2:
            break
        later.wait_for_timeout(50)
    [again] = same_origin.our_cookies()
    # The server sends the very same Expires; the browser shifts it by the rounding of the
    # Date header, by less than a second.
    expires = {part for c in same_origin.set_cookies for part in c.split("; ") if "Expires" in part}
    assert len(same_origin.set_cookies) >= 2 and len(expires) == 1
    assert abs(again["expires"] - cookie["expires"]) < 2  # Chrome shifts it by the Date skew
    assert again["value"] != cookie["value"]  # the visit state moved on, the expiry did not
    assert rows[0]["visitor"] == rows[1]["visitor"]


def test_withdrawal_stops_everything_and_removes_the_cookie(same_origin: Browser) -> None:
    live = same_origin.live
    page = same_origin.open(f"{live.url}{PAGE}/index.html")
    page.evaluate("() => __cmp.set(true)")
    rows_of(same_origin, 1)
    assert same_origin.our_cookies() != []
    page.evaluate("() => __cmp.set(false)")
    page.wait_for_timeout(300)
    assert same_origin.collector_requests()[-1].endswith("/api/privacy/optout")
    # The visitor cookie is gone; what is left says "withdrawn" to the site's other open pages,
    # for this browser session only, and holds no identifier.
    [marker] = same_origin.our_cookies()
    assert (marker["name"], marker["value"], marker["expires"]) == ("audience_off", "1", -1)
    sent = len(same_origin.requests)
    page.evaluate("() => history.pushState({}, '', '/page/audience.js/manual/after.html')")
    page.evaluate("() => audience.track()")
    page.evaluate(HIDE)
    page.wait_for_timeout(500)
    assert same_origin.requests[sent:] == []
    stored = live.settle()
    assert [(row["type"], row["path"]) for row in stored] == [("pageview", f"{PAGE}/index.html")]


def test_global_privacy_control_means_nothing_is_sent(same_origin: Browser) -> None:
    same_origin.context.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})"
    )
    page = same_origin.open(f"{same_origin.live.url}{PAGE}/index.html")
    assert page.evaluate("() => navigator.globalPrivacyControl") is True
    page.evaluate("() => __cmp.set(true)")
    page.evaluate("() => history.pushState({}, '', '/page/audience.js/manual/two.html')")
    page.wait_for_timeout(600)
    assert same_origin.collector_requests() == []
    assert same_origin.our_cookies() == []
    assert same_origin.live.settle() == []


def test_collector_on_another_site_keeps_the_state_in_a_first_party_cookie(
    cross_site: tuple[Browser, str],
) -> None:
    browser, site_url = cross_site
    page = browser.open(f"{site_url}/page/audience.js/manual/index.html")
    page.wait_for_timeout(500)
    assert browser.collector_requests() == []
    assert browser.context.cookies() == []
    created = int(time.time())
    page.evaluate("() => __cmp.set(true)")
    pageviews(browser, 1)
    page.wait_for_timeout(300)
    [kept] = [c for c in browser.context.cookies() if c["name"] == "audience_state"]
    assert kept["domain"] == "localhost"  # first-party: the page's own site
    assert add_months(created - 5, 13) <= kept["expires"] < add_months(created + 3, 13)
    assert not [c for c in browser.context.cookies() if c["domain"] == "127.0.0.1"]

    page.evaluate("() => history.pushState({}, '', '/page/audience.js/manual/second.html')")
    first, second = pageviews(browser, 2)
    assert first["visitor"] == second["visitor"]  # the state came back in the beacon
    assert first["visit"] == second["visit"]
    page.wait_for_timeout(300)
    [again] = [c for c in browser.context.cookies() if c["name"] == "audience_state"]
    assert abs(again["expires"] - kept["expires"]) < 2  # Chrome shifts it by the Date skew

    page.evaluate("() => __cmp.set(false)")
    page.wait_for_timeout(300)
    assert [c for c in browser.context.cookies() if c["name"] == "audience_state"] == []


def test_the_privacy_api_of_the_snippet_on_another_site(cross_site: tuple[Browser, str]) -> None:
    """A page of the site reads, exports and erases the visitor's data through the snippet: the
    state it kept goes in a header, cross-site, and is forgotten after the erasure."""
    browser, site_url = cross_site
    page = browser.open(f"{site_url}/page/audience.js/manual/index.html")
    page.evaluate("() => __cmp.set(true)")
    pageviews(browser, 1)
    page.wait_for_timeout(300)
    held = page.evaluate("() => audience.privacy.get()")
    assert [e["path"] for e in held["events"]] == ["/page/audience.js/manual/index.html"]
    exported = page.evaluate("() => audience.privacy.export('csv').then(b => b.text())")
    assert exported.splitlines()[0].startswith("site,ts,type,path,")
    assert "/page/audience.js/manual/index.html" in exported
    erased = page.evaluate("() => audience.privacy.erase()")
    assert erased == {"status": "erased", "events_erased": 1}
    assert [c for c in browser.context.cookies() if c["name"] == "audience_state"] == []
    assert browser.live.settle() == []
    failed = page.evaluate("() => audience.privacy.get().then(() => 'read', r => r.status)")
    assert failed == 401
