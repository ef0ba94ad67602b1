"""The privacy page (/privacy) through the real server: the visitor's id and events in English or
French, the page for a browser without a cookie, relative links and forms, the confirmations,
the errors, the headers; and the translations, complete."""

from __future__ import annotations

import html
import re
import string
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from collector.privacy.page import CONTENT_SECURITY_POLICY, PAGE_EVENTS, duration, event_row
from collector.privacy.rights import PURPOSES, RECIPIENTS
from collector.privacy.texts import SAME_IN_BOTH, TEXTS, choose_language
from collector.settings import Settings
from collector.storage.erased import format_visitor_id
from collector.storage.errors import StoreError
from collector.storage.rights_store import RightsStore
from collector.storage.rows import Row, encode_row
from collector.storage.sites import Site
from tests.conftest import LiveServer, environment, register
from tests.privacy.test_visitor_rights import visit, visitor_client, visitor_hash

EN, FR = TEXTS["en"], TEXTS["fr"]
PATHS = ("/pricing", "/docs/a&b", "/<script>x</script>")
FORM = {"content-type": "application/x-www-form-urlencoded", "accept": "text/html,*/*;q=0.8"}
SAME_ORIGIN = {"sec-fetch-site": "same-origin", "origin": "null"}  # a form of a no-referrer page
VOID = frozenset({"meta", "link", "input", "br", "img", "hr"})


class Page(HTMLParser):
    """What a test reads of the page: its language, texts, links, forms and code elements."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.lang = ""
        self.links: list[str] = []
        self.actions: list[str] = []
        self.codes: list[str] = []
        self.headings: list[str] = []
        self.status: list[str] = []
        self.paths: list[str] = []
        self._open: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "html":
            self.lang = found.get("lang") or ""
        if tag in ("a", "link"):
            self.links.append(found.get("href") or "")
        if tag == "form":
            self.actions.append(found.get("action") or "")
        if tag in VOID:
            return
        marker = {"code": "codes", "td": "paths" if found.get("class") == "path" else ""}.get(tag)
        if tag in ("h1", "h2", "h3"):
            marker = "headings"
        if found.get("role") == "status":
            marker = "status"
        self._open.append(marker or "")

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1] and data.strip():
            getattr(self, self._open[-1]).append(data.strip())


def read(client: httpx.Client, url: str = "/privacy", **headers: str) -> Page:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return Page(response.text)


@pytest.fixture
def consented(live: LiveServer) -> Any:
    with visitor_client(live) as client:
        visit(client, *PATHS)
        live.wait_stored(len(PATHS))
        yield client


def test_a_consented_visitor_sees_their_id_and_events_in_english(
    consented: httpx.Client, settings: Settings
) -> None:
    response = consented.get("/privacy")
    page = Page(response.text)
    visitor = format_visitor_id(visitor_hash(settings, consented.cookies["audience"]))
    assert page.lang == "en"
    assert page.codes == [visitor]
    # newest first; the three were sent within one second, and times are kept to the second
    assert sorted(page.paths) == sorted(PATHS)
    assert "&lt;script&gt;" in response.text and "<script" not in response.text
    assert page.headings[:3] == [EN["page_title"], EN["h_identifier"], EN["h_events"]]
    assert EN["events_other"].format(count=3) in response.text
    assert page.status == []


@pytest.mark.parametrize(
    ("url", "headers", "lang"),
    [
        ("/privacy?lang=fr", {}, "fr"),
        ("/privacy", {"accept-language": "fr-FR,fr;q=0.9,en;q=0.8"}, "fr"),
        ("/privacy?lang=en", {"accept-language": "fr-FR"}, "en"),
        ("/privacy?lang=de", {"accept-language": "de-DE, en;q=0.5"}, "en"),
    ],
    ids=["query", "accept-language", "query-wins", "neither"],
)
def test_the_language_comes_from_the_query_then_accept_language(
    consented: httpx.Client, url: str, headers: dict[str, str], lang: str
) -> None:
    response = consented.get(url, headers=headers)
    page = Page(response.text)
    assert page.lang == lang == response.headers["content-language"]
    assert page.headings[1] == TEXTS[lang]["h_identifier"]
    assert len(page.codes) == 1 and sorted(page.paths) == sorted(PATHS)
    other = "en" if lang == "fr" else "fr"
    assert f"?lang={other}" in page.links


def test_a_browser_without_a_cookie_is_told_why_there_is_no_data(client: httpx.Client) -> None:
    for lang in ("en", "fr"):
        response = client.get("/privacy", params={"lang": lang})
        assert response.status_code == 200
        page = Page(response.text)
        text = TEXTS[lang]
        assert page.headings[1] == text["h_no_data"]
        assert page.actions == [] and page.codes == []
        for reason in ("why_no_consent", "why_expired", "why_other_site"):
            assert text[reason].replace("'", "&#39;") in response.text
        assert text["h_purposes"] in page.headings


def test_the_data_protection_contact_is_shown_when_set(tmp_path: Path, geo_files: Any) -> None:
    contact = "mailto:dpo@example.com"
    env = environment(tmp_path / "data", geo_files, AUDIENCE_PRIVACY_CONTACT=contact)
    settings = Settings.from_environ(env)
    register(settings, Site("example.com"))
    with LiveServer(settings) as server, visitor_client(server) as client:
        page = Page(client.get("/privacy", params={"lang": "fr"}).text)
        assert contact in page.links
        assert page.headings[-1] == FR["h_contact"]
    plain = Settings.from_environ(environment(tmp_path / "other", geo_files))
    with LiveServer(plain) as server, visitor_client(server) as client:
        assert not any(link.startswith("mailto:") for link in read(client).links)


def test_links_and_forms_are_relative_for_a_collector_under_a_path_prefix(
    consented: httpx.Client,
) -> None:
    page = read(consented)
    assert page.actions == ["api/privacy/me/erase", "api/privacy/optout"]
    assert page.links == [
        "privacy.css",
        "?lang=fr",
        "api/privacy/me/export?format=json",
        "api/privacy/me/export?format=csv",
    ]
    behind_proxy = "https://example.com/stats/privacy"
    assert (
        urljoin(behind_proxy, page.actions[0]) == "https://example.com/stats/api/privacy/me/erase"
    )


def test_erasing_through_the_form_comes_back_with_a_confirmation_and_no_data(
    live: LiveServer, settings: Settings, consented: httpx.Client
) -> None:
    hashed = visitor_hash(settings, consented.cookies["audience"])
    erased = consented.post(
        "/api/privacy/me/erase", data={"confirm": "1"}, headers=FORM | SAME_ORIGIN
    )
    assert erased.status_code == 303
    back = urljoin(str(erased.url), erased.headers["location"])
    assert back == f"{live.url}/privacy?done=erased"
    assert "audience" not in consented.cookies
    for lang in ("en", "fr"):
        page = read(consented, f"{back}&lang={lang}")
        assert page.status == [TEXTS[lang]["done_erased"]]
        assert page.headings[1] == TEXTS[lang]["h_no_data"] and page.paths == []
    assert RightsStore(live.store).count_events(hashed) == 0


def test_opting_out_through_the_form_comes_back_with_a_confirmation(
    live: LiveServer, consented: httpx.Client
) -> None:
    gone = consented.post("/api/privacy/optout", data={"erase": "1"}, headers=FORM | SAME_ORIGIN)
    assert gone.status_code == 303
    back = urljoin(str(gone.url), gone.headers["location"])
    assert back == f"{live.url}/privacy?done=optout"
    assert read(consented, back).status == [EN["done_optout"]]
    assert live.settle() == []
    assert read(consented, "/privacy?done=<b>").status == []  # only the two known messages


def test_the_page_sends_its_security_headers_and_its_stylesheet_is_cached(
    consented: httpx.Client,
) -> None:
    response = consented.get("/privacy")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert CONTENT_SECURITY_POLICY == (
        "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none';"
        " base-uri 'none'"
    )
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "<script" not in response.text and " style=" not in response.text
    css = consented.get("/privacy.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert "max-age" in css.headers["cache-control"]
    again = consented.get("/privacy.css", headers={"if-none-match": css.headers["etag"]})
    assert again.status_code == 304


def test_a_rate_limited_visitor_gets_a_plain_error_page(consented: httpx.Client) -> None:
    statuses = [consented.get("/privacy").status_code for _ in range(40)]
    assert statuses[0] == 200 and statuses[-1] == 429
    limited = consented.get("/privacy", params={"lang": "fr"})
    assert limited.status_code == 429
    assert limited.headers["content-type"].startswith("text/html")
    page = Page(limited.text)
    assert page.lang == "fr" and page.headings == [FR["page_title"], FR["h_error"]]
    assert FR["error_busy"] in limited.text
    assert page.codes == [] and page.actions == []


def test_a_store_error_gets_a_503_page(
    live: LiveServer, consented: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(store: RightsStore, visitor: int) -> int:
        raise StoreError("the store is down")

    monkeypatch.setattr(RightsStore, "count_events", fail)  # the store failing this read
    response = consented.get("/privacy")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert EN["error_store"] in response.text
    assert response.headers["cache-control"] == "no-store"


def test_only_the_newest_events_are_shown_with_a_note_pointing_to_the_export(
    live: LiveServer, consented: httpx.Client, settings: Settings
) -> None:
    visitor = visitor_hash(settings, consented.cookies["audience"])
    [first] = live.store.query_dicts("SELECT * FROM audience.events ORDER BY ts LIMIT 1")
    older = [  # written before the three pages the visitor saw: the oldest of all
        encode_row(Row(**{**first, "ts": int(first["ts"].timestamp()) - 600 + n,
                          "path": f"/old/{n}", "visitor": visitor}))
        for n in range(PAGE_EVENTS)
    ]  # fmt: skip
    live.store.insert_events(older, "older-events")
    response = consented.get("/privacy")
    page = Page(response.text)
    assert len(page.paths) == PAGE_EVENTS
    assert sorted(page.paths[:3]) == sorted(PATHS)  # newest first (those three: one second)
    assert page.paths[3] == f"/old/{PAGE_EVENTS - 1}"
    limited = EN["events_limited"].format(shown=PAGE_EVENTS, total=PAGE_EVENTS + 3)
    assert html.escape(limited, quote=False) in response.text
    exported = consented.get("/api/privacy/me/export").json()["events"]
    assert len(exported) == PAGE_EVENTS + 3


def test_an_event_reads_plainly_in_a_row() -> None:
    event = {
        "ts": "2025-03-01T10:00:00Z",
        "site": "example.com",
        "path": "/",
        "type": "engagement",
        "city": "",
        "country": "FR",
        "operator": "",
        "browser": "Firefox",
        "browser_version": 0,
        "device": "tablet",
        "engaged_ms": 65_400,
    }
    assert event_row(event, FR) == {
        "iso": "2025-03-01T10:00:00Z",
        "time": "2025-03-01 10:00:00",
        "site": "example.com",
        "path": "/",
        "type": FR["type_engagement"],
        "city": "FR",
        "operator": "—",
        "browser": "Firefox",
        "device": FR["device_tablet"],
        "engaged": "1 min 5 s",
    }


@pytest.mark.parametrize(
    ("milliseconds", "shown"),
    [
        (0, "—"),
        (400, "—"),
        (501, "1 s"),
        (42_000, "42 s"),
        (60_000, "1 min 0 s"),
        (185_000, "3 min 5 s"),
    ],
)
def test_engaged_time_reads_plainly(milliseconds: int, shown: str) -> None:
    assert duration(milliseconds) == shown


@pytest.mark.parametrize(
    ("asked", "accept", "chosen"),
    [
        ("fr", "", "fr"),
        ("en", "fr", "en"),
        (None, "", "en"),
        (None, "fr-CA", "fr"),
        (None, "en-GB,en;q=0.9,fr;q=0.8", "en"),
        (None, "de;q=1, fr;q=0.4, en;q=0.3", "fr"),
        (None, "FR-be;q=0.9,en;q=0.95", "en"),
        (None, "fr;q=0, en;q=0.1", "en"),
        (None, "fr;q=0", "en"),
        (None, "fr;q=abc", "en"),
        (None, "*", "en"),
        ("xx", "fr", "fr"),
    ],
)
def test_the_language_is_chosen(asked: str | None, accept: str, chosen: str) -> None:
    assert choose_language(asked, accept) == chosen


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_languages_have_every_text_translated() -> None:
    assert set(EN) == set(FR)
    for key in EN:
        assert EN[key].strip() and FR[key].strip(), key
        assert placeholders(EN[key]) == placeholders(FR[key]), key
        if key not in SAME_IN_BOTH:
            assert EN[key] != FR[key], f"{key} is not translated"
    assert all(EN[key] == FR[key] for key in SAME_IN_BOTH)
    french = " ".join(FR.values())
    assert re.search(r" [:;?!]", french) is None  # a non-breaking space before them
    for word in ("données", "événements", "effacées", "conservés", "créé", "accès"):
        assert word in french
    assert EN["purposes"].removesuffix(".").lower() == PURPOSES.lower()
    assert EN["recipients"].removesuffix(".").lower() == RECIPIENTS.lower()
