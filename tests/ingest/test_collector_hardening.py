"""The collector's edge against abuse, through a real server: origins allowed per site, a lying
Content-Length, X-Forwarded-For believed only from trusted proxies (for the rate limit too)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import orjson
import pytest

from collector.settings import Settings
from collector.storage.sites import Site
from tests.conftest import (
    BRUSSELS_PROXIMUS,
    CHROME,
    LYON_ORANGE,
    GeoFiles,
    LiveServer,
    beacon,
    environment,
    register,
)
from tests.rawhttp import RawClient, request_bytes

SHOP = Site("shop.test", origins=("https://www.shop.test",))


ORIGINS = [
    ("example.com", "https://example.com", 202),
    ("example.com", "https://www.example.com", 202),
    ("example.com", "https://www.shop.test", 403),  # another site's origin
    ("example.com", "http://example.com", 403),  # not over https
    ("example.com", "https://example.com.evil.test", 403),
    ("shop.test", "https://www.shop.test", 202),
    ("shop.test", "https://shop.test", 403),  # its explicit origins replace the defaults
    ("shop.test", "https://example.com", 403),
    ("shop.test", None, 202),  # no Origin: a server-side sender, not a browser
]


@pytest.fixture
def two_sites(settings: Settings) -> Settings:
    register(settings, Site("example.com"), SHOP)
    return settings


def test_each_site_allows_its_own_origins(two_sites: Settings) -> None:
    with LiveServer(two_sites) as live, httpx.Client(base_url=live.url) as client:
        for number, (site, origin, status) in enumerate(ORIGINS):
            headers = {"user-agent": CHROME} | ({"origin": origin} if origin else {})
            sent = beacon(site=site, url=f"/case-{number}")
            response = client.post("/api/event", json=sent, headers=headers)
            assert response.status_code == status, (site, origin, response.text)
            if status == 403:
                assert response.json()["field"] == "origin"
                assert "set-cookie" not in response.headers
        accepted = {f"/case-{n}" for n, (_, _, status) in enumerate(ORIGINS) if status == 202}
        assert {row["path"] for row in live.wait_stored(len(accepted))} == accepted


def test_a_lying_content_length_is_refused_without_waiting(two_sites: Settings) -> None:
    body = orjson.dumps(beacon())
    with LiveServer(two_sites) as live, RawClient(live.port, timeout=5) as client:
        started = time.monotonic()
        claims_more = client.send(
            request_bytes(b"POST", b"/api/event", [], body, content_length=b"100000"), last=True
        )
        assert claims_more.status == 413  # answered at once: the rest is never awaited
        assert time.monotonic() - started < 2
        assert "4096" in claims_more.json()["error"]
        # a Content-Length shorter than the body: the server reads the declared bytes only,
        # and the rest, read as the next request, is refused by the HTTP parser
        claims_less = client.send(
            request_bytes(b"POST", b"/api/event", [], body, content_length=b"20"), last=True
        )
        assert claims_less.status == 400
        # a body over the cap in chunks, with no Content-Length at all
        chunked = client.send(
            request_bytes(b"POST", b"/api/event", [], body + b" " * 5000, chunked=True), last=True
        )
        assert chunked.status == 413
        healthy = client.send(request_bytes(b"GET", b"/healthz"))
        assert healthy.status == 200
        assert live.settle() == []


def test_forwarded_for_is_ignored_from_an_untrusted_peer(
    tmp_path: Path, geo_files: GeoFiles
) -> None:
    """Without AUDIENCE_TRUSTED_PROXIES, X-Forwarded-For neither locates the visitor nor makes
    one client many: the rate limit counts the peer."""
    env = environment(tmp_path / "data", geo_files, AUDIENCE_TRUSTED_PROXIES="")
    settings = Settings.from_environ(
        env | {"AUDIENCE_RATE_LIMIT": "0.01", "AUDIENCE_RATE_LIMIT_BURST": "2"}
    )
    assert settings.trusted_proxies == ()
    register(settings, Site("example.com"))
    with LiveServer(settings) as live, httpx.Client(base_url=live.url) as client:
        statuses = [
            client.post(
                "/api/event",
                json=beacon(),
                headers={"user-agent": CHROME, "x-forwarded-for": address},
            ).status_code
            for address in (LYON_ORANGE, BRUSSELS_PROXIMUS, "192.0.2.7")
        ]
        assert statuses == [202, 202, 429]
        rows = live.wait_stored(2)
        assert {(row["city"], row["operator"]) for row in rows} == {("", "")}  # 127.0.0.1
