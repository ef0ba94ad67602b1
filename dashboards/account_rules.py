"""What every part of the accounts shares: the account record, the rules its fields follow, the
accounts' SQL, and a short cache of what was read from the store."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as day_time
from functools import cache
from typing import Any, Literal

from collector import AudienceError
from collector.storage.sites import normalize_domain
from collector.storage.sql import load
from dashboards.sessions import MAX_EMAIL_BYTES

Role = Literal["admin", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "viewer")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
CACHE_SECONDS = 5.0
CACHE_ENTRIES = 10_000
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class AccountError(AudienceError, ValueError):
    """An account, key or invitation that cannot be created, found or changed; the message says
    why."""

    status = 400


@dataclass(frozen=True)
class User:
    email: str
    role: Role
    sites: frozenset[str] | None  # None: every site (admins)
    password_hash: str = field(default="", repr=False)
    revoked_before_ms: int = 0  # sessions issued before this are refused
    totp_nonce: str = field(default="", repr=False)  # "": no second factor (``totp``)

    def sees(self, site: str) -> bool:
        return self.sites is None or site in self.sites


@cache
def query(name: str) -> str:
    """The SQL of ``dashboards/queries/accounts/<name>.sql``."""
    return load("dashboards", f"queries/accounts/{name}")


def normalize_email(email: str) -> str:
    value = email.strip().lower()
    if not EMAIL.fullmatch(value) or len(value.encode()) > MAX_EMAIL_BYTES:
        raise AccountError(f"not an e-mail address: {email!r}")
    return value


def check_new_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")
    return password


def check_access(role: str, sites: Iterable[str]) -> tuple[Role, frozenset[str] | None]:
    """(role, sites) of an account: admins see every site, viewers the ones listed."""
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}: expected admin or viewer")
    listed = frozenset(normalize_domain(site) for site in sites)
    if role == "admin":
        if listed:
            raise AccountError("an admin sees every site: sites are chosen for viewers")
        return "admin", None
    if not listed:
        raise AccountError("a viewer needs at least one site")
    return "viewer", listed


def end_of_day(day: date) -> datetime:
    """The last second (UTC) of ``day``: when a key or a link that works "until" it stops."""
    return datetime.combine(day, day_time(23, 59, 59), UTC)


class TimedCache:
    """Values for a few seconds (misses included), bounded, safe across threads."""

    def __init__(self, seconds: float = CACHE_SECONDS) -> None:
        self.seconds = seconds
        self._entries: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[], Any]) -> Any:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self.seconds:
            return entry[1]
        value = load()
        with self._lock:
            if len(self._entries) >= CACHE_ENTRIES:
                self._entries.clear()
            self._entries[key] = (now, value)
        return value

    def drop(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)
