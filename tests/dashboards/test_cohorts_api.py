"""The cohorts API through the real server: the grid of the stats layer as JSON, as CSV and as
the dashboard's panel; its 400s, and access refused to whoever may not see the site."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from collector.settings import Settings
from collector.storage.sites import Site
from dashboards.accounts import Accounts
from tests.conftest import CHROME, LYON_ORANGE, SECRET, LiveServer, beacon, register

SITE, OTHER_SITE = "example.com", "shop.test"


@pytest.fixture
def live(settings: Settings) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    settings = replace(settings, min_cell=1)
    register(settings, Site(SITE, timezone="America/New_York"), Site(OTHER_SITE))
    with LiveServer(settings) as server:
        accounts = Accounts(server.store, SECRET.encode())
        accounts.add_user("admin@example.com", "correct horse battery staple", "admin", [])
        accounts.add_user("viewer@example.com", "correct horse battery staple", "viewer",
                          [OTHER_SITE])  # fmt: skip
        yield (
            server,
            {
                "admin": accounts.keys.create("admin@example.com", "tests")[1],
                "viewer": accounts.keys.create("viewer@example.com", "tests")[1],
            },
        )


def test_api_csv_and_panel_answer_the_grid_and_refuse_strangers(
    live: tuple[LiveServer, dict[str, str]],
) -> None:
    server, key = live
    admin = {"authorization": f"Bearer {key['admin']}"}
    viewer = {"authorization": f"Bearer {key['viewer']}"}
    api = f"/api/stats/{SITE}/cohorts"
    with httpx.Client(base_url=server.url, timeout=30) as http:
        headers = {
            "x-forwarded-for": LYON_ORANGE,
            "user-agent": CHROME,
            "origin": f"https://{SITE}",
        }
        body = beacon(site=SITE, url=f"https://{SITE}/")
        assert http.post("/api/event", json=body, headers=headers).status_code == 202
        server.wait_stored(1)

        weekly = http.get(f"{api}?period=7d", headers=admin)
        assert weekly.status_code == 200, weekly.text
        answer = weekly.json()
        assert answer["period"]["interval"] == "week" and answer["timezone"] == "America/New_York"
        today = datetime.now(ZoneInfo("America/New_York")).date()
        this_week = (today - timedelta(days=today.weekday())).isoformat()
        assert answer["cohorts"][-1] == {
            "cohort": this_week,
            "visitors": 1,
            "cells": [{"offset": 0, "visitors": 1, "share": 1.0}],
        }
        monthly = http.get(f"{api}?period=12mo&interval=month", headers=admin).json()
        assert len(monthly["cohorts"]) == 12
        assert monthly["cohorts"][-1]["cohort"] == today.replace(day=1).isoformat()
        assert monthly["cohorts"][-1]["visitors"] == 1
        filtered = http.get(f"{api}?period=7d&page=/nowhere", headers=admin).json()
        assert filtered["filters"] == {"page": "/nowhere"}
        assert filtered["cohorts"][-1]["visitors"] is None  # no one: under the threshold of 1

        exported = http.get(f"/sites/{SITE}/export/cohorts.csv?period=7d", headers=admin)
        assert exported.headers["content-type"].startswith("text/csv")
        table = list(csv.reader(io.StringIO(exported.text)))
        assert table[0][:4] == ["cohort", "visitors", "week_0_visitors", "week_0_share"]
        assert table[-1][:4] == [this_week, "1", "1", "1.0"]

        page = http.get(f"/sites/{SITE}?period=7d&format=json", headers=admin).json()
        assert page["cohorts"]["rows"] == answer["cohorts"]
        html = http.get(f"/sites/{SITE}?period=7d&cohorts=month", headers=admin).text
        assert 'id="panel-cohorts"' in html and "Cohort retention by month" in html

        for url, name in [
            (f"{api}?period=7d&interval=day", "interval:"),
            (f"{api}?period=12mo&interval=hour", "interval:"),
            (f"{api}?period=forever", "period:"),
            (f"{api}?from=2026-02-30&to=2026-03-01", "from:"),
            (f"{api}?from=2026-03-02&to=2026-03-01", "to:"),
            (f"/sites/{SITE}/export/cohorts.csv?cohorts=year", "interval:"),
        ]:
            refused = http.get(url, headers=admin)
            assert refused.status_code == 400 and name in refused.text, url
        assert http.get("/api/stats/nowhere.example/cohorts", headers=admin).status_code == 404
        assert http.get(api).status_code == 401
        assert http.get(api, headers={"authorization": "Bearer nope"}).status_code == 401
        assert http.get(api, headers=viewer).status_code == 403
        assert http.get(f"/sites/{SITE}/export/cohorts.csv", headers=viewer).status_code == 403
        assert http.get(f"/api/stats/{OTHER_SITE}/cohorts", headers=viewer).status_code == 200
