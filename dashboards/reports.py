"""Email reports of a site: which exist, to whom, how often, and how their deliveries went.

A report is weekly (Monday to Sunday) or monthly (a calendar month), both in the site's time
zone, and goes to chosen team addresses (normalized as accounts' are). Its delivery for a
period is a row keyed by (report, the period's first day): the attempts, the last error and the
next attempt's time, or ``sent`` once the SMTP server took the mail. The scheduler
(``dashboards.report_delivery``) reads that row before it sends, so each period goes out once.
Every method blocks: call it off the event loop.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any, Literal

from collector.storage.sql import load
from collector.storage.store import Store
from dashboards.account_rules import AccountError, normalize_email
from dashboards.periods import Period, today_in

Frequency = Literal["weekly", "monthly"]
FREQUENCIES: tuple[Frequency, ...] = ("weekly", "monthly")
MAX_RECIPIENTS = 20
ID_BYTES = 6


@cache
def query(name: str) -> str:
    """The SQL of ``dashboards/queries/reports/<name>.sql``."""
    return load("dashboards", f"queries/reports/{name}")


@dataclass(frozen=True)
class Report:
    id: str
    site: str
    frequency: Frequency
    recipients: tuple[str, ...]
    created_by: str
    created: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "site": self.site,
            "frequency": self.frequency,
            "recipients": list(self.recipients),
            "created_by": self.created_by,
            "created": self.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


@dataclass(frozen=True)
class Delivery:
    """Where the mailing of one period of a report stands."""

    report: str
    period_first: date
    sent: bool
    attempts: int
    last_error: str
    attempted: datetime
    next_attempt: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "period_first": self.period_first.isoformat(),
            "sent": self.sent,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "attempted": self.attempted.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "next_attempt": None if self.sent else self.next_attempt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


def check_frequency(frequency: str) -> Frequency:
    for known in FREQUENCIES:
        if frequency.strip().lower() == known:
            return known
    raise AccountError(f"unknown frequency {frequency!r}: expected weekly or monthly")


def check_recipients(addresses: Iterable[str]) -> tuple[str, ...]:
    """The addresses normalized, without repeats, in their order: at least one."""
    found: list[str] = []
    for address in addresses:
        for part in address.replace(",", " ").split():
            email = normalize_email(part)
            if email not in found:
                found.append(email)
    if not found:
        raise AccountError("a report needs at least one recipient")
    if len(found) > MAX_RECIPIENTS:
        raise AccountError(f"a report goes to at most {MAX_RECIPIENTS} addresses")
    return tuple(found)


def last_complete_period(frequency: Frequency, timezone: str, now: datetime) -> Period:
    """The last whole week (Monday to Sunday) or month before ``now``, in the site's zone."""
    today = today_in(timezone, now)
    if frequency == "weekly":
        monday = today - timedelta(days=today.weekday())
        return Period("custom", monday - timedelta(days=7), monday - timedelta(days=1), timezone)
    first_of_month = today.replace(day=1)
    last = first_of_month - timedelta(days=1)
    return Period("custom", last.replace(day=1), last, timezone)


def period_before(frequency: Frequency, period: Period) -> Period:
    """The week, or the calendar month, just before ``period``: what its change compares with."""
    last = period.first - timedelta(days=1)
    first = last - timedelta(days=6) if frequency == "weekly" else last.replace(day=1)
    return Period("custom", first, last, period.timezone)


class Reports:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def all(self) -> list[Report]:
        return [_report(row) for row in self.store.read(query("reports"))]

    def of_site(self, site: str) -> list[Report]:
        return [report for report in self.all() if report.site == site]

    def find(self, site: str, report_id: str) -> Report:
        for report in self.of_site(site):
            if report.id == report_id.strip().lower():
                return report
        raise AccountError(f"no such report of {site}: {report_id}")

    def add(self, site: str, frequency: str, recipients: Iterable[str], by: str) -> Report:
        now = datetime.fromtimestamp(int(self.clock()), UTC)
        report = Report(
            secrets.token_hex(ID_BYTES), site, check_frequency(frequency),
            check_recipients(recipients), by, now,
        )  # fmt: skip
        self._save(report)
        return report

    def remove(self, site: str, report_id: str) -> Report:
        report = self.find(site, report_id)
        self._save(report, deleted=True)
        return report

    def deliveries(self, report_ids: Iterable[str]) -> list[Delivery]:
        """Every recorded delivery of these reports, newest period first."""
        ids = sorted(set(report_ids))
        if not ids:
            return []
        return [_delivery(row) for row in self.store.read(query("deliveries"), {"reports": ids})]

    def delivery(self, report_id: str, period_first: date) -> Delivery | None:
        for found in self.deliveries([report_id]):
            if found.period_first == period_first:
                return found
        return None

    def record(self, delivery: Delivery) -> None:
        self.store.execute(
            query("save_delivery"),
            {
                "report": delivery.report,
                "period_first": delivery.period_first,
                "sent": int(delivery.sent),
                "attempts": delivery.attempts,
                "last_error": delivery.last_error,
                "attempted_ms": int(delivery.attempted.timestamp() * 1000),
                "next_attempt_ms": int(delivery.next_attempt.timestamp() * 1000),
            },
        )

    def _save(self, report: Report, *, deleted: bool = False) -> None:
        self.store.execute(
            query("save_report"),
            {
                "id": report.id,
                "site": report.site,
                "frequency": report.frequency,
                "recipients": list(report.recipients),
                "created_by": report.created_by,
                "created_ms": int(report.created.timestamp() * 1000),
                "updated_ms": max(int(time.time() * 1000), int(self.clock() * 1000)),
                "deleted": int(deleted),
            },
        )


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _report(row: dict[str, Any]) -> Report:
    return Report(
        row["id"], row["site"], check_frequency(row["frequency"]), tuple(row["recipients"]),
        row["created_by"], _utc(row["created_at"]),
    )  # fmt: skip


def _delivery(row: dict[str, Any]) -> Delivery:
    return Delivery(
        row["report"], row["period_first"], bool(row["sent"]), int(row["attempts"]),
        row["last_error"], _utc(row["attempted_at"]), _utc(row["next_attempt_at"]),
    )  # fmt: skip
