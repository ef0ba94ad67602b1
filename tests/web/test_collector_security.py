"""The collector's security headers and security.txt, through a real server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from collector.settings import Settings
from collector.storage.sites import Site
from tests.conftest import CHROME, GeoFiles, LiveServer, beacon, environment, register

CSP = "default-src 'none'; frame-ancestors 'none'"


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/.well-known/security.txt"])
def test_collector_answers_carry_the_security_headers(client: httpx.Client, path: str) -> None:
    headers = client.get(path).headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert headers["content-security-policy"] == CSP
    assert headers["cross-origin-resource-policy"] == "same-origin"
    assert "strict-transport-security" not in headers  # plain http


def test_the_snippet_may_be_embedded_by_other_sites(client: httpx.Client) -> None:
    response = client.get("/js/audience.js")
    assert response.status_code == 200
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]  # its own, once
    missing = client.get("/js/nothing.js")
    assert missing.status_code == 404
    assert missing.headers["cross-origin-resource-policy"] == "cross-origin"


def test_headers_set_by_the_dashboards_are_kept(client: httpx.Client) -> None:
    response = client.get("/login")
    assert response.status_code == 200
    assert response.headers.get_list("content-security-policy") == [
        response.headers["content-security-policy"]
    ]
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers.get_list("referrer-policy") == ["same-origin"]
    assert response.headers.get_list("x-frame-options") == ["DENY"]
    assert response.headers["cross-origin-resource-policy"] == "same-origin"


def test_hsts_only_over_https_as_a_trusted_proxy_says(tmp_path: Path, geo_files: GeoFiles) -> None:
    for trusted, hsts in [("127.0.0.1", True), ("10.9.9.9", False)]:
        env = environment(tmp_path / trusted, geo_files, AUDIENCE_TRUSTED_PROXIES=trusted)
        settings = Settings.from_environ(env)
        register(settings, Site("example.com"))
        with LiveServer(settings) as live, httpx.Client(base_url=live.url) as client:
            assert "strict-transport-security" not in client.get("/healthz").headers
            claimed = client.get("/healthz", headers={"x-forwarded-proto": "https"})
            assert claimed.status_code == 200
            if hsts:
                assert claimed.headers["strict-transport-security"] == "max-age=31536000"
            else:  # an untrusted peer cannot claim https
                assert "strict-transport-security" not in claimed.headers


def test_the_event_endpoint_answers_errors_with_nosniff(client: httpx.Client) -> None:
    refused = client.post("/api/event", json=beacon(consent=None))
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/json"
    assert refused.headers["x-content-type-options"] == "nosniff"
    too_big = client.post("/api/event", content=b"x" * 5000)
    assert too_big.status_code == 413
    assert too_big.headers["x-content-type-options"] == "nosniff"
    # an accepted beacon keeps its lean answer: no body, no headers beyond the needed ones
    accepted = client.post("/api/event", json=beacon())
    assert accepted.status_code == 202
    assert accepted.content == b""
    assert "x-content-type-options" not in accepted.headers
    assert "content-security-policy" not in accepted.headers


def test_security_txt_without_a_contact_names_the_setting(client: httpx.Client) -> None:
    response = client.get("/.well-known/security.txt")
    assert response.status_code == 404
    assert "AUDIENCE_SECURITY_CONTACT" in response.json()["error"]


def test_security_txt(tmp_path: Path, geo_files: GeoFiles) -> None:
    contact = "mailto:security@example.com"
    env = environment(tmp_path / "data", geo_files, AUDIENCE_SECURITY_CONTACT=contact)
    settings = Settings.from_environ(env)
    register(settings, Site("example.com"))
    with LiveServer(settings) as live, httpx.Client(base_url=live.url) as client:
        before = datetime.now(UTC).replace(microsecond=0)
        response = client.get("/.well-known/security.txt", headers={"user-agent": CHROME})
        after = datetime.now(UTC)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        fields = dict(line.split(": ", 1) for line in response.text.splitlines())
        assert fields["Contact"] == contact
        assert fields["Preferred-Languages"] == "en, fr"
        assert fields["Canonical"] == f"{live.url}/.well-known/security.txt"
        expires = datetime.strptime(fields["Expires"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert before + timedelta(days=180) <= expires <= after + timedelta(days=180)
        assert set(fields) == {"Contact", "Expires", "Preferred-Languages", "Canonical"}

        proxied = client.get(
            "/.well-known/security.txt",
            headers={"host": "example.com", "x-forwarded-proto": "https"},
        )
        assert "Canonical: https://example.com/.well-known/security.txt\n" in proxied.text
        assert proxied.headers["strict-transport-security"] == "max-age=31536000"
        odd_host = client.get("/.well-known/security.txt", headers={"host": "a b<c>"})
        assert odd_host.status_code == 200
        assert "Canonical" not in odd_host.text
        assert "<" not in odd_host.text
