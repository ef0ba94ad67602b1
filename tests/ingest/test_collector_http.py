"""POST /api/event through a real uvicorn server into the embedded ClickHouse."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest

from collector.settings import Settings
from collector.storage.sites import Site
from collector.web.visitor import StateSigner, add_months
from tests.conftest import (
    BRUSSELS_PROXIMUS,
    CHROME,
    IPHONE,
    LYON_ORANGE,
    PARIS_FREE_V6,
    SECRET,
    GeoFiles,
    LiveServer,
    beacon,
    environment,
    register,
)


def send(client: httpx.Client, ip: str = LYON_ORANGE, **fields: object) -> httpx.Response:
    return client.post(
        "/api/event",
        json=beacon(**fields),
        headers={"x-forwarded-for": ip, "origin": "https://example.com"},
    )


def cookie_expiry(response: httpx.Response) -> int:
    header = response.headers["set-cookie"]
    expires = next(p.split("=", 1)[1] for p in header.split("; ") if p.startswith("Expires="))
    return int(parsedate_to_datetime(expires).timestamp())


def test_consented_pageview_is_stored_with_its_enrichment(
    live: LiveServer, client: httpx.Client
) -> None:
    response = send(client, ip=LYON_ORANGE)
    assert response.status_code == 202, response.text
    assert response.content == b""  # accepted: nothing to say beyond the status
    [row] = live.wait_stored(1)
    assert row["site"] == "example.com"
    assert row["type"] == "pageview"
    assert row["path"] == "/pricing"
    assert (row["city"], row["country"], row["operator"]) == ("Lyon", "FR", "Orange")
    assert (row["browser"], row["browser_version"], row["os"]) == ("Chrome", "131", "Windows")
    assert row["device"] == "desktop"
    assert row["visit_number"] == 1
    assert row["days_since_last_visit"] == 0
    assert row["consent"] == "manual"
    assert row["visitor"] > 0 and row["visit"] > 0


def test_mobile_visitor_over_ipv6(live: LiveServer, client: httpx.Client) -> None:
    response = client.post(
        "/api/event",
        content=b'{"site":"example.com","type":"pageview","url":"/blog/","consent":"tcf"}',
        headers={
            "x-forwarded-for": PARIS_FREE_V6,
            "user-agent": IPHONE,
            "content-type": "text/plain",
        },
    )
    assert response.status_code == 202
    [row] = live.wait_stored(1)
    assert (row["city"], row["operator"], row["device"], row["os"]) == (
        "Paris",
        "Free",
        "mobile",
        "iOS",
    )
    assert row["browser"] == "Mobile Safari"


def test_unknown_address_gives_empty_geography(live: LiveServer, client: httpx.Client) -> None:
    assert send(client, ip="192.0.2.1").status_code == 202
    [row] = live.wait_stored(1)
    assert (row["city"], row["country"], row["operator"]) == ("", "", "")


@pytest.mark.parametrize(
    ("fields", "headers", "status", "message"),
    [
        ({"consent": None}, {}, 403, "no consent"),
        ({}, {"sec-gpc": "1"}, 403, "Global Privacy Control"),
        ({"consent": "tcf:outside-gdpr"}, {}, 403, "GDPR does not apply"),
        ({"site": "unknown.org"}, {}, 404, "unknown site"),
        ({"type": "click"}, {}, 400, "type"),
        ({"url": "javascript:alert(1)"}, {}, 400, "url"),
        ({"engaged_ms": -5}, {}, 400, "engaged_ms"),
        ({"consent": "yes please"}, {}, 400, "consent"),
        ({}, {"origin": "https://evil.test"}, 403, "origin"),
    ],
)
def test_refused_beacons_store_nothing(
    live: LiveServer,
    client: httpx.Client,
    fields: dict[str, object],
    headers: dict[str, str],
    status: int,
    message: str,
) -> None:
    response = client.post(
        "/api/event",
        json=beacon(**fields),
        headers={"x-forwarded-for": LYON_ORANGE, "origin": "https://www.example.com", **headers},
    )
    assert response.status_code == status
    assert message in response.json()["error"]
    assert "set-cookie" not in response.headers
    assert live.settle() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [(b"{not json", "body"), (b"[1, 2]", "body"), (b"", "body"), (b'{"site": 5}', "site")],
)
def test_malformed_bodies_are_named(
    live: LiveServer, client: httpx.Client, body: bytes, field: str
) -> None:
    response = client.post("/api/event", content=body)
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert live.settle() == []


def test_oversized_body_is_refused(live: LiveServer, client: httpx.Client) -> None:
    padded = beacon(padding="x" * 5000)
    response = client.post("/api/event", json=padded)
    assert response.status_code == 413
    assert "4096" in response.json()["error"]

    def chunks() -> object:
        yield b'{"site":"example.com","padding":"'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}'

    streamed = client.post("/api/event", content=chunks())  # no Content-Length: chunked
    assert streamed.status_code == 413
    assert live.settle() == []


MONITOR = (  # Datadog's synthetic browser tests click through cookie banners
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.109 Safari/537.36 DatadogSynthetics"
)


def test_bots_get_202_and_are_counted_by_kind_not_stored(
    live: LiveServer, client: httpx.Client
) -> None:
    googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    for bot in (googlebot, MONITOR, MONITOR):
        response = client.post("/api/event", json=beacon(), headers={"user-agent": bot})
        assert response.status_code == 202
        assert response.json() == {"status": "dropped", "reason": "bot"}
        assert "set-cookie" not in response.headers
    assert live.settle() == []
    metrics = client.get("/metrics").text
    assert 'audience_events_dropped_total{reason="bot"} 3' in metrics
    assert 'audience_bots_dropped_total{kind="search"} 1' in metrics
    assert 'audience_bots_dropped_total{kind="monitor"} 2' in metrics


def test_client_hints_settle_a_reduced_user_agent(live: LiveServer, client: httpx.Client) -> None:
    reduced = (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36"
    )
    headers = {"user-agent": reduced, "sec-ch-ua-mobile": "?0", "sec-ch-ua-platform": '"Android"'}
    response = client.post("/api/event", json=beacon(), headers=headers)
    assert response.status_code == 202
    [row] = live.wait_stored(1)
    assert (row["browser"], row["os"], row["device"]) == ("Chrome", "Android", "tablet")


def test_cookie_keeps_visitor_and_visit_and_never_moves_its_expiry(
    live: LiveServer, client: httpx.Client
) -> None:
    first = send(client)
    assert first.status_code == 202
    created = int(time.time())
    expiry = cookie_expiry(first)
    assert expiry <= add_months(created, 13)
    assert expiry >= add_months(created - 5, 13)
    cookie = first.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and cookie.startswith("audience=")
    time.sleep(1.1)
    second = send(client, url="https://example.com/docs", type="pageview")
    assert second.status_code == 202
    assert cookie_expiry(second) == expiry
    first_row, second_row = live.wait_stored(2)
    assert first_row["visitor"] == second_row["visitor"]
    assert first_row["visit"] == second_row["visit"]
    assert second_row["visit_number"] == 1


def test_return_after_thirty_minutes_starts_visit_two(
    live: LiveServer, client: httpx.Client
) -> None:
    first = send(client)
    assert first.status_code == 202
    signer = StateSigner(SECRET.encode())
    state = signer.verify(client.cookies["audience"])
    assert state is not None
    three_days = 3 * 86_400 + 3600
    # The browser comes back: the state it holds is the one from a visit three days ago.
    earlier = state._replace(
        created=state.created - three_days,
        visit_start=state.visit_start - three_days,
        last_seen=state.last_seen - three_days,
    )
    client.cookies.set("audience", signer.sign(earlier), domain="127.0.0.1")
    second = send(client, url="/again")
    assert second.status_code == 202
    assert cookie_expiry(second) == add_months(earlier.created, 13)
    rows = live.wait_stored(2)
    again = next(row for row in rows if row["path"] == "/again")
    before = next(row for row in rows if row["path"] == "/pricing")
    assert again["visitor"] == before["visitor"]
    assert again["visit"] != before["visit"]
    assert again["visit_number"] == 2
    assert again["days_since_last_visit"] == 3


def test_forged_cookie_starts_a_new_visitor(live: LiveServer, client: httpx.Client) -> None:
    assert send(client).status_code == 202
    genuine = client.cookies["audience"]
    forged = genuine[:-4] + ("AAAA" if not genuine.endswith("AAAA") else "BBBB")
    client.cookies.set("audience", forged, domain="127.0.0.1")
    assert send(client, url="/forged").status_code == 202
    first, second = live.wait_stored(2)
    assert first["visitor"] != second["visitor"]
    assert second["visit_number"] == 1


def test_engagement_event_carries_engaged_time(live: LiveServer, client: httpx.Client) -> None:
    assert send(client, type="engagement", engaged_ms=12_345).status_code == 202
    [row] = live.wait_stored(1)
    assert (row["type"], row["engaged_ms"]) == ("engagement", 12_345)


def test_cross_site_collector_returns_the_signed_state(
    live: LiveServer, client: httpx.Client
) -> None:
    response = send(client)
    assert response.headers["access-control-allow-origin"] == "https://example.com"
    assert response.headers["access-control-allow-credentials"] == "true"
    state = response.headers["audience-state"]
    assert int(response.headers["audience-state-expires"]) == cookie_expiry(response)
    # A browser that sends our HttpOnly cookie back never sees the state in a header.
    assert "audience-state" not in send(client, url="/with-cookie").headers
    fresh = httpx.post(
        f"{live.url}/api/event",
        json=beacon(url="/second", state=state),
        headers={"user-agent": CHROME, "origin": "https://example.com"},
    )
    assert fresh.status_code == 202
    assert len({row["visitor"] for row in live.wait_stored(3)}) == 1


def test_preflight_and_wrong_method(client: httpx.Client) -> None:
    preflight = client.options("/api/event", headers={"origin": "https://example.com"})
    assert preflight.status_code == 204
    assert "POST" in preflight.headers["access-control-allow-methods"]
    wrong = client.get("/api/event")
    assert wrong.status_code == 405
    assert wrong.json()["error"] == "use POST"


def test_rate_limit_is_per_client(tmp_path: Path, geo_files: GeoFiles) -> None:
    env = environment(tmp_path / "data", geo_files, AUDIENCE_RATE_LIMIT="0.01")
    settings = Settings.from_environ(env | {"AUDIENCE_RATE_LIMIT_BURST": "3"})
    register(settings, Site("example.com"))
    with LiveServer(settings) as live, httpx.Client(base_url=live.url) as client:
        client.headers["user-agent"] = CHROME
        statuses = [send(client, ip=LYON_ORANGE).status_code for _ in range(5)]
        assert statuses == [202, 202, 202, 429, 429]
        assert "slow down" in send(client, ip=LYON_ORANGE).json()["error"]
        assert send(client, ip=BRUSSELS_PROXIMUS).status_code == 202
        assert len(live.wait_stored(4)) == 4


def test_full_spool_answers_503_with_retry_after(tmp_path: Path, geo_files: GeoFiles) -> None:
    env = environment(tmp_path / "data", geo_files, AUDIENCE_SPOOL_QUOTA_MB="0.002")
    settings = Settings.from_environ(env)
    register(settings, Site("example.com"))
    with LiveServer(settings) as live, httpx.Client(base_url=live.url) as client:
        client.headers["user-agent"] = CHROME
        writer = live.app.runtime.writer
        assert writer is not None
        writer.stop()  # the store is away: nothing drains the spool any more
        # fixed-width paths: each row is at least as large as the one before, so once one is
        # refused for the quota, every later one is too
        statuses = [send(client, url=f"/p{i:02d}").status_code for i in range(40)]
        assert statuses[0] == 202
        assert 503 in statuses
        full = statuses.index(503)
        assert set(statuses[:full]) == {202}
        refused = send(client, url="/refused-and-longer-than-any-row-before")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "5"
        assert "quota" in refused.json()["error"]
        assert client.get("/readyz").status_code == 503
        accepted = statuses.count(202)
        rows = live.settle()  # the store is back: the spool drains
        assert len(rows) == accepted
        assert {row["path"] for row in rows} == {f"/p{i:02d}" for i in range(full)}


def test_health_readiness_and_metrics(live: LiveServer, client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "alive"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"spool": True, "store": True}
    send(client)
    send(client, consent=None)
    live.wait_stored(1)
    metrics = client.get("/metrics").text
    assert "audience_events_accepted_total 1" in metrics
    assert 'audience_events_rejected_total{status="403"} 1' in metrics
    assert "audience_rows_stored_total 1" in metrics
    assert "audience_batch_rows_count 1" in metrics
    assert "audience_spool_bytes" in metrics


def test_other_subdomain_and_brussels_isp(live: LiveServer, client: httpx.Client) -> None:
    response = client.post(
        "/api/event",
        json=beacon(),
        headers={"x-forwarded-for": BRUSSELS_PROXIMUS, "origin": "https://shop.example.com"},
    )
    assert response.status_code == 202
    [row] = live.wait_stored(1)
    assert (row["city"], row["operator"]) == ("Brussels", "Proximus")
