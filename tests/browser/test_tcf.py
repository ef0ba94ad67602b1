"""The TCF adapter against the IAB Tech Lab's own CMP API (@iabtechlabtcf/cmpapi, with its stub),
TC strings encoded by @iabtechlabtcf/core from each case's choices (tests/browser/cmps/iab.mjs).

Counted: Purpose 1 and Purpose 8 or 9 among the publisher's own consents, or, when the TC string
has no publisher consents, among the global purposes. Never counted: Purpose 1 alone, legitimate
interest alone, consents to vendors alone, no TC string. ``gdprApplies: false`` counts only
where both the tag and the site say so.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from collector.storage.sites import Site
from tests.browser.conftest import DESKTOP_CHROME, IAB_TCF, Browser, same_origin_browser
from tests.browser.test_snippet import pageviews

if not IAB_TCF.exists():
    pytest.skip(
        "the IAB TCF packages are not installed: npm ci --prefix tests/browser",
        allow_module_level=True,
    )

PAGE = "/page/audience.tcf.js/iab"
OUTSIDE = "?attrs=data-outside-gdpr%3D%22count%22"
COUNTED = {
    "publisher-purposes-1-and-8": {"publisher": [1, 8]},
    "publisher-purposes-1-and-9": {"publisher": [1, 9]},
    "global-purposes-without-publisher-consents": {"purposes": [1, 8, 9]},
}
NOT_COUNTED = {
    "publisher-purpose-1-only": {"publisher": [1]},
    "publisher-says-1-only": {"purposes": [1, 8, 9], "publisher": [1]},
    "measurement-without-storage": {"publisher": [8, 9], "purposes": [8, 9]},
    "legitimate-interest-only": {"purposeLI": [2, 7, 8, 9], "publisherLI": [2, 7, 8, 9]},
    "vendor-level-only": {"vendors": [755], "vendorLI": [755]},
}


def opened(browser: Browser, name: str = "index", query: str = "") -> Any:
    page = browser.open(f"{browser.live.url}{PAGE}/{name}.html{query}")
    page.wait_for_function("() => window.__cmp !== undefined")
    page.wait_for_timeout(300)  # the adapter has heard the CMP: the banner is shown, no string
    assert browser.collector_requests() == []
    return page


@contextmanager
def visitor(browser: Browser) -> Iterator[Browser]:
    """Another visitor (a browser context of its own) on the same collector."""
    context = browser.context.browser.new_context(user_agent=DESKTOP_CHROME)
    try:
        yield Browser(browser.live, context)
    finally:
        context.close()


def test_counted(same_origin: Browser) -> None:
    for stored, (case, choices) in enumerate(COUNTED.items(), start=1):
        with visitor(same_origin) as browser:
            page = opened(browser, case)
            page.evaluate("(choices) => __cmp.choose(choices)", choices)
            row = pageviews(browser, stored)[-1]
            assert (row["path"], row["consent"]) == (f"{PAGE}/{case}.html", "tcf"), case


def test_not_counted(same_origin: Browser) -> None:
    pages = []
    for case, choices in NOT_COUNTED.items():
        with visitor(same_origin) as browser:
            page = opened(browser, case)
            page.evaluate("(choices) => __cmp.choose(choices)", choices)
            page.wait_for_timeout(500)
            pages.append((case, browser.collector_requests(), browser.our_cookies()))
    assert [(case, [], []) for case in NOT_COUNTED] == pages
    assert pageviews(same_origin, 0) == []


def test_no_tc_string_sends_nothing(same_origin: Browser) -> None:
    page = opened(same_origin)
    page.evaluate("() => history.pushState({}, '', 'next.html')")
    page.wait_for_timeout(600)
    assert same_origin.collector_requests() == []


def test_withdrawal_through_the_cmp(same_origin: Browser) -> None:
    page = opened(same_origin)
    page.evaluate("() => __cmp.choose({publisher: [1, 8]})")
    pageviews(same_origin, 1)
    page.evaluate("() => __cmp.choose({})")
    page.wait_for_timeout(400)
    assert same_origin.collector_requests()[-1].endswith("/api/privacy/optout")
    assert [c["name"] for c in same_origin.our_cookies()] == ["audience_off"]


@pytest.fixture
def counting_outside_gdpr(tmp_path: Path, geo_files: Any, chromium: Any) -> Iterator[Browser]:
    site = Site("localhost", count_outside_gdpr=True)
    with same_origin_browser(tmp_path, geo_files, chromium, site) as browser:
        yield browser


def test_outside_gdpr_counts_nothing_by_default(same_origin: Browser) -> None:
    page = opened(same_origin)
    page.evaluate("() => __cmp.outsideGdpr()")
    page.wait_for_timeout(600)
    assert same_origin.collector_requests() == []


def test_outside_gdpr_needs_the_sites_choice_too(same_origin: Browser) -> None:
    """The tag says count, the site does not: the collector refuses, nothing is stored."""
    page = opened(same_origin, query=OUTSIDE)
    page.evaluate("() => __cmp.outsideGdpr()")
    page.wait_for_timeout(800)
    assert [url.rsplit("/", 1)[-1] for url in same_origin.collector_requests()] == ["event"]
    assert pageviews(same_origin, 0) == []
    assert same_origin.our_cookies() == []


def test_outside_gdpr_counted_where_the_site_chose_it(counting_outside_gdpr: Browser) -> None:
    page = opened(counting_outside_gdpr, query=OUTSIDE)
    page.evaluate("() => __cmp.outsideGdpr()")
    [row] = pageviews(counting_outside_gdpr, 1)
    assert row["consent"] == "tcf:outside-gdpr"
