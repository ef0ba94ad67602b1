"""The HTTP edge's details: client address behind trusted proxies, the visitor cookie."""

from __future__ import annotations

import ipaddress

import pytest

from collector.web import http

PROXIES = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("127.0.0.1", "81.2.69.42", "81.2.69.42"),
        ("::ffff:127.0.0.1", "81.2.69.42", "81.2.69.42"),  # dual-stack listener
        ("::ffff:81.2.69.42", "", "81.2.69.42"),
        ("127.0.0.1", "6.6.6.6, 81.2.69.42, 10.1.2.3", "81.2.69.42"),  # rightmost untrusted
        ("203.0.113.9", "81.2.69.42", "203.0.113.9"),  # an untrusted peer cannot claim one
        ("127.0.0.1", "", "127.0.0.1"),
        ("127.0.0.1", "10.0.0.1, 10.0.0.2", "10.0.0.1"),  # only proxies: the first hop
    ],
)
def test_client_address(peer: str, forwarded: str, expected: str) -> None:
    headers = {"x-forwarded-for": forwarded} if forwarded else {}
    assert http.client_address(peer, headers, PROXIES) == expected


def test_forwarded_headers_ignored_without_trusted_proxies() -> None:
    assert http.client_address("127.0.0.1", {"x-forwarded-for": "81.2.69.42"}, ()) == "127.0.0.1"
    assert not http.is_https("http", "203.0.113.9", {"x-forwarded-proto": "https"}, PROXIES)
    assert http.is_https("http", "127.0.0.1", {"x-forwarded-proto": "https"}, PROXIES)


def test_read_cookie_prefers_the_secure_name() -> None:
    assert http.read_cookie({"cookie": "a=1; audience=plain; __Host-audience=secure"}) == "secure"
    assert http.read_cookie({"cookie": "audience=plain"}) == "plain"
    assert http.read_cookie({"cookie": "other=1"}) is None
    assert http.read_cookie({}) is None
