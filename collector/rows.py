"""Row: exactly the columns of ``audience.events``.

The only module that knows the table's columns on the write side. No field can hold an IP address,
a User-Agent or a cookie value: the visitor and the visit are keyed hashes.
"""

from __future__ import annotations

from typing import NamedTuple

import orjson


class Row(NamedTuple):
    site: str
    ts: int  # seconds since the epoch, UTC
    type: str
    path: str
    visitor: int
    visit: int
    visit_number: int
    days_since_last_visit: int
    engaged_ms: int
    visit_start: int  # seconds since the epoch, UTC: the time of the visit's first event
    event_number: int  # 1 = the visit's first event
    since_previous: int  # seconds since the visit's previous event
    pageview_number: int  # 1 = the visit's entry pageview; 0 for engagement events
    previous_page: int  # halfMD5 of the visit's previous pageview path, 0 when none
    city: str
    country: str
    operator: str
    browser: str
    browser_version: str
    os: str
    device: str
    consent: str


COLUMNS: tuple[str, ...] = Row._fields
VISITOR_INDEX = COLUMNS.index("visitor")
VISITOR_FIELDS = tuple(column for column in COLUMNS if column != "visitor")  # what a visitor reads


ROWS_FORMAT = "JSONCompactEachRow"  # how ClickHouse reads a batch of encoded rows, one per line


def encode_row(row: Row) -> bytes:
    """The spool's record payload: the row's values in column order, as a JSON array."""
    return orjson.dumps(tuple(row))


def decode_row(payload: bytes) -> tuple[object, ...]:
    """A spooled payload back to its values, in ``COLUMNS`` order; ValueError if it is not a row."""
    values = orjson.loads(payload)
    if not isinstance(values, list) or len(values) != len(COLUMNS):
        raise ValueError(f"spool record is not a list of {len(COLUMNS)} values")
    return tuple(values)
