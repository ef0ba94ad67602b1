"""The rollups of closed visits (collector.storage.closed_visits): the watermark, late and erased
events.

Their numbers equal those of the merged visits whatever the order
(tests/storage/test_visit_metrics.py); here, the rules of the watermark and of the rewrites, on
one migrated embedded store: the watermark never passes a visit that is still open, a turn cut
short leaves nothing counted twice, an erasure takes the visitor out of the rollups, and the
owner's writer takes its turns.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collector.ops.metrics import Metrics
from collector.settings import VISIT_TIMEOUT_SECONDS
from collector.storage.closed_visits import LATE_SECONDS, STEP, ClosedVisits
from collector.storage.rights_store import RightsStore
from collector.storage.rows import Row, encode_row
from collector.storage.spool_consumer import SpoolConsumer
from collector.storage.spool_records import frame
from collector.storage.store import Store
from collector.storage.writer import Writer
from dashboards.periods import Period, StatsQuery
from dashboards.stats import Stats

SITE = "closed.example"
NOON = datetime(2026, 11, 20, 12, tzinfo=UTC)
TABLES = (
    "events", "visits", "visit_rollup", "visit_rollup_daily", "closed_visits",
    "visit_rollup_through", "visit_rollup_stale", "traffic_hourly", "traffic_daily",
)  # fmt: skip
_batches = iter(range(1_000_000))


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store.open(f"chdb://{tmp_path_factory.mktemp('closed') / 'clickhouse'}", 25)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def store(shared_store: Store) -> Store:
    for table in TABLES:
        shared_store.execute(f"TRUNCATE TABLE audience.{table}")
    return shared_store


def at(minutes: float) -> int:
    """Seconds since the epoch, ``minutes`` after NOON."""
    return int((NOON + timedelta(minutes=minutes)).timestamp())


def pageview(visitor: int, visit: int, minutes: float, path: str = "/") -> bytes:
    return encode_row(
        Row(SITE, at(minutes), "pageview", path, visitor, visit, 1, 0, 0, "Lyon", "FR",
            "Orange", "Chrome", "131", "Windows", "desktop", "manual")
    )  # fmt: skip


def insert(store: Store, *rows: bytes) -> None:
    store.insert_events(list(rows), f"closed-{next(_batches)}")


def roll_up(store: Store, minutes: float) -> datetime | None:
    """Turns at NOON + ``minutes`` until nothing is left to do; the watermark after."""
    closed = ClosedVisits(store)
    while closed.turn(NOON + timedelta(minutes=minutes), budget=60.0):
        pass
    return closed.watermark().through


def rolled(store: Store) -> dict[str, int]:
    """The totals of the hourly rollups, once checked that the daily ones sum them up."""
    # One watermark for both reads: the owner's writer may move it between them.
    [[seconds]] = store.rows(
        "SELECT toUnixTimestamp(max(through)) FROM audience.visit_rollup_through"
    )
    through = datetime.fromtimestamp(seconds, UTC)
    assert daily(store, "audience.visit_rollup_daily", through) == daily(
        store, "audience.visit_rollup", through
    )
    rows = store.query_dicts(
        "SELECT sum(visits) AS visits, sum(bounces) AS bounces, sum(duration) AS duration,"
        " uniqCombinedMerge(15)(visitors) AS visitors FROM audience.visit_rollup"
        " WHERE site = {s:String} AND dimension = ''",
        {"s": SITE},
    )
    return {name: int(value) for name, value in rows[0].items()}


def shown(store: Store) -> dict[str, int]:
    """The summary of the day of NOON, as the dashboards' rollup path shows it."""
    day = NOON.date()
    current = Stats(store, 1).summary(
        StatsQuery(SITE, Period("custom", day, day, "UTC"), {}, "hour")
    )
    return {
        "visits": current["current"]["visits"],
        "bounces": round(current["current"]["bounce_rate"] * current["current"]["visits"]),
        "duration": round(current["current"]["visit_duration"] * current["current"]["visits"]),
        "visitors": current["current"]["visitors"],
    }


def daily(store: Store, table: str, through: datetime) -> list[tuple[object, ...]]:
    """Per dimension, value and whole UTC day before ``through``: the rollups of ``table``."""
    return sorted(
        tuple(row)
        for row in store.rows(
            "SELECT dimension, value, toStartOfDay(hour) AS day, sum(visits), sum(bounces),"
            f" sum(duration), uniqCombinedMerge(15)(visitors) FROM {table}"
            " WHERE site = {s:String} AND day + INTERVAL 1 DAY <= {t:DateTime('UTC')}"
            " GROUP BY dimension, value, day",
            {"s": SITE, "t": naive(through)},
        )
    )


def naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def test_the_watermark_stops_at_the_hour_of_a_visit_still_open(store: Store) -> None:
    # Visit 1 from 10:10 until now (11:50): open. Visit 2, 09:00 to 09:05: closed.
    insert(store, pageview(1, 1, -110), pageview(1, 1, -20), pageview(2, 2, -180))
    insert(store, pageview(2, 2, -175, "/a"))
    through = roll_up(store, -10)
    assert through == naive(NOON - timedelta(hours=2))  # 10:00: visit 1 started in that hour
    assert rolled(store) == {"visits": 1, "bounces": 0, "duration": 300, "visitors": 1}
    # An hour later visit 1 is closed (idle for more than the timeout and the margin).
    idle = (VISIT_TIMEOUT_SECONDS + LATE_SECONDS) / 60
    through = roll_up(store, -20 + idle + 60)
    assert through is not None and through > naive(NOON - timedelta(hours=1))
    assert rolled(store) == {"visits": 2, "bounces": 0, "duration": 300 + 90 * 60, "visitors": 2}


def test_an_empty_store_starts_the_watermark_at_now(store: Store) -> None:
    through = roll_up(store, 0)
    idle = timedelta(seconds=VISIT_TIMEOUT_SECONDS + LATE_SECONDS)
    assert through == naive(NOON - idle).replace(minute=0)


def test_a_turn_does_a_budget_of_steps_and_says_more_is_ready(store: Store) -> None:
    insert(store, *(pageview(v, v, -60 * 24 * 3 + v * 60) for v in range(40)))
    closed = ClosedVisits(store)
    assert closed.turn(NOON, budget=0.0)  # one step, and more hours are ready
    first = closed.watermark().through
    assert first is not None
    assert first - naive(NOON - timedelta(days=3)) <= STEP
    while closed.turn(NOON, budget=0.0):
        pass
    assert rolled(store)["visits"] == 40


def test_rows_a_cut_short_turn_left_past_the_watermark_are_not_counted(store: Store) -> None:
    insert(store, pageview(1, 1, -300), pageview(2, 2, -200))
    roll_up(store, -205)  # visit 1 rolled up, the watermark before visit 2
    before = rolled(store)
    through = ClosedVisits(store).watermark().through
    # A turn that wrote visit 2's rollups and died before moving the watermark.
    store.execute(
        "INSERT INTO audience.visit_rollup (site, hour, dimension, value, visits)"
        " VALUES ({s:String}, {h:DateTime('UTC')}, '', '', 7)",
        {"s": SITE, "h": through},
    )
    roll_up(store, 0)  # a new process: its first turn removes them, then rolls up visit 2
    assert rolled(store)["visits"] == before["visits"] + 1 == 2


def test_late_events_write_their_hours_again(store: Store, tmp_path: Path) -> None:
    insert(store, pageview(1, 1, -300))
    roll_up(store, 0)
    assert rolled(store) == {"visits": 1, "bounces": 1, "duration": 0, "visitors": 1}
    # The visit's second pageview, held in a spool until now: stored late by a writer.
    spool = SpoolConsumer(tmp_path / "spool")
    writer = Writer(spool, store, Metrics())
    insert(store, pageview(1, 1, -290, "/b"))
    writer.closed_visits.mark_late([(SITE, at(-290))])
    # Before the writer's next turn, the dashboards merge the marked hours' visits again.
    assert shown(store) == {"visits": 1, "bounces": 0, "duration": 600, "visitors": 1}
    roll_up(store, 0)
    assert rolled(store) == {"visits": 1, "bounces": 0, "duration": 600, "visitors": 1}
    assert shown(store) == rolled(store)
    [[marks]] = store.rows("SELECT count() FROM audience.visit_rollup_stale")
    assert marks == 0


def test_a_late_batch_is_counted_by_a_reader_from_the_moment_it_is_stored(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    roll_up(store, 0)  # the watermark at 11:00, before any event is stored
    spool = SpoolConsumer(tmp_path / "spool")
    folder = spool.root / "replayed"
    folder.mkdir(parents=True)
    segment = frame(pageview(1, 1, -300)) + frame(pageview(2, 2, -200))
    (folder / f"{0:010d}.seg").write_bytes(segment)
    seen: list[dict[str, int]] = []
    insert_events = store.insert_events

    def insert_then_read(rows: list[bytes], token: str) -> None:
        insert_events(rows, token)
        seen.append(shown(store))  # a dashboard read the moment the rows are visible

    monkeypatch.setattr(store, "insert_events", insert_then_read)
    # Spooled at 07:00 and 08:20, stored now by a writer: before the watermark, so late.
    assert Writer(spool, store, Metrics()).drain() == 2
    assert seen == [{"visits": 2, "bounces": 2, "duration": 0, "visitors": 2}]
    roll_up(store, 0)
    assert rolled(store) == shown(store) == seen[0]


def test_whole_days_are_rolled_up_again_with_their_late_hours(store: Store) -> None:
    insert(store, pageview(1, 1, -300), pageview(2, 2, -200), pageview(3, 3, 13 * 60))
    roll_up(store, 24 * 60)  # the next noon: the day of the first two visits is whole
    [[days]] = store.rows("SELECT count() FROM audience.visit_rollup_daily WHERE dimension = ''")
    assert days == 1  # the next day is not whole: its visit is in the hourly rollups only
    assert rolled(store) == {"visits": 3, "bounces": 3, "duration": 0, "visitors": 3}
    ClosedVisits(store).mark_late([(SITE, at(-290))])
    insert(store, pageview(1, 1, -290, "/b"))
    roll_up(store, 24 * 60)
    assert rolled(store) == {"visits": 3, "bounces": 2, "duration": 600, "visitors": 3}
    [[bounces]] = store.rows(
        "SELECT sum(bounces) FROM audience.visit_rollup_daily WHERE dimension = ''"
    )
    assert bounces == 1


def test_an_erased_visitor_leaves_the_rollups(store: Store) -> None:
    insert(store, pageview(1, 1, -300), pageview(1, 1, -299, "/a"), pageview(2, 2, -200))
    roll_up(store, 0)
    assert rolled(store)["visits"] == 2
    RightsStore(store).erase(1)
    [[listed]] = store.rows("SELECT count() FROM audience.closed_visits WHERE visitor = 1")
    assert listed == 0  # at once: the rows holding the visitor's hash
    roll_up(store, 0)
    assert rolled(store) == {"visits": 1, "bounces": 1, "duration": 0, "visitors": 1}


def test_the_owners_writer_rolls_up_between_drains(store: Store, tmp_path: Path) -> None:
    insert(store, pageview(1, 1, -300))
    writer = Writer(SpoolConsumer(tmp_path / "spool"), store, Metrics(), roll_up_visits=True)
    writer.start()
    try:
        deadline = time.monotonic() + 60
        while rolled(store)["visits"] == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        writer.stop()
    assert rolled(store)["visits"] == 1
