"""Settings: the only place the environment is read.

Every value comes from an ``AUDIENCE_*`` variable, read once at start. A wrong value raises
``SettingsError`` naming the variable, so a bad deployment stops before it accepts a beacon.
Reading settings writes nothing: the directories and the secret file a process needs are made by
the start step, ``collector.ops.startup.prepare``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from collector import AudienceError

PREFIX = "AUDIENCE_"
# The fixed terms of the privacy policy, not settings: the visitor cookie never outlives 13 months
# from its creation, and a visit ends after 30 minutes without an event (DESIGN sections 6 and 7).
COOKIE_LIFETIME_MONTHS = 13
VISIT_TIMEOUT_SECONDS = 30 * 60
MIN_SECRET_LENGTH = 32
# Where `audience geoip update` installs the databases when AUDIENCE_GEOIP_* are unset; the
# collector uses them when they exist.
GEOIP_CITY_FILE = Path("geoip/city.mmdb")
GEOIP_OPERATOR_FILE = Path("geoip/asn.mmdb")
# The name of the file that keeps the secret, not a secret (bandit B105, ruff S105).
SECRET_FILE = "secret.key"  # noqa: S105  # nosec B105
_ORIGIN = re.compile(r"https?://(\*\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?/?")
_ROOT_PATH = re.compile(r"[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*")
_MAILBOX = re.compile(r"[^@/?#]+@[^@/?#]+\.[^@/?#.]+")


class SettingsError(AudienceError, ValueError):
    """A setting has a value the product cannot run with; the message names the variable."""


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
N = TypeVar("N", int, float)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    clickhouse_url: str = field(repr=False)  # may hold a password
    # AUDIENCE_SECRET_KEY, else the secret file's content; None while that file is not made yet
    secret: bytes | None = field(repr=False)
    geoip_city: Path | None = None
    geoip_operator: Path | None = None
    trusted_proxies: tuple[Network, ...] = ()
    retention_months: int = 25
    min_cell: int = 5
    spool_dir: Path = field(default=Path("data/spool"))
    spool_quota_bytes: int = 1024 * 1024 * 1024
    batch_rows: int = 10_000
    flush_interval: float = 1.0
    rate_limit_per_second: float = 20.0
    rate_limit_burst: int = 100
    log_level: str = "info"
    session_idle_minutes: int = 60
    session_hours: int = 12
    security_contact: str | None = None
    privacy_contact: str | None = None
    maxmind_license_key: str | None = field(default=None, repr=False)
    root_path: str = ""  # the path prefix the product is served under ("" or "/stats")
    smtp_url: str | None = field(default=None, repr=False)  # may hold a password
    mail_from: str | None = None
    # the origins that may show a shared link without a password in a frame ('none': none)
    share_frame_ancestors: tuple[str, ...] = ()
    # where browsers reach the dashboards (with the path prefix): the link in email reports
    public_url: str | None = None
    reports_check_seconds: float = 60.0  # how often the email reports due are looked for

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = _Environ(os.environ if environ is None else environ)
        data_dir = env.path("DATA_DIR", Path("data")).resolve()
        return cls(
            data_dir=data_dir,
            clickhouse_url=env.clickhouse_url(data_dir),
            secret=env.secret_key(data_dir),
            geoip_city=env.existing_file("GEOIP_CITY") or _present(data_dir / GEOIP_CITY_FILE),
            geoip_operator=(
                env.existing_file("GEOIP_OPERATOR") or _present(data_dir / GEOIP_OPERATOR_FILE)
            ),
            trusted_proxies=env.networks("TRUSTED_PROXIES"),
            retention_months=env.integer("RETENTION_MONTHS", 25, low=1, high=120),
            min_cell=env.integer("MIN_CELL", 5, low=1, high=1000),
            spool_dir=env.path("SPOOL_DIR", data_dir / "spool").resolve(),
            spool_quota_bytes=int(env.number("SPOOL_QUOTA_MB", 1024, low=0.001, high=1e7) * 2**20),
            batch_rows=env.integer("BATCH_ROWS", 10_000, low=1, high=1_000_000),
            flush_interval=env.number("FLUSH_INTERVAL", 1.0, low=0.01, high=60.0),
            rate_limit_per_second=env.number("RATE_LIMIT", 20.0, low=0.0, high=1e6),
            rate_limit_burst=env.integer("RATE_LIMIT_BURST", 100, low=1, high=10**6),
            log_level=env.choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")),
            session_idle_minutes=env.integer("SESSION_IDLE_MINUTES", 60, low=1, high=7 * 24 * 60),
            session_hours=env.integer("SESSION_HOURS", 12, low=1, high=24 * 90),
            security_contact=env.contact_uri("SECURITY_CONTACT"),
            privacy_contact=env.contact_uri("PRIVACY_CONTACT"),
            maxmind_license_key=env.raw("MAXMIND_LICENSE_KEY"),
            root_path=env.root_path("ROOT_PATH"),
            smtp_url=env.smtp_url("SMTP_URL"),
            mail_from=env.mailbox("MAIL_FROM"),
            share_frame_ancestors=env.origins("SHARE_FRAME_ANCESTORS"),
            public_url=env.public_url("PUBLIC_URL"),
            reports_check_seconds=env.number("REPORTS_CHECK_SECONDS", 60.0, low=0.1, high=86400),
        )

    @property
    def is_embedded(self) -> bool:
        return self.clickhouse_url.startswith("chdb:")

    @property
    def secret_file(self) -> Path:
        """Where the secret is kept when AUDIENCE_SECRET_KEY is unset."""
        return self.data_dir / SECRET_FILE

    @property
    def secret_key(self) -> bytes:
        if self.secret is None:
            raise SettingsError(
                f"{PREFIX}SECRET_KEY: unset, and {self.secret_file} is not made yet"
                " (the start step makes it)"
            )
        return self.secret


@dataclass(frozen=True)
class _Environ:
    values: Mapping[str, str]

    def raw(self, name: str) -> str | None:
        value = self.values.get(PREFIX + name, "").strip()
        return value or None

    def fail(self, name: str, problem: str) -> SettingsError:
        return SettingsError(f"{PREFIX}{name}: {problem}")

    def path(self, name: str, default: Path) -> Path:
        value = self.raw(name)
        return Path(value).expanduser() if value else default

    def existing_file(self, name: str) -> Path | None:
        value = self.raw(name)
        if value is None:
            return None
        path = Path(value).expanduser().resolve()
        if not path.is_file():
            raise self.fail(name, f"no such file: {value}")
        return path

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        return self._bounded(name, default, int, "a whole number", low, high)

    def number(self, name: str, default: float, *, low: float, high: float) -> float:
        return self._bounded(name, default, float, "a number", low, high)

    def _bounded(self, name: str, default: N, kind: type[N], noun: str, low: N, high: N) -> N:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = kind(value)
        except ValueError:
            raise self.fail(name, f"expected {noun}, got {value!r}") from None
        if not low <= number <= high:
            raise self.fail(name, f"expected a number from {low} to {high}, got {number}")
        return number

    def choice(self, name: str, default: str, options: tuple[str, ...]) -> str:
        value = (self.raw(name) or default).lower()
        if value not in options:
            raise self.fail(name, f"expected one of {', '.join(options)}, got {value!r}")
        return value

    def networks(self, name: str) -> tuple[Network, ...]:
        value = self.raw(name)
        if value is None:
            return ()
        networks = []
        for item in value.replace(" ", ",").split(","):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise self.fail(name, f"not an IP address or network: {item!r}") from None
        return tuple(networks)

    def contact_uri(self, name: str) -> str | None:
        """A ``mailto:`` address or an ``https:`` URL: a line of security.txt, so one ASCII word."""
        value = self.raw(name)
        if value is None:
            return None
        if not value.isascii() or not value.isprintable() or " " in value:
            raise self.fail(name, f"expected a URI without spaces, got {value!r}")
        scheme, _, rest = value.partition(":")
        if scheme.lower() == "mailto" and _MAILBOX.fullmatch(rest):
            return value
        if scheme.lower() == "https" and _has_host(value):
            return value
        raise self.fail(name, f"expected mailto:ADDRESS or an https:// URL, got {value!r}")

    def root_path(self, name: str) -> str:
        """A path prefix such as ``/stats``: segments of unreserved URL characters."""
        value = (self.raw(name) or "").strip("/")
        if value and not _ROOT_PATH.fullmatch(value):
            raise self.fail(name, f"expected a path such as /stats, got {self.raw(name)!r}")
        return f"/{value}" if value else ""

    def smtp_url(self, name: str) -> str | None:
        """``smtp://[user:password@]host[:port]`` (STARTTLS when the server offers it, required
        with a password) or ``smtps://...`` (TLS from the start)."""
        value = self.raw(name)
        if value is None:
            return None
        scheme = value.partition("://")[0].lower()
        if scheme not in ("smtp", "smtps") or not _has_host(value):
            raise self.fail(name, "expected smtp://[USER:PASSWORD@]HOST[:PORT] or smtps://...")
        return value

    def origins(self, name: str) -> tuple[str, ...]:
        """Origins such as ``https://intranet.example.com`` or ``https://*.example.com``,
        separated by spaces or commas: a CSP source list."""
        found = []
        for item in (self.raw(name) or "").replace(",", " ").split():
            if not _ORIGIN.fullmatch(item):
                raise self.fail(name, f"expected origins such as https://example.com, got {item!r}")
            found.append(item.rstrip("/").lower())
        return tuple(found)

    def public_url(self, name: str) -> str | None:
        """An http(s) URL such as ``https://example.com/stats``, without its final slash."""
        value = self.raw(name)
        if value is None:
            return None
        scheme = value.partition("://")[0].lower()
        if scheme not in ("http", "https") or not _has_host(value) or "?" in value or "#" in value:
            raise self.fail(name, f"expected a URL such as https://ex.org/stats, got {value!r}")
        return value.rstrip("/")

    def mailbox(self, name: str) -> str | None:
        value = self.raw(name)
        if value is not None and not _MAILBOX.fullmatch(value):
            raise self.fail(name, f"expected an e-mail address, got {value!r}")
        return value

    def clickhouse_url(self, data_dir: Path) -> str:
        value = self.raw("CLICKHOUSE_URL")
        if value is None:
            return f"chdb://{data_dir / 'clickhouse'}"
        if not value.startswith(("chdb://", "http://", "https://")):
            raise self.fail("CLICKHOUSE_URL", "expected a chdb://, http:// or https:// URL")
        return value

    def secret_key(self, data_dir: Path) -> bytes | None:
        """The server secret: from the environment, else the file kept under the data directory,
        else None (``collector.ops.startup`` makes the file)."""
        value = self.raw("SECRET_KEY")
        if value is not None:
            if len(value) < MIN_SECRET_LENGTH:
                raise self.fail("SECRET_KEY", f"must be at least {MIN_SECRET_LENGTH} characters")
            return value.encode()
        return read_secret_file(data_dir / SECRET_FILE)


def _present(path: Path) -> Path | None:
    return path if path.is_file() else None


def _has_host(url: str) -> bool:
    try:
        return bool(urlsplit(url).hostname)
    except ValueError:  # an unclosed [ of an IPv6 host
        return False


def read_secret_file(path: Path) -> bytes | None:
    """The secret kept in ``path``; None when there is no such file."""
    try:
        secret = path.read_bytes().strip()
    except (FileNotFoundError, NotADirectoryError):  # the start step makes it, or names the problem
        return None
    except OSError as error:
        raise SettingsError(
            f"{PREFIX}SECRET_KEY: unset, and {path} (in {PREFIX}DATA_DIR) cannot be read:"
            f" {error.strerror}"
        ) from None
    if len(secret) < MIN_SECRET_LENGTH:
        raise SettingsError(
            f"{PREFIX}SECRET_KEY: unset, and {path} holds fewer than {MIN_SECRET_LENGTH}"
            " characters; set the variable or delete the file to have a new one made"
        )
    return secret
