"""Registered sites: their domain, the origins allowed to send beacons, their time zone, and the
engaged time that makes a one-page visit engaged."""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from collector import AudienceError

DEFAULT_TIMEZONE = "Europe/Paris"
DEFAULT_ENGAGED_SECONDS = 10  # as GA4 (README, metrics: engaged visits)
MAX_ENGAGED_SECONDS = 3600
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


class SiteError(AudienceError, ValueError):
    """A domain, origin or time zone that cannot be registered."""

    status = 400


@dataclass(frozen=True)
class Site:
    domain: str
    origins: tuple[str, ...] = ()
    timezone: str = DEFAULT_TIMEZONE
    respect_gpc: bool = True
    count_outside_gdpr: bool = False  # a TCF CMP's gdprApplies=false counts (README, TCF)
    engaged_seconds: int = DEFAULT_ENGAGED_SECONDS  # a visit with this engaged time is engaged
    _patterns: tuple[re.Pattern[str], ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        origins = self.origins or default_origins(self.domain)
        object.__setattr__(self, "origins", origins)
        object.__setattr__(self, "_patterns", tuple(_origin_pattern(o) for o in origins))

    def allows_origin(self, origin: str | None) -> bool:
        """Browsers always send Origin on a beacon; a missing one is a server-side sender."""
        if origin is None:
            return True
        return any(pattern.fullmatch(origin.lower()) for pattern in self._patterns)


def normalize_domain(domain: str) -> str:
    value = domain.strip().lower().rstrip(".")
    if not _DOMAIN.fullmatch(value):
        raise SiteError(f"not a domain name: {domain!r}")
    return value


def default_origins(domain: str) -> tuple[str, ...]:
    """The domain and its subdomains over https; any loopback port over http for localhost."""
    if domain == "localhost":
        return tuple(f"http://{host}:*" for host in LOOPBACK_HOSTS) + ("http://localhost",)
    return (f"https://{domain}", f"https://*.{domain}")


def check_origin(origin: str) -> str:
    """An origin: scheme://host[:port]; the host may start with ``*.``, the port may be ``*``."""
    value = origin.strip().lower().rstrip("/")
    parts = urlsplit(value.replace("*", "wildcard-"))
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or "@" in parts.netloc
        or parts.path
        or parts.query
        or parts.fragment
        or "#" in value
    ):
        raise SiteError(f"not an origin (scheme://host[:port]): {origin!r}")
    return value


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SiteError(f"unknown time zone: {name!r}") from None
    return name


def check_engaged_seconds(value: str | int) -> int:
    """The engaged-visit threshold: whole seconds, 1 to MAX_ENGAGED_SECONDS."""
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        seconds = 0
    if not 1 <= seconds <= MAX_ENGAGED_SECONDS:
        raise SiteError(f"engaged time: whole seconds from 1 to {MAX_ENGAGED_SECONDS}: {value!r}")
    return seconds


def _origin_pattern(origin: str) -> re.Pattern[str]:
    escaped = re.escape(origin.lower())
    escaped = escaped.replace(r"//\*\.", r"//([a-z0-9-]+\.)+").replace(r":\*", r":[0-9]{1,5}")
    return re.compile(escaped)


class SiteRegistry:
    """The sites a process knows, swapped whole when they are reloaded.

    The store owner reloads them from ClickHouse and writes a snapshot file; HTTP-only workers,
    which cannot open the store, read that snapshot.
    """

    def __init__(self, sites: dict[str, Site] | None = None) -> None:
        self._sites: dict[str, Site] = dict(sites or {})
        self._snapshot_stamp: tuple[int, int, int] | None = None

    def get(self, domain: str) -> Site | None:
        return self._sites.get(domain)

    def all(self) -> list[Site]:
        return list(self._sites.values())

    def replace(self, sites: dict[str, Site]) -> None:
        self._sites = dict(sites)

    def save_snapshot(self, path: Path) -> None:
        records = [
            {"domain": s.domain, "origins": list(s.origins), "timezone": s.timezone,
             "respect_gpc": s.respect_gpc, "count_outside_gdpr": s.count_outside_gdpr,
             "engaged_seconds": s.engaged_seconds}
            for s in self._sites.values()
        ]  # fmt: skip
        # A name of its own: the admin socket and the periodic reload may both save at once.
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        try:
            temporary.write_bytes(orjson.dumps(records))
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)

    def load_snapshot(self, path: Path) -> None:
        """Take the sites of the snapshot, unless the file is the one last taken."""
        try:
            found = path.stat()
            stamp = (found.st_ino, found.st_size, found.st_mtime_ns)
            if stamp == self._snapshot_stamp:
                return
            records = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return
        self._snapshot_stamp = stamp
        self.replace(
            {
                r["domain"]: Site(
                    r["domain"],
                    tuple(r["origins"]),
                    r["timezone"],
                    r["respect_gpc"],
                    r.get("count_outside_gdpr", False),  # a snapshot written before 014
                    r.get("engaged_seconds", DEFAULT_ENGAGED_SECONDS),  # before 021
                )
                for r in records
            }
        )
