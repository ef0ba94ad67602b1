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
    city: str
    country: str
    operator: str
    browser: str
    browser_version: str
    os: str
    device: str
    consent: str


COLUMNS: tuple[str, ...] = Row._fields
SITE_INDEX, TS_INDEX = COLUMNS.index("site"), COLUMNS.index("ts")
VISITOR_INDEX = COLUMNS.index("visitor")
VISITOR_FIELDS = tuple(column for column in COLUMNS if column != "visitor")  # what a visitor reads


ROWS_FORMAT = "JSONCompactEachRow"  # how ClickHouse reads a batch of encoded rows, one per line


def encode_row(row: Row) -> bytes:
    """The spool's record payload: the row's values in column order, as a JSON array."""
    return orjson.dumps(tuple(row))


# The columns of a row spooled before schema/010_visits.sql, which dropped the visit steps: a spool
# written by an older collector is still stored, without them.
_LEGACY_COLUMNS = (
    *COLUMNS[: COLUMNS.index("engaged_ms") + 1],
    "visit_start", "event_number", "since_previous", "pageview_number", "previous_page",
    *COLUMNS[COLUMNS.index("engaged_ms") + 1 :],
)  # fmt: skip
_FROM_LEGACY = tuple(_LEGACY_COLUMNS.index(column) for column in COLUMNS)


def decode_row(payload: bytes) -> tuple[tuple[object, ...], bytes]:
    """A spooled payload's values in ``COLUMNS`` order, and the payload to insert (re-encoded when
    it was spooled in the older layout); ValueError if it is not a row."""
    values = orjson.loads(payload)
    if isinstance(values, list) and len(values) == len(COLUMNS):
        return tuple(values), payload
    if isinstance(values, list) and len(values) == len(_LEGACY_COLUMNS):
        current = tuple(values[index] for index in _FROM_LEGACY)
        return current, orjson.dumps(current)
    raise ValueError(f"spool record is not a list of {len(COLUMNS)} values")
