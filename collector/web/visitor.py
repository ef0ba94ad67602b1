"""The signed visitor state (DESIGN section 6): read, advance the visit, re-sign, never extend.

The state holds a random 128-bit visitor id, its creation time and the current visit (start,
last activity, ordinal, and the previous visit's start). The state is signed with a key derived
from the server secret, so it cannot be forged, and expires at creation + 13 months whatever
happens later. ClickHouse only ever sees keyed hashes of the ids, computed here.

The visit id is a keyed hash of the visitor, the previous visit's start and the visit's ordinal:
everything the beacons of one visit share even when they do not carry the same state. Tabs
restored together after the visit timeout each start "a new visit" from the same expired state,
and land in the same one. The metrics of a visit are computed from the set of its stored events
(schema/010_visits.sql), so the order they arrive in, or a state a lost answer left behind, does
not change them.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import functools
import hashlib
import hmac
import os
import secrets
import struct
import threading
from datetime import UTC, datetime
from typing import NamedTuple

from collector.settings import COOKIE_LIFETIME_MONTHS, VISIT_TIMEOUT_SECONDS

SECONDS_PER_DAY = 86_400
STATE_VERSION = 3
# version, id, created, visit start, last seen, number, previous start
_LAYOUT = struct.Struct(">B16sQQQIQ")
# Version 2 added the visit's event and pageview counts and its last page: read, never written.
_LAYOUT_V2 = struct.Struct(">B16sQQQIQHHQ")
_MAC_BYTES = 16
MAX_STATE_LENGTH = 128


class VisitorState(NamedTuple):
    visitor_id: bytes
    created: int
    visit_start: int
    last_seen: int
    visit_number: int
    previous_visit_start: int  # 0 for the first visit

    @property
    def expires(self) -> int:
        """Creation + 13 calendar months (clamped to the month's last day): never later."""
        return _expiry(self.created)

    @property
    def days_since_last_visit(self) -> int:
        if self.visit_number <= 1 or not self.previous_visit_start:
            return 0
        return max(0, (self.visit_start - self.previous_visit_start) // SECONDS_PER_DAY)


def add_months(timestamp: int, months: int) -> int:
    """The same UTC time of day, ``months`` calendar months later (the day clamped to the month)."""
    day_start = timestamp - timestamp % SECONDS_PER_DAY
    return _add_months_to_day(day_start, months) + (timestamp - day_start)


@functools.lru_cache(maxsize=65_536)
def _expiry(created: int) -> int:
    """Read several times per beacon: computed once per visitor creation time."""
    return add_months(created, COOKIE_LIFETIME_MONTHS)


@functools.lru_cache(maxsize=1024)
def _add_months_to_day(timestamp: int, months: int) -> int:
    moment = datetime.fromtimestamp(timestamp, UTC)
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


class _RandomIds:
    """128-bit random ids cut from 4 KiB reads of the OS's CSPRNG: one syscall per 256 visitors."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = b""
        self._offset = 0

    def take(self) -> bytes:
        with self._lock:
            if self._offset >= len(self._pool):
                self._pool, self._offset = secrets.token_bytes(4096), 0
            start, self._offset = self._offset, self._offset + 16
            return self._pool[start : start + 16]

    def forget(self) -> None:
        """After a fork: the child must never hand out the parent's ids."""
        self._lock = threading.Lock()
        self._pool, self._offset = b"", 0


_random_ids = _RandomIds()
os.register_at_fork(after_in_child=_random_ids.forget)


def new_visitor(now: int) -> VisitorState:
    return VisitorState(
        visitor_id=_random_ids.take(),
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
        return state._replace(
            visit_start=now,
            last_seen=now,
            visit_number=state.visit_number + 1,
            previous_visit_start=state.visit_start,
        )
    return state._replace(last_seen=max(state.last_seen, now))


class StateSigner:
    """Signs and verifies states, and hashes their ids for storage, with keys from one secret."""

    def __init__(self, secret: bytes) -> None:
        self._sign_key = hashlib.blake2b(secret, person=b"audience-sign").digest()
        self._hash_key = hashlib.blake2b(secret, person=b"audience-hash").digest()

    def sign(self, state: VisitorState) -> str:
        payload = _LAYOUT.pack(STATE_VERSION, *state)  # the fields in their declared order
        return base64.urlsafe_b64encode(payload + self._mac(payload)).rstrip(b"=").decode()

    def _mac(self, payload: bytes) -> bytes:
        # hmac.new, not hmac.digest: the one-shot digest lets go of the GIL on every call
        # (CPython 3.11), and each release hands it to the spool's I/O thread, which then commits
        # after every few requests instead of grouping a hundred (loadtests/throughput.py: CPU per
        # request +25 %). An HMAC object releases it only for inputs over 2 KiB; the bytes are the
        # same HMAC-SHA256.
        return hmac.new(self._sign_key, payload, "sha256").digest()[:_MAC_BYTES]

    def verify(self, token: str | None) -> VisitorState | None:
        """The state in ``token``, or None when it is absent, malformed or forged."""
        if not token or len(token) > MAX_STATE_LENGTH:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            return None
        payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        layout = {_LAYOUT.size: _LAYOUT, _LAYOUT_V2.size: _LAYOUT_V2}.get(len(payload))
        if layout is None:
            return None
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        version, visitor_id, created, start, last, number, previous = layout.unpack(payload)[:7]
        if version != (STATE_VERSION if layout is _LAYOUT else 2) or number < 1:
            return None
        return VisitorState(visitor_id, created, start, last, number, previous)

    def visitor_hash(self, state: VisitorState) -> int:
        return self._hash(state.visitor_id)

    def visit_hash(self, state: VisitorState) -> int:
        """The same for every state of one visit: forks of it included (module docstring)."""
        previous, number = state.previous_visit_start, state.visit_number
        return self._hash(
            state.visitor_id + previous.to_bytes(8, "big") + number.to_bytes(4, "big")
        )

    def _hash(self, data: bytes) -> int:
        digest = hashlib.blake2b(data, key=self._hash_key, digest_size=8).digest()
        return int.from_bytes(digest, "big")
