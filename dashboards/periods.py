"""What a stats request asks for: a period in the site's time zone, filters and an interval.

Parsed from query parameters with a clear error naming the parameter; turned into the UTC
bounds the queries take. Named periods are relative to today in the site's time zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from collector import AudienceError
from collector.storage.path_patterns import PatternError, checked_pattern

EVENT_FILTERS = (
    "page", "city", "country", "operator", "browser", "browser_version", "os", "device"
)  # fmt: skip
# goal: a path pattern (collector/storage/path_patterns.py): keeps the visits with a pageview it
# names.
FILTERS = (*EVENT_FILTERS, "goal")
INTERVALS = ("hour", "day", "week", "month")
PERIODS = {
    "today": "Today",
    "yesterday": "Yesterday",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "month": "This month",
    "last_month": "Last month",
    "12mo": "Last 12 months",
    "custom": "Custom range",
}
DEFAULT_PERIOD = "30d"
MAX_DAYS = 800
MAX_HOURLY_DAYS = 31
MAX_FILTER_LENGTH = 1024


class QueryError(AudienceError, ValueError):
    """A stats parameter is wrong; the message names it (a 400 answer)."""

    status = 400


@dataclass(frozen=True)
class Period:
    name: str
    first: date  # inclusive, in the site's time zone
    last: date  # inclusive
    timezone: str

    @property
    def label(self) -> str:
        if self.name == "custom":
            return f"{self.first.isoformat()} to {self.last.isoformat()}"
        return PERIODS[self.name]

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def start(self) -> datetime:
        """The period's first instant, in UTC."""
        return _utc_midnight(self.first, self.timezone)

    @property
    def end(self) -> datetime:
        """The instant after the period, in UTC."""
        return _utc_midnight(self.last + timedelta(days=1), self.timezone)

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        last = self.first - timedelta(days=1)
        return Period("custom", last - timedelta(days=self.days - 1), last, self.timezone)

    def on_whole_utc_hours(self) -> bool:
        """Whether the bounds fall on whole UTC hours: the hourly rollups can answer."""
        zone = ZoneInfo(self.timezone)
        for bound in (self.start, self.end):
            offset = bound.astimezone(zone).utcoffset()
            if offset is None or int(offset.total_seconds()) % 3600:
                return False
        return True

    def default_interval(self) -> str:
        if self.days <= 2:
            return "hour"
        if self.days <= 62:
            return "day"
        if self.days <= 190:
            return "week"
        return "month"

    def buckets(self, interval: str) -> list[str]:
        """Every bucket label of the period, as the queries format them."""
        if interval == "hour":
            zone = ZoneInfo(self.timezone)
            labels: list[str] = []
            moment = self.start
            while moment < self.end:
                local = moment.astimezone(zone)
                label = local.strftime("%Y-%m-%d %H:00")
                if not labels or labels[-1] != label:
                    labels.append(label)
                moment += timedelta(hours=1)
            return labels
        days = [self.first + timedelta(days=n) for n in range(self.days)]
        if interval == "week":
            days = [day - timedelta(days=day.weekday()) for day in days]
        elif interval == "month":
            days = [day.replace(day=1) for day in days]
        return sorted({day.isoformat() for day in days})


@dataclass(frozen=True)
class StatsQuery:
    site: str
    period: Period
    filters: dict[str, str] = field(default_factory=dict)
    interval: str = "day"

    def with_period(self, period: Period) -> StatsQuery:
        return StatsQuery(self.site, period, self.filters, self.interval)


def _utc_midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(), ZoneInfo(timezone)).astimezone(UTC)


def today_in(timezone: str, now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(timezone)).date()


def named_period(name: str, timezone: str, now: datetime | None = None) -> Period:
    today = today_in(timezone, now)
    first_of_month = today.replace(day=1)
    spans = {
        "today": (today, today),
        "yesterday": (today - timedelta(days=1), today - timedelta(days=1)),
        "7d": (today - timedelta(days=6), today),
        "30d": (today - timedelta(days=29), today),
        "month": (first_of_month, today),
        "last_month": (
            (first_of_month - timedelta(days=1)).replace(day=1),
            first_of_month - timedelta(days=1),
        ),
        "12mo": (_months_before(first_of_month, 11), today),
    }
    if name not in spans:
        raise QueryError(f"period: expected one of {', '.join(PERIODS)}")
    first, last = spans[name]
    return Period(name, first, last, timezone)


def _months_before(first_of_month: date, months: int) -> date:
    index = first_of_month.year * 12 + first_of_month.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _date(params: Mapping[str, str], name: str) -> date:
    text = params.get(name, "")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise QueryError(f"{name}: expected a date as YYYY-MM-DD, got {text[:40]!r}") from None


def parse_period(params: Mapping[str, str], timezone: str, now: datetime | None = None) -> Period:
    """``period=NAME``, or ``from`` and ``to`` (a custom range), default the last 30 days."""
    name = params.get("period") or ("custom" if "from" in params or "to" in params else "")
    if name != "custom":
        return named_period(name or DEFAULT_PERIOD, timezone, now)
    first, last = _date(params, "from"), _date(params, "to")
    if last < first:
        raise QueryError("to: the range ends before it starts")
    if (last - first).days + 1 > MAX_DAYS:
        raise QueryError(f"to: a range is at most {MAX_DAYS} days")
    return Period("custom", first, last, timezone)


def parse_filters(params: Mapping[str, str]) -> dict[str, str]:
    filters = {}
    for name in FILTERS:
        value = params.get(name)
        if value is None or value == "":
            continue
        if len(value) > MAX_FILTER_LENGTH or "\x00" in value:
            raise QueryError(f"{name}: the filter value is too long or not text")
        if name == "goal":
            try:
                value = checked_pattern(value)
            except PatternError as error:
                raise QueryError(f"goal: {error}") from None
        filters[name] = value
    return filters


def parse_query(
    site: str, params: Mapping[str, str], timezone: str, now: datetime | None = None
) -> StatsQuery:
    period = parse_period(params, timezone, now)
    interval = params.get("interval") or period.default_interval()
    if interval not in INTERVALS:
        raise QueryError(f"interval: expected one of {', '.join(INTERVALS)}")
    if interval == "hour" and period.days > MAX_HOURLY_DAYS:
        raise QueryError(f"interval: hourly series cover at most {MAX_HOURLY_DAYS} days")
    return StatsQuery(site, period, parse_filters(params), interval)
