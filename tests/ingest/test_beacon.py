"""parse_beacon: what a valid beacon becomes, and the 4xx answer for every refused one."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from collector.ingest.beacon import (
    MAX_BODY_BYTES,
    MAX_ENGAGED_MS,
    Beacon,
    BeaconError,
    parse_beacon,
)

BASE: dict[str, Any] = {
    "site": "example.com",
    "type": "pageview",
    "url": "https://example.com/pricing",
    "consent": "manual",
}


def body(**fields: Any) -> bytes:
    """BASE with ``fields`` changed; a field given as ``...`` is left out."""
    value = {**BASE, **fields}
    return orjson.dumps({k: v for k, v in value.items() if v is not ...})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            body(url="https://example.com/pricing?utm_source=news&email=a@b.c#plans"),
            Beacon("example.com", "pageview", "/pricing", "manual"),
            id="absolute-url-keeps-only-the-path",
        ),
        pytest.param(
            body(url="http://example.com:8080/a/b/?q=1"),
            Beacon("example.com", "pageview", "/a/b/", "manual"),
            id="http-url-with-port",
        ),
        pytest.param(
            body(url="https://example.com"),
            Beacon("example.com", "pageview", "/", "manual"),
            id="absolute-url-without-path-is-root",
        ),
        pytest.param(
            body(url="https://example.com?x=1#top"),
            Beacon("example.com", "pageview", "/", "manual"),
            id="absolute-url-query-only-is-root",
        ),
        pytest.param(
            body(url="/docs/start?token=secret#intro"),
            Beacon("example.com", "pageview", "/docs/start", "manual"),
            id="path-only-url-drops-query-and-fragment",
        ),
        pytest.param(
            body(url="/docs#a?b"),
            Beacon("example.com", "pageview", "/docs", "manual"),
            id="path-only-url-fragment-before-question-mark",
        ),
        pytest.param(
            body(url="/"),
            Beacon("example.com", "pageview", "/", "manual"),
            id="root-path",
        ),
        pytest.param(
            body(referrer="https://other.test/", screen=[1920, 1080], nested={"a": 1}),
            Beacon("example.com", "pageview", "/pricing", "manual"),
            id="unknown-fields-ignored",
        ),
        pytest.param(
            body(site="  Example.COM. "),
            Beacon("example.com", "pageview", "/pricing", "manual"),
            id="site-normalised",
        ),
        pytest.param(
            body(type="engagement", engaged_ms=15_000),
            Beacon("example.com", "engagement", "/pricing", "manual", engaged_ms=15_000),
            id="engagement",
        ),
        pytest.param(
            body(engaged_ms=0),
            Beacon("example.com", "pageview", "/pricing", "manual", engaged_ms=0),
            id="engaged-ms-zero",
        ),
        pytest.param(
            body(engaged_ms=MAX_ENGAGED_MS),
            Beacon("example.com", "pageview", "/pricing", "manual", engaged_ms=MAX_ENGAGED_MS),
            id="engaged-ms-maximum",
        ),
        pytest.param(
            body(consent="tcf"),
            Beacon("example.com", "pageview", "/pricing", "tcf"),
            id="consent-tcf",
        ),
        pytest.param(
            body(consent="gcm"),
            Beacon("example.com", "pageview", "/pricing", "gcm"),
            id="consent-gcm",
        ),
        pytest.param(
            body(consent="manual"),
            Beacon("example.com", "pageview", "/pricing", "manual"),
            id="consent-manual",
        ),
        pytest.param(
            body(consent="cmp:didomi"),
            Beacon("example.com", "pageview", "/pricing", "cmp:didomi"),
            id="consent-cmp-name",
        ),
        pytest.param(
            body(consent="cmp:one_trust.v2-x"),
            Beacon("example.com", "pageview", "/pricing", "cmp:one_trust.v2-x"),
            id="consent-cmp-name-punctuation",
        ),
        pytest.param(
            body(consent="cmp:" + "a" * 32),
            Beacon("example.com", "pageview", "/pricing", "cmp:" + "a" * 32),
            id="consent-cmp-name-32-chars",
        ),
        pytest.param(
            body(consent=...),
            Beacon("example.com", "pageview", "/pricing", None),
            id="consent-absent",
        ),
        pytest.param(
            body(consent=""),
            Beacon("example.com", "pageview", "/pricing", None),
            id="consent-empty",
        ),
        pytest.param(
            body(consent=None),
            Beacon("example.com", "pageview", "/pricing", None),
            id="consent-null",
        ),
        pytest.param(
            body(consent=False),
            Beacon("example.com", "pageview", "/pricing", None),
            id="consent-false",
        ),
        pytest.param(
            body(state="abc-_123"),
            Beacon("example.com", "pageview", "/pricing", "manual", state="abc-_123"),
            id="state-kept",
        ),
        pytest.param(
            body(state=""),
            Beacon("example.com", "pageview", "/pricing", "manual", state=None),
            id="state-empty",
        ),
        pytest.param(
            body(state="s" * 256),
            Beacon("example.com", "pageview", "/pricing", "manual", state="s" * 256),
            id="state-256-chars",
        ),
    ],
)
def test_valid_beacon(raw: bytes, expected: Beacon) -> None:
    assert parse_beacon(raw) == expected


def test_text_plain_body_with_whitespace_is_parsed() -> None:
    raw = b'  {"site": "example.com", "type": "pageview", "url": "/x", "consent": "gcm"}\n'
    assert parse_beacon(raw) == Beacon("example.com", "pageview", "/x", "gcm")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        pytest.param(body(site=...), "site", id="site-absent"),
        pytest.param(body(site=""), "site", id="site-empty"),
        pytest.param(body(site=42), "site", id="site-number"),
        pytest.param(body(site=["example.com"]), "site", id="site-list"),
        pytest.param(body(site="a" * 254), "site", id="site-too-long"),
        pytest.param(body(site="   "), "site", id="site-whitespace-only"),
        pytest.param(body(site="."), "site", id="site-dot-only"),
        pytest.param(body(type=...), "type", id="type-absent"),
        pytest.param(body(type="click"), "type", id="type-unknown"),
        pytest.param(body(type="PageView"), "type", id="type-wrong-case"),
        pytest.param(body(type=1), "type", id="type-number"),
        pytest.param(body(url=...), "url", id="url-absent"),
        pytest.param(body(url=""), "url", id="url-empty"),
        pytest.param(body(url=123), "url", id="url-number"),
        pytest.param(body(url="example.com/pricing"), "url", id="url-no-scheme"),
        pytest.param(body(url="//evil.test/x"), "url", id="url-protocol-relative"),
        pytest.param(body(url="ftp://example.com/file"), "url", id="url-ftp"),
        pytest.param(body(url="javascript:alert(1)"), "url", id="url-javascript"),
        pytest.param(body(url="https:///no-host"), "url", id="url-no-host"),
        pytest.param(body(url="http://[::1/x"), "url", id="url-unparsable"),
        pytest.param(body(url="/" + "a" * 1024), "url", id="url-path-too-long"),
        pytest.param(
            body(url="https://example.com/" + "a" * 1024), "url", id="url-absolute-path-too-long"
        ),
        pytest.param(body(consent="yes"), "consent", id="consent-unknown"),
        pytest.param(body(consent="TCF"), "consent", id="consent-wrong-case"),
        pytest.param(body(consent="cmp:"), "consent", id="consent-cmp-without-name"),
        pytest.param(body(consent="cmp:" + "a" * 33), "consent", id="consent-cmp-name-too-long"),
        pytest.param(body(consent="cmp:Didomi"), "consent", id="consent-cmp-uppercase"),
        pytest.param(body(consent="manual\n"), "consent", id="consent-trailing-newline"),
        pytest.param(body(consent="cmp:didomi\n"), "consent", id="consent-cmp-trailing-newline"),
        pytest.param(body(consent=True), "consent", id="consent-true"),
        pytest.param(body(consent=1), "consent", id="consent-number"),
        pytest.param(body(consent=["tcf"]), "consent", id="consent-list"),
        pytest.param(body(engaged_ms=True), "engaged_ms", id="engaged-ms-bool"),
        pytest.param(body(engaged_ms=-1), "engaged_ms", id="engaged-ms-negative"),
        pytest.param(body(engaged_ms=MAX_ENGAGED_MS + 1), "engaged_ms", id="engaged-ms-too-big"),
        pytest.param(body(engaged_ms=1.5), "engaged_ms", id="engaged-ms-float"),
        pytest.param(body(engaged_ms=1000.0), "engaged_ms", id="engaged-ms-whole-float"),
        pytest.param(body(engaged_ms="1000"), "engaged_ms", id="engaged-ms-string"),
        pytest.param(body(engaged_ms=None), "engaged_ms", id="engaged-ms-null"),
        pytest.param(body(state=12), "state", id="state-number"),
        pytest.param(body(state={"v": 1}), "state", id="state-object"),
        pytest.param(body(state="s" * 257), "state", id="state-too-long"),
        pytest.param(b"[1, 2, 3]", "body", id="json-array"),
        pytest.param(b'"a string"', "body", id="json-string"),
        pytest.param(b"42", "body", id="json-number"),
        pytest.param(b"null", "body", id="json-null"),
        pytest.param(b"", "body", id="empty-body"),
        pytest.param(b"{not json}", "body", id="invalid-json"),
        pytest.param(b'{"site": "example.com",', "body", id="truncated-json"),
        pytest.param(b"\xff\xfe{}", "body", id="invalid-utf8"),
        pytest.param(b"site=example.com&type=pageview", "body", id="form-encoded"),
    ],
)
def test_refused_beacon_names_its_field(raw: bytes, field: str) -> None:
    with pytest.raises(BeaconError) as caught:
        parse_beacon(raw)
    assert caught.value.status == 400
    assert caught.value.field == field
    if field != "body":
        assert caught.value.message.startswith(f"{field}: ")
    assert str(caught.value) == caught.value.message


def test_body_at_the_limit_is_parsed() -> None:
    raw = body(pad="")
    raw = body(pad="x" * (MAX_BODY_BYTES - len(raw)))
    assert len(raw) == MAX_BODY_BYTES
    assert parse_beacon(raw).path == "/pricing"


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"x" * (MAX_BODY_BYTES + 1), id="garbage"),
        pytest.param(body(pad="x" * MAX_BODY_BYTES), id="valid-json-too-big"),
    ],
)
def test_body_over_the_limit_is_413(raw: bytes) -> None:
    assert len(raw) > MAX_BODY_BYTES
    with pytest.raises(BeaconError) as caught:
        parse_beacon(raw)
    assert caught.value.status == 413
    assert str(MAX_BODY_BYTES) in caught.value.message


def test_first_invalid_field_in_order_is_reported() -> None:
    with pytest.raises(BeaconError) as caught:
        parse_beacon(body(site=..., type="nope", url=""))
    assert caught.value.field == "site"
