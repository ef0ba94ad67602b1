"""Dashboards accounts: users with Argon2id passwords, an optional TOTP second factor, API keys,
sign-outs, sign-in throttling.

Everything lives in the store (``schema/003_accounts.sql``), read and written with the SQL of
``dashboards/queries/accounts/``; lookups are cached for a few seconds per process so a page load
costs no query, and a change made by this process drops its own cache at once. Sign-in throttling
is kept in memory, per process: with N processes an attacker gets at most N times the attempts.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from collector import AudienceError
from collector.storage.store import Store
from dashboards import totp
from dashboards.account_rules import (
    EMAIL,
    MAX_PASSWORD_LENGTH,
    AccountError,
    Role,
    TimedCache,
    User,
    check_access,
    check_new_password,
    normalize_email,
    query,
)
from dashboards.api_keys import ApiKeys
from dashboards.recovery_codes import RecoveryCodes
from dashboards.sessions import SessionSigner
from dashboards.throttle import LoginThrottle

Clock = Callable[[], float]


class Throttled(AudienceError):
    """Too many failed sign-ins for this e-mail: wait ``retry_after`` seconds."""

    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} seconds")
        self.retry_after = retry_after


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
        self._users = TimedCache()
        self.keys = ApiKeys(store, self._load_user, lambda: self.clock())
        self.recovery_codes = RecoveryCodes(store, secret_key)
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # Users

    def user(self, email: str) -> User | None:
        """The account (cached for a few seconds), or None."""
        return cast(User | None, self._users.get(email, lambda: self._load_user(email)))

    def user_now(self, email: str) -> User | None:
        """The account as the store has it now, or None."""
        return self._load_user(email)

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

    def set_access(self, email: str, role: str, sites: Iterable[str] = ()) -> User:
        """Change an account's role and sites; its sessions end (they carried the old access)."""
        user = self._existing(email)
        checked_role, checked_sites = check_access(role, sites)
        changed = replace(user, role=checked_role, sites=checked_sites)
        self._save_user(changed)
        self.revoke_sessions(user.email)
        return changed

    def change_password(self, email: str, current: str, new: str) -> None:
        """Replace the password when ``current`` is right (a wrong one counts as a failed
        sign-in); every session of the account ends, the caller issues the current one again."""
        user = self._existing(email)
        wait = self.throttle.retry_after(user.email, self.clock())
        if wait:
            raise Throttled(wait)
        if not self._verify(user.password_hash, current[:MAX_PASSWORD_LENGTH]):
            self.throttle.failed(user.email, self.clock())
            raise AccountError("the current password is wrong")
        password_hash = self._hasher.hash(check_new_password(new))
        self._save_user(replace(user, password_hash=password_hash))
        self.revoke_sessions(user.email)

    def remove_user(self, email: str) -> None:
        """Remove the account, sign it out everywhere and revoke its keys."""
        email = normalize_email(email)
        if self._load_user(email) is None:
            raise AccountError(f"no such user: {email}")
        self._save_user(User(email, "viewer", frozenset()), deleted=True)
        self.revoke_sessions(email)
        self.keys.revoke_all_of(email)
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

    def confirm_totp(self, email: str, nonce: str, code: str) -> list[str] | None:
        """Enrol the second factor of ``nonce`` (``totp.new_nonce``, shown to the user as a QR
        code) once ``code`` proves the authenticator holds it: the new recovery codes, shown
        once, or None for a wrong code. The user's sessions end."""
        user = self._existing(email)
        if not totp.is_nonce(nonce):
            raise AccountError("this enrolment is not valid: start again")
        secret = totp.derive_secret(self._secret_key, user.email, nonce)
        now = self.clock()
        step = totp.verify(secret, code[:64], now)
        if step is None or not self.used_steps.claim(user.email, step, now):
            return None
        self._save_user(replace(user, totp_nonce=nonce))
        self.revoke_sessions(user.email)
        return self.recovery_codes.replace(user.email)

    def totp_secret(self, email: str, nonce: str) -> bytes:
        """The secret a nonce gives ``email``: shown while enrolling, never stored."""
        return totp.derive_secret(self._secret_key, normalize_email(email), nonce)

    def disable_totp(self, email: str) -> bool:
        """Remove the second factor and sign the user out (False: it was not enabled)."""
        user = self._existing(email)
        if not user.totp_nonce:
            return False
        self._save_user(replace(user, totp_nonce=""))
        self.recovery_codes.discard(user.email)
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
        user = self._load_user(email) if EMAIL.fullmatch(email) else None
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
        """No second factor, a valid code for a time step the user has not signed in with, or a
        recovery code not used yet."""
        if not user.totp_nonce:
            return True
        now = self.clock()
        secret = totp.derive_secret(self._secret_key, user.email, user.totp_nonce)
        step = totp.verify(secret, code[:64], now)
        if step is not None:
            return self.used_steps.claim(user.email, step, now)
        return self.recovery_codes.use(user.email, code[:64])

    def key_user(self, key: str) -> User | None:
        """The user a presented API key acts for (within the key's sites), or None."""
        return self.keys.user_of(key, self.user)

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
