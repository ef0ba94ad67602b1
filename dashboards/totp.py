"""Time-based one-time passwords (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps).

The secret of a user is never stored: it is derived from the server secret, the e-mail and a
random enrolment nonce (the only thing the store keeps), so re-enrolling with a new nonce makes a
new secret and the old authenticator stops working. A code is accepted one step early or late
(clock drift); ``verify`` says which step matched so that a code already used can be refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import threading
from urllib.parse import quote

DIGITS = 6
STEP_SECONDS = 30
WINDOW_STEPS = 1  # steps accepted either side of the current one
SECRET_BYTES = 20  # 160 bits, the length RFC 4226 recommends for HMAC-SHA-1
ISSUER = "Kalido Audience"
USED_STEPS_ENTRIES = 100_000


def new_nonce() -> str:
    """A random enrolment nonce: a new one gives the user a new secret."""
    return secrets.token_hex(16)


def is_nonce(value: str) -> bool:
    """``value`` is a nonce ``new_nonce`` may have made."""
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def derive_secret(server_secret: bytes, email: str, nonce: str) -> bytes:
    """The user's TOTP secret: a keyed BLAKE2b of the nonce and e-mail under the server secret."""
    key = hashlib.blake2b(server_secret, person=b"audience-totp").digest()
    message = f"{nonce}:{email}".encode()  # the nonce is hex: the split is unambiguous
    return hashlib.blake2b(message, key=key, digest_size=SECRET_BYTES).digest()


def encode_secret(secret: bytes) -> str:
    """The secret as authenticator apps take it: base32, no padding."""
    return base64.b32encode(secret).decode().rstrip("=")


def otpauth_uri(email: str, secret: bytes) -> str:
    """The ``otpauth://`` URI an authenticator app reads (usually from a QR code)."""
    issuer = quote(ISSUER, safe="")
    label = f"{issuer}:{quote(email, safe='@')}"
    return f"otpauth://totp/{label}?secret={encode_secret(secret)}&issuer={issuer}"


def time_step(now: float) -> int:
    return int(now // STEP_SECONDS)


def code_at(secret: bytes, step: int, digits: int = DIGITS) -> str:
    """The code of one time step (HOTP of RFC 4226 with the step as its counter)."""
    digest = hmac.new(secret, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def generate(secret: bytes, now: float, digits: int = DIGITS) -> str:
    return code_at(secret, time_step(now), digits)


def verify(secret: bytes, code: str, now: float, digits: int = DIGITS) -> int | None:
    """The time step ``code`` belongs to (within one step of ``now``), or None.

    Every step of the window is computed and compared in constant time, whatever matches."""
    candidate = "".join(code.split())  # authenticator apps show "123 456"
    if len(candidate) != digits or not candidate.isascii() or not candidate.isdigit():
        return None
    current = time_step(now)
    matched = None
    for step in range(current - WINDOW_STEPS, current + WINDOW_STEPS + 1):
        if hmac.compare_digest(code_at(secret, step, digits), candidate):
            matched = step
    return matched


class UsedSteps:
    """The last time step each user signed in with, to refuse a code used once already.

    Kept in memory by the process that serves the sign-in: with several processes (``--workers``)
    a replay is refused only by the process that saw the code first, within the code's lifetime.
    """

    def __init__(self) -> None:
        self._last: dict[str, int] = {}
        self._lock = threading.Lock()

    def claim(self, email: str, step: int, now: float) -> bool:
        """Record ``step`` for ``email``: False when it (or a later step) was used already."""
        with self._lock:
            if step <= self._last.get(email, -1):
                return False
            if len(self._last) >= USED_STEPS_ENTRIES:
                self._forget_expired(time_step(now))
            self._last[email] = step
            return True

    def _forget_expired(self, current: int) -> None:
        # a step older than the window can no longer be presented: its record is useless
        for email in [e for e, s in self._last.items() if s < current - WINDOW_STEPS]:
            del self._last[email]
        while len(self._last) >= USED_STEPS_ENTRIES:
            del self._last[next(iter(self._last))]
