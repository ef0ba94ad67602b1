"""The signed session cookie of the dashboards: issue, verify, refresh, expire.

The cookie holds a random session id, the e-mail, the issue time and the last-seen time, signed
with a key derived from the server secret: any process holding the secret can check it, so there
is no session store. A session dies after ``idle`` without a request or ``absolute`` after it was
issued, whichever comes first; sign-out is recorded per user in the store (``Accounts``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass, replace

from collector.settings import Settings

SECURE_COOKIE = "__Host-audience-session"
PREFIXED_COOKIE = "__Secure-audience-session"  # over https under a root path (__Host- needs /)
PLAIN_COOKIE = "audience-session"
REFRESH_SECONDS = 60  # the cookie is re-issued with a new last-seen at most once a minute
SESSION_VERSION = 1
_LAYOUT = struct.Struct(">B16sQQ")  # version, session id, issued (ms), last seen (ms)
_MAC_BYTES = 16
MAX_EMAIL_BYTES = 254
MAX_TOKEN_LENGTH = 4 * (_LAYOUT.size + MAX_EMAIL_BYTES + _MAC_BYTES + 2) // 3 + 4


@dataclass(frozen=True, slots=True)
class Session:
    session_id: bytes
    email: str
    issued_ms: int
    last_seen_ms: int


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle_seconds: int
    absolute_seconds: int

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionPolicy:
        return cls(settings.session_idle_minutes * 60, settings.session_hours * 3600)

    def ends_ms(self, session: Session) -> int:
        """When the session stops being valid unless a request comes first."""
        return min(
            session.last_seen_ms + self.idle_seconds * 1000,
            session.issued_ms + self.absolute_seconds * 1000,
        )

    def is_live(self, session: Session, now_ms: int) -> bool:
        return session.issued_ms - 60_000 <= now_ms < self.ends_ms(session)

    def refreshed(self, session: Session, now_ms: int) -> Session | None:
        """The session with a new last-seen, when the cookie is due to be re-issued."""
        if now_ms - session.last_seen_ms < REFRESH_SECONDS * 1000:
            return None
        return replace(session, last_seen_ms=now_ms)

    def max_age(self, session: Session, now_ms: int) -> int:
        """Seconds the browser keeps the cookie: never past the idle or the absolute limit."""
        return max(0, (self.ends_ms(session) - now_ms) // 1000)


def new_session(email: str, now_ms: int) -> Session:
    """A fresh session: a new random id at every sign-in."""
    return Session(secrets.token_bytes(16), email, now_ms, now_ms)


class SessionSigner:
    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.blake2b(secret, person=b"audience-session").digest()

    def sign(self, session: Session) -> str:
        email = session.email.encode()
        if len(email) > MAX_EMAIL_BYTES:
            raise ValueError("e-mail address too long for a session")
        payload = (
            _LAYOUT.pack(
                SESSION_VERSION, session.session_id, session.issued_ms, session.last_seen_ms
            )
            + email
        )
        mac = hmac.digest(self._key, payload, "sha256")[:_MAC_BYTES]
        return base64.urlsafe_b64encode(payload + mac).rstrip(b"=").decode()

    def verify(self, token: str | None) -> Session | None:
        """The session in ``token``, or None when it is absent, malformed or forged."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(raw) <= _LAYOUT.size + _MAC_BYTES:
            return None
        payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        expected = hmac.digest(self._key, payload, "sha256")[:_MAC_BYTES]
        if not hmac.compare_digest(mac, expected):
            return None
        version, session_id, issued, last_seen = _LAYOUT.unpack(payload[: _LAYOUT.size])
        if version != SESSION_VERSION or last_seen < issued:
            return None
        try:
            email = payload[_LAYOUT.size :].decode()
        except UnicodeDecodeError:
            return None
        return Session(session_id, email, issued, last_seen)


def cookie_name(secure: bool, root: str = "") -> str:
    """The session cookie's name: ``__Host-`` over https at the root of the host, ``__Secure-``
    under a root path (a ``__Host-`` cookie must have Path=/)."""
    if not secure:
        return PLAIN_COOKIE
    return PREFIXED_COOKIE if root else SECURE_COOKIE


def session_cookie(token: str, max_age: int, secure: bool, root: str = "") -> str:
    """Set-Cookie for a session: host-only, sent only under ``root``, HttpOnly,
    SameSite=Strict, Secure over https."""
    flags = "; HttpOnly; Secure; SameSite=Strict" if secure else "; HttpOnly; SameSite=Strict"
    return f"{cookie_name(secure, root)}={token}; Path={root or '/'}; Max-Age={max_age}{flags}"


def cleared_cookie(secure: bool, root: str = "") -> str:
    """Set-Cookie that removes the session cookie."""
    past = "Thu, 01 Jan 1970 00:00:00 GMT"
    flags = "; HttpOnly; Secure; SameSite=Strict" if secure else "; HttpOnly; SameSite=Strict"
    name, path = cookie_name(secure, root), root or "/"
    return f"{name}=; Path={path}; Expires={past}; Max-Age=0{flags}"
