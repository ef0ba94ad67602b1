"""Fuzzing the collector's edge and the stats API through a real ``audience serve``.

Every generated beacon carries at least one defect that makes it unstorable (broken or non-UTF-8
JSON, a field of the wrong type or value, an unknown site, a foreign origin, no consent, Global
Privacy Control, a bot, another method, a body too large, a lying or malformed Content-Length,
a control character in a header), on top of noise that must not matter: garbage cookies,
X-Forwarded-For, Audience-State, Sec-GPC, Content-Type and extra headers, chunked bodies. The
server must never fail (no 5xx), answer each beacon with the status of one of its defects and a
JSON error (or the 202 of a dropped bot), stay healthy, and store nothing. The stats API gets
random query parameters, sites and dimensions: no 5xx, and every refusal is JSON naming the
problem. The requests go byte for byte over one keep-alive connection (``tests.rawhttp``).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.ingest.beacon import _CONSENT, EVENT_TYPES, MAX_BODY_BYTES, MAX_ENGAGED_MS
from collector.settings import Settings
from collector.storage.sites import Site
from collector.storage.store import Store
from dashboards.accounts import Accounts
from dashboards.periods import FILTERS, INTERVALS, PERIODS
from dashboards.stats import DIMENSIONS
from tests.conftest import (
    CHROME,
    IPHONE,
    LYON_ORANGE,
    SECRET,
    GeoFiles,
    ServerProcess,
    environment,
    query_stopped_store,
    register,
)
from tests.rawhttp import Answer, Header, RawClient, request_bytes

# Examples are derandomized: with 3,000 beacons each of the 21 defects is tried at least 100 times
# (checked), and the 600 stats queries give over 100 of each answer (checked). The beacons are
# drawn ten to an example: Hypothesis's work per example was a fifth of the test's time.
BEACONS = 3_000
PROBES_PER_EXAMPLE = 10
STATS_QUERIES = 600
HEALTH_EVERY = 300
SITE = "example.com"
HTTP_LAYER_REFUSAL = b"Invalid HTTP request received."

# The answer each defect brings; a beacon with several gets the status of one of them.
STATUS = {
    "body-garbage": 400, "body-truncated": 400, "body-trailing": 400, "body-not-object": 400,
    "body-not-utf8": 400, "site-type": 400, "site-unknown": 404, "type": 400, "url": 400,
    "consent-missing": 403, "consent-bad": 400, "engaged_ms": 400, "state": 400,
    "origin": 403, "gpc": 403, "bot": 202, "method": 405, "too-large": 413,
    "length-garbage": 400, "length-over": 413, "length-short": 400, "header-control": 400,
}  # fmt: skip
# Defects refused by the HTTP parser (uvicorn's plain-text 400) before the app sees them.
HTTP_LAYER = {"length-garbage", "length-short", "header-control"}
# Defects after which the server may leave part of the request unread: the connection goes.
LEAVES_BYTES = {"method", "too-large", "length-over", "length-short"} | HTTP_LAYER
FIELD_DEFECTS = ["site-type", "site-unknown", "type", "url", "consent-missing", "consent-bad"]
FIELD_DEFECTS += ["engaged_ms", "state"]
BODY_DEFECTS = ["body-garbage", "body-truncated", "body-trailing", "body-not-object"]
BODY_DEFECTS += ["body-not-utf8"]
HEADER_DEFECTS = ["origin", "gpc", "bot", "method", "header-control"]
FRAMING_DEFECTS = ["length-garbage", "length-over", "length-short"]
DEFECTS = FIELD_DEFECTS + BODY_DEFECTS + HEADER_DEFECTS + FRAMING_DEFECTS

# Text that orjson can write (no lone surrogates).
TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
LONG_TEXT = st.builds(
    lambda part, times: part * times,
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=5),
    st.integers(60, 300),
)
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=4,
)
# Header values the HTTP parser accepts: visible ASCII, spaces and tabs, and obs-text bytes.
HEADER_BYTES = st.binary(max_size=60).map(
    lambda raw: bytes(b if b in (9, 32) or 33 <= b <= 126 or b >= 128 else 120 for b in raw)
)
LOWER = "abcdefghijklmnopqrstuvwxyz"
TOKEN = st.text(LOWER + "ABCXYZ0123456789_.-", min_size=1, max_size=12)
BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/131.0.0.0 Safari/537.36",
    "",
]


@dataclass(frozen=True)
class Probe:
    method: bytes
    target: bytes
    headers: list[Header]
    body: bytes
    content_length: bytes | None
    chunked: bool
    defects: frozenset[str]

    def raw(self) -> bytes:
        return request_bytes(
            self.method, self.target, self.headers, self.body, self.content_length, self.chunked
        )


def _wrong(*allowed: Any) -> st.SearchStrategy[Any]:
    """JSON values of any kind except ``allowed``."""
    return JSON_VALUES.filter(lambda value: value not in allowed)


BAD_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "site-type": st.one_of(
        st.sampled_from(["", " ", ".", " .. ", "\t"]),
        st.builds(lambda n: "a" * n, st.integers(254, 600)),
        JSON_VALUES.filter(lambda value: not isinstance(value, str)),
    ),
    "site-unknown": st.text(LOWER + "0123456789-", min_size=1, max_size=20).map(
        lambda name: f"{name}.invalid"
    ),
    "type": _wrong(*EVENT_TYPES),
    "url": st.one_of(
        JSON_VALUES.filter(lambda value: not isinstance(value, str)),
        st.sampled_from(["", "javascript:alert(1)", "//evil.test/x", "http:///x", "http://[::1"]),
        st.builds(
            lambda scheme, rest: f"{scheme}:{rest}",
            st.sampled_from(LOWER)
            .flatmap(lambda first: st.text(LOWER + "0123456789+.-", max_size=8).map(first.__add__))
            .filter(lambda scheme: scheme not in ("http", "https")),
            TEXT,
        ),
        st.builds(lambda n: "/" + "p" * n, st.integers(1024, 2500)),
        st.builds(lambda n: "https://example.com/" + "q" * n, st.integers(1024, 2500)),
    ),
    "consent-bad": st.one_of(
        TEXT.filter(lambda text: text != "" and not _CONSENT.fullmatch(text)),
        JSON_VALUES.filter(lambda value: not isinstance(value, str) and value not in (None, False)),
    ),
    "engaged_ms": st.one_of(
        st.integers(-(2**63), -1),
        st.integers(min_value=MAX_ENGAGED_MS + 1, max_value=2**64 - 1),
        JSON_VALUES.filter(lambda value: not isinstance(value, int) or isinstance(value, bool)),
    ),
    "state": st.one_of(
        JSON_VALUES.filter(lambda value: not isinstance(value, str) and value is not None),
        st.builds(lambda n: "s" * n, st.integers(257, 1000)),
    ),
}

PAGE_PATH = st.builds(
    lambda first, rest, query: f"/{first}{rest}{query}" if first else f"/{query}",
    st.sampled_from(["", "a", "pricing", "_", "."]),
    st.text(LOWER + "0123456789/_.-", max_size=30),
    st.sampled_from(["", "?", "?utm_source=news", "?a=1&b=2"]),
)
FIELD_OF = {
    "site-type": "site", "site-unknown": "site", "type": "type", "url": "url",
    "consent-bad": "consent", "engaged_ms": "engaged_ms", "state": "state",
}  # fmt: skip


# A storable beacon, with fields the collector ignores.
VALID_FIELDS = st.fixed_dictionaries(
    {
        "site": st.sampled_from([SITE, "Example.COM", " example.com. "]),
        "type": st.sampled_from(EVENT_TYPES),
        "url": st.builds(
            str.__add__,
            st.sampled_from(["https://example.com", "http://www.example.com:8080", ""]),
            PAGE_PATH,
        ),
        "consent": st.sampled_from(["tcf", "gcm", "manual", "cmp:tarteaucitron"]),
        "engaged_ms": st.integers(0, MAX_ENGAGED_MS),
    },
    optional={
        "state": st.text(st.characters(codec="utf-8"), max_size=256),
        "x_extra": JSON_SCALARS,
        "x_list": st.lists(JSON_SCALARS, max_size=3),
    },
)


# Headers that must change nothing: garbage cookies, forwarded addresses, state, types.
NOISE = st.fixed_dictionaries(
    {
        b"user-agent": st.sampled_from([CHROME.encode(), IPHONE.encode()]),
        b"origin": st.sampled_from([b"https://example.com", b"https://www.example.com", b""]),
    },
    optional={
        b"cookie": st.lists(
            st.tuples(
                st.sampled_from([b"audience", b"__Host-audience", b"audience_state", b"x"]),
                HEADER_BYTES.map(lambda value: value.replace(b";", b"")),
            ),
            max_size=4,
        ).map(lambda pairs: b"; ".join(name + b"=" + value for name, value in pairs)),
        b"x-forwarded-for": st.one_of(
            HEADER_BYTES,
            st.lists(
                st.sampled_from([LYON_ORANGE, "127.0.0.1", "::1", "2a01:e0a:1::7", "unknown"]),
                max_size=4,
            ).map(lambda hops: ", ".join(hops).encode()),
        ),
        b"audience-state": HEADER_BYTES,
        b"sec-gpc": HEADER_BYTES.filter(lambda value: value.strip(b" \t") != b"1"),
        b"content-type": st.one_of(
            st.sampled_from([b"text/plain", b"application/json", b"multipart/form-data"]),
            HEADER_BYTES,
        ),
        b"x-fuzz-one": HEADER_BYTES,
        b"x-fuzz-two": HEADER_BYTES,
    },
)
# The noise's User-Agent, when it is not a real browser's: anything but empty (a bot).
ODD_AGENT = HEADER_BYTES.filter(lambda value: value.strip(b" \t") != b"")
BAD_ORIGINS = st.sampled_from(
    [b"https://evil.test", b"http://example.com", b"null", b"https://example.com.evil.test"]
    + [b"https://notexample.com", b"https://example.com:8443.evil.test"]
) | st.text(LOWER, min_size=1, max_size=10).map(lambda host: f"https://{host}.invalid".encode())
BAD_LENGTHS = st.sampled_from([b"", b"99999999999999999999999", b"1,2", b"-1", b"0x10"]) | st.text(
    LOWER + "+.-", min_size=1, max_size=5
).map(str.encode)
QUERIES = st.sampled_from([b"", b"", b"?", b"?v=1", b"?a=%ff&b", b"?site=other.test"])
# The strategies a probe draws from are made once, here: made in ``probes`` at each draw, they
# were validated again each time, the recursive JSON ones walked whole (half the generation time).
CHOSEN_DEFECTS = st.sets(st.sampled_from(DEFECTS), min_size=1, max_size=3)
MISSING_CONSENT = st.sampled_from(["absent", None, "", False])
GPC_ON = st.sampled_from([b"1", b" 1", b"1\t"])
BOT_AGENTS = st.sampled_from(BOTS)
OTHER_METHODS = st.sampled_from([b"GET", b"PUT", b"DELETE", b"PATCH", b"PROPFIND"])
CONTROLLED_HEADERS = st.sampled_from([b"cookie", b"x-forwarded-for", b"user-agent", b"x-fuzz"])
CONTROLS = st.sampled_from([0, 1, 8, 11, 12, 27, 127])
OVER_LENGTHS = st.integers(MAX_BODY_BYTES + 1, 10**12)
GARBAGE_BODIES = st.binary(max_size=200).filter(lambda raw: not raw.lstrip().startswith(b"{"))
TRAILING_JUNK = st.tuples(
    st.sampled_from([b"x", b"}", b",", b"{}", b"]", b"\x00", b"\xff"]), st.binary(max_size=10)
)
NOT_OBJECTS = JSON_VALUES.filter(lambda value: not isinstance(value, dict)).map(orjson.dumps)
NOT_UTF8 = st.sampled_from(
    [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80"]
)


@st.composite
def probes(draw: st.DrawFn) -> Probe:
    chosen = draw(CHOSEN_DEFECTS)
    defects = set(chosen)
    fields = draw(VALID_FIELDS)
    for defect in sorted(chosen & set(BAD_FIELDS)):  # site-unknown after site-type: it stays
        fields[FIELD_OF[defect]] = draw(BAD_FIELDS[defect])
    if {"site-type", "site-unknown"} <= defects:
        defects.remove("site-type")
    if "consent-missing" in chosen:
        defects.discard("consent-bad")
        missing = draw(MISSING_CONSENT)
        if missing == "absent":
            fields.pop("consent", None)
        else:
            fields["consent"] = missing
    body = orjson.dumps(fields)
    body_defects = chosen & set(BODY_DEFECTS)
    if body_defects:  # one of them shapes the body; the others are not there
        body_defect = draw(st.sampled_from(sorted(body_defects)))
        defects -= body_defects - {body_defect}
        body = draw(_broken_body(body_defect, body))
    headers = draw(NOISE)
    if not headers[b"origin"]:
        del headers[b"origin"]  # a server-side sender: no Origin at all
    if draw(st.booleans()):
        headers[b"user-agent"] = draw(ODD_AGENT)
    if "origin" in chosen:
        headers[b"origin"] = draw(BAD_ORIGINS)
    if "gpc" in chosen:
        headers[b"sec-gpc"] = draw(GPC_ON)
    if "bot" in chosen:
        headers[b"user-agent"] = draw(BOT_AGENTS).encode()
    method = b"POST"
    if "method" in chosen:
        method = draw(OTHER_METHODS)
    header_list = list(headers.items())
    if "header-control" in chosen:
        name = draw(CONTROLLED_HEADERS)
        control = bytes([draw(CONTROLS)])
        header_list.append((name, b"a" + control + b"b"))
    if len(body) > MAX_BODY_BYTES:
        defects.add("too-large")
    content_length: bytes | None = None
    chunked = False
    if "length-garbage" in chosen:
        content_length = draw(BAD_LENGTHS)
        defects -= {"length-over", "length-short"}
    elif "length-over" in chosen:
        content_length = str(draw(OVER_LENGTHS)).encode()
        defects -= {"length-short"}
    elif "length-short" in chosen and not body_defects:  # a prefix of an object: never JSON
        content_length = str(draw(st.integers(0, len(body) - 1))).encode()
    else:
        defects -= {"length-short"}  # a broken body's prefix might be whole: not this one
        chunked = draw(st.booleans())
    assert defects, chosen  # a body defect is still there
    path = b"/api/event" + draw(QUERIES)
    return Probe(method, path, header_list, body, content_length, chunked, frozenset(defects))


def _broken_body(defect: str, body: bytes) -> st.SearchStrategy[bytes]:
    if defect == "body-garbage":
        return GARBAGE_BODIES
    if defect == "body-truncated":
        return st.integers(0, len(body) - 1).map(lambda size: body[:size])
    if defect == "body-trailing":
        return TRAILING_JUNK.map(lambda pair: body + pair[0] + pair[1])
    if defect == "body-not-object":
        return NOT_OBJECTS
    return st.tuples(st.integers(1, len(body) - 1), NOT_UTF8).map(
        lambda pair: body[: pair[0]] + pair[1] + body[pair[0] :]
    )


def check_answer(probe: Probe, answer: Answer) -> None:
    expected = {STATUS[defect] for defect in probe.defects}
    assert answer.status < 500, answer
    assert answer.status in expected, (answer, probe)
    if answer.body == HTTP_LAYER_REFUSAL:
        assert probe.defects & HTTP_LAYER, (answer, probe)
        return
    assert answer.headers["content-type"] == "application/json", (answer, probe)
    payload = answer.json()
    if answer.status == 202:
        assert payload == {"status": "dropped", "reason": "bot"}, (answer, probe)
    else:
        assert isinstance(payload["error"], str) and payload["error"], (answer, probe)
        assert answer.headers["x-content-type-options"] == "nosniff"


def healthy(client: RawClient) -> None:
    answer = client.send(request_bytes(b"GET", b"/healthz"))
    assert (answer.status, answer.json()) == (200, {"status": "alive"})


def start(tmp_path: Path, geo_files: GeoFiles) -> tuple[Settings, dict[str, str]]:
    env = environment(tmp_path / "data", geo_files, AUDIENCE_RATE_LIMIT="0")
    settings = Settings.from_environ(env)
    register(settings, Site(SITE), Site("shop.test"))
    return settings, env


def test_malformed_beacons_are_refused_and_nothing_is_stored(
    tmp_path: Path, geo_files: GeoFiles
) -> None:
    settings_, env = start(tmp_path, geo_files)
    server = ServerProcess(env, tmp_path / "server.log")
    seen: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    began = time.monotonic()
    try:
        server.wait_ready()
        with RawClient(server.port) as client:

            @settings(
                max_examples=BEACONS // PROBES_PER_EXAMPLE,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            )
            @given(
                batch=st.lists(probes(), min_size=PROBES_PER_EXAMPLE, max_size=PROBES_PER_EXAMPLE)
            )
            def refused(batch: list[Probe]) -> None:
                for probe in batch:
                    answer = client.send(probe.raw(), last=bool(probe.defects & LEAVES_BYTES))
                    check_answer(probe, answer)
                    seen.update(probe.defects)
                    statuses[answer.status] += 1
                    if sum(statuses.values()) % HEALTH_EVERY == 0:
                        healthy(client)

            refused()
            healthy(client)
            metrics = client.send(request_bytes(b"GET", b"/metrics")).body.decode()
        assert "audience_events_accepted_total 0" in metrics
    finally:
        assert server.stop() in (0, -15)
    elapsed = time.monotonic() - began
    assert sum(statuses.values()) >= BEACONS
    rare = {defect: seen[defect] for defect in DEFECTS if seen[defect] < 100}
    assert rare == {}, f"defects hardly tried: {rare}"
    [stored] = query_stopped_store(settings_, "SELECT count() AS n FROM audience.events")
    assert stored["n"] == 0
    print(
        f"\n{sum(statuses.values())} beacons in {elapsed:.1f} s: {dict(sorted(statuses.items()))}"
    )


# The stats API -------------------------------------------------------------------------------

# Visible ASCII but the fragment mark: "&", "=", "+" and broken "%" escapes go as they are.
RAW_SAFE = "".join(chr(code) for code in range(0x21, 0x7F) if chr(code) != "#")
PARAMETERS = ["period", "from", "to", "interval", "limit", "format", *FILTERS]
DATES = st.dates().map(lambda day: day.isoformat())
VALUES = st.one_of(
    st.sampled_from([*PERIODS, *INTERVALS, "csv", "json", "", "0", "10001", "-1", "1e3"]),
    DATES,
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True),
    TEXT,
    LONG_TEXT,
    st.sampled_from(["Lyon", "/pricing", "Chrome 131", "FR", "mobile", "\x00", "é" * 600]),
)

STATS_SITES = st.sampled_from([SITE] * 6 + ["shop.test", "unknown.invalid", "%2F..", "a%00b"])
ENDPOINTS = st.sampled_from(
    ["summary", "timeseries", "realtime"] * 4
    + [f"breakdown/{dimension}" for dimension in DIMENSIONS]
    + ["breakdown/nope", "breakdown/%2e%2e", "breakdown/", "summary/extra"]
)


PAIRS = st.lists(st.tuples(st.sampled_from(PARAMETERS) | TOKEN, VALUES), max_size=5)
# mostly well encoded; sometimes raw, with % escapes of any byte left as they come
ENCODINGS = st.sampled_from(["quote", "quote", "raw"])
BROKEN_ESCAPES = st.from_regex(r"[0-9a-fA-FzZ]{0,2}", fullmatch=True)


@st.composite
def stats_targets(draw: st.DrawFn) -> bytes:
    site = draw(STATS_SITES)
    endpoint = draw(ENDPOINTS)
    pairs = draw(PAIRS)
    encode = draw(ENCODINGS)
    parts = []
    for name, value in pairs:
        if encode == "quote":
            parts.append(f"{quote(name, safe='')}={quote(value, safe='')}")
        else:
            parts.append(quote(f"{name}={value}", safe=RAW_SAFE))
    if draw(st.booleans()):
        parts.append("%" + draw(BROKEN_ESCAPES))
    query = "&".join(parts)
    return f"/api/stats/{site}/{endpoint}?{query}".encode()


def check_stats_answer(target: bytes, answer: Answer) -> None:
    assert answer.status < 500, (answer, target)
    assert answer.status in (200, 400, 404), (answer, target)
    if answer.status == 200:
        if not answer.headers["content-type"].startswith("text/csv"):
            answer.json()
        return
    assert answer.headers["content-type"] == "application/json", (answer, target)
    error = answer.json()["error"]
    if answer.status == 400:
        named = error.split(":", 1)[0]
        assert named in PARAMETERS and ":" in error, (answer, target)
    else:
        assert error.startswith(("unknown site", "unknown dimension", "Not Found")), answer


def test_stats_api_survives_random_parameters(tmp_path: Path, geo_files: GeoFiles) -> None:
    settings_, env = start(tmp_path, geo_files)
    store = Store.connect(settings_.clickhouse_url)
    try:
        accounts = Accounts(store, SECRET.encode())
        accounts.add_user("admin@example.com", "correct horse battery staple", "admin", [])
        key = accounts.keys.create("admin@example.com", "fuzz")[1]
    finally:
        store.close()
    server = ServerProcess(env, tmp_path / "server.log")
    statuses: Counter[int] = Counter()
    try:
        server.wait_ready()
        with RawClient(server.port, timeout=30) as client:
            beacon = orjson.dumps({"site": SITE, "type": "pageview", "url": "/", "consent": "tcf"})
            for agent in (CHROME, IPHONE):  # something to count
                headers = [(b"user-agent", agent.encode()), (b"x-forwarded-for", b"81.2.69.42")]
                sent = client.send(request_bytes(b"POST", b"/api/event", headers, beacon))
                assert sent.status == 202
            authorization = [(b"authorization", f"Bearer {key}".encode())]

            @settings(max_examples=STATS_QUERIES, deadline=None, database=None, derandomize=True)
            @given(target=stats_targets())
            def answered(target: bytes) -> None:
                answer = client.send(request_bytes(b"GET", target, authorization))
                check_stats_answer(target, answer)
                statuses[answer.status] += 1
                if sum(statuses.values()) % HEALTH_EVERY == 0:
                    healthy(client)

            answered()
            healthy(client)
    finally:
        assert server.stop() in (0, -15)
    assert sum(statuses.values()) >= STATS_QUERIES
    assert statuses[200] >= 100 and statuses[400] >= 100 and statuses[404] >= 100, statuses
    print(f"\n{sum(statuses.values())} stats queries: {dict(sorted(statuses.items()))}")
