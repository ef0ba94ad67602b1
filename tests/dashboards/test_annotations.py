"""Annotations over real HTTP (a real uvicorn, the embedded store), on a site in Auckland's time
zone: a member adds a note from the dashboard (its JSON twin, and a plain form without
JavaScript), the note shows in the period holding its day at its bucket of every interval, on
the page escaped, in the stats API for keys, and on shared links only when marked; its author or
an administrator removes it; everyone else is refused; every change is audited; a wrong field
gets a 400 naming it. The expected days and buckets are computed here, independently."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.settings import Settings
from collector.storage.sites import Site
from dashboards.accounts import Accounts
from dashboards.annotations import MAX_CHARACTERS, bucket_of
from tests.conftest import CHROME, SECRET, GeoFiles, LiveServer, environment, migrated_store

ZONE = "Pacific/Auckland"  # UTC+12, +13 in its summer: its days start the day before in UTC
SITE = "example.com"
ADMIN = "ana@example.com"
MEMBER = "bob@example.com"  # a viewer of SITE
COLLEAGUE = "cy@example.com"  # another viewer of SITE
STRANGER = "dee@example.com"  # a viewer of another site only
PASSWORD = "correct horse battery staple"
SAME_ORIGIN = {"sec-fetch-site": "same-origin"}
JSON = {"accept": "application/json"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, geo_files: GeoFiles) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("annotations") / "data"
    settings = Settings.from_environ(environment(data, geo_files))
    store = migrated_store(settings)
    try:
        store.save_site(Site(SITE, timezone=ZONE))
        store.save_site(Site("other.example"))
        accounts = Accounts(store, SECRET.encode())
        accounts.add_user(ADMIN, PASSWORD, "admin")
        accounts.add_user(MEMBER, PASSWORD, "viewer", [SITE])
        accounts.add_user(COLLEAGUE, PASSWORD, "viewer", [SITE])
        accounts.add_user(STRANGER, PASSWORD, "viewer", ["other.example"])
        key = accounts.keys.create(MEMBER, "reporting")[1]
    finally:
        store.close()
    with LiveServer(settings) as server:
        server.key = key  # type: ignore[attr-defined]
        yield server


def _signed_in(live: LiveServer, email: str) -> httpx.Client:
    client = httpx.Client(base_url=live.url, headers={"user-agent": CHROME}, timeout=15)
    answer = client.post("/login", data={"email": email, "password": PASSWORD}, headers=SAME_ORIGIN)
    assert answer.status_code == 303, answer.text
    return client


@pytest.fixture(scope="module")
def clients(live: LiveServer) -> Iterator[dict[str, httpx.Client]]:
    made = {email: _signed_in(live, email) for email in (ADMIN, MEMBER, COLLEAGUE, STRANGER)}
    yield made
    for client in made.values():
        client.close()


def add(client: httpx.Client, day: date | str, text: str, shared: bool = False) -> httpx.Response:
    form = {"day": str(day), "text": text} | ({"shared": "1"} if shared else {})
    return client.post(f"/sites/{SITE}/annotations", data=form, headers=SAME_ORIGIN | JSON)


def added(client: httpx.Client, day: date | str, text: str, shared: bool = False) -> str:
    answer = add(client, day, text, shared)
    assert answer.status_code == 201, answer.text
    note_id: str = answer.json()["annotation"]["id"]
    return note_id


def remove(client: httpx.Client, note_id: str, **headers: str) -> httpx.Response:
    return client.post(
        f"/sites/{SITE}/annotations/{note_id}/remove", headers=SAME_ORIGIN | JSON | headers
    )


def dashboard(client: httpx.Client, **params: str) -> dict[str, Any]:
    answer = client.get(f"/sites/{SITE}", params=params, headers=JSON)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def texts(notes: list[dict[str, Any]]) -> list[str]:
    return [note["text"] for note in notes]


def audit(live: LiveServer) -> list[dict[str, Any]]:
    return live.store.query_dicts(
        "SELECT actor, action, target, detail FROM audience.admin_audit"
        " WHERE action LIKE 'annotation.%' ORDER BY at"
    )


def expected_bucket(day: date, interval: str, timezone: str) -> str:
    """The bucket holding ``day``, found by walking UTC quarter hours to its first local one."""
    if interval == "day":
        return day.isoformat()
    if interval == "week":
        return date.fromisocalendar(*day.isocalendar()[:2], 1).isoformat()
    if interval == "month":
        return f"{day.year:04d}-{day.month:02d}-01"
    zone = ZoneInfo(timezone)
    moment = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=15)
    while moment.astimezone(zone).date() != day:
        moment += timedelta(minutes=15)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:00")


def test_a_member_adds_a_note_sees_it_everywhere_and_removes_it(
    live: LiveServer, clients: dict[str, httpx.Client]
) -> None:
    member = clients[MEMBER]
    today = datetime.now(ZoneInfo(ZONE)).date()  # Auckland's day, often not UTC's
    note_id = added(member, today, "  Spring\n campaign   launched ", shared=True)
    assert re.fullmatch(r"[0-9a-f]{12}", note_id)

    page = dashboard(member, period="today")
    [note] = page["annotations"]
    assert note == {"id": note_id, "day": today.isoformat(), "bucket": f"{today} 00:00",
                    "text": "Spring campaign launched", "shared": True, "author": MEMBER,
                    "created": note["created"]}  # fmt: skip
    assert note["bucket"] in [point["bucket"] for point in page["timeseries"]["current"]]
    assert dashboard(member, period="yesterday")["annotations"] == []

    bearer = {"authorization": f"Bearer {live.key}"}  # type: ignore[attr-defined]
    with httpx.Client(base_url=live.url, timeout=15) as script:
        api = script.get(f"/api/stats/{SITE}/annotations", params={"period": "7d"}, headers=bearer)
    assert api.status_code == 200, api.text
    assert api.json()["timezone"] == ZONE and api.json()["annotations"] == [
        {**note, "bucket": today.isoformat()}
    ]

    shown = member.get(f"/sites/{SITE}", params={"period": "today"}).text
    assert f'data-annotation="{today}"' in shown and "Spring campaign launched" in shown
    assert f'action="/sites/{SITE}/annotations/{note_id}/remove"' in shown
    assert 'id="annotation-form"' in shown and f'name="day" value="{today}"' in shown

    assert remove(member, note_id).json() == {"removed": note_id}
    assert dashboard(member, period="today")["annotations"] == []
    assert remove(member, note_id).status_code == 404  # gone
    rows = [row for row in audit(live) if note_id in row["detail"]]
    assert [(r["actor"], r["action"], r["target"]) for r in rows] == [
        (MEMBER, "annotation.add", SITE), (MEMBER, "annotation.remove", SITE),
    ]  # fmt: skip
    assert "'Spring campaign launched'" in rows[0]["detail"]
    assert "shown on shared links" in rows[0]["detail"]


def test_a_note_shows_in_the_periods_holding_its_day_at_its_bucket_of_every_interval(
    clients: dict[str, httpx.Client],
) -> None:
    member = clients[MEMBER]
    first, last = date(2025, 3, 31), date(2025, 4, 13)  # Auckland leaves summer time on 6 April
    days = [first - timedelta(days=1), first, date(2025, 4, 6), last, last + timedelta(days=1)]
    ids = {added(member, day, f"note of {day}"): day for day in days}
    try:
        for interval in ("hour", "day", "week", "month"):
            page = dashboard(member, **{"from": str(first), "to": str(last), "interval": interval})
            buckets = [point["bucket"] for point in page["timeseries"]["current"]]
            notes = page["annotations"]
            assert [note["day"] for note in notes] == [str(d) for d in days[1:-1]], interval
            for note in notes:
                day = date.fromisoformat(note["day"])
                assert note["bucket"] == expected_bucket(day, interval, ZONE)
                assert note["bucket"] in buckets, (interval, note)
        # the day before is in the period before, with the other notes outside it
        before = dashboard(member, **{"from": "2025-03-01", "to": "2025-03-30"})
        assert texts(before["annotations"]) == ["note of 2025-03-30"]
    finally:
        for note_id in ids:
            assert remove(member, note_id).status_code == 200


@given(
    day=st.dates(date(2000, 1, 1), date(2099, 12, 31)),
    interval=st.sampled_from(["hour", "day", "week", "month"]),
    timezone=st.sampled_from(
        # Santiago and Havana moved their clocks at midnight: those days start at 01:00
        ["UTC", ZONE, "Asia/Kolkata", "America/Santiago", "America/Havana", "Europe/Paris"]
    ),
)
def test_the_bucket_of_a_day_is_the_first_bucket_holding_it(
    day: date, interval: str, timezone: str
) -> None:
    assert bucket_of(day, interval, timezone) == expected_bucket(day, interval, timezone)


def test_who_may_add_read_and_remove(live: LiveServer, clients: dict[str, httpx.Client]) -> None:
    member, colleague, admin = clients[MEMBER], clients[COLLEAGUE], clients[ADMIN]
    day = date(2025, 5, 5)
    mine, admins = added(member, day, "the member's"), added(admin, day, "the admin's")
    bearer = {"authorization": f"Bearer {live.key}"}  # type: ignore[attr-defined]
    period = {"from": "2025-05-01", "to": "2025-05-31"}

    stranger = clients[STRANGER]  # a viewer of another site
    assert add(stranger, day, "intrusion").status_code == 403
    assert remove(stranger, mine).status_code == 403
    assert stranger.get(f"/api/stats/{SITE}/annotations", params=period).status_code == 403
    with httpx.Client(base_url=live.url, timeout=15) as nobody:
        assert add(nobody, day, "anonymous").status_code == 401
        assert remove(nobody, mine).status_code == 401
        form = nobody.post(f"/sites/{SITE}/annotations", data={"day": str(day), "text": "x"},
                           headers=SAME_ORIGIN)  # fmt: skip
        assert form.status_code == 303 and form.headers["location"].startswith("/login")
        assert nobody.get(f"/api/stats/{SITE}/annotations").status_code == 401
        read = nobody.get(f"/api/stats/{SITE}/annotations", params=period, headers=bearer)
        assert read.status_code == 200 and texts(read.json()["annotations"]) == [
            "the member's", "the admin's",
        ]  # fmt: skip
        with httpx.Client(base_url=live.url, headers=bearer, timeout=15) as script:
            assert add(script, day, "by a key").status_code == 403
            assert remove(script, mine).status_code == 403
    assert member.post(f"/sites/{SITE}/annotations", data={"day": str(day), "text": "forged"},
                       headers={"sec-fetch-site": "cross-site"}).status_code == 403  # fmt: skip

    assert remove(colleague, mine).status_code == 403  # a note is its author's
    assert remove(member, admins).status_code == 403
    assert remove(member, "0123456789ab").status_code == 404
    assert remove(member, "not-an-id").status_code == 404
    assert remove(admin, mine).status_code == 200  # or an administrator's
    assert remove(admin, admins).status_code == 200
    assert dashboard(member, **period)["annotations"] == []
    assert [(r["actor"], r["action"]) for r in audit(live)][-4:] == [
        (MEMBER, "annotation.add"), (ADMIN, "annotation.add"),
        (ADMIN, "annotation.remove"), (ADMIN, "annotation.remove"),
    ]  # fmt: skip
    assert f"by {MEMBER}" in audit(live)[-2]["detail"]
    assert "intrusion" not in str(audit(live)) and "by a key" not in str(audit(live))


def test_a_note_is_plain_text_shown_escaped(clients: dict[str, httpx.Client]) -> None:
    member = clients[MEMBER]
    text = '<script>alert("x")</script> & <b>bold</b>'
    note_id = added(member, "2025-06-02", text)
    try:
        period = {"from": "2025-06-01", "to": "2025-06-30"}
        assert texts(dashboard(member, **period)["annotations"]) == [text]
        shown = member.get(f"/sites/{SITE}", params=period).text
        assert "<script>alert" not in shown and "<b>bold" not in shown
        [listed] = re.findall(r'<span class="annotation-text">([^<]*)</span>', shown)
        assert html.unescape(listed) == text  # the list under the chart, as text
        assert "\\u003cscript\\u003ealert" in shown  # the page's data, for the chart's markers
    finally:
        remove(member, note_id)


def test_shared_links_show_only_the_notes_marked_for_them_read_only(
    live: LiveServer, clients: dict[str, httpx.Client]
) -> None:
    admin, member = clients[ADMIN], clients[MEMBER]
    period = {"from": "2025-07-01", "to": "2025-07-31"}
    shared_id = added(member, "2025-07-04", "press release", shared=True)
    private_id = added(member, "2025-07-05", "internal: tag broken")
    created = admin.post(f"/sites/{SITE}/share", data={"name": "board"},
                         headers=SAME_ORIGIN | JSON)  # fmt: skip
    assert created.status_code == 201, created.text
    token = created.json()["created"]["url"].rsplit("/", 1)[1]
    try:
        assert texts(dashboard(member, **period)["annotations"]) == [
            "press release", "internal: tag broken",
        ]  # fmt: skip
        with httpx.Client(base_url=live.url, timeout=15) as outsider:
            data = outsider.get(f"/share/{token}", params=period, headers=JSON).json()
            assert data["annotations"] == [
                {"day": "2025-07-04", "bucket": "2025-07-04", "text": "press release",
                 "shared": True}
            ]  # fmt: skip
            shown = outsider.get(f"/share/{token}", params=period).text
            assert "press release" in shown and 'data-annotation="2025-07-04"' in shown
            assert "tag broken" not in shown and MEMBER not in shown
            assert "annotation-form" not in shown and "/remove" not in shown
            assert add(outsider, "2025-07-06", "from a link").status_code == 401
    finally:
        admin.post(f"/sites/{SITE}/share/{created.json()['created']['id']}/revoke",
                   headers=SAME_ORIGIN)  # fmt: skip
        for note_id in (shared_id, private_id):
            remove(member, note_id)


@pytest.mark.parametrize(
    ("day", "text", "field", "message"),
    [
        ("2025-08-01", "", "text", "text: a note needs some text"),
        ("2025-08-01", " \n\t ", "text", "text: a note needs some text"),
        ("2025-08-01", "x" * (MAX_CHARACTERS + 1), "text", "text: at most 280 characters"),
        ("2025-08-01", "bell\x07", "text", "text: control characters are not allowed"),
        ("2025-08-01", "right-to-left\u202eoverride", "text", "text: control characters"),
        ("2025-02-30", "a day that is not", "day", "day: expected a date as YYYY-MM-DD"),
        ("", "no day", "day", "day: expected a date as YYYY-MM-DD"),
        ("1999-12-31", "too early", "day", "day: expected a date from 2000-01-01"),
    ],
)
def test_a_wrong_field_gets_a_400_naming_it(
    live: LiveServer, clients: dict[str, httpx.Client], day: str, text: str, field: str,
    message: str,
) -> None:  # fmt: skip
    answer = add(clients[MEMBER], day, text)
    assert answer.status_code == 400
    assert answer.json()["field"] == field and answer.json()["error"].startswith(message)
    count = "SELECT count() FROM audience.annotations WHERE day = {day:Date}"
    assert live.store.rows(count, {"day": "2025-08-01"}) == [(0,)]


def test_the_longest_note_is_kept_whole(clients: dict[str, httpx.Client]) -> None:
    member = clients[MEMBER]
    text = "é" * (MAX_CHARACTERS - 1) + "🎉"  # characters, not bytes
    note_id = added(member, "2025-09-09", text)
    try:
        found = dashboard(member, **{"from": "2025-09-01", "to": "2025-09-30"})["annotations"]
        assert texts(found) == [text]
    finally:
        remove(member, note_id)


def test_the_forms_work_without_javascript(
    live: LiveServer, clients: dict[str, httpx.Client]
) -> None:
    member = clients[MEMBER]
    back = f"/sites/{SITE}?from=2025-10-01&to=2025-10-31&interval=week"
    form = {"day": "2025-10-10", "text": "plain form", "shared": "on", "back": back}
    answer = member.post(f"/sites/{SITE}/annotations", data=form, headers=SAME_ORIGIN)
    assert answer.status_code == 303 and answer.headers["location"] == f"{back}#annotations"
    page = member.get(back)
    assert page.status_code == 200
    [note] = dashboard(member, **{"from": "2025-10-01", "to": "2025-10-31"})["annotations"]
    assert note["shared"] is True and note["text"] == "plain form"

    wrong = member.post(f"/sites/{SITE}/annotations", data={"day": "2025-10-10", "text": ""},
                        headers=SAME_ORIGIN)  # fmt: skip
    assert wrong.status_code == 400 and "text: a note needs some text" in wrong.text

    for elsewhere in ("https://evil.example/", "//evil.example/", "/sites/other.example", "/"):
        removal = member.post(f"/sites/{SITE}/annotations/{note['id']}/remove",
                              data={"back": elsewhere}, headers=SAME_ORIGIN)  # fmt: skip
        assert removal.status_code in (303, 404)
        if removal.status_code == 303:
            assert removal.headers["location"] == f"/sites/{SITE}#annotations"
    assert dashboard(member, **{"from": "2025-10-01", "to": "2025-10-31"})["annotations"] == []
