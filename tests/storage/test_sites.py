"""Sites: default origins, origin matching, domain/origin/time zone checks, the snapshot file."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from collector.storage.sites import (
    DEFAULT_TIMEZONE,
    Site,
    SiteError,
    SiteRegistry,
    check_origin,
    check_timezone,
    default_origins,
    normalize_domain,
)


def test_default_origins_of_a_domain() -> None:
    assert default_origins("example.com") == ("https://example.com", "https://*.example.com")
    site = Site("example.com")
    assert site.origins == ("https://example.com", "https://*.example.com")
    assert site.timezone == DEFAULT_TIMEZONE
    assert site.respect_gpc is True


def test_default_origins_of_localhost() -> None:
    assert default_origins("localhost") == (
        "http://localhost:*",
        "http://127.0.0.1:*",
        "http://[::1]:*",
        "http://localhost",
    )


EXAMPLE = Site("example.com")


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        pytest.param(None, True, id="no-origin-server-side"),
        pytest.param("https://example.com", True, id="domain"),
        pytest.param("HTTPS://EXAMPLE.COM", True, id="upper-case"),
        pytest.param("https://www.example.com", True, id="www"),
        pytest.param("https://shop.eu.example.com", True, id="deep-subdomain"),
        pytest.param("https://my-shop.example.com", True, id="subdomain-with-hyphen"),
        pytest.param("http://example.com", False, id="http-refused"),
        pytest.param("http://www.example.com", False, id="http-subdomain-refused"),
        pytest.param("https://example.com:8443", False, id="other-port"),
        pytest.param("https://example.com.evil.test", False, id="suffix-lookalike"),
        pytest.param("https://www.example.com.evil.test", False, id="subdomain-suffix-lookalike"),
        pytest.param("https://notexample.com", False, id="prefix-lookalike"),
        pytest.param("https://evil-example.com", False, id="hyphen-lookalike"),
        pytest.param("https://exampleXcom", False, id="dot-is-not-a-wildcard"),
        pytest.param("https://www.exampleXcom", False, id="subdomain-dot-is-not-a-wildcard"),
        pytest.param("https://.example.com", False, id="empty-label"),
        pytest.param("https://evil.test/.example.com", False, id="path-trick"),
        pytest.param("https://evil.test?.example.com", False, id="query-trick"),
        pytest.param("https://evil.test#.example.com", False, id="fragment-trick"),
        pytest.param("https://user@example.com", False, id="userinfo"),
        pytest.param("https://example.com/", False, id="trailing-slash"),
        pytest.param("null", False, id="opaque-origin"),
        pytest.param("", False, id="empty"),
        pytest.param("https://example.org", False, id="other-tld"),
    ],
)
def test_allows_origin_of_a_domain(origin: str | None, allowed: bool) -> None:
    assert EXAMPLE.allows_origin(origin) is allowed


LOCALHOST = Site("localhost")


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        pytest.param("http://localhost", True, id="localhost-no-port"),
        pytest.param("http://localhost:3000", True, id="localhost-port"),
        pytest.param("http://localhost:65535", True, id="localhost-high-port"),
        pytest.param("http://127.0.0.1:8000", True, id="ipv4-loopback"),
        pytest.param("http://[::1]:5173", True, id="ipv6-loopback"),
        pytest.param("http://localhost:123456", False, id="six-digit-port"),
        pytest.param("http://localhost:", False, id="empty-port"),
        pytest.param("http://localhost:80a", False, id="port-with-letters"),
        pytest.param("https://localhost:3000", False, id="https-not-in-defaults"),
        pytest.param("http://localhost.evil.test:3000", False, id="localhost-lookalike"),
        pytest.param("http://127.0.0.2:8000", False, id="other-loopback-address"),
        pytest.param("http://127.0.0.1", False, id="ipv4-without-port"),
        pytest.param("http://192.168.1.10:8000", False, id="lan-address"),
        pytest.param("http://[::2]:8000", False, id="other-ipv6"),
        pytest.param("http://127x0x0x1:8000", False, id="dots-are-literal"),
    ],
)
def test_allows_origin_of_localhost(origin: str, allowed: bool) -> None:
    assert LOCALHOST.allows_origin(origin) is allowed


def test_explicit_origins_replace_the_defaults() -> None:
    site = Site("example.com", origins=("https://app.example.net:*", "https://*.example.org"))
    assert site.origins == ("https://app.example.net:*", "https://*.example.org")
    assert site.allows_origin("https://app.example.net:443")
    assert site.allows_origin("https://app.example.net:8443")
    assert site.allows_origin("https://www.example.org")
    assert site.allows_origin("https://a.b.example.org")
    assert not site.allows_origin("https://example.com")  # the defaults are gone
    assert not site.allows_origin("https://www.example.com")
    assert not site.allows_origin("https://app.example.net:123456")
    assert not site.allows_origin("https://app.example.net:8443.evil.test")
    assert not site.allows_origin("https://other.example.net:8443")
    assert not site.allows_origin("http://app.example.net:8443")
    assert not site.allows_origin("https://example.org")  # *. needs at least one label


def test_explicit_origin_with_wildcard_host_and_port() -> None:
    site = Site("example.com", origins=("https://*.example.com:*",))
    assert site.allows_origin("https://www.example.com:8443")
    assert not site.allows_origin("https://www.example.com.evil.test:8443")
    assert not site.allows_origin("https://notexample.com:8443")


def test_explicit_origins_are_matched_case_insensitively() -> None:
    site = Site("example.com", origins=("https://App.Example.COM",))
    assert site.allows_origin("https://app.example.com")
    assert site.allows_origin("HTTPS://APP.EXAMPLE.COM")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("example.com", "example.com", id="plain"),
        pytest.param("  Example.COM.  ", "example.com", id="case-spaces-trailing-dot"),
        pytest.param("localhost", "localhost", id="localhost"),
        pytest.param("a-b.c-d.example", "a-b.c-d.example", id="hyphens"),
        pytest.param("xn--bcher-kva.example", "xn--bcher-kva.example", id="punycode"),
        pytest.param("a" * 63 + ".com", "a" * 63 + ".com", id="63-char-label"),
    ],
)
def test_normalize_domain(value: str, expected: str) -> None:
    assert normalize_domain(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param(".", id="dot"),
        pytest.param("exa mple.com", id="space"),
        pytest.param("-example.com", id="leading-hyphen"),
        pytest.param("example-.com", id="trailing-hyphen-label"),
        pytest.param("example..com", id="empty-label"),
        pytest.param(".example.com", id="leading-dot"),
        pytest.param("https://example.com", id="url"),
        pytest.param("example.com/path", id="path"),
        pytest.param("example.com:443", id="port"),
        pytest.param("exam_ple.com", id="underscore"),
        pytest.param("bücher.example", id="unicode"),
        pytest.param("a" * 64 + ".com", id="64-char-label"),
        pytest.param(".".join(["a" * 63] * 4), id="longer-than-253"),
        pytest.param("*.example.com", id="wildcard"),
    ],
)
def test_normalize_domain_refuses(value: str) -> None:
    with pytest.raises(SiteError, match="not a domain name"):
        normalize_domain(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("https://example.com", "https://example.com", id="https"),
        pytest.param("http://localhost:3000", "http://localhost:3000", id="http-port"),
        pytest.param(" HTTPS://App.Example.com/ ", "https://app.example.com", id="normalised"),
        pytest.param("https://*.example.com", "https://*.example.com", id="wildcard-host"),
        pytest.param("http://localhost:*", "http://localhost:*", id="wildcard-port"),
        pytest.param("http://[::1]:*", "http://[::1]:*", id="ipv6-wildcard-port"),
    ],
)
def test_check_origin(value: str, expected: str) -> None:
    assert check_origin(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param("example.com", id="no-scheme"),
        pytest.param("ftp://example.com", id="ftp"),
        pytest.param("https://", id="no-host"),
        pytest.param("https://example.com/path", id="path"),
        pytest.param("https://example.com?x=1", id="query"),
        pytest.param("javascript:alert(1)", id="javascript"),
        pytest.param("//example.com", id="scheme-relative"),
    ],
)
def test_check_origin_refuses(value: str) -> None:
    with pytest.raises(SiteError, match="not an origin"):
        check_origin(value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("https://example.com#top", id="fragment"),
        pytest.param("https://user:secret@example.com", id="userinfo"),
        pytest.param("https://user@example.com", id="user-only"),
    ],
)
def test_check_origin_refuses_what_is_not_scheme_host_port(value: str) -> None:
    with pytest.raises(SiteError, match="not an origin"):
        check_origin(value)


@pytest.mark.parametrize("name", ["Europe/Paris", "UTC", "America/New_York", "Asia/Kolkata"])
def test_check_timezone(name: str) -> None:
    assert check_timezone(name) == name


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("Mars/Olympus_Mons", id="unknown"),
        pytest.param("Europe/Pariss", id="typo"),
        pytest.param("../../etc/passwd", id="path-traversal"),
        pytest.param("/etc/localtime", id="absolute-path"),
        pytest.param("", id="empty"),
    ],
)
def test_check_timezone_refuses(name: str) -> None:
    with pytest.raises(SiteError, match="unknown time zone"):
        check_timezone(name)


def test_site_error_is_a_value_error() -> None:
    assert issubclass(SiteError, ValueError)


def test_registry_get_all_replace() -> None:
    registry = SiteRegistry({"example.com": EXAMPLE})
    assert registry.get("example.com") is EXAMPLE
    assert registry.get("other.test") is None
    registry.replace({"localhost": LOCALHOST})
    assert registry.get("example.com") is None
    assert registry.all() == [LOCALHOST]


def test_snapshot_round_trip(tmp_path: Path) -> None:
    sites = {
        "example.com": Site("example.com"),
        "shop.test": Site(
            "shop.test",
            origins=("https://shop.test", "https://*.shop.test:*"),
            timezone="America/New_York",
            respect_gpc=False,
            count_outside_gdpr=True,
        ),
        "localhost": Site("localhost", timezone="UTC"),
    }
    path = tmp_path / "sites.json"
    SiteRegistry(sites).save_snapshot(path)
    assert path.exists()
    assert not path.with_suffix(".tmp").exists()
    assert len(orjson.loads(path.read_bytes())) == 3

    loaded = SiteRegistry()
    loaded.load_snapshot(path)
    assert {site.domain: site for site in loaded.all()} == sites
    shop = loaded.get("shop.test")
    assert shop is not None
    assert shop.respect_gpc is False
    assert shop.count_outside_gdpr is True
    assert shop.timezone == "America/New_York"
    assert shop.allows_origin("https://www.shop.test:8443")
    assert not shop.allows_origin("https://shop.test.evil.test")
    example = loaded.get("example.com")
    assert example is not None
    assert example.origins == default_origins("example.com")
    assert example.allows_origin("https://www.example.com")


def test_snapshot_replaces_previous_sites(tmp_path: Path) -> None:
    path = tmp_path / "sites.json"
    SiteRegistry({"example.com": EXAMPLE}).save_snapshot(path)
    SiteRegistry({"localhost": LOCALHOST}).save_snapshot(path)  # overwritten atomically
    registry = SiteRegistry({"old.test": Site("old.test")})
    registry.load_snapshot(path)
    assert registry.all() == [LOCALHOST]


def test_missing_snapshot_keeps_the_sites(tmp_path: Path) -> None:
    registry = SiteRegistry({"example.com": EXAMPLE})
    registry.load_snapshot(tmp_path / "absent.json")
    assert registry.all() == [EXAMPLE]


def test_empty_registry_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "sites.json"
    SiteRegistry().save_snapshot(path)
    registry = SiteRegistry({"example.com": EXAMPLE})
    registry.load_snapshot(path)
    assert registry.all() == []
