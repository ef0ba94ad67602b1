"""The team run from the browser, over real HTTP (a real uvicorn, the embedded store, a real SMTP
server): invitations by a single-use link that expires and is mailed, members' access changed
and removed with their sessions ended, API keys narrowed to sites with an expiry and a last use,
My account (password, TOTP enrolment, recovery codes). Tokens are unguessable and stored hashed;
the audit names accounts and keys, never a secret."""

from __future__ import annotations

import base64
import email
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from collector.settings import Settings
from collector.storage.sites import Site
from dashboards import totp
from dashboards.accounts import Accounts
from dashboards.context import Dashboards
from tests.conftest import (
    CHROME,
    SECRET,
    GeoFiles,
    LiveServer,
    environment,
    free_port,
    migrated_store,
)

ADMIN = "ana@example.com"
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a new and longer passphrase"
SAME_ORIGIN = {"sec-fetch-site": "same-origin"}
JSON = {"accept": "application/json"}


@dataclass
class Inbox:
    """An aiosmtpd handler keeping what it receives."""

    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@dataclass
class Team:
    live: LiveServer
    inbox: Inbox
    dashboards: Dashboards
    offset: float = 0.0  # seconds added to the accounts' clock

    @property
    def accounts(self) -> Accounts:
        return self.dashboards.accounts()

    @contextmanager
    def signed_in(
        self, address: str, password: str = PASSWORD, code: str = ""
    ) -> Iterator[httpx.Client]:
        with httpx.Client(base_url=self.live.url, headers={"user-agent": CHROME}, timeout=15) as c:
            form = {"email": address, "password": password, "code": code}
            answer = c.post("/login", data=form, headers=SAME_ORIGIN)
            assert answer.status_code == 303, answer.text
            yield c


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory, geo_files: GeoFiles) -> Iterator[Team]:
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    data = tmp_path_factory.mktemp("team") / "data"
    smtp_url = f"smtp://127.0.0.1:{smtp.port}"
    settings = Settings.from_environ(
        environment(data, geo_files, AUDIENCE_SMTP_URL=smtp_url,
                    AUDIENCE_MAIL_FROM="stats@kalido.example")
    )  # fmt: skip
    store = migrated_store(settings)
    try:
        for domain in ("a.example", "b.example"):
            store.save_site(Site(domain))
        Accounts(store, SECRET.encode()).add_user(ADMIN, PASSWORD, "admin")
    finally:
        store.close()
    try:
        with LiveServer(settings) as live:
            context = dashboards_context(live)
            made = Team(live, inbox, context)
            context.accounts().clock = lambda: time.time() + made.offset
            yield made
    finally:
        smtp.stop()


def dashboards_context(live: LiveServer) -> Dashboards:
    """The dashboards' context inside the collector's app (through its middleware)."""
    app: Any = live.app.web
    while not hasattr(app, "routes"):
        app = app.app
    for route in app.routes:
        state = getattr(getattr(route, "app", None), "state", None)
        if state is not None and hasattr(state, "dashboards"):
            found: Dashboards = state.dashboards
            return found
    raise AssertionError("no dashboards mounted")


def _audit(team: Team) -> list[tuple[str, str, str, str]]:
    rows = team.live.store.query_dicts(
        "SELECT actor, action, target, detail FROM audience.admin_audit ORDER BY at"
    )
    return [(r["actor"], r["action"], r["target"], r["detail"]) for r in rows]


def _invite(admin: httpx.Client, address: str, role: str = "viewer", *sites: str) -> dict[str, Any]:
    form: dict[str, Any] = {"email": address, "role": role, "sites": list(sites)}
    answer = admin.post("/admin/team/invitations", data=form, headers=SAME_ORIGIN | JSON)
    assert answer.status_code == 201, answer.text
    invited: dict[str, Any] = answer.json()["invited"]
    return invited


def test_a_viewer_joins_by_a_mailed_link_once_and_sees_only_their_site(team: Team) -> None:
    with team.signed_in(ADMIN) as admin:
        invited = _invite(admin, "Vera@Example.com", "viewer", "a.example")
        page = admin.get("/admin/team")
    assert invited["email"] == "vera@example.com" and invited["mailed"] is True
    token = invited["link"].rsplit("/invite/", 1)[1]
    assert invited["link"] == f"{team.live.url}/invite/{token}"
    assert len(token) == 43 and re.fullmatch(r"[A-Za-z0-9_-]+", token)  # 256 random bits
    assert "vera@example.com" in page.text and token not in page.text  # shown once, not listed
    [mail] = [m for m in team.inbox.messages if m["To"] == "vera@example.com"]
    assert mail["From"] == "stats@kalido.example"
    body = mail.get_payload(decode=True)
    assert isinstance(body, bytes) and invited["link"] in body.decode()
    stored = str(team.live.store.query_dicts("SELECT * FROM audience.invitations"))
    assert token not in stored and "vera@example.com" in stored  # only a digest of the secret

    with httpx.Client(base_url=team.live.url, headers={"user-agent": CHROME}) as vera:
        shown = vera.get(f"/invite/{token}")
        assert shown.status_code == 200 and "vera@example.com" in shown.text
        assert '<meta name="robots" content="noindex">' in shown.text
        differ = {"password": PASSWORD, "password_again": PASSWORD + "!"}
        refused = vera.post(f"/invite/{token}", data=differ, headers=SAME_ORIGIN)
        assert refused.status_code == 400 and "differ" in refused.text
        short = vera.post(f"/invite/{token}", data={"password": "short"}, headers=SAME_ORIGIN)
        assert short.status_code == 400 and "at least 12" in short.text
        joined = vera.post(
            f"/invite/{token}",
            data={"password": PASSWORD, "password_again": PASSWORD},
            headers=SAME_ORIGIN,
        )
        assert joined.status_code == 303 and joined.headers["location"] == "/"
        sites = vera.get("/", headers=JSON).json()["sites"]
        assert [s["domain"] for s in sites] == ["a.example"]
        assert vera.get("/sites/b.example", headers=JSON).status_code == 403
        assert vera.get("/admin/team").status_code == 403
    with httpx.Client(base_url=team.live.url) as stranger:
        again = stranger.post(f"/invite/{token}", data={"password": NEW_PASSWORD},
                              headers=SAME_ORIGIN)  # fmt: skip
        assert again.status_code == 404 and "not valid" in again.text  # single use
        assert stranger.get(f"/invite/{token[:-1]}A", headers=JSON).status_code == 404
        assert stranger.get("/invite/not-a-token", headers=JSON).status_code == 404
    with team.signed_in("vera@example.com") as vera:
        assert vera.get("/account", headers=JSON).json()["sites"] == ["a.example"]
    assert ("vera@example.com", "invitation.accept", "vera@example.com",
            f"viewer of a.example; invited by {ADMIN}") in _audit(team)  # fmt: skip


def test_an_invitation_expires_after_48_hours_and_can_be_revoked(team: Team) -> None:
    with team.signed_in(ADMIN) as admin:
        late = _invite(admin, "late@example.com", "admin")
        revoked = _invite(admin, "revoked@example.com", "viewer", "b.example")
        gone = admin.post(f"/admin/team/invitations/{revoked['id']}/revoke", headers=SAME_ORIGIN)
        assert gone.status_code == 303
        pending = admin.get("/admin/team", headers=JSON).json()["invitations"]
    assert "revoked@example.com" not in {i["email"] for i in pending}
    created = datetime.strptime(late["created"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert datetime.strptime(late["expires"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=UTC
    ) - created == timedelta(hours=48)
    late_token = late["link"].rsplit("/", 1)[1]
    revoked_token = revoked["link"].rsplit("/", 1)[1]
    with httpx.Client(base_url=team.live.url) as invitee:
        assert invitee.get(f"/invite/{revoked_token}", headers=JSON).status_code == 404
        assert invitee.get(f"/invite/{late_token}", headers=JSON).status_code == 200
        team.offset = 48 * 3600 + 1
        try:
            expired = invitee.post(f"/invite/{late_token}",
                                   data={"password": PASSWORD, "password_again": PASSWORD},
                                   headers=SAME_ORIGIN | JSON)  # fmt: skip
        finally:
            team.offset = 0.0
        assert expired.status_code == 404 and "expired" in expired.json()["error"]
    assert team.accounts.user_now("late@example.com") is None


def test_an_admin_changes_access_and_removes_a_member_whose_sessions_end(team: Team) -> None:
    team.accounts.add_user("max@example.com", PASSWORD, "viewer", ["a.example"])
    with team.signed_in(ADMIN) as admin, team.signed_in("max@example.com") as member:
        assert member.get("/sites/b.example", headers=JSON).status_code == 403
        changed = admin.post(
            "/admin/team/members/max@example.com/access",
            data={"role": "viewer", "sites": ["a.example", "b.example"]},
            headers=SAME_ORIGIN | JSON,
        )
        assert changed.json() == {
            "email": "max@example.com",
            "role": "viewer",
            "sites": ["a.example", "b.example"],
            "second_factor": False,
        }
        assert member.get("/", headers=JSON).status_code == 401  # its session ended at once
        self_demotion = admin.post(f"/admin/team/members/{ADMIN}/access", data={"role": "viewer"},
                                   headers=SAME_ORIGIN | JSON)  # fmt: skip
        assert self_demotion.status_code == 400
    with team.signed_in("max@example.com") as member, team.signed_in(ADMIN) as admin:
        sites = [s["domain"] for s in member.get("/", headers=JSON).json()["sites"]]
        assert sites == ["a.example", "b.example"]
        removed = admin.post("/admin/team/members/max@example.com/remove", headers=SAME_ORIGIN)
        assert removed.status_code == 303
        assert member.get("/", headers=JSON).status_code == 401
    with httpx.Client(base_url=team.live.url) as again:
        form = {"email": "max@example.com", "password": PASSWORD}
        assert again.post("/login", data=form, headers=SAME_ORIGIN).status_code == 401
    assert [a[1] for a in _audit(team) if a[2] == "max@example.com"] == [
        "user.access", "user.remove"
    ]  # fmt: skip


def test_api_keys_read_their_sites_until_they_expire_or_are_revoked(team: Team) -> None:
    team.accounts.add_user("kim@example.com", PASSWORD, "viewer", ["a.example", "b.example"])
    with team.signed_in("kim@example.com") as kim:
        outside = kim.post("/account/keys", data={"name": "x", "sites": ["c.example"]},
                           headers=SAME_ORIGIN | JSON)  # fmt: skip
        assert outside.status_code == 400 and "cannot see c.example" in outside.json()["error"]
        past = kim.post("/account/keys", data={"expires": "2020-01-01"},
                        headers=SAME_ORIGIN | JSON)  # fmt: skip
        assert past.status_code == 400
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
        answer = kim.post(
            "/account/keys",
            data={"name": "weekly report", "sites": ["a.example"], "expires": tomorrow},
            headers=SAME_ORIGIN | JSON,
        )
        assert answer.status_code == 201, answer.text
        created = answer.json()["created"]
        key = created["key"]
        assert created["sites"] == ["a.example"] and created["last_used"] is None
        assert created["expires"] == f"{tomorrow}T23:59:59Z"
        stored = str(team.live.store.query_dicts("SELECT * FROM audience.api_keys"))
        assert key not in stored and key.split("_")[2] not in stored
        with httpx.Client(base_url=team.live.url, timeout=15) as script:
            bearer = {"authorization": f"Bearer {key}"}
            assert script.get("/api/stats/a.example/summary", headers=bearer).status_code == 200
            assert script.get("/api/stats/b.example/summary", headers=bearer).status_code == 403
            assert script.get("/account/keys", headers=bearer).status_code == 403
            listed = kim.get("/account/keys", headers=JSON).json()["keys"]
            [mine] = [k for k in listed if k["id"] == created["id"]]
            assert mine["last_used"] is not None and "key" not in mine
            team.offset = 2 * 86400  # past its last day
            try:
                expired = script.get("/api/stats/a.example/summary", headers=bearer)
            finally:
                team.offset = 0.0
            assert expired.status_code == 401
            assert script.get("/api/stats/a.example/summary", headers=bearer).status_code == 200
            revoked = kim.post(f"/account/keys/{created['id']}/revoke", headers=SAME_ORIGIN)
            assert revoked.status_code == 303
            assert script.get("/api/stats/a.example/summary", headers=bearer).status_code == 401
    with team.signed_in(ADMIN) as admin:
        others = admin.post(f"/account/keys/{created['id']}/revoke", headers=SAME_ORIGIN | JSON)
        assert others.status_code == 400  # revoked already
    actions = [a for a in _audit(team) if a[2] == "kim@example.com"]
    assert [a[1] for a in actions] == ["key.create", "key.revoke"]
    assert key not in str(actions) and "'weekly report': a.example; expires" in actions[0][3]


def test_my_account_changes_the_password_and_enrols_a_second_factor(team: Team) -> None:
    team.accounts.add_user("lou@example.com", PASSWORD, "viewer", ["a.example"])
    with team.signed_in("lou@example.com") as lou, team.signed_in("lou@example.com") as other:
        wrong = lou.post(
            "/account/password",
            headers=SAME_ORIGIN,
            data={"current_password": "nope", "new_password": NEW_PASSWORD},
        )
        assert wrong.status_code == 400 and "current password is wrong" in wrong.text
        changed = lou.post(
            "/account/password",
            data={"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                  "new_password_again": NEW_PASSWORD},
            headers=SAME_ORIGIN,
        )  # fmt: skip
        assert changed.status_code == 303
        assert lou.get("/account", headers=JSON).status_code == 200  # this browser goes on
        assert other.get("/account", headers=JSON).status_code == 401  # the others are out

        enrolment = lou.get("/account/totp", headers=JSON).json()
        page = lou.get("/account/totp")
        assert 'src="data:image/svg+xml' in page.text  # drawn here, no external service
        text = enrolment["secret"]
        secret = base64.b32decode(text + "=" * (-len(text) % 8))
        assert enrolment["otpauth_uri"].startswith(
            "otpauth://totp/Kalido%20Audience:lou@example.com"
        )
        bad = lou.post("/account/totp", data={"nonce": enrolment["nonce"], "code": "000000"},
                       headers=SAME_ORIGIN | JSON)  # fmt: skip
        assert bad.status_code == 400
        code = totp.generate(secret, time.time())
        confirmed = lou.post("/account/totp", data={"nonce": enrolment["nonce"], "code": code},
                             headers=SAME_ORIGIN | JSON)  # fmt: skip
        assert confirmed.status_code == 201
        codes = confirmed.json()["recovery_codes"]
        assert len(codes) == 10 and len(set(codes)) == 10
        assert lou.get("/account", headers=JSON).json()["recovery_codes_left"] == 10
    stored = str(team.live.store.query_dicts("SELECT * FROM audience.recovery_codes"))
    assert not any(code.replace("-", "") in stored.replace("-", "") for code in codes)
    with httpx.Client(base_url=team.live.url) as login:
        form = {"email": "lou@example.com", "password": NEW_PASSWORD}
        assert login.post("/login", data=form, headers=SAME_ORIGIN).status_code == 401
        with_code = form | {"code": codes[0].lower()}
        assert login.post("/login", data=with_code, headers=SAME_ORIGIN).status_code == 303
        assert login.post("/login", data=with_code, headers=SAME_ORIGIN).status_code == 401
    assert team.accounts.recovery_codes.remaining("lou@example.com") == 9
    actions = [a[1] for a in _audit(team) if a[0] == "lou@example.com"]
    assert actions == ["password.change", "totp.enable"]


def test_accounts_pages_need_a_session_not_a_key(team: Team) -> None:
    key = team.accounts.keys.create(ADMIN, "probe")[1]
    with httpx.Client(base_url=team.live.url) as nobody:
        for path in ("/account", "/account/totp", "/account/keys"):
            assert nobody.get(path, headers=JSON).status_code == 401, path
            bearer = {"authorization": f"Bearer {key}"}
            assert nobody.get(path, headers=bearer).status_code == 403, path
        for path in ("/account/password", "/account/totp", "/account/keys",
                     "/account/totp/disable", "/account/keys/0123abcd/revoke"):  # fmt: skip
            assert nobody.post(path, headers=SAME_ORIGIN | JSON).status_code == 401, path
            cross = nobody.post(path, headers={"sec-fetch-site": "cross-site"})
            assert cross.status_code == 403, path
