"""A visitor's rights through the real server and the embedded store."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.privacy.rights import VisitorRights
from collector.settings import Settings
from collector.storage.erased import format_visitor_id
from collector.storage.rights_store import RightsStore
from collector.storage.sites import Site
from collector.storage.store import Store
from collector.web.visitor import StateSigner
from tests.conftest import CHROME, LiveServer, beacon, environment, register

SAME_ORIGIN = {"sec-fetch-site": "same-origin"}
ORIGIN = {"origin": "https://example.com", "x-forwarded-for": "81.2.69.42"}


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveServer]:
    register(settings, Site("example.com"))
    with LiveServer(settings) as server:
        yield server


def visitor_client(live: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=live.url, headers={"user-agent": CHROME}, timeout=15)


def visit(client: httpx.Client, *paths: str) -> str:
    """Pageviews of one visitor; returns the value of their cookie."""
    for path in paths:
        response = client.post(
            "/api/event", json=beacon(url=f"https://example.com{path}"), headers=ORIGIN
        )
        assert response.status_code == 202, response.text
    return client.cookies["audience"]


def visitor_hash(settings: Settings, cookie: str) -> int:
    signer = StateSigner(settings.secret_key)
    state = signer.verify(cookie)
    assert state is not None
    return signer.visitor_hash(state)


@pytest.fixture
def two_visitors(live: LiveServer) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    with visitor_client(live) as ana, visitor_client(live) as bob:
        visit(ana, "/a1", "/a2", "/a3")
        visit(bob, "/b1", "/b2")
        live.wait_stored(5)
        yield ana, bob


def test_a_visitor_reads_exactly_their_own_events(
    live: LiveServer, settings: Settings, two_visitors: tuple[httpx.Client, httpx.Client]
) -> None:
    ana, bob = two_visitors
    for client, paths in ((ana, ["/a1", "/a2", "/a3"]), (bob, ["/b1", "/b2"])):
        response = client.get("/api/privacy/me")
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        held = response.json()
        assert [event["path"] for event in held["events"]] == paths
        assert held["events_total"] == len(paths)
        hashed = visitor_hash(settings, client.cookies["audience"])
        assert held["visitor"] == format_visitor_id(hashed)
        assert held["retention"] == {
            "events_months": 25,
            "cookie_months": 13,
            "cookie_extended_by_visits": False,
        }
        assert held["purposes"] and held["recipients"]
        assert held["cookie"]["created"] < held["cookie"]["expires"]
        event = held["events"][0]
        assert event["city"] and event["browser"] == "Chrome" and event["consent"] == "manual"
        assert "visitor" not in event


@pytest.mark.parametrize(
    "cookie", [None, "forged", "AAAA" * 20, "x" * 5000], ids=["none", "junk", "b64", "huge"]
)
def test_no_valid_cookie_gets_401_naming_the_problem(live: LiveServer, cookie: str | None) -> None:
    with visitor_client(live) as client:
        if cookie is not None:
            client.cookies.set("audience", cookie)
        response = client.get("/api/privacy/me")
    assert response.status_code == 401
    assert "cookie" in response.json()["error"]


def test_export_in_json_and_csv_holds_the_same_rows(
    two_visitors: tuple[httpx.Client, httpx.Client],
) -> None:
    ana, _ = two_visitors
    as_json = ana.get("/api/privacy/me/export", params={"format": "json"})
    as_csv = ana.get("/api/privacy/me/export", params={"format": "csv"})
    assert as_json.status_code == as_csv.status_code == 200
    assert as_json.headers["content-disposition"].startswith("attachment; filename=")
    assert as_csv.headers["content-type"].startswith("text/csv")
    events = as_json.json()["events"]
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(events) == len(rows) == 3
    assert [{name: str(value) for name, value in event.items()} for event in events] == rows
    assert ana.get("/api/privacy/me/export", params={"format": "xml"}).status_code == 400


ROLLUPS = (
    ("traffic_hourly", "value", "pageviews"),
    ("traffic_daily", "value", "pageviews"),
)


def rollup_totals(store: Store, prefix: str = "") -> dict[str, Any]:
    """Visitors and counts from each rollup table, to compare with the events they came from."""
    return {
        table: store.query_dicts(
            f"SELECT dimension, {value}, toDate(hour) AS day, uniqCombinedMerge(15)(visitors) AS"
            f" visitors, sum({count}) AS n FROM audience.{prefix}{table}"
            f" GROUP BY dimension, {value}, day HAVING n != 0 OR visitors != 0"
            " ORDER BY dimension, day, visitors, n"
        )
        for table, value, count in ROLLUPS
    }


def test_erase_removes_every_row_expires_the_cookie_and_refuses_the_old_one(
    live: LiveServer, settings: Settings, two_visitors: tuple[httpx.Client, httpx.Client]
) -> None:
    ana, _ = two_visitors
    cookie = ana.cookies["audience"]
    erased = ana.post("/api/privacy/me/erase", headers=SAME_ORIGIN)
    assert erased.status_code == 200, erased.text
    assert erased.json() == {"status": "erased", "events_erased": 3}
    assert any(
        "audience=;" in c and "Max-Age=0" in c for c in erased.headers.get_list("set-cookie")
    )
    assert erased.headers["audience-state-expires"] == "0"

    hashed = visitor_hash(settings, cookie)
    assert RightsStore(live.store).count_events(hashed) == 0
    visits_left = "SELECT count() AS n FROM audience.visits WHERE visitor = {v:UInt64}"
    assert live.store.query_dicts(visits_left, {"v": hashed}) == [{"n": 0}]
    assert {row["path"] for row in live.wait_stored(2)} == {"/b1", "/b2"}
    with visitor_client(live) as only_bob:  # the rollups now count Bob alone, as if Ana never came
        visit(only_bob, "/b1", "/b2")
        live.wait_stored(4)
    bob_twice = rollup_totals(live.store)
    RightsStore(live.store).erase(visitor_hash(settings, only_bob.cookies["audience"]))
    assert rollup_totals(live.store) != bob_twice  # the comparison can see a difference
    expected = _rollups_rebuilt_from_events(live.store)
    assert rollup_totals(live.store) == expected

    with visitor_client(live) as stale_tab:  # a tab still carrying the old cookie
        stale_tab.cookies.set("audience", cookie)
        dropped = stale_tab.post("/api/event", json=beacon(), headers=ORIGIN)
        assert dropped.status_code == 202
        assert dropped.json() == {"status": "dropped", "reason": "erased"}
        assert "audience=;" in dropped.headers["set-cookie"]
    with visitor_client(live) as other_site:  # the state kept by the snippet on another site
        carried = other_site.post("/api/event", json=beacon(state=cookie), headers=ORIGIN)
        assert carried.json() == {"status": "dropped", "reason": "erased"}
    assert len(live.settle()) == 2
    assert ana.get("/api/privacy/me").status_code == 401  # its cookie is gone


def _rollups_rebuilt_from_events(store: Store) -> dict[str, Any]:
    """The rollups as the materialized views would fill them from the events left."""
    for table, _, _ in ROLLUPS:
        store.execute(f"CREATE TABLE audience.copy_{table} AS audience.{table}")
    try:
        for source in ("traffic",):
            [row] = store.query_dicts(
                "SELECT as_select FROM system.tables WHERE database = 'audience'"
                " AND name = {n:String}",
                {"n": f"{source}_hourly_mv"},
            )
            store.execute(f"INSERT INTO audience.copy_{source}_hourly {row['as_select']}")
            [daily] = store.query_dicts(
                "SELECT as_select FROM system.tables WHERE database = 'audience'"
                " AND name = {n:String}",
                {"n": f"{source}_daily_mv"},
            )
            select = daily["as_select"].replace(
                f"audience.{source}_hourly", f"audience.copy_{source}_hourly"
            )
            store.execute(f"INSERT INTO audience.copy_{source}_daily {select}")
        copies = rollup_totals(store, prefix="copy_")
    finally:
        for table, _, _ in ROLLUPS:
            store.execute(f"DROP TABLE IF EXISTS audience.copy_{table}")
    return copies


def test_optout_expires_the_cookie_and_erases_when_asked(
    live: LiveServer, two_visitors: tuple[httpx.Client, httpx.Client]
) -> None:
    ana, bob = two_visitors
    kept = ana.post("/api/privacy/optout", json={"site": "example.com"}, headers=ORIGIN)
    assert kept.status_code == 200
    assert kept.json() == {"status": "opted out"}
    assert any("Max-Age=0" in c for c in kept.headers.get_list("set-cookie"))
    assert len(live.wait_stored(5)) == 5  # withdrawal alone keeps what was measured

    gone = bob.post("/api/privacy/optout", json={"erase": True}, headers=SAME_ORIGIN)
    assert gone.json() == {
        "status": "opted out",
        "erasure": {"status": "erased", "events_erased": 2},
    }
    assert {row["path"] for row in live.wait_stored(3)} == {"/a1", "/a2", "/a3"}


@pytest.mark.parametrize(
    "headers",
    [
        {"sec-fetch-site": "cross-site", "origin": "https://evil.test"},
        {"sec-fetch-site": "same-site", "origin": "https://evil.example.org"},
        {"origin": "https://evil.test"},
        {"origin": "null"},
        {},
    ],
    ids=["cross-site", "same-site-other-origin", "origin-only", "null-origin", "no-header"],
)
def test_state_changes_from_another_origin_are_refused(
    live: LiveServer, two_visitors: tuple[httpx.Client, httpx.Client], headers: dict[str, str]
) -> None:
    ana, _ = two_visitors
    for path, body in (("/api/privacy/me/erase", {}), ("/api/privacy/optout", {"erase": True})):
        refused = ana.post(path, json=body, headers=headers)
        assert refused.status_code == 403, path
        assert "cross-site" in refused.json()["error"]
        assert "set-cookie" not in refused.headers
        assert "access-control-allow-origin" not in refused.headers
    assert len(live.wait_stored(5)) == 5


def test_a_registered_sites_page_may_erase_with_the_kept_state(
    live: LiveServer, two_visitors: tuple[httpx.Client, httpx.Client]
) -> None:
    """A collector on another site: the snippet sends the state it kept in a header."""
    ana, _ = two_visitors
    state = ana.cookies["audience"]
    with visitor_client(live) as page:
        preflight = page.options(
            "/api/privacy/me/erase",
            headers={
                "origin": "https://www.example.com",
                "access-control-request-method": "POST",
                "access-control-request-headers": "audience-state",
            },
        )
        assert preflight.status_code == 204
        assert "audience-state" in preflight.headers["access-control-allow-headers"]
        assert preflight.headers["access-control-allow-origin"] == "https://www.example.com"
        cross = {"sec-fetch-site": "cross-site", "origin": "https://www.example.com"}
        read = page.get("/api/privacy/me", headers={"audience-state": state, **cross})
        assert read.status_code == 200
        assert read.headers["access-control-allow-credentials"] == "true"
        erased = page.post("/api/privacy/me/erase", headers={"audience-state": state, **cross})
    assert erased.json()["events_erased"] == 3


def test_privacy_requests_are_rate_limited_per_visitor(
    two_visitors: tuple[httpx.Client, httpx.Client],
) -> None:
    ana, bob = two_visitors
    statuses = [ana.get("/api/privacy/me").status_code for _ in range(40)]
    assert statuses[0] == 200 and statuses[-1] == 429
    limited = ana.get("/api/privacy/me")
    assert "too many" in limited.json()["error"]
    assert bob.get("/api/privacy/me").status_code == 200  # another visitor is not held back


def test_erasure_reaches_events_still_in_the_spool(tmp_path: Path, geo_files: Any) -> None:
    """Beacons spooled but not yet stored when the visitor erases are never stored."""
    slow = environment(tmp_path / "data", geo_files, AUDIENCE_FLUSH_INTERVAL="30")
    settings = Settings.from_environ(slow)
    register(settings, Site("example.com"))
    with LiveServer(settings) as server, visitor_client(server) as ana:
        visit(ana, "/a1", "/a2")
        with visitor_client(server) as bob:
            visit(bob, "/b1")
        assert server.store.query_dicts("SELECT count() AS n FROM audience.events") == [{"n": 0}]
        erased = ana.post("/api/privacy/me/erase", headers=SAME_ORIGIN)
        assert erased.json() == {"status": "erased", "events_erased": 0}
        # The spool is flushed at shutdown: the writer stores Bob's beacon, never Ana's.
    store = Store.connect(settings.clickhouse_url)
    try:
        rows = store.query_dicts("SELECT path FROM audience.events")
        dropped = store.query_dicts("SELECT count() AS n FROM audience.erased_visitors")
    finally:
        store.close()
    assert [row["path"] for row in rows] == ["/b1"]
    assert dropped == [{"n": 1}]


def test_the_audit_log_holds_no_personal_data(
    live: LiveServer, settings: Settings, two_visitors: tuple[httpx.Client, httpx.Client]
) -> None:
    ana, _ = two_visitors
    hashed = visitor_hash(settings, ana.cookies["audience"])
    ana.get("/api/privacy/me")
    ana.get("/api/privacy/me/export")
    ana.post("/api/privacy/me/erase", headers=SAME_ORIGIN)
    log = live.store.query_dicts("SELECT * FROM audience.rights_requests ORDER BY at")
    assert [(e["action"], e["channel"], e["outcome"]) for e in log] == [
        ("access", "self-service", "done"),
        ("export", "self-service", "done"),
        ("erase", "self-service", "done"),
    ]
    assert {e["events"] for e in log} == {3}
    assert set(log[0]) == {"at", "action", "channel", "subject", "outcome", "events"}
    subjects = {e["subject"] for e in log}
    assert len(subjects) == 1 and hashed not in subjects  # not joinable to the events
    assert all(time.time() - e["at"].timestamp() < 60 for e in log)


def test_a_sibling_subdomain_cannot_ride_on_the_cookie(
    two_visitors: tuple[httpx.Client, httpx.Client],
) -> None:
    """example.com allows https://*.example.com, and a Lax cookie goes with a same-site fetch:
    the cookie still counts only for the collector's own origin."""
    ana, _ = two_visitors
    sibling = {"origin": "https://forum.example.com", "sec-fetch-site": "same-site"}
    assert ana.get("/api/privacy/me", headers=sibling).status_code == 401
    assert ana.get("/api/privacy/me/export", headers=sibling).status_code == 401
    erase = ana.post("/api/privacy/me/erase", headers=sibling)
    assert erase.status_code == 401
    with_state = {**sibling, "audience-state": ana.cookies["audience"]}  # what the snippet sends
    assert ana.get("/api/privacy/me", headers=with_state).status_code == 200


def test_a_withdrawal_expires_the_cookie_even_when_rate_limited(
    two_visitors: tuple[httpx.Client, httpx.Client],
) -> None:
    ana, _ = two_visitors
    while ana.get("/api/privacy/me").status_code != 429:
        pass
    withdrawn = ana.post("/api/privacy/optout", json={}, headers=SAME_ORIGIN)
    assert withdrawn.status_code == 200
    assert any("Max-Age=0" in c for c in withdrawn.headers.get_list("set-cookie"))


def test_an_erasure_made_elsewhere_is_finished_by_the_running_writer(
    live: LiveServer, settings: Settings, two_visitors: tuple[httpx.Client, httpx.Client]
) -> None:
    """The DPO's command (or a worker on a ClickHouse server) has no writer: it lists the visitor
    and deletes the events; the writer that learns of it rebuilds the rollups."""
    ana, _ = two_visitors
    visitor = visitor_hash(settings, ana.cookies["audience"])
    elsewhere = VisitorRights(live.store, settings.secret_key, settings.retention_months)
    assert elsewhere.erase(visitor, "dpo").events == 3
    assert RightsStore(live.store).count_events(visitor) == 0
    deadline = time.monotonic() + 15
    while rollup_totals(live.store) != _rollups_rebuilt_from_events(live.store):
        assert time.monotonic() < deadline, "the writer did not rebuild the rollups"
        time.sleep(0.2)
    assert visitor in live.app.runtime.erased
