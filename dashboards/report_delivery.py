"""Sending email reports: each period of each report once, retried with backoff when it fails.

``ReportDelivery.run`` is a job of the process that owns the background work (the store's
keeper's scheduler, wired by the composition root, ``collector.app``): one process in every
mode, so the HTTP workers never send. For each report it takes the last complete period (week
or month, in the site's time zone) that ended after the report was made, reads that period's
delivery row, and sends only when it is neither sent nor waiting for its next attempt. Sent, the
row says so in the store before the next check, so a restart sends nothing again. A refusal or a
connection error is recorded (attempts, last error, next attempt after 1, 2, 4… minutes, at most
an hour): the reports page shows it, and a log line names the report, never an address. A period
not sent by the time the next one ends gives way to it. ``send_test`` mails the last complete
period at once, outside that record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from collector.settings import Settings
from collector.storage.store import Store
from dashboards import mail
from dashboards.mail import MailError
from dashboards.periods import Period
from dashboards.report_mail import ReportContent, content, message
from dashboards.reports import Delivery, Report, Reports, last_complete_period
from dashboards.stats import Stats

log = logging.getLogger("audience.reports")
FIRST_RETRY_SECONDS = 60
MAX_RETRY_SECONDS = 3600
MAX_ERROR_CHARACTERS = 500


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: 60, 120, 240… 3600."""
    return float(min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** min(attempts - 1, 16)))


class ReportDelivery:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        send: Callable[[Settings, EmailMessage, Sequence[str]], None] = mail.send,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.send = send
        self.reports = Reports(store, clock)
        self.stats = Stats(store, settings.min_cell)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def run(self) -> None:
        """Send the reports due (the scheduler's job); nothing without an SMTP server."""
        if not mail.configured(self.settings):
            return
        now = self.now()
        sites = self.store.sites()
        reports = self.reports.all()
        known = {
            (found.report, found.period_first): found
            for found in self.reports.deliveries(report.id for report in reports)
        }
        for report in reports:
            site = sites.get(report.site)
            if site is None:
                continue
            period = last_complete_period(report.frequency, site.timezone, now)
            if period.end <= report.created:
                continue  # made after that period: its first report is the next one
            delivery = known.get((report.id, period.first))
            if delivery is not None and (delivery.sent or delivery.next_attempt > now):
                continue
            self._attempt(report, period, delivery, now)

    def _attempt(
        self, report: Report, period: Period, before: Delivery | None, now: datetime
    ) -> None:
        attempts = (before.attempts if before else 0) + 1
        try:
            self._send(self._content(report, period))
        except MailError as error:
            delay = retry_delay(attempts)
            reason = error.reason[:MAX_ERROR_CHARACTERS]
            self.reports.record(Delivery(
                report.id, period.first, False, attempts, reason, now,
                now + timedelta(seconds=delay),
            ))  # fmt: skip
            log.warning(
                "email report %s of %s for %s not sent (attempt %d, next in %g s): %s",
                report.id, report.site, period.first.isoformat(), attempts, delay, reason,
            )  # fmt: skip
            return
        self.reports.record(Delivery(report.id, period.first, True, attempts, "", now, now))
        log.info(
            "email report %s of %s for %s sent (attempt %d)",
            report.id, report.site, period.first.isoformat(), attempts,
        )  # fmt: skip

    def send_test(self, report: Report, timezone: str) -> ReportContent:
        """Mail the last complete period now (MailError when it cannot be), recording nothing."""
        period = last_complete_period(report.frequency, timezone, self.now())
        found = self._content(report, period)
        self._send(found)
        return found

    def _content(self, report: Report, period: Period) -> ReportContent:
        return content(self.stats, report, period, self.settings.public_url)

    def _send(self, found: ReportContent) -> None:
        self.send(self.settings, message(self.settings, found), found.report.recipients)
