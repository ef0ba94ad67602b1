"""Faults with real processes: ``audience serve`` killed under load, a store refusing inserts for
a while, a slow store, a torn spool segment, a batch replayed after a crash. Whatever happens,
every beacon answered 202 is stored exactly once, in the events and in the rollups, and nothing
else is.

Client threads post beacons with a path of their own each, so the stored paths say which beacons
arrived and how often; the store is read once the last server has stopped (the embedded engine
allows one opener).
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from collector.settings import Settings
from collector.storage.rows import COLUMNS, decode_row
from collector.storage.sites import Site
from collector.storage.spool import OPEN_SUFFIX, SEALED_SUFFIX, disk_usage
from collector.storage.spool_records import frame, read_records
from collector.storage.store import Store
from tests.conftest import (
    CHROME,
    LYON_ORANGE,
    GeoFiles,
    ServerProcess,
    beacon,
    environment,
    query_stopped_store,
    register,
)

THREADS = 6
CLIENT_HEADERS = {"user-agent": CHROME, "x-forwarded-for": LYON_ORANGE}
PAUSE_AFTER_REFUSAL_SECONDS = 0.05  # a polite client waits after a 503; keeps the CPU for others
DEADLINE_SECONDS = 45.0
GRACEFUL_EXIT_CODES = (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM once shut down
PATH_COLUMN = COLUMNS.index("path")


# --- clients -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    path: str
    status: int | None  # None: a transport error, the answer (if any) never came


class Load:
    """Client threads posting beacons, each with its own path, until stopped or cut off.

    A thread stops at its first transport error: the server is gone. Answers are kept in the
    order they came.
    """

    def __init__(self, url: str, tag: str, threads: int = THREADS) -> None:
        self.url = url
        self.tag = tag
        self.answers: list[Answer] = []
        self.first_refusal: httpx.Response | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._post_until_stopped, args=(number,), daemon=True)
            for number in range(threads)
        ]

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.join()

    def join(self, timeout: float = DEADLINE_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        assert not any(thread.is_alive() for thread in self._threads), "a client thread hangs"

    def count(self, status: int | None) -> int:
        with self._lock:
            return sum(answer.status == status for answer in self.answers)

    def paths(self, status: int | None) -> set[str]:
        with self._lock:
            return {answer.path for answer in self.answers if answer.status == status}

    def statuses(self) -> Counter[int | None]:
        with self._lock:
            return Counter(answer.status for answer in self.answers)

    def accepted_before_first_refusal(self) -> int:
        with self._lock:
            statuses = [answer.status for answer in self.answers]
        return statuses.index(503) if 503 in statuses else len(statuses)

    def _post_until_stopped(self, number: int) -> None:
        with httpx.Client(base_url=self.url, headers=CLIENT_HEADERS, timeout=10) as http:
            for sequence in itertools.count():
                if self._stopping.is_set():
                    return
                path = f"/{self.tag}/{number}/{sequence:05d}"
                try:
                    response = post_beacon(http, path)
                except httpx.TransportError:
                    self._record(Answer(path, None))
                    return
                self._record(Answer(path, response.status_code), response)
                if response.status_code == 503:
                    self._stopping.wait(PAUSE_AFTER_REFUSAL_SECONDS)

    def _record(self, answer: Answer, response: httpx.Response | None = None) -> None:
        with self._lock:
            self.answers.append(answer)
            if answer.status == 503 and self.first_refusal is None:
                self.first_refusal = response


def post_beacon(http: httpx.Client, path: str) -> httpx.Response:
    return http.post("/api/event", json=beacon(url=f"https://example.com{path}"))


def post_one_by_one(url: str, paths: list[str]) -> list[int]:
    with httpx.Client(base_url=url, headers=CLIENT_HEADERS, timeout=10) as http:
        return [post_beacon(http, path).status_code for path in paths]


# --- the server from outside ---------------------------------------------------------------


def wait_until(condition: Callable[[], bool], what: str, timeout: float = DEADLINE_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.1)


def metric(url: str, name: str) -> float:
    """The value of one sample of the server's /metrics, ``name`` with its labels if any."""
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        key, _, value = line.rpartition(" ")
        if key == name:
            return float(value)
    raise AssertionError(f"{name} is not in /metrics")


def is_ready(url: str) -> bool:
    with contextlib.suppress(httpx.TransportError):
        return httpx.get(f"{url}/readyz", timeout=5).status_code == 200
    return False


StartServer = Callable[[dict[str, str], Path], ServerProcess]


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    """Start ``audience serve`` and wait until it is ready; whatever a failed test left running
    is killed at the end."""
    started: list[ServerProcess] = []

    def start(env: dict[str, str], log_path: Path) -> ServerProcess:
        server = ServerProcess(env, log_path)
        started.append(server)
        server.wait_ready()
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            server.stop(signal.SIGKILL)


def stop_gracefully(server: ServerProcess) -> str:
    """Stop with SIGTERM (the writer drains at shutdown); the server's log."""
    assert server.stop() in GRACEFUL_EXIT_CODES
    log = server.log_path.read_text()
    assert "Application shutdown complete" in log, log
    return log


# --- the spool on disk ---------------------------------------------------------------------


def spool_segments(spool_dir: Path) -> list[Path]:
    """Open and sealed segments holding bytes, in producer and sequence order."""
    found = []
    for path in sorted(spool_dir.glob("*/*")):
        with contextlib.suppress(FileNotFoundError):  # the writer deletes what it stored
            if path.suffix in (OPEN_SUFFIX, SEALED_SUFFIX) and path.stat().st_size > 0:
                found.append(path)
    return found


def spool_is_drained(spool_dir: Path) -> bool:
    return spool_segments(spool_dir) == []


def record_paths(data: bytes) -> list[str]:
    """The beacon path of every intact record of a segment's bytes."""
    return [str(decode_row(payload)[0][PATH_COLUMN]) for payload in read_records(data).payloads]


def spooled_paths(spool_dir: Path) -> list[str]:
    paths = []
    for segment in spool_segments(spool_dir):
        with contextlib.suppress(FileNotFoundError):
            paths += record_paths(segment.read_bytes())
    return paths


def largest_spooled_record(spool_dir: Path) -> int:
    return max(
        len(frame(payload))
        for segment in spool_segments(spool_dir)
        for payload in read_records(segment.read_bytes()).payloads
    )


# --- the store -----------------------------------------------------------------------------


def stored_paths(settings: Settings) -> Counter[str]:
    rows = query_stopped_store(settings, "SELECT path FROM audience.events")
    return Counter(str(row["path"]) for row in rows)


def event_and_rollup_counts(settings: Settings) -> dict[str, int]:
    """Pageviews and visits counted from the events and read from each rollup table."""
    sql = """
        SELECT
            (SELECT countIf(type = 'pageview') FROM audience.events) AS events_pageviews,
            (SELECT sum(pageviews) FROM audience.traffic_hourly WHERE dimension = '')
                AS traffic_hourly_pageviews,
            (SELECT sum(pageviews) FROM audience.traffic_daily WHERE dimension = '')
                AS traffic_daily_pageviews,
            (SELECT uniqExact(visit) FROM audience.events) AS events_visits,
            (SELECT uniqExact(visit) FROM audience.visits) AS visits_visits,
            (SELECT sum(pageviews) FROM audience.visits) AS visits_pageviews
    """
    return {name: int(value) for name, value in query_stopped_store(settings, sql)[0].items()}


def assert_rollups_count_each_event_once(settings: Settings, events: int) -> None:
    counts = event_and_rollup_counts(settings)
    pageviews, visits = counts["events_pageviews"], counts["events_visits"]
    assert pageviews == events, counts  # every beacon of these tests is a pageview
    expected = {
        "events_pageviews": pageviews,
        "traffic_hourly_pageviews": pageviews,
        "traffic_daily_pageviews": pageviews,
        "events_visits": visits,
        "visits_visits": visits,
        "visits_pageviews": pageviews,
    }
    assert counts == expected, "the rollups do not count each stored event once"


def refuse_inserts_until(settings: Settings, unix_time: int) -> None:
    """Until ``unix_time`` ClickHouse refuses every insert into audience.events (code 469)."""
    store = Store.connect(settings.clickhouse_url)
    try:
        store.execute(
            "ALTER TABLE audience.events ADD CONSTRAINT store_away"
            f" CHECK now() >= toDateTime({int(unix_time)})"
        )
    finally:
        store.close()


def slow_inserts(settings: Settings, seconds: float) -> None:
    """From now on every insert into audience.events takes ``seconds`` longer (a slow store)."""
    store = Store.connect(settings.clickhouse_url)
    try:
        store.execute(
            f"ALTER TABLE audience.events ADD CONSTRAINT store_slow CHECK sleep({seconds}) = 0"
        )
    finally:
        store.close()


def fault_settings(tmp_path: Path, geo_files: GeoFiles, **extra: str) -> dict[str, str]:
    """The environment of a collector under test, its site registered, no rate limit."""
    env = environment(tmp_path / "data", geo_files, AUDIENCE_RATE_LIMIT="0", **extra)
    register(Settings.from_environ(env), Site("example.com"))
    return env


# --- the tests -----------------------------------------------------------------------------


def test_sigkill_under_load_stores_every_202_exactly_once(
    tmp_path: Path, geo_files: GeoFiles, start_server: StartServer
) -> None:
    # Segments are sealed and stored while the load runs; the last ones are open at the kill.
    env = fault_settings(tmp_path, geo_files, AUDIENCE_FLUSH_INTERVAL="0.3")
    settings = Settings.from_environ(env)
    first = start_server(env, tmp_path / "first.log")
    load = Load(first.url, "load").start()
    wait_until(
        lambda: load.count(202) >= 300 and metric(first.url, "audience_rows_stored_total") > 0,
        "some beacons are stored and more are on their way",
    )
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    load.join()  # each client thread ends on the transport error the kill gave it
    accepted, lost = load.paths(202), load.paths(None)
    spooled_at_kill = spooled_paths(settings.spool_dir)

    assert set(load.statuses()) == {202, None}, load.statuses()
    assert len(lost) == THREADS, "every client was still posting when the kill came"
    assert spooled_at_kill, "nothing was left in the spool: the kill came too late to prove much"
    assert set(spooled_at_kill) <= accepted | lost

    second = start_server(env, tmp_path / "second.log")
    wait_until(lambda: spool_is_drained(settings.spool_dir), "the restarted server drains")
    stop_gracefully(second)

    stored = stored_paths(settings)
    assert [path for path, times in stored.items() if times > 1] == []
    assert accepted - set(stored) == set(), "answered 202 but lost"
    assert set(stored) - accepted <= lost, "stored though refused"
    assert_rollups_count_each_event_once(settings, stored.total())


def test_store_away_under_load_fills_the_quota_then_drains_exactly_once(
    tmp_path: Path, geo_files: GeoFiles, start_server: StartServer
) -> None:
    quota_mb = 0.03
    env = fault_settings(
        tmp_path, geo_files, AUDIENCE_SPOOL_QUOTA_MB=str(quota_mb), AUDIENCE_FLUSH_INTERVAL="0.1"
    )
    settings = Settings.from_environ(env)
    # Long enough for the server to start and the spool to fill on a busy 2-core machine (7 s
    # were missed by a second while the rest of the suite ran beside it).
    store_back_at = int(time.time()) + 12
    refuse_inserts_until(settings, store_back_at)
    server = start_server(env, tmp_path / "server.log")

    load = Load(server.url, "away").start()
    # Refused clients come back after a pause: time for the spool to top up what it can.
    wait_until(lambda: load.count(503) >= 4 * THREADS, "the spool is full", timeout=30)
    load.stop()
    wait_until(
        lambda: metric(server.url, "audience_spool_bytes") == disk_usage(settings.spool_dir),
        "the spool's own count agrees with the disk",
    )
    spooled_bytes = disk_usage(settings.spool_dir)
    largest_record = largest_spooled_record(settings.spool_dir)
    wait_until(
        lambda: metric(server.url, "audience_insert_failures_total") > 0,
        "the writer has met the refusing store",
    )
    refusals_counted = metric(server.url, 'audience_events_rejected_total{status="503"}')
    assert time.time() < store_back_at, "the store came back before the spool was seen full"

    # The 503s: only for the quota, and only once the spool was full.
    assert set(load.statuses()) == {202, 503}, load.statuses()
    assert refusals_counted == load.count(503)
    refusal = load.first_refusal
    assert refusal is not None
    assert refusal.headers["retry-after"] == "5"
    assert "quota" in refusal.json()["error"]
    quota = settings.spool_quota_bytes
    assert quota - largest_record < spooled_bytes <= quota
    # Slack for the records written but not yet answered when the first 503 came: one per client.
    unanswered = THREADS * largest_record
    assert load.accepted_before_first_refusal() * largest_record >= quota - unanswered
    accepted = load.paths(202)

    # The store comes back: the writer drains the spool, and beacons are accepted again.
    wait_until(
        lambda: metric(server.url, "audience_rows_stored_total") >= len(accepted),
        "the spool drains into the store that came back",
    )
    assert metric(server.url, "audience_rows_stored_total") == len(accepted)
    wait_until(lambda: spool_is_drained(settings.spool_dir), "no segment is left")
    wait_until(lambda: is_ready(server.url), "the server is ready again")
    later = [f"/later/{number:05d}" for number in range(20)]
    assert post_one_by_one(server.url, later) == [202] * len(later)
    stop_gracefully(server)

    stored = stored_paths(settings)
    assert [path for path, times in stored.items() if times > 1] == []
    assert set(stored) == accepted | set(later)
    assert_rollups_count_each_event_once(settings, len(stored))


def test_slow_store_under_load_fills_the_quota_then_takes_everything_once(
    tmp_path: Path, geo_files: GeoFiles, start_server: StartServer
) -> None:
    # Each insert of at most 20 rows takes half a second: far slower than the beacons come.
    env = fault_settings(
        tmp_path,
        geo_files,
        AUDIENCE_SPOOL_QUOTA_MB="0.03",
        AUDIENCE_FLUSH_INTERVAL="0.1",
        AUDIENCE_BATCH_ROWS="20",
    )
    settings = Settings.from_environ(env)
    slow_inserts(settings, 0.5)
    server = start_server(env, tmp_path / "server.log")

    load = Load(server.url, "slow").start()
    wait_until(lambda: load.count(503) >= 4 * THREADS, "the spool fills up", timeout=30)
    load.stop()
    assert set(load.statuses()) == {202, 503}, load.statuses()
    refusal = load.first_refusal
    assert refusal is not None and refusal.headers["retry-after"] == "5"
    assert load.accepted_before_first_refusal() >= 100  # the quota holds about 145 rows
    accepted = load.paths(202)

    wait_until(
        lambda: metric(server.url, "audience_rows_stored_total") == len(accepted),
        "the slow store takes the whole spool in the end",
    )
    assert metric(server.url, "audience_insert_failures_total") == 0  # slow, never failing
    stop_gracefully(server)

    stored = stored_paths(settings)
    assert [path for path, times in stored.items() if times > 1] == []
    assert set(stored) == accepted
    assert_rollups_count_each_event_once(settings, len(stored))


def killed_with_an_open_segment(
    tmp_path: Path, geo_files: GeoFiles, start_server: StartServer, tag: str, count: int
) -> tuple[dict[str, str], list[str], Path]:
    """A server given ``count`` beacons one by one, then killed: (its environment, the paths
    posted, the one spool segment they are all in)."""
    # The longest flush interval: every beacon stays in the open segment the kill leaves.
    env = fault_settings(tmp_path, geo_files, AUDIENCE_FLUSH_INTERVAL="60")
    first = start_server(env, tmp_path / "first.log")
    posted = [f"/{tag}/{number:05d}" for number in range(count)]
    assert post_one_by_one(first.url, posted) == [202] * len(posted)
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    [segment] = spool_segments(Settings.from_environ(env).spool_dir)
    return env, posted, segment


def test_torn_spool_segment_keeps_the_intact_records_and_reports_the_damage(
    tmp_path: Path, geo_files: GeoFiles, start_server: StartServer
) -> None:
    env, posted, segment = killed_with_an_open_segment(
        tmp_path, geo_files, start_server, "torn", 20
    )
    settings = Settings.from_environ(env)
    assert segment.suffix == OPEN_SUFFIX
    assert record_paths(segment.read_bytes()) == posted
    segment.write_bytes(tear(segment.read_bytes(), garbage_after=7))
    assert record_paths(segment.read_bytes()) == posted[:-1]

    second = start_server(env, tmp_path / "second.log")
    wait_until(lambda: spool_is_drained(settings.spool_dir), "the damaged segment is drained")
    assert metric(second.url, "audience_spool_damaged_records_total") == 2  # garbage, torn end
    assert metric(second.url, "audience_rows_stored_total") == len(posted) - 1
    assert second.process.poll() is None
    assert is_ready(second.url)
    assert post_one_by_one(second.url, ["/after/00000"]) == [202]
    log = stop_gracefully(second)
    assert "damaged bytes skipped" in log

    stored = stored_paths(settings)
    assert stored == Counter(posted[:-1] + ["/after/00000"])
    assert_rollups_count_each_event_once(settings, stored.total())


def tear(data: bytes, garbage_after: int) -> bytes:
    """``data`` as a crash may leave it: a torn record's head and junk after record
    ``garbage_after``, and the last record cut in the middle."""
    ends = list(itertools.accumulate(len(frame(p)) for p in read_records(data).payloads))
    assert ends[-1] == len(data)
    junk = frame(b'["a record whose write was torn"]')[:17] + b"\x00\xff" * 8
    middle_of_last = (ends[-2] + ends[-1]) // 2
    cut = ends[garbage_after - 1]
    return data[:cut] + junk + data[cut:middle_of_last]


def test_batch_replayed_after_a_crash_counts_once_in_events_and_rollups(
    tmp_path: Path, geo_files: GeoFiles, start_server: StartServer
) -> None:
    """A crash between a batch's insert and its segment's deletion replays the batch at the
    next start, under the same deduplication token: ClickHouse must drop the replay, in the
    events and in the rollups the materialized views feed."""
    env, posted, segment = killed_with_an_open_segment(
        tmp_path, geo_files, start_server, "replayed", 10
    )
    settings = Settings.from_environ(env)
    kept = tmp_path / "inserted-not-deleted"
    shutil.copytree(segment.parent, kept)

    second = start_server(env, tmp_path / "second.log")
    wait_until(lambda: spool_is_drained(settings.spool_dir), "the segment is stored")
    stop_gracefully(second)
    # The state a crash right after the insert leaves: the sealed segment still on disk.
    shutil.copytree(kept, segment.parent, dirs_exist_ok=True)
    segment.rename(segment.with_suffix(SEALED_SUFFIX))

    third = start_server(env, tmp_path / "third.log")
    wait_until(lambda: spool_is_drained(settings.spool_dir), "the replayed segment is drained")
    stop_gracefully(third)

    assert stored_paths(settings) == Counter(posted)
    assert_rollups_count_each_event_once(settings, len(posted))
