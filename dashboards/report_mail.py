"""The mail of an email report: a period's KPIs beside the period before, and its top pages.

Every figure comes from the stats layer (``dashboards.stats.Stats``), so the mail shows what the
dashboard and the API show for that period, small cells folded into "Other". The mail has a
plain-text part and an HTML part (multipart/alternative). The HTML has its styles inline and
nothing that loads from elsewhere: no image, no tracking pixel, no remote style sheet; its only
URL is the link to the dashboard (``AUDIENCE_PUBLIC_URL``), without any tracking parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from functools import cache
from typing import Any
from urllib.parse import quote, urlencode

import jinja2

from collector.settings import Settings
from dashboards import mail
from dashboards.periods import Period, StatsQuery
from dashboards.reports import Report, period_before
from dashboards.stats import Stats, summary_of

TOP_PAGES = 10
UNDISCLOSED = "undisclosed-recipients:;"
KPIS = (
    ("visitors", "Visitors"),
    ("visits", "Visits"),
    ("pageviews", "Pageviews"),
    ("bounce_rate", "Bounce rate"),
    ("visit_duration", "Visit duration"),
)


@dataclass(frozen=True)
class ReportContent:
    report: Report
    period: Period
    summary: dict[str, Any]  # current, previous, change (``stats.summary_of``)
    pages: list[dict[str, Any]]  # the page breakdown's first rows
    link: str | None  # the dashboard of the period, when the public URL is known

    @property
    def subject(self) -> str:
        return (
            f"{self.report.site}: {self.report.frequency} report, "
            f"{self.period.first.isoformat()} to {self.period.last.isoformat()}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "site": self.report.site,
            "frequency": self.report.frequency,
            "from": self.period.first.isoformat(),
            "to": self.period.last.isoformat(),
            **self.summary,
            "pages": self.pages,
            "link": self.link,
        }


def content(stats: Stats, report: Report, period: Period, public_url: str | None) -> ReportContent:
    """The figures of ``report`` for ``period`` (a week or a month of the site's time zone)."""
    query = StatsQuery(report.site, period)
    previous_period = period_before(report.frequency, period)
    current = stats.totals(query, period)
    previous = stats.totals(query, previous_period)
    pages = stats.breakdown(query, "page", limit=TOP_PAGES)
    link = None
    if public_url:
        span = urlencode({"from": period.first.isoformat(), "to": period.last.isoformat()})
        link = f"{public_url}/sites/{quote(report.site)}?{span}"
    return ReportContent(
        report, period, summary_of(current, previous, previous_period), pages, link
    )


def message(settings: Settings, found: ReportContent) -> EmailMessage:
    """The mail of the report. Its recipients do not see each other: a report to several goes
    out in one transaction (sent once per period, or not at all) with every address on the
    envelope only, its To header "undisclosed-recipients:;" (RFC 5322 3.4, as Bcc)."""
    values = {"c": found, "kpis": KPIS, "shown": shown, "changed": changed}
    text = _templates().get_template("report_mail.txt").render(values)
    html = _templates().get_template("report_mail.html").render(values)
    recipients = found.report.recipients
    to = recipients[0] if len(recipients) == 1 else UNDISCLOSED
    return mail.message(settings, to, found.subject, text, html)


def shown(name: str, value: float) -> str:
    """A KPI as people read it: a count, a percentage, a duration."""
    if name == "bounce_rate":
        return f"{value * 100:.1f} %"
    if name == "visit_duration":
        minutes, seconds = divmod(round(value), 60)
        return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"
    return f"{int(value):,}".replace(",", " ")


def changed(value: float | None, current: float) -> str:
    """A relative change (0.125 is "+12.5 %"); with nothing before, "new" (or "none" when there
    is nothing now either)."""
    if value is None:
        return "new" if current else "none"
    return f"{value * 100:+.1f} %"


@cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("dashboards", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        keep_trailing_newline=True,
    )
