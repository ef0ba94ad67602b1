"""API keys of the stats API: created for a user, shown once, stored as a SHA-256.

A key reads what its user may see, narrowed to the sites chosen for it (none chosen: every site
of its user), until it is revoked or its optional expiry passes. A key is
``aud_<id>_<secret>``: the public id finds the record, the digest of the whole key proves it.
When a key was last used is written at most once a minute per key and process.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, cast

from collector.storage.sites import normalize_domain
from collector.storage.store import Store
from dashboards.account_rules import AccountError, TimedCache, User, normalize_email, query

KEY_PREFIX = "aud"
USE_NOTED_SECONDS = 60.0
NEVER = datetime(1970, 1, 1, tzinfo=UTC)
_KEY_ID = re.compile(r"^[0-9a-f]{8}$")


@dataclass(frozen=True)
class ApiKey:
    id: str
    email: str
    name: str
    created: datetime
    sites: frozenset[str] = frozenset()  # empty: every site of its user
    expires: datetime | None = None
    last_used: datetime | None = None
    digest: str = field(default="", repr=False)

    def expired(self, now: float) -> bool:
        return self.expires is not None and self.expires.timestamp() <= now

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user": self.email,
            "name": self.name,
            "sites": sorted(self.sites),
            "created": _iso(self.created),
            "expires": _iso(self.expires),
            "last_used": _iso(self.last_used),
        }


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def narrowed(user: User, key: ApiKey) -> User:
    """The user as the key lets it act: its sites, within those chosen for the key."""
    if not key.sites:
        return user
    sites = key.sites if user.sites is None else user.sites & key.sites
    return replace(user, sites=sites)


class ApiKeys:
    """Keys in the store. Every method blocks: call it off the event loop."""

    def __init__(
        self,
        store: Store,
        load_user: Callable[[str], User | None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.load_user = load_user  # fresh from the store, not cached
        self.clock = clock
        self._cache = TimedCache()
        self._noted: dict[str, float] = {}
        self._lock = threading.Lock()

    def all(self) -> list[ApiKey]:
        """Every key that is not revoked, expired ones included."""
        return [_key(row) for row in self.store.read(query("keys"))]

    def create(
        self,
        email: str,
        name: str = "",
        sites: Iterable[str] = (),
        expires: datetime | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key for the user: (its record, the key itself, shown once and never stored)."""
        email = normalize_email(email)
        user = self.load_user(email)
        if user is None:
            raise AccountError(f"no such user: {email}")
        chosen = frozenset(normalize_domain(site) for site in sites)
        if user.sites is not None and not chosen <= user.sites:
            others = ", ".join(sorted(chosen - user.sites))
            raise AccountError(f"{email} cannot see {others}: a key reads only its user's sites")
        if expires is not None and expires.timestamp() <= self.clock():
            raise AccountError("the expiry must be in the future")
        key_id = secrets.token_hex(4)
        while self._load(key_id) is not None:
            key_id = secrets.token_hex(4)
        key = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        record = ApiKey(
            key_id,
            email,
            name.strip()[:200],
            datetime.fromtimestamp(int(self.clock() * 1000) / 1000, UTC),
            chosen,
            expires,
            digest=key_digest(key),
        )
        self._save(record)
        return record, key

    def revoke(self, key_id: str) -> ApiKey:
        key = self._load(key_id.strip().lower())
        if key is None:
            raise AccountError(f"no such key: {key_id}")
        self._save(key, deleted=True)
        return key

    def revoke_all_of(self, email: str) -> None:
        for key in self.all():
            if key.email == email:
                self._save(key, deleted=True)

    def user_of(self, key: str, user: Callable[[str], User | None]) -> User | None:
        """The user a presented key acts for, narrowed to the key's sites; None for an unknown,
        revoked, expired or forged key. ``user`` finds an account (it may cache)."""
        key_id = _key_id(key)
        if key_id is None:
            return None
        record = cast(ApiKey | None, self._cache.get(key_id, lambda: self._load(key_id)))
        if record is None or not hmac.compare_digest(record.digest, key_digest(key)):
            return None
        now = self.clock()
        if record.expired(now):
            return None
        holder = user(record.email)
        if holder is None:
            return None
        self._note_use(key_id, now)
        return narrowed(holder, record)

    def _note_use(self, key_id: str, now: float) -> None:
        with self._lock:
            if now - self._noted.get(key_id, float("-inf")) < USE_NOTED_SECONDS:
                return
            self._noted[key_id] = now
        self.store.execute(query("key_used"), {"id": key_id, "used_ms": int(now * 1000)})

    def _load(self, key_id: str) -> ApiKey | None:
        rows = self.store.read(query("key"), {"id": key_id})
        return _key(rows[0]) if rows else None

    def _save(self, key: ApiKey, deleted: bool = False) -> None:
        created_ms = int(key.created.timestamp() * 1000)
        parameters = {
            "id": key.id,
            "digest": key.digest,
            "email": key.email,
            "name": key.name,
            "sites": sorted(key.sites),
            "created_ms": created_ms,
            "expires_ms": int(key.expires.timestamp() * 1000) if key.expires else 0,
            "updated_ms": max(created_ms, int(time.time() * 1000)),
            "deleted": int(deleted),
        }
        self.store.execute(query("save_key"), parameters)
        self._cache.drop(key.id)


def _key_id(key: str) -> str | None:
    prefix, _, rest = key.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != KEY_PREFIX or not _KEY_ID.fullmatch(key_id) or len(secret) < 32:
        return None
    return key_id


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    value = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return None if value <= NEVER else value


def _key(row: dict[str, Any]) -> ApiKey:
    created = _utc(row["created_at"]) or NEVER
    return ApiKey(
        row["id"],
        row["email"],
        row["name"],
        created,
        frozenset(row.get("sites") or ()),
        _utc(row.get("expires_at")),
        _utc(row.get("used_at")),
        digest=row["digest"],
    )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")
