"""Visit metrics under real browsing: one visitor in real headless Chromium, back/forward cache on,
against the real collector; the stats API must answer the ground truth of what the visitor did
(DESIGN section 5: every visit metric is a function of the set of the visit's stored events).

The scenarios are the ones real browsers produce and per-event running sums get wrong: links
followed one after the other, tabs opened together (their beacons race with one cookie), an SPA,
back/forward restores and a reload, tabs restored after the visit timeout, an answer lost on the
network. Each asserts visits, pageviews, bounce rate and, where the visitor spent known time,
the visit duration (last event minus first event, engagement beacons included). One more test
checks the snippet's part: a restored page counts only on a page where consent was given.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.settings import VISIT_TIMEOUT_SECONDS, Settings
from collector.storage.sites import Site
from collector.web.visitor import StateSigner, VisitorState
from dashboards.accounts import Accounts
from tests.browser.conftest import CHROMIUM, DESKTOP_CHROME, FLAGS, SameOrigin, playwright_sync
from tests.conftest import SECRET, GeoFiles, LiveServer, environment, events, register

SITE = "localhost"
PAGE = "/page/audience.js/manual"
# The site's banner remembers the visitor's choice: each page load calls the manual API once the
# snippet (a defer script, run before DOMContentLoaded) is there. A restored page keeps its own.
CONSENT = "addEventListener('DOMContentLoaded', () => window.audience && audience.consent(true))"
# Every pageshow of a document: `persisted` is true when the back/forward cache restored it.
SHOWS = "window.__shows = []; addEventListener('pageshow', e => __shows.push(e.persisted))"
LATENCY_MS = 80  # a round trip of a real network, so that beacons of parallel tabs overlap
DWELL_MS = 2000  # time on a page where the visit duration is asserted
# Beacons leaving a page are sent while it unloads; they are counted once the writer stored them.
STORED_TIMEOUT = 15.0


@pytest.fixture(scope="module")
def bfcache_chromium(chromium: Any) -> Iterator[Any]:
    """A Chromium of its own, with Playwright's driver: the back/forward cache on (Playwright
    turns it off unless told) and a desktop user agent for the whole browser, which also covers
    beacons sent while a page unloads (a context's user agent does not)."""
    browser = chromium.browser_type.launch(
        executable_path=CHROMIUM,
        args=[*FLAGS, f"--user-agent={DESKTOP_CHROME}"],
        ignore_default_args=["--disable-back-forward-cache"],
        headless=True,
    )
    yield browser
    browser.close()


@dataclass
class Visitor:
    """One visitor's browser on the test site, and the stats API that counts them."""

    live: LiveServer
    context: Any
    api_key: str

    def url(self, name: str) -> str:
        return f"{self.live.url}{PAGE}/{name}.html"

    def path(self, name: str) -> str:
        return f"{PAGE}/{name}.html"

    def new_tab(self, latency_ms: int = 0) -> Any:
        page = self.context.new_page()
        if latency_ms:
            cdp = self.context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send(
                "Network.emulateNetworkConditions",
                {
                    "offline": False,
                    "latency": latency_ms,
                    "downloadThroughput": -1,
                    "uploadThroughput": -1,
                },
            )
        return page

    def open(self, name: str, latency_ms: int = 0) -> Any:
        page = self.new_tab(latency_ms)
        page.goto(self.url(name))
        return page

    def open_together(self, names: list[str], latency_ms: int = LATENCY_MS) -> list[Any]:
        """Tabs loading at once: each navigation starts before any of them has loaded."""
        tabs = [self.new_tab(latency_ms) for _ in names]
        for tab, name in zip(tabs, names, strict=True):
            tab.evaluate("url => { location.href = url }", self.url(name))
        for tab, name in zip(tabs, names, strict=True):
            tab.wait_for_url(self.url(name))
            tab.wait_for_load_state("load")
        return tabs

    def follow(self, page: Any, name: str) -> None:
        """Click a link to another page of the site and wait for it to load."""
        page.evaluate(
            """url => {
              const link = Object.assign(document.createElement('a'), {id: 'next', href: url});
              link.textContent = 'next';
              document.body.append(link);
            }""",
            self.url(name),
        )
        page.click("#next")
        page.wait_for_url(self.url(name))

    def stored(self, done: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
        """The stored events once ``done`` holds and every accepted event is stored."""
        metrics = self.live.app.runtime.metrics
        deadline = time.monotonic() + STORED_TIMEOUT
        while True:
            rows = events(self.live.store)
            if done(rows) and len(rows) == metrics.accepted:
                # Every beacon was accepted: none refused, none dropped as a bot.
                assert (dict(metrics.rejected), dict(metrics.dropped)) == ({}, {})
                return rows
            assert time.monotonic() < deadline, f"{metrics.accepted} accepted, stored: {rows}"
            self.pump(50)

    def until(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + STORED_TIMEOUT
        while not done():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            self.pump(20)

    def pump(self, ms: int) -> None:
        """Wait, letting Playwright deliver its events and call route handlers meanwhile (the
        synchronous API does so only while it is called)."""
        pages = self.context.pages
        if pages:
            pages[0].wait_for_timeout(ms)
        else:
            time.sleep(ms / 1000)

    def stats(self) -> dict[str, Any]:
        """The summary's figures, with the entry and exit pages: {path: entries/exits}."""
        headers = {"authorization": f"Bearer {self.api_key}"}
        api = f"{self.live.url}/api/stats/{SITE}"
        with httpx.Client(headers=headers, timeout=20) as http:
            summary = http.get(f"{api}/summary?period=7d")
            entries = http.get(f"{api}/breakdown/entry_page?period=7d")
            exits = http.get(f"{api}/breakdown/exit_page?period=7d")
        for answer in (summary, entries, exits):
            assert answer.status_code == 200, answer.text
        return {
            **summary.json()["current"],
            "entries": {row["label"]: row["entries"] for row in entries.json()["rows"]},
            "exits": {row["label"]: row["exits"] for row in exits.json()["rows"]},
        }


def pageviews(rows: list[dict[str, Any]]) -> list[str]:
    """The paths of the stored pageviews, sorted (times are whole seconds: ties are common)."""
    return sorted(row["path"] for row in rows if row["type"] == "pageview")


def left(rows: list[dict[str, Any]], path: str) -> bool:
    """The engagement beacon of ``path`` is stored: the visitor left it."""
    return any(row["type"] == "engagement" and row["path"] == path for row in rows)


def shows(page: Any) -> list[bool]:
    """The ``persisted`` flag of every pageshow of the page's current document."""
    found: list[bool] = page.evaluate("() => window.__shows")
    return found


def back_or_forward(page: Any, url: str, back: bool, restores: int = 1) -> None:
    """Go back or forward to ``url`` and check the page came from the back/forward cache: the
    same document, shown for the ``restores``-th time since its load (a restore fires no load
    event to wait for)."""
    (page.go_back if back else page.go_forward)(wait_until="commit")
    page.wait_for_url(url, wait_until="commit")
    shown = f"() => window.__shows && __shows.filter(Boolean).length >= {restores}"
    with suppress(playwright_sync.TimeoutError):  # loaded again instead: the assert says so
        page.wait_for_function(shown, timeout=5000)
    assert shows(page) == [False] + [True] * restores, "not restored from the back/forward cache"


@pytest.fixture
def visitor(tmp_path: Path, geo_files: GeoFiles, bfcache_chromium: Any) -> Iterator[Visitor]:
    """The real collector with the test site beside it (min_cell 1: nothing folds into Other),
    an API key for its stats, and a fresh browser profile that consents on every page."""
    settings = Settings.from_environ(
        environment(tmp_path / "data", geo_files, AUDIENCE_MIN_CELL="1")
    )
    register(settings, Site(SITE))
    with LiveServer(settings, wrap=SameOrigin) as live:
        accounts = Accounts(live.store, SECRET.encode())
        accounts.add_user("admin@example.com", "correct horse battery staple", "admin", [])
        _, key = accounts.keys.create("admin@example.com", "visits")
        context = bfcache_chromium.new_context()
        context.add_init_script(CONSENT)
        context.add_init_script(SHOWS)
        try:
            yield Visitor(live, context, key)
        finally:
            context.close()


def test_the_browser_is_a_desktop_chrome_with_the_back_forward_cache(visitor: Visitor) -> None:
    page = visitor.open("a")
    agent = page.evaluate("() => navigator.userAgent")
    assert agent == DESKTOP_CHROME and "Headless" not in agent
    visitor.follow(page, "b")
    back_or_forward(page, visitor.url("a"), back=True)


def test_links_followed_one_after_the_other(visitor: Visitor) -> None:
    """A -> B -> C, 2 s on each, then away: 1 visit, 3 pageviews, no bounce, about 6 s."""
    a, b, c = (visitor.path(name) for name in "abc")
    started = time.time()
    page = visitor.open("a")
    page.wait_for_timeout(DWELL_MS)
    visitor.follow(page, "b")
    page.wait_for_timeout(DWELL_MS)
    visitor.follow(page, "c")
    page.wait_for_timeout(DWELL_MS)
    page.goto("about:blank")  # the visitor leaves the site: C's engagement beacon goes
    ended = time.time()
    rows = visitor.stored(lambda rows: len(pageviews(rows)) == 3 and left(rows, c))
    assert pageviews(rows) == [a, b, c]
    assert sorted(row["path"] for row in rows if row["type"] == "engagement") == [a, b, c]

    stats = visitor.stats()
    assert (stats["visits"], stats["pageviews"], stats["bounce_rate"]) == (1, 3, 0.0)
    elapsed = ended - started
    # Whole seconds on the server: never more than the time the visitor really spent.
    assert elapsed - 2 <= stats["visit_duration"] <= elapsed + 1, (elapsed, stats)
    assert stats["visit_duration"] >= 3 * DWELL_MS / 1000 - 2
    assert stats["entries"] == {a: 1}
    assert stats["exits"] == {c: 1}


def test_three_tabs_opened_at_once(visitor: Visitor) -> None:
    """From A, B, C and D open in three tabs together: their pageviews leave with one cookie."""
    a = visitor.path("a")
    sent: list[tuple[str, str]] = []  # (page, cookie) of each pageview beacon

    def watch(request: Any) -> None:
        if request.url.endswith("/api/event") and '"pageview"' in (request.post_data or ""):
            url = json.loads(request.post_data)["url"]
            sent.append((url, request.header_value("cookie") or ""))

    visitor.context.on("request", watch)
    first = visitor.open("a", latency_ms=LATENCY_MS)
    visitor.stored(lambda rows: pageviews(rows) == [a])
    tabs = visitor.open_together(["b", "c", "d"])
    rows = visitor.stored(lambda rows: len(pageviews(rows)) == 4)
    visitor.until(lambda: len(sent) == 4, "the browser's requests")
    assert pageviews(rows) == [visitor.path(name) for name in "abcd"]
    cookies = [cookie for url, cookie in sent if not url.endswith("/a.html")]
    assert len(cookies) == 3 and len(set(cookies)) < 3, sent  # the tabs raced with one state
    for tab in [first, *tabs]:
        tab.close()

    stats = visitor.stats()
    assert (stats["visits"], stats["pageviews"], stats["bounce_rate"]) == (1, 4, 0.0)
    assert stats["entries"] == {a: 1}
    assert all(exits >= 0 for exits in stats["exits"].values()), stats["exits"]
    assert sum(stats["exits"].values()) == 1, stats["exits"]
    assert set(stats["exits"]) <= {visitor.path(name) for name in "bcd"}, stats["exits"]


def test_a_single_page_application(visitor: Visitor) -> None:
    """pushState A -> B -> C, 2 s on each, then away: 1 visit, 3 pageviews, about 6 s."""
    a, b, c = (visitor.path(name) for name in "abc")
    started = time.time()
    page = visitor.open("a")
    page.wait_for_timeout(DWELL_MS)
    page.evaluate("path => history.pushState({}, '', path)", b)
    page.wait_for_timeout(DWELL_MS)
    page.evaluate("path => history.pushState({}, '', path)", c)
    page.wait_for_timeout(DWELL_MS)
    page.goto("about:blank")
    ended = time.time()
    rows = visitor.stored(lambda rows: len(pageviews(rows)) == 3 and left(rows, c))
    assert pageviews(rows) == [a, b, c]

    stats = visitor.stats()
    assert (stats["visits"], stats["pageviews"], stats["bounce_rate"]) == (1, 3, 0.0)
    elapsed = ended - started
    assert elapsed - 2 <= stats["visit_duration"] <= elapsed + 1, (elapsed, stats)
    assert stats["visit_duration"] >= 3 * DWELL_MS / 1000 - 2
    assert stats["entries"] == {a: 1}
    assert stats["exits"] == {c: 1}


def test_back_forward_and_reload(visitor: Visitor) -> None:
    """A -> B, back (A restored), forward (B restored), reload: 5 pageviews in 1 visit."""
    a, b = visitor.path("a"), visitor.path("b")
    started = time.time()
    page = visitor.open("a")
    visitor.follow(page, "b")
    visitor.stored(lambda rows: pageviews(rows) == [a, b])

    back_or_forward(page, visitor.url("a"), back=True)
    visitor.stored(lambda rows: pageviews(rows) == [a, a, b])

    back_or_forward(page, visitor.url("b"), back=False)
    visitor.stored(lambda rows: pageviews(rows) == [a, a, b, b])

    page.reload()
    assert shows(page) == [False]  # a new document: one pageview, not two
    page.goto("about:blank")
    ended = time.time()
    rows = visitor.stored(lambda rows: len(pageviews(rows)) == 5 and left(rows, b))
    assert pageviews(rows) == [a, a, b, b, b]
    # Engaged time restarts on a restore: the time spent in the cache is never counted.
    assert sum(row["engaged_ms"] for row in rows) <= (ended - started) * 1000

    stats = visitor.stats()
    assert (stats["visits"], stats["pageviews"], stats["bounce_rate"]) == (1, 5, 0.0)
    assert stats["entries"] == {a: 1}
    assert stats["exits"] == {b: 1}


def test_a_restored_page_counts_only_once_consent_is_given_on_it(visitor: Visitor) -> None:
    """The snippet on restores: nothing before consent; consent holds for the page it was given
    on, and a restore of that page is one more pageview."""
    a = visitor.path("a")
    context = visitor.context.browser.new_context()  # a visitor who has not consented yet
    context.add_init_script(SHOWS)
    sent: list[str] = []
    context.on("request", lambda request: sent.append(request.url))
    try:
        page = context.new_page()
        page.goto(visitor.url("a"))
        visitor.follow(page, "b")
        back_or_forward(page, visitor.url("a"), back=True)
        page.wait_for_timeout(300)
        assert [url for url in sent if "/api/" in url] == []
        assert context.cookies() == []
        page.evaluate("() => audience.consent(true)")  # on A, restored
        back_or_forward(page, visitor.url("b"), back=False)  # B was never consented on
        back_or_forward(page, visitor.url("a"), back=True, restores=2)
        page.goto("about:blank")
        rows = visitor.stored(lambda rows: len(pageviews(rows)) == 2 and left(rows, a))
    finally:
        context.close()
    assert pageviews(rows) == [a, a]
    assert {row["path"] for row in rows} == {a}


def test_a_withdrawal_elsewhere_silences_a_restored_page(visitor: Visitor) -> None:
    """Consent on A, then withdrawn on B: A, restored from the back/forward cache with the consent
    it had, sends nothing more (no pageview, no engaged time), and no cookie comes back."""
    a, b = visitor.path("a"), visitor.path("b")
    context = visitor.context.browser.new_context()  # no banner consenting on every page
    context.add_init_script(SHOWS)
    sent: list[str] = []
    context.on("request", lambda request: sent.append(request.url))
    try:
        page = context.new_page()
        page.goto(visitor.url("a"))
        page.evaluate("() => audience.consent(true)")
        visitor.follow(page, "b")
        page.evaluate("() => audience.consent(true)")
        visitor.stored(lambda rows: pageviews(rows) == [a, b] and left(rows, a))
        page.evaluate("() => audience.consent(false)")  # withdrawn on B
        visitor.until(lambda: any("/api/privacy/optout" in url for url in sent), "the opt-out")
        withdrawn_at = len(sent)
        back_or_forward(page, visitor.url("a"), back=True)
        page.wait_for_timeout(300)
        page.goto("about:blank")  # A is left: its engaged time would go now
        page.wait_for_timeout(300)
        after = [url for url in sent[withdrawn_at:] if "/api/" in url]
        cookies = {cookie["name"] for cookie in context.cookies()}
    finally:
        context.close()
    assert after == []
    assert "audience" not in cookies and "__Host-audience" not in cookies
    assert cookies <= {"audience_off"}  # the withdrawal, remembered without an identifier
    assert pageviews(events(visitor.live.store)) == [a, b]


def test_tabs_restored_after_the_visit_timeout(visitor: Visitor) -> None:
    """The browser comes back with three tabs 40 minutes after the visit's last event.

    The collector takes its clock from ``time.time()`` inside ``EventEndpoint``, with no seam to
    move it: the visitor's cookie is made 40 minutes old instead, signed with the test secret.
    """
    now = int(time.time())
    last_seen = now - VISIT_TIMEOUT_SECONDS - 10 * 60
    earlier = VisitorState(
        visitor_id=os.urandom(16),
        created=now - 20 * 86_400,
        visit_start=last_seen - 5 * 60,
        last_seen=last_seen,
        visit_number=1,
        previous_visit_start=0,
    )
    visitor.context.add_cookies(
        [
            {
                "name": "audience",
                "value": StateSigner(SECRET.encode()).sign(earlier),
                "url": visitor.live.url,
                "expires": earlier.expires,
                "httpOnly": True,
                "sameSite": "Lax",
            }
        ]
    )
    tabs = visitor.open_together(["a", "b", "c"])
    rows = visitor.stored(lambda rows: len(pageviews(rows)) == 3)
    assert pageviews(rows) == [visitor.path(name) for name in "abc"]
    assert {row["visit_number"] for row in rows} == {2}  # a returning visitor's second visit
    for tab in tabs:
        tab.close()

    stats = visitor.stats()
    assert (stats["visits"], stats["pageviews"], stats["bounce_rate"]) == (1, 3, 0.0)
    assert stats["visitors"] == 1
    assert sum(stats["entries"].values()) == 1, stats["entries"]
    assert all(exits >= 0 for exits in stats["exits"].values()), stats["exits"]
    assert sum(stats["exits"].values()) == 1, stats["exits"]


def test_an_answer_lost_on_the_network(visitor: Visitor) -> None:
    """B's pageview reaches the collector but its answer never comes back, so the cookie does
    not move; the visitor goes on to C. 1 visit, 3 pageviews, the real duration."""
    a, b, c = (visitor.path(name) for name in "abc")
    dwell = DWELL_MS // 2
    lost: list[int] = []

    def lose_b(route: Any) -> None:
        request = route.request
        if not lost and '"pageview"' in (request.post_data or "") and b in request.post_data:
            # The collector gets the beacon, cookie and all, and stores it; the browser never
            # hears back. (route.fetch() would do, but it files the answer's cookie.)
            headers = {
                name: value
                for name, value in request.all_headers().items()
                if not name.startswith(":") and name not in ("host", "content-length")
            }
            answer = httpx.post(request.url, content=request.post_data, headers=headers)
            lost.append(answer.status_code)
            route.abort("connectionreset")
        else:
            route.continue_()

    started = time.time()
    page = visitor.open("a")
    visitor.stored(lambda rows: pageviews(rows) == [a])
    page.route("**/api/event", lose_b)
    page.wait_for_timeout(dwell)
    visitor.follow(page, "b")
    visitor.stored(lambda rows: pageviews(rows) == [a, b])
    assert lost == [202]
    page.unroute("**/api/event")
    page.wait_for_timeout(dwell)
    visitor.follow(page, "c")
    page.wait_for_timeout(dwell)
    page.goto("about:blank")
    ended = time.time()
    rows = visitor.stored(lambda rows: len(pageviews(rows)) == 3 and left(rows, c))
    assert pageviews(rows) == [a, b, c]

    stats = visitor.stats()
    assert (stats["visits"], stats["pageviews"], stats["bounce_rate"]) == (1, 3, 0.0)
    elapsed = ended - started
    assert elapsed - 2 <= stats["visit_duration"] <= elapsed + 1, (elapsed, stats)
    assert stats["entries"] == {a: 1}
    assert stats["exits"] == {c: 1}
