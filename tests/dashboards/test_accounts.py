"""Accounts: the ``audience users`` and ``audience keys`` commands on the embedded store, password
hashing, API keys, sign-in throttling, and the pure parts of sessions and of the security layer."""

from __future__ import annotations

import base64
import io
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector import cli
from collector.ops import logs
from collector.settings import Settings, SettingsError
from collector.storage.store import Store
from dashboards import totp
from dashboards.account_rules import AccountError, check_access
from dashboards.accounts import Accounts, Throttled
from dashboards.auth import Principal
from dashboards.security import is_cross_site, safe_next
from dashboards.sessions import (
    REFRESH_SECONDS,
    Session,
    SessionPolicy,
    SessionSigner,
    cleared_cookie,
    new_session,
    session_cookie,
)
from dashboards.throttle import THROTTLE_WINDOW_SECONDS, LoginThrottle
from tests.conftest import SECRET, GeoFiles, environment, migrated_store

PASSWORD = "correct horse battery staple"


class Clock:
    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def env(tmp_path: Path, geo_files: GeoFiles, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    variables = environment(tmp_path / "data", geo_files)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(logs, "configure", lambda level: None)  # keep pytest's log capture
    return variables


def run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *arguments: str,
    stdin: str = "",
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = cli.main(list(arguments))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = migrated_store(settings)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(store: Store, clock: Clock) -> Accounts:
    return Accounts(store, SECRET.encode(), clock=clock)


# The commands


def test_users_add_list_remove(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        monkeypatch, capsys, "users", "add", "Ana@Example.COM", "--role", "admin",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert out == "user ana@example.com added: admin of every site\n"
    code, out, _ = run(
        monkeypatch, capsys, "users", "add", "bob@example.com", "--role", "viewer",
        "--site", "shop.test", "--site", "Example.com", "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert code == 0
    assert out == "user bob@example.com added: viewer of example.com, shop.test\n"

    code, out, _ = run(monkeypatch, capsys, "users", "list")
    assert out.splitlines() == [
        "ana@example.com\tadmin\t*\ttotp off",
        "bob@example.com\tviewer\texample.com shop.test\ttotp off",
    ]

    code, out, _ = run(
        monkeypatch, capsys, "users", "add", "bob@example.com", "--role", "viewer",
        "--site", "shop.test", "--password-stdin", stdin="another long password\n",
    )  # fmt: skip
    assert out == "user bob@example.com updated: viewer of shop.test; its sessions are signed out\n"

    code, out, _ = run(monkeypatch, capsys, "users", "remove", "BOB@example.com")
    assert (code, out) == (0, "user bob@example.com removed; its sessions and keys are revoked\n")
    assert run(monkeypatch, capsys, "users", "list")[1] == "ana@example.com\tadmin\t*\ttotp off\n"
    code, _, err = run(monkeypatch, capsys, "users", "remove", "bob@example.com")
    assert (code, err) == (2, "audience: error: no such user: bob@example.com\n")


@pytest.mark.parametrize(
    ("arguments", "stdin", "message"),
    [
        (("a@example.com", "--role", "admin"), "short\n", "at least 12 characters"),
        (("a@example.com", "--role", "viewer"), PASSWORD, "a viewer needs at least one site"),
        (("a@example.com", "--role", "admin", "--site", "x.test"), PASSWORD, "sees every site"),
        (("not-an-email", "--role", "admin"), PASSWORD, "not an e-mail address"),
        (("a@example.com", "--role", "viewer", "--site", "no site"), PASSWORD, "not a domain"),
    ],
)
def test_users_add_refuses_bad_input(
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    arguments: tuple[str, ...],
    stdin: str,
    message: str,
) -> None:
    code, out, err = run(
        monkeypatch, capsys, "users", "add", *arguments, "--password-stdin", stdin=stdin
    )
    assert code == 2
    assert err.startswith("audience: error: ") and message in err
    assert PASSWORD not in out + err


def test_users_add_without_a_terminal_asks_for_password_stdin(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(monkeypatch, capsys, "users", "add", "a@example.com", "--role", "admin")
    assert code == 2
    assert "use --password-stdin" in err


def test_passwords_are_stored_as_argon2id_hashes(
    env: dict[str, str],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run(
        monkeypatch, capsys, "users", "add", "ana@example.com", "--role", "admin",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    store = Store.connect(settings.clickhouse_url)
    try:
        [row] = store.query_dicts("SELECT * FROM audience.users FINAL")
    finally:
        store.close()
    assert row["password_hash"].startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in str(row)


def test_users_totp_enables_shows_the_secret_once_and_disables(
    env: dict[str, str],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(monkeypatch, capsys, "users", "totp", "ana@example.com")
    assert (code, err) == (2, "audience: error: no such user: ana@example.com\n")
    run(
        monkeypatch, capsys, "users", "add", "ana@example.com", "--role", "admin",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    code, out, err = run(monkeypatch, capsys, "users", "totp", "Ana@Example.com")
    assert code == 0
    uri, secret = out.splitlines()
    assert uri == (
        f"otpauth://totp/Kalido%20Audience:ana@example.com?secret={secret}&issuer=Kalido%20Audience"
    )
    assert len(secret) == 32 and secret.isupper()
    assert err == (
        "second factor of ana@example.com enabled and its sessions signed out: add the URI (or the"
        " secret) to an authenticator app now, it is shown only this once\n"
    )
    assert run(monkeypatch, capsys, "users", "list")[1] == "ana@example.com\tadmin\t*\ttotp on\n"

    store = Store.connect(settings.clickhouse_url)
    try:
        [row] = store.query_dicts("SELECT * FROM audience.users FINAL")
        accounts = Accounts(store, SECRET.encode(), clock=Clock())
        one_time = totp.generate(base64.b32decode(secret), accounts.clock())
        assert accounts.sign_in("ana@example.com", PASSWORD) is None
        assert accounts.sign_in("ana@example.com", PASSWORD, one_time) is not None
    finally:
        store.close()
    assert len(row["totp_nonce"]) == 32  # only the nonce is stored: not the secret
    stored = str(row)
    assert secret not in stored and base64.b32decode(secret).hex() not in stored

    code, out, err = run(monkeypatch, capsys, "users", "totp", "ana@example.com", "--disable")
    assert (code, out, err) == (
        0,
        "second factor of ana@example.com removed; its sessions are signed out\n",
        "",
    )
    assert run(monkeypatch, capsys, "users", "list")[1] == "ana@example.com\tadmin\t*\ttotp off\n"
    code, out, _ = run(monkeypatch, capsys, "users", "totp", "ana@example.com", "--disable")
    assert (code, out) == (0, "ana@example.com had no second factor\n")


def test_keys_create_list_revoke(
    env: dict[str, str],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(monkeypatch, capsys, "keys", "create", "--user", "ana@example.com")
    assert (code, err) == (2, "audience: error: no such user: ana@example.com\n")
    run(
        monkeypatch, capsys, "users", "add", "ana@example.com", "--role", "admin",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    code, out, err = run(
        monkeypatch, capsys, "keys", "create", "--user", "ana@example.com", "--name", "reporting"
    )
    assert code == 0
    key = out.strip()
    key_id = key.split("_")[1]
    assert key.startswith(f"aud_{key_id}_") and len(key) > 40
    assert err == f"key {key_id} created for ana@example.com: it is shown only this once\n"

    code, out, _ = run(monkeypatch, capsys, "keys", "list")
    [line] = out.splitlines()
    assert line.split("\t")[:3] == [key_id, "ana@example.com", "reporting"]
    assert key not in out

    store = Store.connect(settings.clickhouse_url)
    try:
        stored = str(store.query_dicts("SELECT * FROM audience.api_keys"))
        user = Accounts(store, SECRET.encode()).key_user(key)
    finally:
        store.close()
    assert key not in stored and key.split("_", 2)[2] not in stored
    assert user is not None and user.email == "ana@example.com"

    code, out, _ = run(monkeypatch, capsys, "keys", "revoke", key_id)
    assert (code, out) == (0, f"key {key_id} of ana@example.com revoked\n")
    assert run(monkeypatch, capsys, "keys", "list")[1] == ""
    code, _, err = run(monkeypatch, capsys, "keys", "revoke", key_id)
    assert (code, err) == (2, f"audience: error: no such key: {key_id}\n")


def test_session_settings_are_read_and_checked(tmp_path: Path) -> None:
    base = {"AUDIENCE_DATA_DIR": str(tmp_path), "AUDIENCE_SECRET_KEY": SECRET}
    defaults = Settings.from_environ(base)
    assert (defaults.session_idle_minutes, defaults.session_hours) == (60, 12)
    custom = Settings.from_environ(
        base | {"AUDIENCE_SESSION_IDLE_MINUTES": "15", "AUDIENCE_SESSION_HOURS": "8"}
    )
    assert SessionPolicy.from_settings(custom) == SessionPolicy(15 * 60, 8 * 3600)
    with pytest.raises(SettingsError, match="AUDIENCE_SESSION_HOURS"):
        Settings.from_environ(base | {"AUDIENCE_SESSION_HOURS": "0"})


# Accounts on the store


def test_sign_in_checks_the_password(accounts: Accounts) -> None:
    assert accounts.add_user("ana@example.com", PASSWORD, "viewer", ["example.com"])
    user = accounts.sign_in(" Ana@Example.com ", PASSWORD)
    assert user is not None
    assert (user.email, user.role, user.sites) == (
        "ana@example.com",
        "viewer",
        frozenset({"example.com"}),
    )
    assert accounts.sign_in("ana@example.com", PASSWORD + "!") is None
    assert accounts.sign_in("nobody@example.com", PASSWORD) is None
    assert accounts.sign_in("ana@example.com", "x" * 5000) is None


def test_changes_to_an_account_keep_its_second_factor(accounts: Accounts, clock: Clock) -> None:
    ana, changed = "ana@example.com", "a new password!"
    accounts.add_user(ana, PASSWORD, "admin")
    secret = accounts.enable_totp(ana)
    accounts.add_user(ana, changed, "viewer", ["example.com"])  # new password and access
    user = accounts.user(ana)
    assert user is not None and user.totp_nonce and user.role == "viewer"
    assert accounts.sign_in(ana, changed) is None
    assert accounts.sign_in(ana, changed, totp.generate(secret, clock())) is not None

    again = accounts.enable_totp(ana)  # re-enrolment: a new secret, the old one stops working
    clock.now += totp.STEP_SECONDS
    assert accounts.sign_in(ana, changed, totp.generate(secret, clock())) is None
    assert accounts.sign_in(ana, changed, totp.generate(again, clock())) is not None
    assert accounts.disable_totp(ana)
    user = accounts.user(ana)
    assert user is not None and user.totp_nonce == "" and user.role == "viewer"
    assert accounts.sign_in(ana, changed) is not None  # the password stays
    with pytest.raises(AccountError, match="no such user"):
        accounts.enable_totp("bob@example.com")


def test_unknown_emails_spend_the_same_argon2_time(
    accounts: Accounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts.add_user("ana@example.com", PASSWORD, "admin")
    verified: list[str] = []
    original = accounts._verify

    def spy(password_hash: str, password: str) -> bool:
        verified.append(password_hash.split("$")[1])
        return original(password_hash, password)

    monkeypatch.setattr(accounts, "_verify", spy)
    accounts.sign_in("nobody@example.com", PASSWORD)
    accounts.sign_in("not even an address", PASSWORD)
    accounts.sign_in("ana@example.com", "wrong password!")
    assert verified == ["argon2id", "argon2id", "argon2id"]


def test_throttling_after_five_failures_skips_the_password_check(
    accounts: Accounts, clock: Clock
) -> None:
    accounts.add_user("ana@example.com", PASSWORD, "admin")
    for _ in range(5):
        assert accounts.sign_in("ana@example.com", "wrong password!") is None
    with pytest.raises(Throttled) as throttled:
        accounts.sign_in("ANA@example.com", PASSWORD)
    assert 0 < throttled.value.retry_after <= THROTTLE_WINDOW_SECONDS + 1
    assert accounts.sign_in("bob@example.com", PASSWORD) is None  # other accounts unaffected
    clock.now += THROTTLE_WINDOW_SECONDS + 1
    assert accounts.sign_in("ana@example.com", PASSWORD) is not None


def test_login_throttle_window_slides() -> None:
    throttle = LoginThrottle(attempts=3, window=100)
    for moment in (0, 10, 20):
        assert throttle.retry_after("a", moment) == 0
        throttle.failed("a", moment)
    assert throttle.retry_after("a", 30) == 71
    assert throttle.retry_after("b", 30) == 0
    assert throttle.retry_after("a", 100) == 0  # the first failure left the window
    throttle.failed("a", 100)
    assert throttle.retry_after("a", 101) == 10
    throttle.succeeded("a")
    assert throttle.retry_after("a", 101) == 0


def test_api_keys_act_for_their_user(accounts: Accounts) -> None:
    accounts.add_user("bob@example.com", PASSWORD, "viewer", ["example.com"])
    record, key = accounts.keys.create("bob@example.com", "ci")
    user = accounts.key_user(key)
    assert user is not None and user.sites == frozenset({"example.com"})
    assert accounts.key_user(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert accounts.key_user(f"aud_{record.id}_" + "x" * 43) is None
    assert accounts.key_user("not a key") is None
    accounts.remove_user("bob@example.com")
    assert accounts.key_user(key) is None
    assert accounts.keys.all() == []


def test_sign_out_is_recorded_per_user(accounts: Accounts, clock: Clock) -> None:
    accounts.add_user("ana@example.com", PASSWORD, "admin")
    assert accounts.user("ana@example.com") == accounts.user("ana@example.com")
    user = accounts.user("ana@example.com")
    assert user is not None and user.revoked_before_ms == 0
    accounts.revoke_sessions("ana@example.com")
    user = accounts.user("ana@example.com")
    assert user is not None and user.revoked_before_ms == int(clock.now * 1000) + 1


@pytest.mark.parametrize(
    ("role", "sites", "expected"),
    [
        ("admin", [], ("admin", None)),
        ("viewer", ["A.test", "b.test"], ("viewer", frozenset({"a.test", "b.test"}))),
    ],
)
def test_check_access(role: str, sites: list[str], expected: object) -> None:
    assert check_access(role, sites) == expected


def test_check_access_refuses_unknown_roles() -> None:
    with pytest.raises(AccountError, match="unknown role"):
        check_access("owner", [])


def test_principal_sees_its_sites() -> None:
    admin = Principal("a@x.test", "admin", None)
    viewer = Principal("v@x.test", "viewer", frozenset({"a.test"}))
    assert admin.can_see("a.test") and admin.can_see("b.test")
    assert viewer.can_see("a.test") and not viewer.can_see("b.test")


# Sessions


def test_session_tokens_round_trip_and_resist_forgery() -> None:
    signer = SessionSigner(SECRET.encode())
    session = new_session("ana@example.com", 1_000_000)
    token = signer.sign(session)
    assert signer.verify(token) == session
    assert new_session("ana@example.com", 1_000_000).session_id != session.session_id
    assert SessionSigner(b"another secret of enough length....").verify(token) is None
    tampered = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    assert signer.verify(tampered) is None
    for garbage in (None, "", "!!!", "a" * 5000, token[:20]):
        assert signer.verify(garbage) is None


def test_session_policy_idle_and_absolute_limits() -> None:
    policy = SessionPolicy(idle_seconds=3600, absolute_seconds=12 * 3600)
    start = 1_000_000_000
    session = Session(b"\0" * 16, "a@x.test", start, start)
    assert policy.is_live(session, start + 3599_000)
    assert not policy.is_live(session, start + 3600_000)
    assert policy.refreshed(session, start + (REFRESH_SECONDS - 1) * 1000) is None
    late = Session(b"\0" * 16, "a@x.test", start, start + 11 * 3600_000 + 1800_000)
    assert policy.is_live(late, start + 12 * 3600_000 - 1)
    assert not policy.is_live(late, start + 12 * 3600_000)
    refreshed = policy.refreshed(late, start + 11 * 3600_000 + 1900_000)
    assert refreshed is not None
    assert policy.max_age(refreshed, refreshed.last_seen_ms) == 1700  # not past the 12 hours
    assert not policy.is_live(session, start - 120_000)  # issued in the future: forged clock


def test_session_cookie_attributes() -> None:
    assert session_cookie("t", 60, secure=True) == (
        "__Host-audience-session=t; Path=/; Max-Age=60; HttpOnly; Secure; SameSite=Strict"
    )
    assert session_cookie("t", 60, secure=False) == (
        "audience-session=t; Path=/; Max-Age=60; HttpOnly; SameSite=Strict"
    )
    assert "Max-Age=0" in cleared_cookie(secure=True)


# Security helpers


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/sites/example.com?from=2025-01-01", "/sites/example.com?from=2025-01-01"),
        ("/", "/"),
        (None, None),
        ("", None),
        ("https://evil.test/", None),
        ("//evil.test/", None),
        ("/\\evil.test", None),
        ("/%0d%0aSet-Cookie:x", "/%0d%0aSet-Cookie:x"),
        ("/a\r\nb", None),
        ("javascript:alert(1)", None),
        ("sites", None),
        ("/" + "a" * 3000, None),
    ],
)
def test_safe_next(value: str | None, expected: str | None) -> None:
    assert safe_next(value) == expected


def _scope(method: str = "POST", scheme: str = "http", **headers: str) -> dict[str, object]:
    raw = [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    return {"type": "http", "method": method, "scheme": scheme, "headers": raw, "path": "/x"}


@pytest.mark.parametrize(
    ("headers", "cross"),
    [
        ({"sec_fetch_site": "same-origin", "host": "a.test"}, False),
        ({"sec_fetch_site": "none", "host": "a.test"}, False),
        ({"sec_fetch_site": "same-site", "host": "a.test"}, True),
        ({"sec_fetch_site": "cross-site", "origin": "http://a.test", "host": "a.test"}, True),
        ({"origin": "http://a.test", "host": "a.test"}, False),
        ({"origin": "http://A.test", "host": "a.test"}, False),
        ({"origin": "https://a.test", "host": "a.test"}, True),
        ({"origin": "http://evil.test", "host": "a.test"}, True),
        ({"origin": "null", "host": "a.test"}, True),
        ({"host": "a.test"}, True),
        ({}, True),
    ],
)
def test_cross_site_detection(headers: dict[str, str], cross: bool) -> None:
    assert is_cross_site(_scope(**headers)) is cross
