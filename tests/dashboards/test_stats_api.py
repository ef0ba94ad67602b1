"""The stats API and the dashboard page through the real server: the same numbers as the stats
layer, CSV exports, clear errors, and access refused to whoever may not see the site."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from collector.settings import Settings
from collector.storage.sites import Site
from dashboards.accounts import Accounts
from dashboards.stats import DIMENSIONS
from tests.conftest import (
    BRUSSELS_PROXIMUS,
    CHROME,
    IPHONE,
    LYON_ORANGE,
    SECRET,
    LiveServer,
    beacon,
    register,
)

SITE, OTHER_SITE = "example.com", "shop.test"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def live(settings: Settings) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    """The real server, with an admin and a viewer of the other site, each with an API key."""
    settings = replace(settings, min_cell=1)
    register(settings, Site(SITE, timezone="Europe/Paris"), Site(OTHER_SITE))
    with LiveServer(settings) as server:
        assert server.app.runtime.store is not None
        accounts = Accounts(server.app.runtime.store, SECRET.encode())
        accounts.add_user("admin@example.com", PASSWORD, "admin", [])
        accounts.add_user("viewer@example.com", PASSWORD, "viewer", [OTHER_SITE])
        yield (
            server,
            {
                "admin": accounts.keys.create("admin@example.com", "tests")[1],
                "viewer": accounts.keys.create("viewer@example.com", "tests")[1],
            },
        )


def send(http: httpx.Client, ip: str, agent: str, path: str) -> None:
    body = beacon(url=f"https://{SITE}{path}")
    headers = {"x-forwarded-for": ip, "user-agent": agent, "origin": f"https://{SITE}"}
    assert http.post("/api/event", json=body, headers=headers).status_code == 202


def test_api_answers_the_stats_and_refuses_strangers(
    live: tuple[LiveServer, dict[str, str]],
) -> None:
    server, key = live
    with httpx.Client(base_url=server.url, timeout=20) as http:
        for ip, agent, path in [
            (LYON_ORANGE, CHROME, "/"), (LYON_ORANGE, CHROME, "/pricing"),
            (BRUSSELS_PROXIMUS, IPHONE, "/"),
        ]:  # fmt: skip
            if ip != LYON_ORANGE:
                http.cookies.clear()  # another visitor
            send(http, ip, agent, path)
        http.cookies.clear()
        server.wait_stored(3)
        admin = {"authorization": f"Bearer {key['admin']}"}
        viewer = {"authorization": f"Bearer {key['viewer']}"}
        api = f"/api/stats/{SITE}"

        summary = http.get(f"{api}/summary?period=7d", headers=admin).json()
        assert summary["current"]["visitors"] == 2
        assert summary["current"]["pageviews"] == 3
        assert summary["current"]["visits"] == 2 and summary["current"]["bounce_rate"] == 0.5
        cities = http.get(f"{api}/breakdown/city?period=today", headers=admin).json()["rows"]
        assert {row["label"]: row["visitors"] for row in cities} == {"Lyon": 1, "Brussels": 1}
        lyon = http.get(f"{api}/summary?period=today&city=Lyon", headers=admin).json()
        assert lyon["filters"] == {"city": "Lyon"} and lyon["current"]["pageviews"] == 2
        series = http.get(f"{api}/timeseries?period=today&interval=hour", headers=admin).json()
        assert len(series["points"]) in (23, 24, 25)
        assert sum(point["pageviews"] for point in series["points"]) == 3
        for dimension in DIMENSIONS:
            answer = http.get(f"{api}/breakdown/{dimension}?period=today", headers=admin)
            assert answer.status_code == 200 and answer.json()["rows"], dimension
        assert http.get(f"{api}/realtime", headers=admin).json()["visitors"] == 2

        exported = http.get(f"/sites/{SITE}/export/page.csv?period=today", headers=admin)
        assert exported.headers["content-type"].startswith("text/csv")
        assert list(csv.reader(io.StringIO(exported.text))) == [
            # No engagement beacon: 0 s on each page. "/" ends one of its two views' visits.
            ["page", "visitors", "pageviews", "time_on_page", "median_time_on_page", "exit_rate"],
            ["/", "2", "2", "0.0", "0.0", "0.5"], ["/pricing", "1", "1", "0.0", "0.0", "1.0"],
        ]  # fmt: skip
        page = http.get(f"/sites/{SITE}?period=today&format=json", headers=admin).json()
        assert (
            page["summary"]["current"]
            == http.get(f"{api}/summary?period=today", headers=admin).json()["current"]
        )
        assert set(page["breakdowns"]) == set(DIMENSIONS)

        errors = {
            f"{api}/summary?from=2026-02-30&to=2026-03-01": (400, "from:"),
            f"{api}/summary?period=forever": (400, "period:"),
            f"{api}/timeseries?period=7d&interval=minute": (400, "interval:"),
            f"{api}/breakdown/ip_address": (404, "unknown dimension"),
            f"{api}/breakdown/page?limit=0": (400, "limit:"),
            "/api/stats/nowhere.example/summary": (404, "unknown site"),
        }
        for url, (status, message) in errors.items():
            answer = http.get(url, headers=admin)
            assert answer.status_code == status and message in answer.json()["error"], url

        assert http.get(f"{api}/summary").status_code == 401
        assert (
            http.get(f"{api}/summary", headers={"authorization": "Bearer nope"}).status_code == 401
        )
        assert http.get(f"{api}/summary", headers=viewer).status_code == 403
        assert http.get(f"/sites/{SITE}", headers=viewer).status_code == 403
        assert http.get(f"/sites/{SITE}/export/page.csv", headers=viewer).status_code == 403
        assert http.get(f"/api/stats/{OTHER_SITE}/summary", headers=viewer).status_code == 200
        anonymous = http.get(f"/sites/{SITE}", follow_redirects=False)
        assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
