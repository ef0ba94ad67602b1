"""Annotations: dated notes a site's team writes on its time series ("launched the spring
campaign", "tag missing on /pricing").

A note belongs to one site and one day of the site's time zone; its text is plain text of 1 to
280 characters (whitespace runs become one space, control characters are refused), shown
escaped. Its author is the e-mail of the team member who wrote it: team data, never a visitor's.
Any signed-in member who may see the site adds one; its author or an administrator removes it
(a version marked deleted). A note shows on the dashboard when its day is inside the period, at
the bucket of the series holding that day, and on the site's shared links only when marked so.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from collector import AudienceError
from collector.storage.sql import load
from collector.storage.store import Store
from dashboards.periods import StatsQuery

MAX_CHARACTERS = 280
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)
ID_LENGTH = 12
_WHITESPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_ID = re.compile(r"^[0-9a-f]{12}$")


class AnnotationError(AudienceError, ValueError):
    """A note's field is wrong: a 400 whose message begins with the field's name."""

    status = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@cache
def query(name: str) -> str:
    """The SQL of ``dashboards/queries/annotations/<name>.sql``."""
    return load("dashboards", f"queries/annotations/{name}")


@dataclass(frozen=True)
class Annotation:
    id: str
    site: str
    day: date
    text: str
    author: str
    shared: bool
    created: datetime

    def as_dict(self, interval: str, timezone: str, *, team: bool = True) -> dict[str, Any]:
        """The note as the dashboard and the API show it, with the bucket of ``interval`` it
        falls in; without its author and id for a shared link's page (``team=False``)."""
        shown: dict[str, Any] = {
            "day": self.day.isoformat(),
            "bucket": bucket_of(self.day, interval, timezone),
            "text": self.text,
            "shared": self.shared,
        }
        if team:
            created = self.created.strftime("%Y-%m-%dT%H:%M:%SZ")
            shown = {"id": self.id, **shown, "author": self.author, "created": created}
        return shown


def bucket_of(day: date, interval: str, timezone: str) -> str:
    """The label of the time series' bucket holding ``day`` (as the queries write them): its
    first hour, its Monday, the first of its month, or the day itself."""
    if interval == "hour":
        zone = ZoneInfo(timezone)
        # A midnight that does not exist (a clock moved forward at 0:00) is the hour after.
        midnight = datetime.combine(day, datetime.min.time(), zone)
        return midnight.astimezone(UTC).astimezone(zone).strftime("%Y-%m-%d %H:00")
    if interval == "week":
        return (day - timedelta(days=day.weekday())).isoformat()
    if interval == "month":
        return day.replace(day=1).isoformat()
    return day.isoformat()


def checked_day(value: str) -> date:
    text = value.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise AnnotationError("day", f"expected a date as YYYY-MM-DD, got {text[:40]!r}") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise AnnotationError("day", f"expected a date from {FIRST_DAY} to {LAST_DAY}")
    return day


def checked_text(value: str) -> str:
    """The note's text with its whitespace runs made one space; AnnotationError if it is empty,
    longer than MAX_CHARACTERS or holds control characters."""
    text = _WHITESPACE.sub(" ", value).strip()
    if not text:
        raise AnnotationError("text", "a note needs some text")
    if _CONTROL.search(text):
        raise AnnotationError("text", "control characters are not allowed")
    if len(text) > MAX_CHARACTERS:
        raise AnnotationError("text", f"at most {MAX_CHARACTERS} characters, got {len(text)}")
    return text


class Annotations:
    """The notes in the store. Every method blocks: call it off the event loop."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def add(self, site: str, day: str, text: str, author: str, shared: bool) -> Annotation:
        """A new note; AnnotationError names the field that is wrong."""
        note = Annotation(
            secrets.token_hex(ID_LENGTH // 2),
            site,
            checked_day(day),
            checked_text(text),
            author,
            shared,
            datetime.fromtimestamp(int(self.clock() * 1000) / 1000, UTC),
        )
        self._save(note)
        return note

    def within(
        self, site: str, first: date, last: date, *, shared_only: bool = False
    ) -> list[Annotation]:
        """The notes of ``site`` dated from ``first`` to ``last``, oldest day first."""
        bounds = {"first": first.isoformat(), "last": last.isoformat()}
        parameters = {"site": site, **bounds, "shared_only": int(shared_only)}
        rows = self.store.read(query("annotations"), parameters)
        return [_annotation(row) for row in rows]

    def find(self, site: str, annotation_id: str) -> Annotation | None:
        if not _ID.fullmatch(annotation_id):
            return None
        rows = self.store.read(query("annotation"), {"site": site, "id": annotation_id})
        return _annotation(rows[0]) if rows else None

    def remove(self, note: Annotation) -> None:
        self._save(note, deleted=True)

    def _save(self, note: Annotation, *, deleted: bool = False) -> None:
        self.store.execute(
            query("save_annotation"),
            {
                "id": note.id,
                "site": note.site,
                "day": note.day.isoformat(),
                "text": note.text,
                "author": note.author,
                "shared": int(note.shared),
                "created_ms": int(note.created.timestamp() * 1000),
                "updated_ms": max(int(time.time() * 1000), int(self.clock() * 1000)),
                "deleted": int(deleted),
            },
        )


def _annotation(row: dict[str, Any]) -> Annotation:
    created: datetime = row["created_at"]
    created = created if created.tzinfo else created.replace(tzinfo=UTC)
    return Annotation(
        row["id"], row["site"], row["day"], row["text"], row["author"], bool(row["shared"]),
        created,
    )  # fmt: skip


def shown(
    annotations: Annotations, query: StatsQuery, *, team: bool = True
) -> list[dict[str, Any]]:
    """The notes a dashboard of ``query`` shows, each at its bucket of the query's interval:
    every note of the period for the team, only those marked for shared links otherwise."""
    period = query.period
    notes = annotations.within(query.site, period.first, period.last, shared_only=not team)
    return [note.as_dict(query.interval, period.timezone, team=team) for note in notes]
