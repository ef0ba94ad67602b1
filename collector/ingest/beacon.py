"""parse_beacon(body) -> Beacon, or a BeaconError naming the problem (a 4xx answer).

The beacon is a JSON object (sent as text/plain or application/json); unknown fields are ignored.
Only the path of the page URL is kept: the query string and the fragment never leave this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson

from collector import AudienceError

MAX_BODY_BYTES = 4096
MAX_PATH_LENGTH = 1024
MAX_ENGAGED_MS = 24 * 3600 * 1000
EVENT_TYPES = ("pageview", "engagement")
_CONSENT = re.compile(r"tcf|tcf:outside-gdpr|gcm|manual|cmp:[a-z0-9_.-]{1,32}")


class BeaconError(AudienceError):
    """A beacon the collector refuses; ``status`` and ``message`` make the JSON answer, with the
    beacon's ``field`` at fault when there is one."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message, status)
        self.field = field


@dataclass(frozen=True, slots=True)
class Beacon:
    site: str
    type: str
    path: str
    consent: str | None
    engaged_ms: int = 0
    state: str | None = None


def parse_beacon(body: bytes) -> Beacon:
    if len(body) > MAX_BODY_BYTES:
        raise BeaconError(413, f"body is larger than {MAX_BODY_BYTES} bytes")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BeaconError(400, f"body is not valid JSON: {error}", "body") from None
    if not isinstance(data, dict):
        raise BeaconError(400, "body must be a JSON object", "body")
    return Beacon(
        site=_site(data.get("site")),
        type=_event_type(data.get("type")),
        path=_path(data.get("url")),
        consent=_consent(data.get("consent")),
        engaged_ms=_engaged_ms(data.get("engaged_ms", 0)),
        state=_state(data.get("state")),
    )


def _invalid(field: str, problem: str) -> BeaconError:
    return BeaconError(400, f"{field}: {problem}", field)


def _site(value: object) -> str:
    domain = value.strip().lower().rstrip(".") if isinstance(value, str) else ""
    if not 0 < len(domain) <= 253:
        raise _invalid("site", "expected the site's domain as a string")
    return domain


def _event_type(value: object) -> str:
    if value not in EVENT_TYPES:
        raise _invalid("type", f"expected one of {', '.join(EVENT_TYPES)}")
    return str(value)


def _path(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise _invalid("url", "expected the page URL as a string")
    if value.startswith("/") and not value.startswith("//"):
        path = value.split("?", 1)[0].split("#", 1)[0]
    else:
        try:
            parts = urlsplit(value)
        except ValueError:
            raise _invalid("url", "not a valid URL") from None
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _invalid("url", "expected an http(s) URL or a path starting with /")
        path = parts.path or "/"
    if len(path) > MAX_PATH_LENGTH:
        raise _invalid("url", f"path longer than {MAX_PATH_LENGTH} characters")
    return path


def _consent(value: object) -> str | None:
    if value is None or value == "" or value is False:
        return None
    if not isinstance(value, str) or not _CONSENT.fullmatch(value):
        raise _invalid(
            "consent", 'expected "tcf", "tcf:outside-gdpr", "gcm", "manual" or "cmp:<name>"'
        )
    return value


def _engaged_ms(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ENGAGED_MS:
        raise _invalid(
            "engaged_ms", f"expected a whole number of milliseconds, 0 to {MAX_ENGAGED_MS}"
        )
    return value


def _state(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 256:
        raise _invalid("state", "expected the signed state string")
    return value
