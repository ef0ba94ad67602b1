"""Sites administered in the browser over real HTTP (a real uvicorn, the embedded store): add,
edit, install, remove with the data kept or erased, the audit of each action; viewers, API keys
and anonymous users refused on every admin page and action; cross-site posts refused. The CLI
goes through the same implementation, and is audited too, for sites, users and keys (the team's
pages are tested in test_team.py)."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from collector import cli
from collector.ops import logs
from collector.settings import Settings
from collector.storage.sites import Site
from dashboards.accounts import Accounts
from tests.conftest import CHROME, LYON_ORANGE, SECRET, LiveServer, beacon, migrated_store, register

ADMIN = "ana@example.com"
VIEWER = "bob@example.com"
PASSWORD = "correct horse battery staple"
SAME_ORIGIN = {"sec-fetch-site": "same-origin"}
ADMIN_GETS = (
    "/admin/sites/new",
    "/admin/audit",
    "/sites/example.com/settings",
    "/sites/example.com/remove",
    "/sites/example.com/install",
    "/api/sites/example.com/install-status",
    "/admin/team",
    "/sites/example.com/share",
    "/sites/example.com/reports",
    "/sites/example.com/goals",
)
ADMIN_POSTS: tuple[tuple[str, dict[str, str]], ...] = (
    ("/admin/sites", {"domain": "new.example"}),
    ("/sites/example.com/settings", {"timezone": "UTC"}),
    ("/sites/example.com/remove", {"confirm": "example.com", "data": "erase"}),
    ("/admin/team/invitations", {"email": "eve@example.com", "role": "admin"}),
    ("/admin/team/invitations/0123456789ab/revoke", {}),
    ("/admin/team/members/bob@example.com/access", {"role": "admin"}),
    ("/admin/team/members/bob@example.com/remove", {}),
    ("/sites/example.com/share", {"name": "leak"}),
    ("/sites/example.com/share/0123456789ab/revoke", {}),
    ("/sites/example.com/reports", {"frequency": "weekly", "recipients": "eve@example.com"}),
    ("/sites/example.com/reports/0123456789ab/remove", {}),
    ("/sites/example.com/reports/0123456789ab/test", {}),
    ("/sites/example.com/goals", {"pattern": "/leak"}),
    ("/sites/example.com/goals/0123abcd/remove", {}),
    ("/sites/example.com/funnels", {"step_1": "/a", "step_2": "/b"}),
    ("/sites/example.com/funnels/0123abcd/remove", {}),
)


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveServer]:
    register(settings, Site("example.com"))
    store = migrated_store(settings)
    try:
        accounts = Accounts(store, SECRET.encode())
        accounts.add_user(ADMIN, PASSWORD, "admin")
        accounts.add_user(VIEWER, PASSWORD, "viewer", ["example.com"])
        key = accounts.keys.create(ADMIN, "reporting")[1]
    finally:
        store.close()
    with LiveServer(settings) as server:
        server.key = key  # type: ignore[attr-defined]
        yield server


@contextmanager
def signed_in(live: LiveServer, email: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, headers={"user-agent": CHROME}, timeout=15) as client:
        answer = client.post(
            "/login", data={"email": email, "password": PASSWORD}, headers=SAME_ORIGIN
        )
        assert answer.status_code == 303, answer.text
        yield client


def test_an_admin_adds_a_site_installs_it_and_sees_its_first_pageview(live: LiveServer) -> None:
    with signed_in(live, ADMIN) as admin:
        form = admin.get("/admin/sites/new")
        assert form.status_code == 200 and 'name="domain"' in form.text
        added = admin.post(
            "/admin/sites",
            data={"domain": "Shop.Example", "origins": "https://shop.example\nhttp://localhost:*",
                  "timezone": "America/New_York", "gpc": "ignore", "outside_gdpr": "count"},
            headers=SAME_ORIGIN,
        )  # fmt: skip
        assert added.status_code == 303
        assert added.headers["location"] == "/sites/shop.example/install"
        site = live.app.runtime.sites.get("shop.example")  # served at once
        assert site is not None and site.timezone == "America/New_York"
        assert site.origins == ("https://shop.example", "http://localhost:*")
        assert not site.respect_gpc and site.count_outside_gdpr
        again = admin.post("/admin/sites", data={"domain": "shop.example"}, headers=SAME_ORIGIN)
        assert again.status_code == 400 and "registered already" in again.text
        bad = admin.post("/admin/sites", data={"domain": "not a domain"}, headers=SAME_ORIGIN)
        assert bad.status_code == 400 and "not a domain name" in bad.text

        page = admin.get("/sites/shop.example/install")
        assert page.status_code == 200
        tag = f'<script defer src="{live.url}/js/audience.tcf.js" data-site="shop.example" data-gpc="ignore" data-outside-gdpr="count"></script>'  # noqa: E501
        assert tag.replace('"', "&#34;").replace("<", "&lt;").replace(">", "&gt;") in page.text
        guide = admin.get("/sites/shop.example/install", params={"format": "json"}).json()
        assert len(guide["install"]["tags"]) == 9  # the manual API and eight consent managers
        assert f"proxy_pass {live.url}/;" in guide["install"]["proxy"]["nginx"]

        assert admin.get("/api/sites/shop.example/install-status").json() == {
            "installed": False, "pageviews": 0, "first_at": None, "first_path": None,
            "refused": [],
        }  # fmt: skip
        # Beacons that arrive but are refused: the check says why, from counters alone.
        refused_beacons = (
            ({"origin": "https://elsewhere.example"}, {}),
            ({"origin": "https://shop.example"}, {"consent": None}),
            ({"origin": "https://shop.example"}, {}),  # sent by a headless browser
        )
        for headers, fields in refused_beacons:
            agent = "HeadlessChrome/131" if not fields and "shop" in headers["origin"] else CHROME
            httpx.post(
                f"{live.url}/api/event",
                json=beacon(site="shop.example", url="https://shop.example/", **fields),
                headers={"user-agent": agent, "x-forwarded-for": LYON_ORANGE, **headers},
            )
        refused = admin.get("/api/sites/shop.example/install-status").json()["refused"]
        assert {item["reason"]: item["count"] for item in refused} == {
            "origin": 1, "consent": 1, "bot": 1,
        }  # fmt: skip
        assert all(item["explanation"] and item["last_at"].endswith("Z") for item in refused)
        metrics = httpx.get(f"{live.url}/metrics").text
        assert 'audience_site_refusals_total{site="shop.example",reason="origin"} 1' in metrics
        sent = httpx.post(
            f"{live.url}/api/event",
            json=beacon(site="shop.example", url="https://shop.example/pricing", consent="manual"),
            headers={"user-agent": CHROME, "origin": "https://shop.example",
                     "x-forwarded-for": LYON_ORANGE},
        )  # fmt: skip
        assert sent.status_code == 202, sent.text
        deadline = time.monotonic() + 15
        while not (status := admin.get("/api/sites/shop.example/install-status").json())[
            "installed"
        ]:
            assert time.monotonic() < deadline, status
            time.sleep(0.1)
        assert status["first_path"] == "/pricing" and status["pageviews"] == 1


def test_an_admin_edits_then_removes_keeping_or_erasing_the_data(live: LiveServer) -> None:
    for name in ("keep.example", "erase.example"):
        live.store.save_site(Site(name))
    live.app.runtime.sites_changed()
    for name in ("keep.example", "erase.example"):
        answer = httpx.post(
            f"{live.url}/api/event", json=beacon(site=name, url=f"https://{name}/"),
            headers={"user-agent": CHROME, "origin": f"https://{name}"},
        )  # fmt: skip
        assert answer.status_code == 202
    live.wait_stored(2)
    with signed_in(live, ADMIN) as admin:
        form = admin.get("/sites/keep.example/settings")
        assert 'name="engaged_seconds"' in form.text and 'value="10"' in form.text
        edited = admin.post(
            "/sites/keep.example/settings",
            data={"timezone": "Asia/Tokyo", "engaged_seconds": "30"},
            headers=SAME_ORIGIN,
        )
        assert edited.status_code == 303
        kept = live.app.runtime.sites.get("keep.example")
        assert kept is not None and (kept.timezone, kept.engaged_seconds) == ("Asia/Tokyo", 30)
        assert live.store.engaged_seconds("keep.example") == 30
        unknown = admin.post("/sites/keep.example/settings", data={"timezone": "Mars/Olympus"},
                             headers=SAME_ORIGIN)  # fmt: skip
        assert unknown.status_code == 400 and "Mars/Olympus" in unknown.text
        for wrong in ("0", "3601", "ten"):
            refused = admin.post("/sites/keep.example/settings",
                                 data={"timezone": "UTC", "engaged_seconds": wrong},
                                 headers=SAME_ORIGIN)  # fmt: skip
            assert refused.status_code == 400 and "engaged time" in refused.text, wrong

        confirm = admin.get("/sites/keep.example/remove")
        assert "Keep it until the retention ends (25 months" in confirm.text
        unconfirmed = admin.post("/sites/keep.example/remove", data={"data": "keep"},
                                 headers=SAME_ORIGIN)  # fmt: skip
        assert unconfirmed.status_code == 400 and live.app.runtime.sites.get("keep.example")
        for name, data in (("keep.example", "keep"), ("erase.example", "erase")):
            removed = admin.post(f"/sites/{name}/remove", data={"confirm": name, "data": data},
                                 headers=SAME_ORIGIN)  # fmt: skip
            assert removed.status_code == 303 and live.app.runtime.sites.get(name) is None
        refused = httpx.post(
            f"{live.url}/api/event", json=beacon(site="keep.example", url="https://keep.example/"),
            headers={"user-agent": CHROME, "origin": "https://keep.example"},
        )  # fmt: skip
        assert refused.status_code == 404
        left = {row["site"] for row in live.store.query_dicts("SELECT site FROM audience.events")}
        assert left == {"keep.example"}
        actions = admin.get("/admin/audit", params={"format": "json"}).json()["actions"]
    done = [(a["actor"], a["action"], a["target"], a["detail"]) for a in reversed(actions)]
    assert done == [
        (ADMIN, "site.edit", "keep.example", "origins https://keep.example https://*.keep.example; "
         "Asia/Tokyo; honours GPC; consent only; engaged after 30 s"),
        (ADMIN, "site.remove", "keep.example", "data kept until retention"),
        (ADMIN, "site.remove", "erase.example", "data erased"),
    ]  # fmt: skip


def test_viewers_keys_strangers_and_other_sites_are_refused(live: LiveServer) -> None:
    key = live.key  # type: ignore[attr-defined]
    with signed_in(live, VIEWER) as viewer, httpx.Client(base_url=live.url, timeout=15) as nobody:
        bearer = {"authorization": f"Bearer {key}"}
        for path in ADMIN_GETS:
            assert viewer.get(path).status_code == 403, path
            assert nobody.get(path, headers={"accept": "application/json"}).status_code == 401
            assert nobody.get(path, headers=bearer).status_code == 403, path
        for path, data in ADMIN_POSTS:
            assert viewer.post(path, data=data, headers=SAME_ORIGIN).status_code == 403, path
            assert nobody.post(path, data=data, headers=SAME_ORIGIN).status_code in (303, 401)
            assert nobody.post(path, data=data, headers=bearer | SAME_ORIGIN).status_code == 403
    with signed_in(live, ADMIN) as admin:
        for path, data in ADMIN_POSTS:
            cross = admin.post(path, data=data, headers={"sec-fetch-site": "cross-site"})
            assert cross.status_code == 403
            assert cross.json() == {"error": "cross-site request refused"}
    assert live.app.runtime.sites.get("example.com") is not None
    assert live.app.runtime.sites.get("new.example") is None
    viewer_now = Accounts(live.store, SECRET.encode()).user_now(VIEWER)
    assert viewer_now is not None and viewer_now.role == "viewer"
    assert Accounts(live.store, SECRET.encode()).user_now("eve@example.com") is None
    [[links]] = live.store.rows("SELECT count() FROM audience.shared_links")
    assert links == 0
    [[reports]] = live.store.rows("SELECT count() FROM audience.email_reports")
    assert reports == 0
    [[goals]] = live.store.rows("SELECT count() FROM audience.goals")
    [[funnels]] = live.store.rows("SELECT count() FROM audience.funnels")
    assert goals == funnels == 0


def test_the_cli_shares_the_implementation_and_is_audited(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {"AUDIENCE_DATA_DIR": str(settings.data_dir),
                        "AUDIENCE_SECRET_KEY": SECRET}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(logs, "configure", lambda level: None)  # keep pytest's log capture
    assert cli.main(["sites", "add", "cli.example", "--timezone", "UTC"]) == 0
    assert cli.main(["sites", "remove", "cli.example", "--erase"]) == 0
    assert cli.main(["sites", "remove", "cli.example"]) == 2  # gone
    store = migrated_store(settings)
    try:
        rows = store.query_dicts("SELECT actor, action, target, detail FROM audience.admin_audit"
                                 " ORDER BY at")  # fmt: skip
    finally:
        store.close()
    assert [(r["action"], r["target"], r["detail"]) for r in rows] == [
        ("site.add", "cli.example",
         "origins https://cli.example https://*.cli.example; UTC; honours GPC; consent only; "
         "engaged after 10 s"),
        ("site.remove", "cli.example", "data erased"),
    ]  # fmt: skip
    assert all(row["actor"].startswith("cli") for row in rows)


def test_the_cli_narrows_keys_and_audits_users_and_keys(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    for name, value in {"AUDIENCE_DATA_DIR": str(settings.data_dir),
                        "AUDIENCE_SECRET_KEY": SECRET}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(logs, "configure", lambda level: None)  # keep pytest's log capture
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert cli.main(["users", "add", "ops@example.com", "--role", "viewer", "--site",
                     "a.example", "--password-stdin"]) == 0  # fmt: skip
    assert cli.main(["keys", "create", "--user", "ops@example.com", "--name", "ci", "--site",
                     "b.example"]) == 2  # fmt: skip
    assert "cannot see b.example" in capsys.readouterr().err
    assert cli.main(["keys", "create", "--user", "ops@example.com", "--name", "ci", "--site",
                     "a.example", "--expires", "2999-12-31"]) == 0  # fmt: skip
    key = capsys.readouterr().out.strip()
    assert cli.main(["keys", "list"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert line.split("\t")[1:4] == ["ops@example.com", "ci", "a.example"]
    assert line.split("\t")[5:] == ["2999-12-31T23:59:59Z", "never"]
    assert cli.main(["users", "remove", "ops@example.com"]) == 0
    store = migrated_store(settings)
    try:
        rows = store.query_dicts("SELECT actor, action, target FROM audience.admin_audit"
                                 " ORDER BY at")  # fmt: skip
        assert Accounts(store, SECRET.encode()).keys.user_of(key, lambda e: None) is None
    finally:
        store.close()
    assert [(r["action"], r["target"]) for r in rows] == [
        ("user.add", "ops@example.com"), ("key.create", "ops@example.com"),
        ("user.remove", "ops@example.com"),
    ]  # fmt: skip
    assert all(r["actor"].startswith("cli") for r in rows)


def test_every_admin_route_is_in_the_refusal_lists(settings: Settings) -> None:
    """The refusal test above tries every admin page and action: a new one must be added."""
    from starlette.routing import Route

    from dashboards.app import create_dashboards

    app = create_dashboards(settings, backend=None)  # type: ignore[arg-type]
    # Annotations are every member's who may see the site: their access, in test_annotations.py.
    admin_path = re.compile(r"^/admin/|^/api/sites/|^/sites/\{site\}/(?!export/|annotations)[a-z]")
    samples = {"{site}": "example.com", "{invitation}": "0123456789ab",
               "{email}": VIEWER, "{link}": "0123456789ab", "{report}": "0123456789ab",
               "{goal}": "0123abcd", "{funnel}": "0123abcd"}  # fmt: skip
    tried = set(ADMIN_GETS) | {path for path, _ in ADMIN_POSTS}
    found = 0
    for route in app.routes:
        if not isinstance(route, Route) or not admin_path.match(route.path):
            continue
        path = route.path
        for name, value in samples.items():
            path = path.replace(name, value)
        assert path in tried, f"{route.path} ({sorted(route.methods or ())}) is not tried"
        found += 1
    assert found >= 15
