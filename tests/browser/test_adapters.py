"""Each consent adapter against a CMP that follows that CMP's published API (tarteaucitron.js as
the real library): nothing before consent, a pageview with the CMP's marker after it, and an
opt-out as the last request after withdrawal."""

from __future__ import annotations

import pytest

from tests.browser.conftest import IAB_TCF, TARTEAUCITRON, Browser
from tests.browser.test_snippet import pageviews

MARKERS = {
    "manual": "manual",
    "tcf": "tcf",
    "gcm": "gcm",
    "tarteaucitron": "cmp:tarteaucitron",
    "axeptio": "cmp:axeptio",
    "didomi": "cmp:didomi",
    "cookiebot": "cmp:cookiebot",
    "onetrust": "cmp:onetrust",
    "klaro": "cmp:klaro",
}


@pytest.mark.parametrize("cmp", list(MARKERS))
def test_adapter_follows_its_consent_manager(same_origin: Browser, cmp: str) -> None:
    if cmp == "tarteaucitron" and not TARTEAUCITRON.exists():
        pytest.skip("tarteaucitron.js is not installed: npm ci --prefix tests/browser")
    script = "audience.js" if cmp == "manual" else f"audience.{cmp}.js"
    page = same_origin.open(f"{same_origin.live.url}/page/{script}/{cmp}/index.html?ref=mail")
    page.wait_for_timeout(700)  # CMPs and adapters have settled: the visitor has not chosen
    assert same_origin.collector_requests() == []
    assert same_origin.our_cookies() == []

    page.evaluate("() => __cmp.set(true)")
    [row] = pageviews(same_origin, 1)
    assert row["path"] == f"/page/{script}/{cmp}/index.html"
    assert row["consent"] == MARKERS[cmp]
    assert [c["name"] for c in same_origin.our_cookies()] == ["audience"]

    page.evaluate("() => __cmp.set(false)")
    page.wait_for_timeout(300)
    assert same_origin.collector_requests()[-1].endswith("/api/privacy/optout")
    assert [c["name"] for c in same_origin.our_cookies()] == ["audience_off"]  # no identifier
    sent = len(same_origin.collector_requests())
    page.evaluate("() => history.pushState({}, '', 'after.html')")
    page.wait_for_timeout(300)
    assert len(same_origin.collector_requests()) == sent


def test_tcf_publisher_consents_come_first(same_origin: Browser) -> None:
    page = same_origin.open(f"{same_origin.live.url}/page/audience.tcf.js/tcf/index.html")
    page.wait_for_timeout(300)
    page.evaluate("() => __cmp.setPublisher(false, true)")  # vendors yes, publisher no
    page.wait_for_timeout(500)
    assert same_origin.collector_requests() == []
    page.evaluate("() => __cmp.setPublisher(true, false)")  # publisher yes: Purposes 1 and 9
    [row] = pageviews(same_origin, 1)
    assert row["consent"] == "tcf"


def test_gcm_regional_default_grants_nothing_until_the_visitor_chooses(
    same_origin: Browser,
) -> None:
    page = same_origin.open(f"{same_origin.live.url}/page/audience.gcm.js/gcm/index.html")
    page.evaluate(
        """() => {
        gtag('consent', 'default', {analytics_storage: 'denied', region: ['FR', 'BE']});
        gtag('consent', 'default', {analytics_storage: 'granted'});
    }"""
    )
    page.wait_for_timeout(500)
    assert same_origin.collector_requests() == []
    page.evaluate("() => __cmp.set(true)")
    [row] = pageviews(same_origin, 1)
    assert row["consent"] == "gcm"


def test_klaro_waits_for_a_saved_choice(same_origin: Browser) -> None:
    page = same_origin.open(f"{same_origin.live.url}/page/audience.klaro.js/klaro/index.html")
    page.wait_for_timeout(300)
    page.evaluate("() => __cmp.toggle(true)")
    page.wait_for_timeout(500)
    assert same_origin.collector_requests() == []
    page.evaluate("() => __cmp.set(true)")
    [row] = pageviews(same_origin, 1)
    assert row["consent"] == "cmp:klaro"


NOT_INSTALLED = "the IAB TCF packages are not installed: npm ci --prefix tests/browser"
LATE = [
    "tcf",
    pytest.param("iab", marks=pytest.mark.skipif(not IAB_TCF.exists(), reason=NOT_INSTALLED)),
    "klaro",
]  # tcf and klaro check for their CMP until it comes; iab is the IAB Tech Lab's stub, queueing


@pytest.mark.parametrize("cmp", LATE)
def test_a_consent_manager_that_arrives_20_seconds_late(same_origin: Browser, cmp: str) -> None:
    """The CMP's script is inserted 20 s after the page (page time, on Playwright's clock; ``iab``
    is the IAB's CMP API behind the IAB stub the page loaded at once); the visitor accepts once
    its banner is there: exactly one pageview, and no request before."""
    same_origin.context.clock.install()
    adapter = "tcf" if cmp == "iab" else cmp
    url = f"{same_origin.live.url}/page/audience.{adapter}.js/{cmp}/index.html?cmp_after_ms=20000"
    page = same_origin.open(url)
    page.clock.run_for(19_000)
    assert page.evaluate("() => typeof window.__cmp") == "undefined"
    for _ in range(100):  # the timer fires; the script then loads over the (real) network
        page.clock.run_for(500)
        if page.evaluate("() => typeof window.__cmp") != "undefined":
            break
    assert page.evaluate("() => typeof window.__cmp") == "object"
    page.clock.run_for(3_000)  # the adapter's backing-off check has found the CMP
    assert same_origin.collector_requests() == []

    page.evaluate("() => __cmp.set(true)")
    page.clock.run_for(1_000)
    [row] = pageviews(same_origin, 1)
    assert row["consent"] == MARKERS[adapter]
    page.clock.run_for(2_000)
    page.wait_for_timeout(300)
    assert pageviews(same_origin, 1) == [row]
