"""The signed visitor state (DESIGN section 6): read, advance the visit, re-sign, never extend.

The state holds a random 128-bit visitor id, its creation time and the current visit (start, last
activity, ordinal, previous visit start). It is signed with a key derived from the server secret, so
it cannot be forged, and expires at creation + 13 months whatever happens later. ClickHouse only
ever sees keyed hashes of the ids, computed here.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass, replace
from datetime import UTC, datetime

COOKIE_LIFETIME_MONTHS = 13
VISIT_TIMEOUT_SECONDS = 30 * 60
SECONDS_PER_DAY = 86_400
STATE_VERSION = 1
_LAYOUT = struct.Struct(">B16sQQQIQ")  # version, id, created, visit start, last seen, number, prev
_MAC_BYTES = 16
MAX_STATE_LENGTH = 128


@dataclass(frozen=True, slots=True)
class VisitorState:
    visitor_id: bytes
    created: int
    visit_start: int
    last_seen: int
    visit_number: int
    previous_visit_start: int

    @property
    def expires(self) -> int:
        """Creation + 13 calendar months (clamped to the month's last day): never later."""
        return add_months(self.created, COOKIE_LIFETIME_MONTHS)

    @property
    def days_since_last_visit(self) -> int:
        if self.visit_number <= 1 or not self.previous_visit_start:
            return 0
        return max(0, (self.visit_start - self.previous_visit_start) // SECONDS_PER_DAY)


def add_months(timestamp: int, months: int) -> int:
    moment = datetime.fromtimestamp(timestamp, UTC)
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


def new_visitor(now: int) -> VisitorState:
    return VisitorState(
        visitor_id=secrets.token_bytes(16),
        created=now,
        visit_start=now,
        last_seen=now,
        visit_number=1,
        previous_visit_start=0,
    )


def advance(state: VisitorState | None, now: int) -> VisitorState:
    """The state after an event at ``now``: same visit, a new visit, or a new visitor."""
    if state is None or now >= state.expires:
        return new_visitor(now)
    if now - state.last_seen > VISIT_TIMEOUT_SECONDS:
        return replace(
            state,
            visit_start=now,
            last_seen=now,
            visit_number=state.visit_number + 1,
            previous_visit_start=state.visit_start,
        )
    return replace(state, last_seen=max(state.last_seen, now))


class StateSigner:
    """Signs and verifies states, and hashes their ids for storage, with keys from one secret."""

    def __init__(self, secret: bytes) -> None:
        self._sign_key = hashlib.blake2b(secret, person=b"audience-sign").digest()
        self._hash_key = hashlib.blake2b(secret, person=b"audience-hash").digest()

    def sign(self, state: VisitorState) -> str:
        payload = _LAYOUT.pack(
            STATE_VERSION,
            state.visitor_id,
            state.created,
            state.visit_start,
            state.last_seen,
            state.visit_number,
            state.previous_visit_start,
        )
        mac = hmac.digest(self._sign_key, payload, "sha256")[:_MAC_BYTES]
        return base64.urlsafe_b64encode(payload + mac).rstrip(b"=").decode()

    def verify(self, token: str | None) -> VisitorState | None:
        """The state in ``token``, or None when it is absent, malformed or forged."""
        if not token or len(token) > MAX_STATE_LENGTH:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(raw) != _LAYOUT.size + _MAC_BYTES:
            return None
        payload, mac = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
        expected = hmac.digest(self._sign_key, payload, "sha256")[:_MAC_BYTES]
        if not hmac.compare_digest(mac, expected):
            return None
        version, visitor_id, created, start, last, number, previous = _LAYOUT.unpack(payload)
        if version != STATE_VERSION or number < 1:
            return None
        return VisitorState(visitor_id, created, start, last, number, previous)

    def visitor_hash(self, state: VisitorState) -> int:
        return self._hash(state.visitor_id)

    def visit_hash(self, state: VisitorState) -> int:
        visit = state.visit_start.to_bytes(8, "big") + state.visit_number.to_bytes(4, "big")
        return self._hash(state.visitor_id + visit)

    def _hash(self, data: bytes) -> int:
        digest = hashlib.blake2b(data, key=self._hash_key, digest_size=8).digest()
        return int.from_bytes(digest, "big")
