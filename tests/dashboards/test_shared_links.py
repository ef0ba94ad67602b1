"""Shared links over real HTTP (a real uvicorn, the embedded store): an admin shares a site's
dashboard, optionally with a password and locked to a filter; an anonymous browser sees exactly
what the dashboard shows (its aggregates, small cells folded), never indexed, throttled after
wrong passwords, framed only without a password and only by the configured origins; a revoked
link stops at once. Its secret is unguessable and stored hashed."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from collector.settings import Settings
from collector.storage.sites import Site
from dashboards.accounts import Accounts
from tests.conftest import (
    BRUSSELS_PROXIMUS,
    CHROME,
    LYON_ORANGE,
    SECRET,
    GeoFiles,
    LiveServer,
    beacon,
    environment,
    migrated_store,
)
from tests.dashboards.test_team import dashboards_context

ADMIN = "ana@example.com"
PASSWORD = "correct horse battery staple"
LINK_PASSWORD = "board meeting 2026 only"
SAME_ORIGIN = {"sec-fetch-site": "same-origin"}
JSON = {"accept": "application/json"}
FRAMER = "https://intranet.example.com"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, geo_files: GeoFiles) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("shared") / "data"
    env = environment(data, geo_files, AUDIENCE_MIN_CELL="2",
                      AUDIENCE_SHARE_FRAME_ANCESTORS=FRAMER)  # fmt: skip
    settings = Settings.from_environ(env)
    store = migrated_store(settings)
    try:
        store.save_site(Site("example.com"))
        Accounts(store, SECRET.encode()).add_user(ADMIN, PASSWORD, "admin")
    finally:
        store.close()
    with LiveServer(settings) as server:
        sent = 0
        # Lyon: 3 visitors; Brussels: 1 (a cell under AUDIENCE_MIN_CELL=2, folded)
        for address, count in ((LYON_ORANGE, 3), (BRUSSELS_PROXIMUS, 1)):
            for number in range(count):
                agent = CHROME.replace("537.36", f"537.{number}")  # a visitor each
                answer = httpx.post(
                    f"{server.url}/api/event",
                    json=beacon(url=f"https://example.com/p{number}"),
                    headers={"user-agent": agent, "origin": "https://example.com",
                             "x-forwarded-for": address},
                )  # fmt: skip
                assert answer.status_code == 202, answer.text
                sent += 1
        server.wait_stored(sent)
        yield server


@pytest.fixture
def admin(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, headers={"user-agent": CHROME}, timeout=15) as client:
        form = {"email": ADMIN, "password": PASSWORD}
        assert client.post("/login", data=form, headers=SAME_ORIGIN).status_code == 303
        yield client


def share(admin: httpx.Client, **form: str) -> dict[str, Any]:
    answer = admin.post("/sites/example.com/share", data=form, headers=SAME_ORIGIN | JSON)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()["created"]
    return created


def comparable(page: dict[str, Any]) -> dict[str, Any]:
    """A dashboard's figures without its links."""
    breakdowns = {
        name: [{k: v for k, v in row.items() if k != "filter_url"} for row in table["rows"]]
        for name, table in page["breakdowns"].items()
    }
    return {"summary": page["summary"], "timeseries": page["timeseries"], "rows": breakdowns}


def test_a_password_protected_link_locked_to_a_city(live: LiveServer, admin: httpx.Client) -> None:
    created = share(admin, name="board", password=LINK_PASSWORD, filter_city="Lyon")
    url = created["url"]
    token = url.rsplit("/share/", 1)[1]
    assert url == f"{live.url}/share/{token}" and re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    stored = str(live.store.query_dicts("SELECT * FROM audience.shared_links"))
    assert token not in stored and LINK_PASSWORD not in stored
    listed = admin.get("/sites/example.com/share", headers=JSON).json()["links"]
    assert {"id": created["id"], "password": True, "filters": {"city": "Lyon"}}.items() <= listed[
        0
    ].items()
    signed_in = admin.get("/sites/example.com", params={"city": "Lyon", "format": "json"}).json()

    with httpx.Client(base_url=live.url, timeout=15) as stranger:
        locked = stranger.get(f"/share/{token}")
        assert locked.status_code == 401 and 'name="password"' in locked.text
        assert locked.headers["x-robots-tag"] == "noindex, nofollow"
        assert "noindex" in locked.text and locked.headers["x-frame-options"] == "DENY"
        for _ in range(4):
            wrong = stranger.post(f"/share/{token}", data={"password": "guess " * 3},
                                  headers=SAME_ORIGIN)  # fmt: skip
            assert wrong.status_code == 401
        opened = stranger.post(f"/share/{token}", data={"password": LINK_PASSWORD},
                               headers=SAME_ORIGIN)  # fmt: skip
        assert opened.status_code == 303 and opened.headers["location"] == f"/share/{token}"
        assert f"Path=/share/{token};" in opened.headers["set-cookie"]
        page = stranger.get(f"/share/{token}")
        assert page.status_code == 200 and "noindex" in page.text
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        data = stranger.get(f"/share/{token}", params={"city": "Paris"}, headers=JSON).json()
        assert data["filters"] == {"city": "Lyon"}  # the lock wins over the address bar
        assert comparable(data) == comparable(signed_in)
        assert data["summary"]["current"]["visitors"] == 3
        assert all(table["csv"] is None for table in data["breakdowns"].values())
        assert all(
            row["filter_url"] is None for row in data["breakdowns"]["city"]["rows"]
        )  # the locked dimension cannot be changed
        assert stranger.get("/sites/example.com", headers=JSON).status_code == 401
        assert stranger.get("/api/stats/example.com/summary").status_code == 401

        revoked = admin.post(f"/sites/example.com/share/{created['id']}/revoke",
                             headers=SAME_ORIGIN)  # fmt: skip
        assert revoked.status_code == 303
        assert stranger.get(f"/share/{token}").status_code == 404  # its pass is useless too
    actions = live.store.query_dicts(
        "SELECT action, detail FROM audience.admin_audit WHERE action LIKE 'share.%' ORDER BY at"
    )
    assert [a["action"] for a in actions][-2:] == ["share.create", "share.revoke"]
    assert token not in str(actions) and LINK_PASSWORD not in str(actions)


def test_wrong_passwords_are_throttled_even_before_the_right_one(
    live: LiveServer, admin: httpx.Client
) -> None:
    token = share(admin, password=LINK_PASSWORD)["url"].rsplit("/", 1)[1]
    with httpx.Client(base_url=live.url, timeout=15) as stranger:
        for _ in range(5):
            wrong = stranger.post(f"/share/{token}", data={"password": "nope"},
                                  headers=SAME_ORIGIN | JSON)  # fmt: skip
            assert wrong.status_code == 401
        throttled = stranger.post(f"/share/{token}", data={"password": LINK_PASSWORD},
                                  headers=SAME_ORIGIN)  # fmt: skip
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
        assert stranger.get(f"/share/{token[:-2]}xx").status_code == 404


def test_only_a_link_without_password_may_be_framed_by_the_configured_origins(
    live: LiveServer, admin: httpx.Client
) -> None:
    open_token = share(admin, name="wall screen")["url"].rsplit("/", 1)[1]
    with httpx.Client(base_url=live.url, timeout=15) as stranger:
        page = stranger.get(f"/share/{open_token}")
    assert page.status_code == 200 and page.headers["x-robots-tag"] == "noindex, nofollow"
    assert f"frame-ancestors {FRAMER}" in page.headers["content-security-policy"]
    assert "x-frame-options" not in page.headers
    folded = [row for row in page.text.split("Brussels")]
    assert len(folded) == 1, "a city of one visitor is folded, not shown"


def test_links_expire_and_each_secret_opens_only_its_own_door(
    live: LiveServer, admin: httpx.Client
) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    created = share(admin, name="until tomorrow", expires=tomorrow)
    assert created["expires"] == f"{tomorrow}T23:59:59Z"
    token = created["url"].rsplit("/", 1)[1]
    past = admin.post("/sites/example.com/share", data={"expires": "2020-01-01"},
                      headers=SAME_ORIGIN | JSON)  # fmt: skip
    assert past.status_code == 400 and "future" in past.json()["error"]
    invited = admin.post(
        "/admin/team/invitations",
        data={"email": "someone@example.com", "role": "viewer", "sites": "example.com"},
        headers=SAME_ORIGIN | JSON,
    ).json()["invited"]
    invitation = invited["link"].rsplit("/", 1)[1]
    links = dashboards_context(live).shared_links()
    with httpx.Client(base_url=live.url, timeout=15) as stranger:
        assert stranger.get(f"/share/{token}").status_code == 200
        assert stranger.get(f"/share/{invitation}").status_code == 404  # single-purpose
        assert stranger.get(f"/invite/{token}", headers=JSON).status_code == 404
        links.clock = lambda: time.time() + 2 * 86400
        try:
            assert stranger.get(f"/share/{token}").status_code == 404  # expired
        finally:
            links.clock = time.time
        assert stranger.get(f"/share/{token}").status_code == 200
