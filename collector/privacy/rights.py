"""Visitor rights (DESIGN section 1): access, portability, erasure and withdrawal, in one place.

The visitor's own requests (``collector.privacy.api``) and the DPO's command (``audience privacy``)
both come here. Every request is written to the audit log ``audience.rights_requests``, which holds
no personal data: the visitor appears there as a second keyed hash, which cannot be joined to the
events but which the DPO can recompute from the identifier a visitor gives.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from collector.settings import COOKIE_LIFETIME_MONTHS
from collector.storage.erased import format_visitor_id
from collector.storage.errors import StoreError
from collector.storage.rights_store import RightsStore
from collector.storage.rows import VISITOR_FIELDS
from collector.storage.store import Store
from collector.storage.writer import Writer
from collector.web.csvcells import safe_cell

log = logging.getLogger("audience.rights")

Channel = Literal["self-service", "dpo"]
ACCESS_LIMIT = 1_000  # the newest events shown in an access answer; the export has them all
EXPORT_LIMIT = 1_000_000
ERASE_WAIT_SECONDS = 10.0
HASHED_FIELDS = frozenset({"visit"})  # 64-bit: hex, which JSON numbers cannot hold

PURPOSES = (
    "audience measurement: pages visited, city of the IP address, frequency and recurrence of "
    "visits, visit duration, browser, operator and device type, counted for the site's statistics"
)
RECIPIENTS = (
    "the site's marketing team, through statistics in which no row describes fewer than a few "
    "visitors; no third party"
)


@dataclass(frozen=True)
class Erasure:
    events: int | None  # None: the store did not finish in time; the erasure is still pending

    @property
    def status(self) -> str:
        return "erased" if self.events is not None else "erasure scheduled"


class VisitorRights:
    def __init__(
        self, store: Store, secret: bytes, retention_months: int, writer: Writer | None = None
    ) -> None:
        self.store = RightsStore(store)
        self.retention_months = retention_months
        self.writer = writer  # the writer of this process, if it has one: erasures go through it
        self._audit_key = hashlib.blake2b(secret, person=b"audience-audit").digest()

    def access(self, visitor: int, channel: Channel, limit: int = ACCESS_LIMIT) -> dict[str, Any]:
        """What we hold about a visitor: every stored event, and what we do with them."""
        total = self.store.count_events(visitor)
        events = [event_record(row) for row in self.store.visitor_events(visitor, limit)]
        self._audit("access", channel, visitor, "done", len(events))
        return {
            "visitor": format_visitor_id(visitor),
            "events_total": total,
            "events": events,
            "purposes": PURPOSES,
            "retention": {
                "events_months": self.retention_months,
                "cookie_months": COOKIE_LIFETIME_MONTHS,
                "cookie_extended_by_visits": False,
            },
            "recipients": RECIPIENTS,
        }

    def export(self, visitor: int, channel: Channel) -> list[dict[str, Any]]:
        events = [event_record(row) for row in self.store.visitor_events(visitor, EXPORT_LIMIT)]
        self._audit("export", channel, visitor, "done", len(events))
        return events

    def erase(self, visitor: int, channel: Channel, action: str = "erase") -> Erasure:
        """Erase every event of a visitor, now and for good: it is first listed as erased, so
        no writer stores its events again, then its events and their rollup days go.

        The rollups are rebuilt by a writer, where no insert interleaves: this process's, or,
        from a process without one (the DPO's command, a worker on a ClickHouse server), each
        running writer when it learns of the erasure, within seconds."""
        self.store.mark_erased(visitor)
        if self.writer is not None:
            events = self.writer.erase(visitor, ERASE_WAIT_SECONDS)
        else:
            events = self.store.delete_events(visitor)
        erasure = Erasure(events)
        outcome = "done" if events is not None else "pending"
        self._audit(action, channel, visitor, outcome, events or 0)
        return erasure

    def record_opt_out(self, visitor: int) -> None:
        """Best effort: a withdrawal is honoured (the cookie expires) even with the store down."""
        try:
            self._audit("optout", "self-service", visitor, "done", 0)
        except StoreError as error:
            log.warning("could not write an opt-out to the audit log: %s", error)

    def audit_log(self, visitor: int | None, limit: int = 100) -> list[dict[str, Any]]:
        subject = None if visitor is None else self.audit_subject(visitor)
        return self.store.requests(subject, limit)

    def audit_subject(self, visitor: int) -> int:
        digest = hashlib.blake2b(visitor.to_bytes(8, "big"), key=self._audit_key, digest_size=8)
        return int.from_bytes(digest.digest(), "big")

    def _audit(
        self, action: str, channel: Channel, visitor: int | None, outcome: str, events: int
    ) -> None:
        subject = 0 if visitor is None else self.audit_subject(visitor)
        self.store.record_request(action, channel, subject, outcome, events)


def event_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored event as a visitor reads it: times in ISO 8601 UTC, hashes in hex."""
    record: dict[str, Any] = {}
    for name in VISITOR_FIELDS:
        value = row[name]
        if isinstance(value, datetime):
            value = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        elif name in HASHED_FIELDS:
            value = format_visitor_id(int(value))
        record[name] = value
    return record


def events_csv(events: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=VISITOR_FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for event in events:
        writer.writerow({name: safe_cell(event[name]) for name in VISITOR_FIELDS})
    return buffer.getvalue()
