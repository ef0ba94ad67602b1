"""Periods in the site's time zone, parsed from query parameters, with errors naming them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from dashboards.periods import Period, QueryError, named_period, parse_query

NOW = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)  # already the 25th in Paris


@pytest.mark.parametrize(
    ("name", "first", "last"),
    [
        ("today", date(2026, 11, 25), date(2026, 11, 25)),
        ("yesterday", date(2026, 11, 24), date(2026, 11, 24)),
        ("7d", date(2026, 11, 19), date(2026, 11, 25)),
        ("30d", date(2026, 10, 27), date(2026, 11, 25)),
        ("month", date(2026, 11, 1), date(2026, 11, 25)),
        ("last_month", date(2026, 10, 1), date(2026, 10, 31)),
        ("12mo", date(2025, 12, 1), date(2026, 11, 25)),
    ],
)
def test_named_periods_are_in_the_site_time_zone(name: str, first: date, last: date) -> None:
    period = named_period(name, "Europe/Paris", NOW)
    assert (period.first, period.last) == (first, last)


def test_bounds_and_previous_period() -> None:
    period = Period("custom", date(2026, 3, 29), date(2026, 3, 29), "Europe/Paris")
    assert period.start == datetime(2026, 3, 28, 23, tzinfo=UTC)
    assert period.end == datetime(2026, 3, 29, 22, tzinfo=UTC)  # the clocks went forward
    assert len(period.buckets("hour")) == 23
    previous = period.previous()
    assert (previous.first, previous.last) == (date(2026, 3, 28), date(2026, 3, 28))
    assert period.on_whole_utc_hours()
    assert not Period("custom", period.first, period.last, "Asia/Kolkata").on_whole_utc_hours()


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"period": "forever"}, "period"),
        ({"from": "2026-13-01", "to": "2026-12-01"}, "from"),
        ({"from": "2026-11-02", "to": "2026-11-01"}, "to"),
        ({"from": "2020-01-01", "to": "2026-11-01"}, "to"),
        ({"period": "7d", "interval": "minute"}, "interval"),
        ({"period": "12mo", "interval": "hour"}, "interval"),
        ({"period": "7d", "city": "x" * 2000}, "city"),
    ],
)
def test_bad_parameters_are_named(params: dict[str, str], named: str) -> None:
    with pytest.raises(QueryError, match=f"^{named}:"):
        parse_query("shop.example", params, "Europe/Paris", NOW)


def test_a_query_keeps_known_filters_and_picks_an_interval() -> None:
    query = parse_query(
        "shop.example", {"from": "2026-11-01", "to": "2026-11-07", "city": "Lyon", "x": "1"}, "UTC"
    )
    assert query.filters == {"city": "Lyon"} and query.interval == "day"
