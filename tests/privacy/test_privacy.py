"""No IP address, raw cookie value, User-Agent or query string reaches disk or a log line; the
audit of administrative actions holds none of them, nor a visitor's hash, nor a secret the
administrators handled (a password, an API key, an invitation's link)."""

from __future__ import annotations

from pathlib import Path

import httpx

from collector.settings import Settings
from collector.storage.sites import Site
from dashboards.accounts import Accounts
from tests.conftest import (
    SECRET,
    GeoFiles,
    ServerProcess,
    beacon,
    environment,
    migrated_store,
    query_stopped_store,
    register,
)

IPS = ("81.2.69.42", "2a01:e0a:1::7", "5.10.20.30", "198.51.100.77")
AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 ProbeBuild/4242",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1 ProbeBuild/4343",
)
QUERY_MARKERS = ("email=jane.doe%40mail.test", "token=QueryMarker9876", "fragmentMarker5555")


def send_session(url: str) -> list[str]:
    """A whole session per IP: pages with query strings, a return with the cookie, bad input."""
    cookies = []
    for number, ip in enumerate(IPS):
        agent = AGENTS[number % len(AGENTS)]
        with httpx.Client(base_url=url, headers={"user-agent": agent}) as client:
            for page in range(3):
                path = f"https://example.com/p{page}?{QUERY_MARKERS[page]}#{QUERY_MARKERS[2]}"
                response = client.post(
                    "/api/event",
                    json=beacon(url=path),
                    headers={"x-forwarded-for": ip, "origin": "https://example.com"},
                )
                assert response.status_code == 202, response.text
            cookies.append(client.cookies["audience"])
            proxied = {"x-forwarded-for": ip}  # the visitor's reads log no cookie or IP either
            assert client.get("/api/privacy/me", headers=proxied).status_code == 200
            assert client.get("/api/privacy/me/export?format=csv", headers=proxied).is_success
            client.post("/api/event", content=b"{broken", headers={"x-forwarded-for": ip})
            client.post("/api/event", json=beacon(consent=None), headers={"x-forwarded-for": ip})
            client.post(
                "/api/event", json=beacon(site="nope.test"), headers={"x-forwarded-for": ip}
            )
            client.get(f"/missing?{QUERY_MARKERS[1]}", headers={"x-forwarded-for": ip})
    return cookies


ADMIN_PASSWORD = "AdminPassphrase-7781"


def administer(url: str) -> list[str]:
    """An administrator at work from a visitor's address and browser: the secrets handled."""
    same_origin = {"x-forwarded-for": IPS[0], "sec-fetch-site": "same-origin"}
    json = same_origin | {"accept": "application/json"}
    with httpx.Client(base_url=url, headers={"user-agent": AGENTS[0]}) as admin:
        form = {"email": "admin@example.com", "password": ADMIN_PASSWORD}
        assert admin.post("/login", data=form, headers=same_origin).status_code == 303
        site = {"domain": "shop.example", "timezone": "UTC"}
        assert admin.post("/admin/sites", data=site, headers=json).status_code == 201
        invite = {"email": "new@example.com", "role": "viewer", "sites": "example.com"}
        invited = admin.post("/admin/team/invitations", data=invite, headers=json).json()
        token = invited["invited"]["link"].rsplit("/", 1)[1]
        created = admin.post("/account/keys", data={"name": "report"}, headers=json).json()
        key = created["created"]["key"]
        assert admin.get("/admin/audit", headers=json).status_code == 200
    return [token, key, ADMIN_PASSWORD]


def all_bytes(folder: Path) -> bytes:
    return b"\n".join(path.read_bytes() for path in folder.rglob("*") if path.is_file())


def test_nothing_personal_reaches_disk_clickhouse_or_logs(
    tmp_path: Path, geo_files: GeoFiles
) -> None:
    data_dir = tmp_path / "data"
    env = environment(data_dir, geo_files, AUDIENCE_LOG_LEVEL="debug")
    settings = Settings.from_environ(env)
    register(settings, Site("example.com"))
    store = migrated_store(settings)
    try:
        Accounts(store, SECRET.encode()).add_user("admin@example.com", ADMIN_PASSWORD, "admin")
    finally:
        store.close()
    server = ServerProcess(env, tmp_path / "server.log")
    server.wait_ready()
    cookies = send_session(server.url)
    handled = administer(server.url)
    server.stop()
    logs = server.log_path.read_bytes()
    spooled_then_stored = all_bytes(data_dir)

    rows = query_stopped_store(settings, "SELECT * FROM audience.events")
    # ClickHouse compresses its parts, which could hide a string from the byte search above:
    # the table's decoded content is searched too (it is also exactly what was spooled).
    table_text = repr(rows).encode()

    assert len(rows) == len(IPS) * 3
    assert {row["path"] for row in rows} == {"/p0", "/p1", "/p2"}
    secrets = [*IPS, *AGENTS, *QUERY_MARKERS, "ProbeBuild", *cookies]
    for secret in secrets:
        needle = secret.encode()
        assert needle not in logs, f"{secret!r} appears in the server's log"
        assert needle not in spooled_then_stored, f"{secret!r} appears under the data directory"
        assert needle not in table_text, f"{secret!r} appears in audience.events"
    assert b"Application startup complete" in logs  # the log was captured

    audit = query_stopped_store(settings, "SELECT * FROM audience.admin_audit")
    assert {row["action"] for row in audit} == {"site.add", "invitation.create", "key.create"}
    visitors = [str(row["visitor"]) for row in rows]
    audit_text = repr(audit)
    for secret in [*secrets, *visitors, *handled]:
        assert secret not in audit_text, f"{secret!r} appears in audience.admin_audit"
    for secret in handled:
        assert secret.encode() not in logs, f"{secret!r} appears in the server's log"
        assert secret.encode() not in spooled_then_stored, f"{secret!r} is on disk"
