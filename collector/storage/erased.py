"""The visitors erased at their request: what every writer and every collector must never store.

An erased visitor is known by the keyed hash that ``audience.events.visitor`` holds. The process
that owns the store loads the set from ``audience.erased_visitors`` and keeps a snapshot file for
the HTTP workers, which cannot open the store; the set is swapped whole, so readers need no lock.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

log = logging.getLogger("audience.erasure")
_HASH = struct.Struct("<Q")
VISITOR_ID_DIGITS = 16


class ErasedVisitors:
    def __init__(self, snapshot: Path | None = None) -> None:
        self._hashes: frozenset[int] = frozenset()
        self._snapshot = snapshot
        self._lock = threading.Lock()  # for changes; readers take the frozenset as it is

    def __contains__(self, visitor: object) -> bool:
        return visitor in self._hashes

    def __bool__(self) -> bool:
        return bool(self._hashes)

    def __iter__(self) -> Iterator[int]:
        return iter(self._hashes)

    def add(self, visitor: int) -> None:
        with self._lock:
            self._take(self._hashes | {visitor})

    def replace(self, visitors: Iterable[int]) -> set[int]:
        """Take this set; returns the visitors it did not know. Saves the snapshot on a change."""
        with self._lock:
            return self._take(frozenset(visitors))

    def _take(self, hashes: frozenset[int]) -> set[int]:
        new = set(hashes - self._hashes)
        changed = hashes != self._hashes
        self._hashes = hashes
        if changed and self._snapshot is not None:
            try:
                self._save(self._snapshot)
            except OSError as error:  # the workers keep the last one; the next change retries
                log.error("could not save the erased visitors for the workers: %s", error)
        return new

    def _save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_bytes(b"".join(_HASH.pack(visitor) for visitor in sorted(self._hashes)))
        os.replace(temporary, path)

    def load_snapshot(self, path: Path) -> None:
        """An HTTP worker's view: the owner's last snapshot (nothing yet: nothing erased)."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return
        usable = len(raw) - len(raw) % _HASH.size
        self._hashes = frozenset(value for (value,) in _HASH.iter_unpack(raw[:usable]))


def format_visitor_id(visitor: int) -> str:
    """The identifier a visitor sees on the privacy page and gives the DPO: 16 hex digits."""
    return f"{visitor:0{VISITOR_ID_DIGITS}x}"


def parse_visitor_id(text: str) -> int:
    value = text.strip().lower()
    if len(value) != VISITOR_ID_DIGITS or any(c not in "0123456789abcdef" for c in value):
        raise ValueError(f"a visitor identifier is {VISITOR_ID_DIGITS} hex digits, got {text!r}")
    return int(value, 16)
