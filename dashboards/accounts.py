"""Dashboards accounts: users with Argon2id passwords, an optional TOTP second factor, API keys,
sign-outs, sign-in throttling.

Everything lives in the store (``schema/003_accounts.sql``), read and written with the SQL of
``dashboards/queries/accounts/``; lookups are cached for a few seconds per process so a page load
costs no query, and a change made by this process drops its own cache at once. Sign-in throttling
is kept in memory, per process: with N processes an attacker gets at most N times the attempts.
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
from functools import cache
from typing import Any, Literal, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from collector import AudienceError
from collector.storage.sites import normalize_domain
from collector.storage.sql import load
from collector.storage.store import Store
from dashboards import totp
from dashboards.sessions import MAX_EMAIL_BYTES, SessionSigner
from dashboards.throttle import LoginThrottle

Role = Literal["admin", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "viewer")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
CACHE_SECONDS = 5.0
CACHE_ENTRIES = 10_000
KEY_PREFIX = "aud"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_KEY_ID = re.compile(r"^[0-9a-f]{8}$")

Clock = Callable[[], float]


class AccountError(AudienceError, ValueError):
    """An account or key that cannot be created, found or changed; the message says why."""

    status = 400


class Throttled(AudienceError):
    """Too many failed sign-ins for this e-mail: wait ``retry_after`` seconds."""

    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} seconds")
        self.retry_after = retry_after


@dataclass(frozen=True)
class User:
    email: str
    role: Role
    sites: frozenset[str] | None  # None: every site (admins)
    password_hash: str = field(default="", repr=False)
    revoked_before_ms: int = 0  # sessions issued before this are refused
    totp_nonce: str = field(default="", repr=False)  # "": no second factor (``totp``)


@dataclass(frozen=True)
class ApiKey:
    id: str
    email: str
    name: str
    created: datetime
    digest: str = field(default="", repr=False)


@cache
def query(name: str) -> str:
    """The SQL of ``dashboards/queries/accounts/<name>.sql``."""
    return load("dashboards", f"queries/accounts/{name}")


def normalize_email(email: str) -> str:
    value = email.strip().lower()
    if not _EMAIL.fullmatch(value) or len(value.encode()) > MAX_EMAIL_BYTES:
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
            raise AccountError("an admin sees every site: --site is for viewers")
        return "admin", None
    if not listed:
        raise AccountError("a viewer needs at least one --site")
    return "viewer", listed


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _key_id(key: str) -> str | None:
    prefix, _, rest = key.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != KEY_PREFIX or not _KEY_ID.fullmatch(key_id) or len(secret) < 32:
        return None
    return key_id


class _Cache:
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


class Accounts:
    """Users, keys and sign-outs in the store. Every method blocks: call it off the event loop."""

    def __init__(self, store: Store, secret_key: bytes, *, clock: Clock = time.time) -> None:
        self.store = store
        self.clock = clock  # session times; tests move it instead of sleeping
        self.sessions = SessionSigner(secret_key)
        self.throttle = LoginThrottle()
        self.used_steps = totp.UsedSteps()
        self._secret_key = secret_key
        self._hasher = PasswordHasher()  # Argon2id, RFC 9106 low-memory parameters
        self._dummy_hash: str | None = None
        self._users = _Cache()
        self._keys = _Cache()
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # Users

    def user(self, email: str) -> User | None:
        """The account (cached for a few seconds), or None."""
        return cast(User | None, self._users.get(email, lambda: self._load_user(email)))

    def users(self) -> list[User]:
        return [_user(row) for row in self.store.read(query("users"))]

    def add_user(self, email: str, password: str, role: str, sites: Iterable[str] = ()) -> bool:
        """Create the account, or replace its password and access (True when it is new).

        Replacing an account signs it out everywhere."""
        email = normalize_email(email)
        checked_role, checked_sites = check_access(role, sites)
        password_hash = self._hasher.hash(check_new_password(password))
        existing = self._load_user(email)
        nonce = existing.totp_nonce if existing else ""  # a second factor stays enrolled
        self._save_user(User(email, checked_role, checked_sites, password_hash, totp_nonce=nonce))
        if existing:
            self.revoke_sessions(email)
        self._users.drop(email)
        return existing is None

    def remove_user(self, email: str) -> None:
        """Remove the account, sign it out everywhere and revoke its keys."""
        email = normalize_email(email)
        if self._load_user(email) is None:
            raise AccountError(f"no such user: {email}")
        self._save_user(User(email, "viewer", frozenset()), deleted=True)
        self.revoke_sessions(email)
        for key in self.api_keys():
            if key.email == email:
                self.revoke_key(key.id)
        self._users.drop(email)

    def revoke_sessions(self, email: str) -> None:
        """Every session of ``email`` issued until now (this millisecond included) stops working,
        copied cookies included."""
        before_ms = self.now_ms() + 1
        self.store.execute(query("revoke_sessions"), {"email": email, "before_ms": before_ms})
        self._users.drop(email)

    def enable_totp(self, email: str) -> bytes:
        """Enrol (or re-enrol) the second factor and sign the user out; the secret, shown once.

        A new nonce makes a new secret: an authenticator holding the previous one stops working."""
        user = self._existing(email)
        nonce = totp.new_nonce()
        self._save_user(replace(user, totp_nonce=nonce))
        self.revoke_sessions(user.email)
        return totp.derive_secret(self._secret_key, user.email, nonce)

    def disable_totp(self, email: str) -> bool:
        """Remove the second factor and sign the user out (False: it was not enabled)."""
        user = self._existing(email)
        if not user.totp_nonce:
            return False
        self._save_user(replace(user, totp_nonce=""))
        self.revoke_sessions(user.email)
        return True

    def sign_in(self, email: str, password: str, code: str = "") -> User | None:
        """The account when the password (and, with a second factor, the code) is right; raises
        Throttled after too many failures, a missing, wrong or reused code counting as one.

        An unknown e-mail costs the same Argon2 time as a wrong password."""
        email = email.strip().lower()
        wait = self.throttle.retry_after(email, self.clock())
        if wait:
            raise Throttled(wait)
        dummy = self._dummy()  # made at the first sign-in, whoever it is for
        user = self._load_user(email) if _EMAIL.fullmatch(email) else None
        candidate = password if len(password) <= MAX_PASSWORD_LENGTH else ""
        if user is None or not user.password_hash:
            self._verify(dummy, candidate)
            user = None
        elif not self._verify(user.password_hash, candidate) or not self._second_factor(user, code):
            user = None
        if user is None:
            self.throttle.failed(email, self.clock())
            return None
        self.throttle.succeeded(email)
        if self._hasher.check_needs_rehash(user.password_hash):
            self._save_user(replace(user, password_hash=self._hasher.hash(candidate)))
        return user

    def _second_factor(self, user: User, code: str) -> bool:
        """No second factor, or a valid code for a time step the user has not signed in with."""
        if not user.totp_nonce:
            return True
        now = self.clock()
        secret = totp.derive_secret(self._secret_key, user.email, user.totp_nonce)
        step = totp.verify(secret, code[:64], now)
        return step is not None and self.used_steps.claim(user.email, step, now)

    # API keys

    def api_keys(self) -> list[ApiKey]:
        return [_key(row) for row in self.store.read(query("keys"))]

    def create_key(self, email: str, name: str = "") -> tuple[ApiKey, str]:
        """A new key for the user: (its record, the key itself, shown once and never stored)."""
        email = normalize_email(email)
        if self._load_user(email) is None:
            raise AccountError(f"no such user: {email}")
        key_id = secrets.token_hex(4)
        while self._load_key(key_id) is not None:
            key_id = secrets.token_hex(4)
        key = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        created_ms = int(time.time() * 1000)
        self._save_key(key_id, key_digest(key), email, name.strip(), created_ms)
        self._keys.drop(key_id)
        record = self._load_key(key_id)
        assert record is not None
        return record, key

    def revoke_key(self, key_id: str) -> ApiKey:
        key = self._load_key(key_id.strip().lower())
        if key is None:
            raise AccountError(f"no such key: {key_id}")
        self._save_key(
            key.id, key.digest, key.email, key.name, int(key.created.timestamp() * 1000), True
        )
        self._keys.drop(key.id)
        return key

    def key_user(self, key: str) -> User | None:
        """The user a presented API key acts for, or None (unknown, revoked, or forged key)."""
        key_id = _key_id(key)
        if key_id is None:
            return None
        record = cast(ApiKey | None, self._keys.get(key_id, lambda: self._load_key(key_id)))
        if record is None or not hmac.compare_digest(record.digest, key_digest(key)):
            return None
        return self.user(record.email)

    # Store access

    def _load_user(self, email: str) -> User | None:
        rows = self.store.read(query("user"), {"email": email})
        return _user(rows[0]) if rows else None

    def _existing(self, email: str) -> User:
        email = normalize_email(email)
        user = self._load_user(email)
        if user is None:
            raise AccountError(f"no such user: {email}")
        return user

    def _save_user(self, user: User, *, deleted: bool = False) -> None:
        """A new version of the account with every column: a change keeps what it does not touch."""
        parameters = {
            "email": user.email,
            "password_hash": user.password_hash,
            "role": user.role,
            "sites": sorted(user.sites or ()),
            "totp_nonce": user.totp_nonce,
            "updated_ms": int(time.time() * 1000),
            "deleted": int(deleted),
        }
        self.store.execute(query("save_user"), parameters)

    def _load_key(self, key_id: str) -> ApiKey | None:
        rows = self.store.read(query("key"), {"id": key_id})
        return _key(rows[0]) if rows else None

    def _save_key(
        self,
        key_id: str,
        digest: str,
        email: str,
        name: str,
        created_ms: int,
        deleted: bool = False,
    ) -> None:
        parameters = {
            "id": key_id,
            "digest": digest,
            "email": email,
            "name": name,
            "created_ms": created_ms,
            "updated_ms": max(created_ms, int(time.time() * 1000)),
            "deleted": int(deleted),
        }
        self.store.execute(query("save_key"), parameters)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def _dummy(self) -> str:
        with self._lock:
            if self._dummy_hash is None:
                self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
            return self._dummy_hash


def _user(row: dict[str, Any]) -> User:
    role: Role = "admin" if row["role"] == "admin" else "viewer"
    return User(
        email=row["email"],
        role=role,
        sites=None if role == "admin" else frozenset(row["sites"]),
        password_hash=row["password_hash"],
        revoked_before_ms=int(row.get("revoked_before_ms") or 0),
        totp_nonce=row.get("totp_nonce") or "",
    )


def _key(row: dict[str, Any]) -> ApiKey:
    created: datetime = row["created_at"]
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)  # the column is UTC; the driver may drop the zone
    return ApiKey(row["id"], row["email"], row["name"], created, row["digest"])
