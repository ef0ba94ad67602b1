"""Goals and funnels over real HTTP (a real uvicorn, the embedded store): an admin defines them
in the Goals page, visitors' beacons go through the collector, and the dashboard, its JSON twin,
the stats API, the CSV exports and the goal filter show the numbers those visits make; wrong
input gets a 400 naming it; the CLI manages the same goals, audited."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from collector import cli
from collector.ops import logs
from collector.settings import Settings
from collector.storage.sites import Site
from dashboards.accounts import Accounts
from tests.conftest import (
    CHROME,
    SECRET,
    GeoFiles,
    LiveServer,
    environment,
    migrated_store,
    walk,
)

ADMIN = "ana@example.com"
VIEWER = "bob@example.com"
PASSWORD = "correct horse battery staple"
SAME_ORIGIN = {"sec-fetch-site": "same-origin"}
JSON = {"accept": "application/json"}
# Each visitor's pages, in order, one visit each: 3 reach /thanks through /pricing, 1 skips it.
JOURNEYS = (
    ("/", "/pricing", "/thanks"),
    ("/", "/pricing", "/thanks"),
    ("/blog/a", "/pricing", "/thanks"),
    ("/", "/thanks"),
    ("/", "/pricing"),
    ("/docs/install",),
)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, geo_files: GeoFiles) -> dict[str, str]:
    data = tmp_path_factory.mktemp("goals") / "data"
    return environment(data, geo_files, AUDIENCE_MIN_CELL="2")


@pytest.fixture(scope="module")
def live(env: dict[str, str]) -> Iterator[LiveServer]:
    settings = Settings.from_environ(env)
    store = migrated_store(settings)
    try:
        store.save_site(Site("example.com"))
        accounts = Accounts(store, SECRET.encode())
        accounts.add_user(ADMIN, PASSWORD, "admin")
        accounts.add_user(VIEWER, PASSWORD, "viewer", ["example.com"])
    finally:
        store.close()
    with LiveServer(settings) as server:
        sent = walk(server.url, "example.com", JOURNEYS)
        server.wait_stored(sent)
        yield server


@contextmanager
def signed_in(live: LiveServer, email: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, headers={"user-agent": CHROME}, timeout=15) as client:
        form = {"email": email, "password": PASSWORD}
        assert client.post("/login", data=form, headers=SAME_ORIGIN).status_code == 303
        yield client


@pytest.fixture(scope="module")
def defined(live: LiveServer) -> dict[str, str]:
    """A goal and two funnels, made in the Goals page by the admin."""
    with signed_in(live, ADMIN) as admin:
        page = admin.get("/sites/example.com/goals")
        assert page.status_code == 200 and 'id="goal-form"' in page.text
        goal = admin.post("/sites/example.com/goals", data={"pattern": "/thanks", "name": "Thanks"},
                          headers=SAME_ORIGIN | JSON)  # fmt: skip
        assert goal.status_code == 201, goal.text
        made = {"goal": goal.json()["id"]}
        for within in ("visit", "7d"):
            steps = {"step_1": "/**", "step_2": "/pricing", "step_3": "/thanks", "within": within}
            funnel = admin.post("/sites/example.com/funnels", data=steps,
                                headers=SAME_ORIGIN | JSON)  # fmt: skip
            assert funnel.status_code == 201, funnel.text
            made[within] = funnel.json()["id"]
        return made


def test_the_dashboard_shows_the_goals_and_funnels_the_visits_made(
    live: LiveServer, defined: dict[str, str]
) -> None:
    with signed_in(live, VIEWER) as viewer:
        data = viewer.get("/sites/example.com", params={"period": "7d"}, headers=JSON).json()
        [goal] = data["goals"]
        # 4 of 6 visitors viewed /thanks, each in one visit.
        assert goal["current"] == {"visitors": 4, "conversions": 4, "conversion_rate": 0.6667}
        assert goal["filter_url"].endswith("?period=7d&goal=%2Fthanks")
        funnels = {funnel["within"]: funnel for funnel in data["funnels"]}
        for within in ("visit", "7d"):
            steps = funnels[within]["steps"]
            assert [step["visitors"] for step in steps] == [6, 4, 3]
            assert [step["drop_off"] for step in steps] == [None, 2, 1]
            assert [step["from_first"] for step in steps] == [1.0, 0.6667, 0.5]
        html = viewer.get("/sites/example.com", params={"period": "7d"}).text
        assert 'id="panel-goals"' in html and f'data-funnel="{defined["visit"]}"' in html
        assert 'id="manage-goals"' not in html  # a viewer does not manage them


def test_the_goal_filter_keeps_the_visitors_who_reached_the_goal(
    live: LiveServer, defined: dict[str, str]
) -> None:
    with signed_in(live, VIEWER) as viewer:
        params = {"period": "7d", "goal": "/thanks"}
        summary = viewer.get("/api/stats/example.com/summary", params=params).json()
        assert summary["current"]["visitors"] == 4
        pages = viewer.get("/api/stats/example.com/breakdown/page", params=params).json()
        assert {row["value"] for row in pages["rows"]} >= {"/", "/pricing", "/thanks"}
        assert "/docs/install" not in {row["value"] for row in pages["rows"]}
        both = viewer.get("/api/stats/example.com/summary", params=params | {"page": "/blog/a"})
        assert both.json()["current"]["visitors"] == 1  # reached /thanks and viewed /blog/a
        wrong = viewer.get("/api/stats/example.com/summary", params={"goal": "thanks"})
        assert wrong.status_code == 400 and "goal" in wrong.json()["error"]


def test_the_api_and_csv_give_the_same_numbers(live: LiveServer, defined: dict[str, str]) -> None:
    with signed_in(live, VIEWER) as viewer:
        goals = viewer.get("/api/stats/example.com/goals", params={"period": "7d"}).json()
        assert goals["goals"][0]["current"]["visitors"] == 4
        table = viewer.get("/sites/example.com/export/goals.csv", params={"period": "7d"})
        rows = list(csv.DictReader(io.StringIO(table.text)))
        assert rows == [{"goal": "Thanks", "pattern": "/thanks", "visitors": "4",
                         "conversions": "4", "conversion_rate": "0.6667"}]  # fmt: skip
        path = f"/api/stats/example.com/funnels/{defined['7d']}"
        funnel = viewer.get(path, params={"period": "7d"}).json()["funnel"]
        exported = viewer.get(f"/sites/example.com/export/funnels/{defined['7d']}.csv",
                              params={"period": "7d"})  # fmt: skip
        steps = list(csv.DictReader(io.StringIO(exported.text)))
        assert [int(step["visitors"]) for step in steps] == [s["visitors"] for s in funnel["steps"]]
        assert viewer.get("/api/stats/example.com/funnels/nothing").status_code == 404
        listed = viewer.get("/api/stats/example.com/funnels", params={"period": "7d"}).json()
        assert {f["id"] for f in listed["funnels"]} >= {defined["visit"], defined["7d"]}


@pytest.mark.parametrize(
    ("path", "form", "named"),
    [
        ("/sites/example.com/goals", {"pattern": "thanks"}, "starts with '/'"),
        ("/sites/example.com/goals", {"pattern": "/a/***"}, "'***'"),
        ("/sites/example.com/funnels", {"step_1": "/a"}, "2 to 8 steps"),
        (
            "/sites/example.com/funnels",
            {"step_1": "/a", "step_2": "/b", "within": "year"},
            "within",
        ),
    ],
)
def test_a_wrong_definition_gets_a_400_naming_it(
    live: LiveServer, path: str, form: dict[str, str], named: str
) -> None:
    with signed_in(live, ADMIN) as admin:
        answer = admin.post(path, data=form, headers=SAME_ORIGIN | JSON)
        assert answer.status_code == 400 and named in answer.json()["error"], answer.text
        page = admin.post(path, data=form, headers=SAME_ORIGIN)
        assert page.status_code == 400 and 'id="form-error"' in page.text


def test_the_cli_manages_the_same_goals_audited(
    live: LiveServer, env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The server holds the store: the CLI asks it on its admin socket, as an operator's does."""
    monkeypatch.setattr(logs, "configure", lambda level: None)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["goals", "add", "example.com", "/docs/**", "--name", "Docs"]) == 0
    assert cli.main(["funnels", "add", "example.com", "/", "/pricing", "--within", "7d"]) == 0
    assert cli.main(["goals", "add", "example.com", "docs"]) == 2
    capsys.readouterr()
    assert cli.main(["goals", "list", "example.com"]) == 0
    listed = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    [(goal_id, _, name)] = [row for row in listed if row[1] == "/docs/**"]
    assert name == "Docs"
    assert cli.main(["goals", "remove", "example.com", goal_id]) == 0
    capsys.readouterr()
    assert cli.main(["goals", "list", "example.com"]) == 0
    assert "/docs/**" not in capsys.readouterr().out
    assert cli.main(["funnels", "list", "example.com"]) == 0
    funnels = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    [(funnel_id, within, _, _)] = [row for row in funnels if row[2] == "/ > /pricing"]
    assert within == "7d"
    assert cli.main(["funnels", "remove", "example.com", funnel_id]) == 0
    audit = "SELECT action, actor FROM audience.admin_audit WHERE actor LIKE 'cli%' ORDER BY at"
    assert [row[0] for row in live.store.rows(audit)] == [
        "goal.add",
        "funnel.add",
        "goal.remove",
        "funnel.remove",
    ]
