"""Email reports over real HTTP (a real uvicorn, the embedded store) and a real SMTP server:
the reports page and who may use it, the mail's content against the stats API for the same
period (both parts, no image, no URL but the dashboard's), each period sent once across
restarts of the scheduler, and a refused mail retried with backoff, its failure on the page."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest

from collector.settings import Settings
from collector.storage.sites import Site
from dashboards.accounts import Accounts
from dashboards.report_delivery import ReportDelivery, retry_delay
from dashboards.reports import Reports, last_complete_period
from tests.conftest import (
    CHROME,
    SECRET,
    GeoFiles,
    LiveServer,
    environment,
    free_port,
    migrated_store,
)
from tests.dashboards.reporting import (
    RECIPIENTS,
    SITE,
    TIMEZONE,
    Inbox,
    feed,
    old_report,
    smtp_server,
)

ADMIN, VIEWER = "ana@example.com", "vic@example.com"
PASSWORD = "correct horse battery staple"
SAME_ORIGIN = {"sec-fetch-site": "same-origin"}
JSON = {"accept": "application/json"}
PUBLIC_URL = "https://stats.example.org/stats"
URL = re.compile(r"https?://[^\s\"'<>]+")


@dataclass
class World:
    live: LiveServer
    inbox: Inbox
    settings: Settings
    keys: dict[str, str]

    @contextmanager
    def signed_in(self, address: str) -> Iterator[httpx.Client]:
        with httpx.Client(base_url=self.live.url, headers={"user-agent": CHROME}, timeout=30) as c:
            form = {"email": address, "password": PASSWORD}
            answer = c.post("/login", data=form, headers=SAME_ORIGIN)
            assert answer.status_code == 303, answer.text
            yield c

    def api(self, path: str) -> Any:
        headers = {"authorization": f"Bearer {self.keys[ADMIN]}"}
        with httpx.Client(base_url=self.live.url, timeout=30) as client:
            answer = client.get(path, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, geo_files: GeoFiles) -> Iterator[World]:
    inbox = Inbox()
    smtp = smtp_server(inbox)
    data = tmp_path_factory.mktemp("reports") / "data"
    settings = Settings.from_environ(
        environment(
            data, geo_files,
            AUDIENCE_SMTP_URL=f"smtp://127.0.0.1:{smtp.port}",
            AUDIENCE_MAIL_FROM="stats@kalido.example",
            AUDIENCE_PUBLIC_URL=PUBLIC_URL + "/",
            # the server's own scheduler stays out of the way: the tests run the job themselves
            AUDIENCE_REPORTS_CHECK_SECONDS="86400",
        )
    )  # fmt: skip
    store = migrated_store(settings)
    try:
        store.save_site(Site(SITE, timezone=TIMEZONE))
        store.save_site(Site("other.example"))
        feed(store, geo_files, datetime.now(UTC))
        accounts = Accounts(store, SECRET.encode())
        accounts.add_user(ADMIN, PASSWORD, "admin")
        accounts.add_user(VIEWER, PASSWORD, "viewer", [SITE])
        keys = {who: accounts.keys.create(who, "tests")[1] for who in (ADMIN, VIEWER)}
    finally:
        store.close()
    try:
        with LiveServer(settings) as live:
            yield World(live, inbox, settings, keys)
    finally:
        smtp.stop()


def _parts(mail: Message) -> tuple[str, str]:
    assert mail.get_content_type() == "multipart/alternative"
    found = {part.get_content_type(): part for part in mail.get_payload()}  # type: ignore[union-attr]
    assert set(found) == {"text/plain", "text/html"}
    return (
        found["text/plain"].get_payload(decode=True).decode().replace("\r\n", "\n"),  # type: ignore[union-attr]
        found["text/html"].get_payload(decode=True).decode(),  # type: ignore[union-attr]
    )


def _count(value: float) -> str:
    return f"{int(value):,}".replace(",", " ")


def _kpi(name: str, value: float) -> str:
    """The test's own rendering of a KPI, to find it in the mail."""
    if name == "bounce_rate":
        return f"{round(value * 100, 1):.1f} %"
    if name == "visit_duration":
        total = round(value)
        return f"{total // 60} min {total % 60:02d} s" if total >= 60 else f"{total} s"
    return _count(value)


def _change(value: float | None, current: float) -> str:
    if value is None:
        return "new" if current else "none"
    return ("+" if value >= 0 else "-") + f"{abs(round(value * 100, 1)):.1f} %"


def test_the_mail_shows_what_the_stats_api_shows_for_the_week(world: World) -> None:
    with world.signed_in(ADMIN) as admin:
        form = {"frequency": "weekly", "recipients": "\n".join(RECIPIENTS) + "\nboss@example.com"}
        created = admin.post(f"/sites/{SITE}/reports", data=form, headers=SAME_ORIGIN | JSON)
        assert created.status_code == 201, created.text
        report = created.json()["created"]
        assert report["recipients"] == ["marketing@example.com", "boss@example.com"]
        before = len(world.inbox.messages)
        sent = admin.post(f"/sites/{SITE}/reports/{report['id']}/test", headers=SAME_ORIGIN | JSON)
        assert sent.status_code == 200, sent.text
        page = admin.get(f"/sites/{SITE}/reports")
        assert page.status_code == 200 and "Send a test now" in page.text
    [mail] = world.inbox.wait(before + 1)[before:]
    # One mail for both, on the envelope only: no recipient learns the other's address.
    assert sorted(world.inbox.envelopes[-1]) == ["boss@example.com", "marketing@example.com"]
    assert mail["To"] == "undisclosed-recipients:;" and mail["Cc"] is None
    headers = "\n".join(f"{name}: {value}" for name, value in mail.items())
    assert "boss@" not in headers and "marketing@" not in headers, headers

    # The last whole week, Monday to Sunday, of the site's time zone.
    local_today = datetime.now(ZoneInfo(TIMEZONE)).date()
    monday = local_today - timedelta(days=local_today.weekday())
    first, last = monday - timedelta(days=7), monday - timedelta(days=1)
    assert (sent.json()["from"], sent.json()["to"]) == (first.isoformat(), last.isoformat())
    assert mail["Subject"] == f"{SITE}: weekly report, {first} to {last}"

    span = f"from={first}&to={last}"
    summary = world.api(f"/api/stats/{SITE}/summary?{span}")
    pages = world.api(f"/api/stats/{SITE}/breakdown/page?{span}")["rows"][:10]
    assert summary["current"]["visitors"] > 0 and len(pages) > 1
    text, markup = _parts(mail)

    # Every KPI, its change, in both parts; the HTML's cells hold exactly the API's figures.
    for name in ("visitors", "visits", "pageviews", "bounce_rate", "visit_duration"):
        value, change = summary["current"][name], summary["change"][name]
        cell = re.search(rf'data-kpi="{name}"[^>]*>([^<]*)</td>\s*<td[^>]*>([^<]*)</td>', markup)
        assert cell is not None, name
        assert (html.unescape(cell[1]), html.unescape(cell[2])) == (
            _kpi(name, value), _change(change, value),
        ), name  # fmt: skip
        assert re.search(rf"{re.escape(_kpi(name, value))}\s+{re.escape(_change(change, value))}",
                         text), name  # fmt: skip

    # The top pages, small cells folded into "Other" as the API folds them.
    shown = [
        (html.unescape(label), int(v.replace(" ", "")), int(p.replace(" ", "")))
        for label, v, p in re.findall(
            r'<tr class="page"><td[^>]*>([^<]*)</td><td[^>]*>([^<]*)</td><td[^>]*>([^<]*)</td>',
            markup,
        )
    ]
    assert shown == [(row["label"], row["visitors"], row["pageviews"]) for row in pages]
    assert all(row["other"] or row["visitors"] >= world.settings.min_cell for row in pages)
    for label, visitors, pageviews in shown:
        assert re.search(rf"{_count(visitors)}\s+{_count(pageviews)}\s+{re.escape(label)}\n", text)

    # Nothing loads from elsewhere, nothing tracks: the one URL is the dashboard of the period.
    link = f"{PUBLIC_URL}/sites/{SITE}?{span}"
    assert not re.search(r"<img|<link|<script|<iframe|url\(|@import|src=", markup, re.I)
    assert {html.unescape(u) for u in URL.findall(markup)} == {link}
    assert set(URL.findall(text)) == {link}
    query = parse_qs(urlsplit(link).query)
    assert set(query) == {"from", "to"}


def test_a_period_is_sent_once_whatever_restarts_happen(world: World) -> None:
    store = world.live.store
    report = old_report(store, "monthly")
    before = len(world.inbox.messages)
    now = time.time()
    for _ in range(3):  # three checks, each by a "new process": a scheduler made again
        ReportDelivery(store, world.settings, clock=lambda: now).run()
    mails = world.inbox.wait(before + 1)[before:]
    time.sleep(0.3)
    ours = [m for m in world.inbox.messages[before:] if "monthly report" in m["Subject"]]
    assert len(ours) == 1 and len(mails) >= 1
    period = last_complete_period("monthly", TIMEZONE, datetime.now(UTC))
    assert ours[0]["Subject"].endswith(f"{period.first} to {period.last}")
    delivered = Reports(store).delivery(report.id, period.first)
    assert delivered is not None and delivered.sent and delivered.attempts == 1

    # The month after: one more, for that month.
    later = (period.end + timedelta(days=40)).timestamp()
    ReportDelivery(store, world.settings, clock=lambda: later).run()
    ReportDelivery(store, world.settings, clock=lambda: later).run()
    time.sleep(0.3)
    ours = [m for m in world.inbox.messages[before:] if "monthly report" in m["Subject"]]
    assert len(ours) == 2
    Reports(store).remove(SITE, report.id)


def test_a_report_made_after_its_period_waits_for_the_next(world: World) -> None:
    store = world.live.store
    report = Reports(store).add(SITE, "weekly", ["late@example.com"], ADMIN)
    before = world.inbox.attempts
    ReportDelivery(store, world.settings).run()
    time.sleep(0.3)
    assert world.inbox.attempts == before
    assert Reports(store).deliveries([report.id]) == []
    Reports(store).remove(SITE, report.id)


def test_a_refused_mail_is_retried_with_backoff_and_the_failure_shown(world: World) -> None:
    store = world.live.store
    report = old_report(store, "weekly")
    clock = [time.time()]
    delivery = ReportDelivery(store, world.settings, clock=lambda: clock[0])
    world.inbox.refusals = 2
    before, attempts = len(world.inbox.messages), world.inbox.attempts

    def shown() -> dict[str, Any]:
        with world.signed_in(ADMIN) as admin:
            answer = admin.get(f"/sites/{SITE}/reports?format=json")
            assert answer.status_code == 200
            page = admin.get(f"/sites/{SITE}/reports")
            assert page.status_code == 200
        [found] = [r for r in answer.json()["reports"] if r["id"] == report.id]
        return {"json": found["deliveries"][0], "html": page.text}

    delivery.run()
    first = shown()
    assert first["json"]["sent"] is False and first["json"]["attempts"] == 1
    assert "451" in first["json"]["last_error"] and "Try again later" in first["json"]["last_error"]
    assert "not sent" in first["html"] and "Try again later" in first["html"]
    assert all(address.lower() not in first["json"]["last_error"] for address in RECIPIENTS)

    delivery.run()  # before the next attempt is due: nothing tried
    assert world.inbox.attempts == attempts + 1
    clock[0] += retry_delay(1) + 1
    delivery.run()
    assert world.inbox.attempts == attempts + 2 and shown()["json"]["attempts"] == 2
    clock[0] += retry_delay(2) - 5  # the second wait is longer
    delivery.run()
    assert world.inbox.attempts == attempts + 2
    clock[0] += 10
    delivery.run()
    done = shown()["json"]
    assert done["sent"] is True and done["attempts"] == 3 and done["last_error"] == ""
    clock[0] += 3600
    delivery.run()
    assert len(world.inbox.messages) == before + 1 and world.inbox.attempts == attempts + 3
    assert retry_delay(1) == 60 and retry_delay(3) == 240 and retry_delay(30) == 3600
    Reports(store).remove(SITE, report.id)


def test_an_unreachable_server_is_a_failure_recorded(world: World) -> None:
    store = world.live.store
    report = old_report(store, "weekly")
    closed = replace(world.settings, smtp_url=f"smtp://127.0.0.1:{free_port()}")
    ReportDelivery(store, closed).run()
    period = last_complete_period("weekly", TIMEZONE, datetime.now(UTC))
    failed = Reports(store).delivery(report.id, period.first)
    assert failed is not None and not failed.sent and failed.attempts == 1
    assert "refused" in failed.last_error.lower()
    Reports(store).remove(SITE, report.id)


def test_a_failed_test_send_is_answered_clearly(world: World) -> None:
    world.inbox.refusals, world.inbox.answer = 1, "554 5.7.1 Rejected by policy"
    try:
        with world.signed_in(ADMIN) as admin:
            form = {"frequency": "monthly", "recipients": "x@example.com"}
            made = admin.post(f"/sites/{SITE}/reports", data=form, headers=SAME_ORIGIN | JSON)
            report = made.json()["created"]["id"]
            answer = admin.post(f"/sites/{SITE}/reports/{report}/test", headers=SAME_ORIGIN | JSON)
            assert answer.status_code == 502
            assert "Rejected by policy" in answer.json()["error"]
            world.inbox.refusals = 1
            page = admin.post(f"/sites/{SITE}/reports/{report}/test", headers=SAME_ORIGIN)
            assert page.status_code == 400 and "Rejected by policy" in page.text
            removed = admin.post(f"/sites/{SITE}/reports/{report}/remove",
                                 headers=SAME_ORIGIN | JSON)  # fmt: skip
            assert removed.json() == {"removed": report}
    finally:
        world.inbox.refusals, world.inbox.answer = 0, "451 4.3.0 Try again later"


@pytest.mark.parametrize(
    ("form", "problem"),
    [
        ({"frequency": "daily", "recipients": "a@example.com"}, "unknown frequency"),
        ({"frequency": "weekly", "recipients": "not-an-address"}, "not an e-mail address"),
        ({"frequency": "weekly", "recipients": ""}, "at least one recipient"),
    ],
)
def test_a_wrong_report_is_refused_with_the_reason(
    world: World, form: dict[str, str], problem: str
) -> None:
    with world.signed_in(ADMIN) as admin:
        answer = admin.post(f"/sites/{SITE}/reports", data=form, headers=SAME_ORIGIN | JSON)
    assert answer.status_code == 400 and problem in answer.json()["error"]


def test_only_administrators_manage_reports(world: World) -> None:
    paths = [("GET", f"/sites/{SITE}/reports"), ("POST", f"/sites/{SITE}/reports"),
             ("POST", f"/sites/{SITE}/reports/abc/test"),
             ("POST", f"/sites/{SITE}/reports/abc/remove")]  # fmt: skip
    with world.signed_in(VIEWER) as viewer:
        for method, path in paths:
            assert viewer.request(method, path, headers=SAME_ORIGIN).status_code == 403, path
    with httpx.Client(base_url=world.live.url, timeout=30) as anonymous:
        for method, path in paths:
            answer = anonymous.request(method, path, headers=SAME_ORIGIN | JSON)
            assert answer.status_code == 401, path
        page = anonymous.get(f"/sites/{SITE}/reports")
        assert page.status_code == 303 and "/login" in page.headers["location"]
        for who in (ADMIN, VIEWER):
            bearer = {"authorization": f"Bearer {world.keys[who]}"}
            for method, path in paths:
                assert anonymous.request(method, path, headers=bearer).status_code == 403, path
    with world.signed_in(ADMIN) as admin:
        assert admin.get("/sites/unknown.example/reports").status_code == 404
        assert f"/sites/{SITE}/reports" in admin.get(f"/sites/{SITE}/settings").text
