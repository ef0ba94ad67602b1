"""Shared links: a site's dashboard, read-only, for whoever holds the link; no account.

The link carries a random secret (256 bits); the store keeps its SHA-256, the site, the filters
the link locks, and, when it has one, an Argon2id hash of its password. A wrong password counts
against the link (5 tries in 15 minutes, in memory per process, as sign-ins do); a right one
gives the browser a pass for 12 hours: a cookie signed with the server secret, sent back only
under the link's own path. Revoking the link ends it and its passes at once. The link shows
what the dashboard shows (the aggregates, small cells folded), never more.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
import secrets
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from collector.storage.store import Store
from dashboards.account_rules import AccountError, check_new_password
from dashboards.accounts import Throttled
from dashboards.audit import query
from dashboards.periods import FILTERS, QueryError, parse_filters
from dashboards.throttle import LoginThrottle

TOKEN_BYTES = 32
ID_LENGTH = 12
PASS_SECONDS = 12 * 3600
MAX_FILTER_CHARACTERS = 300
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")
_PASS = struct.Struct(">Q")


@dataclass(frozen=True)
class SharedLink:
    digest: str = field(repr=False)
    site: str
    name: str
    filters: dict[str, str]
    password_hash: str = field(repr=False)
    created_by: str
    created: datetime
    expires: datetime | None = None

    @property
    def id(self) -> str:
        return self.digest[:ID_LENGTH]

    @property
    def has_password(self) -> bool:
        return bool(self.password_hash)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "site": self.site,
            "name": self.name,
            "filters": self.filters,
            "password": self.has_password,
            "created_by": self.created_by,
            "created": self.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "expires": self.expires.strftime("%Y-%m-%dT%H:%M:%SZ") if self.expires else None,
        }


def token_digest(token: str) -> str:
    return hashlib.sha256(f"shared-link:{token}".encode()).hexdigest()


def checked_filters(filters: Mapping[str, str]) -> dict[str, str]:
    """The filters a link locks: dashboard filters with a value each."""
    locked = {}
    for name, value in filters.items():
        if not value.strip():
            continue
        if name not in FILTERS:
            raise AccountError(f"unknown filter {name!r}: expected one of {', '.join(FILTERS)}")
        if len(value) > MAX_FILTER_CHARACTERS:
            raise AccountError(f"the {name} filter is longer than {MAX_FILTER_CHARACTERS}")
        try:
            locked.update(parse_filters({name: value.strip()}))
        except QueryError as error:
            raise AccountError(str(error)) from None
    return locked


class SharedLinks:
    """Shared links in the store. Every method blocks: call it off the event loop."""

    def __init__(
        self, store: Store, secret_key: bytes, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.clock = clock
        self.throttle = LoginThrottle()
        self._hasher = PasswordHasher()
        self._pass_key = hashlib.blake2b(secret_key, person=b"audience-share").digest()

    def create(
        self,
        site: str,
        name: str,
        filters: Mapping[str, str],
        password: str,
        by: str,
        expires: datetime | None = None,
    ) -> tuple[SharedLink, str]:
        """A new link: (its record, the secret of its URL, shown once)."""
        locked = checked_filters(filters)
        if expires is not None and expires.timestamp() <= self.clock():
            raise AccountError("the expiry must be in the future")
        hashed = self._hasher.hash(check_new_password(password)) if password else ""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        created = datetime.fromtimestamp(int(self.clock()), UTC)
        title = name.strip()[:200]
        link = SharedLink(token_digest(token), site, title, locked, hashed, by, created, expires)
        self._save(link)
        return link, token

    def of_site(self, site: str) -> list[SharedLink]:
        return [_link(row) for row in self.store.read(query("shared_links"), {"site": site})]

    def find(self, token: str) -> SharedLink | None:
        if not _TOKEN.fullmatch(token):
            return None
        rows = self.store.read(query("shared_link"), {"digest": token_digest(token)})
        link = _link(rows[0]) if rows else None
        if link is None or (link.expires is not None and link.expires.timestamp() <= self.clock()):
            return None
        return link

    def revoke(self, site: str, link_id: str) -> SharedLink:
        for link in self.of_site(site):
            if hmac.compare_digest(link.id, link_id.strip().lower()):
                self._save(link, deleted=True)
                return link
        raise AccountError(f"no such shared link of {site}: {link_id}")

    def check_password(self, link: SharedLink, password: str) -> bool:
        """True for the link's password; raises Throttled after too many wrong ones."""
        now = self.clock()
        wait = self.throttle.retry_after(link.digest, now)
        if wait:
            raise Throttled(wait)
        right = False
        with contextlib.suppress(VerificationError, InvalidHashError):
            right = self._hasher.verify(link.password_hash, password[:1024])
        if not right:
            self.throttle.failed(link.digest, now)
            return False
        self.throttle.succeeded(link.digest)
        return True

    def issue_pass(self, link: SharedLink) -> str:
        """A pass for ``link`` (a cookie's value), valid for PASS_SECONDS."""
        expires = _PASS.pack(int(self.clock()) + PASS_SECONDS)
        mac = hmac.new(self._pass_key, link.digest.encode() + expires, "sha256").digest()
        return base64.urlsafe_b64encode(expires + mac[:16]).decode().rstrip("=")

    def pass_is_valid(self, link: SharedLink, value: str | None) -> bool:
        if not value or len(value) > 64:
            return False
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except ValueError:
            return False
        if len(raw) != _PASS.size + 16:
            return False
        expires, mac = raw[: _PASS.size], raw[_PASS.size :]
        expected = hmac.new(self._pass_key, link.digest.encode() + expires, "sha256").digest()
        return hmac.compare_digest(mac, expected[:16]) and (_PASS.unpack(expires)[0] > self.clock())

    def _save(self, link: SharedLink, *, deleted: bool = False) -> None:
        self.store.execute(
            query("save_shared_link"),
            {
                "digest": link.digest,
                "site": link.site,
                "name": link.name,
                "filters": json.dumps(link.filters, sort_keys=True),
                "password_hash": link.password_hash,
                "created_by": link.created_by,
                "created_ms": int(link.created.timestamp() * 1000),
                "expires_ms": int(link.expires.timestamp() * 1000) if link.expires else 0,
                "updated_ms": max(int(time.time() * 1000), int(self.clock() * 1000)),
                "deleted": int(deleted),
            },
        )


def _link(row: dict[str, Any]) -> SharedLink:
    created, expires = _utc(row["created_at"]), _utc(row.get("expires_at"))
    filters = json.loads(row["filters"] or "{}")
    return SharedLink(
        row["digest"], row["site"], row["name"], dict(filters), row["password_hash"],
        row["created_by"], created or datetime.fromtimestamp(0, UTC), expires,
    )  # fmt: skip


def _utc(value: datetime | None) -> datetime | None:
    """A stored time as an aware one; None for none (the epoch)."""
    if value is None:
        return None
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return None if value.timestamp() <= 0 else value
