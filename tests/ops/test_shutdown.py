"""SIGTERM and SIGINT under load, with real ``audience serve`` processes.

One signal stops gracefully: exit 0, every beacon answered 202 stored exactly once, and the
clients that come late are refused (or answered 503 with Retry-After), never left hanging. Two
signals exit at once, non-zero, and the next start stores what the spool kept, each 202 once.

Client threads post beacons with a path of their own each and carry on after the server stops
answering, until the process has exited, so every stage of the shutdown meets requests. The time
from the first signal to the exit is printed: ``pytest -s tests/ops/test_shutdown.py``.
"""

from __future__ import annotations

import itertools
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from collector.settings import Settings
from collector.storage.store import Store
from tests.conftest import GeoFiles, ServerProcess
from tests.test_faults import (
    CLIENT_HEADERS,
    DEADLINE_SECONDS,
    THREADS,
    fault_settings,
    post_beacon,
    slow_inserts,
    spool_is_drained,
    spooled_paths,
    stop_gracefully,
    stored_paths,
    wait_until,
)

CLIENT_TIMEOUT_SECONDS = 10.0
HUNG_SECONDS = 1.0  # a request that waits this long for its answer fails the test (~30 ms)
PAUSE_SECONDS = 0.05  # after an answer other than 202: keeps the CPU for the server
EXIT_SECONDS = 30.0
AT_ONCE_SECONDS = 1.0  # a second signal's exit, where the drain would take seconds more
# What a request may meet from a stopping server, besides 202: a refused connection, a
# keep-alive connection closed before it was read, or a 503 with Retry-After and a JSON error.
REFUSED, CUT, HUNG = "refused", "cut", "hung"
LATE_ANSWERS = {"202", "503", REFUSED, CUT}


class Clients:
    """Threads posting beacons, each with its own path, until stopped; each request's outcome
    is kept (the status, or what the transport met) with the moment it came."""

    def __init__(self, url: str, tag: str) -> None:
        self.url = url
        self.tag = tag
        self.outcomes: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._post_until_stopped, args=(number,), daemon=True)
            for number in range(THREADS)
        ]

    def start(self) -> Clients:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        deadline = time.monotonic() + DEADLINE_SECONDS
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        assert not any(thread.is_alive() for thread in self._threads), "a client thread hangs"

    def paths(self, *outcomes: str) -> set[str]:
        with self._lock:
            return {path for path, (outcome, _) in self.outcomes.items() if outcome in outcomes}

    def counts(self, before: float = float("inf")) -> Counter[str]:
        """How many requests had each outcome, of those that came before ``before``."""
        with self._lock:
            return Counter(outcome for outcome, at in self.outcomes.values() if at < before)

    def _post_until_stopped(self, number: int) -> None:
        with httpx.Client(
            base_url=self.url, headers=CLIENT_HEADERS, timeout=CLIENT_TIMEOUT_SECONDS
        ) as http:
            for sequence in itertools.count():
                if self._stopping.is_set():
                    return
                path = f"/{self.tag}/{number}/{sequence:05d}"
                outcome = _post(http, path)
                with self._lock:
                    self.outcomes[path] = (outcome, time.monotonic())
                if outcome != "202":
                    self._stopping.wait(PAUSE_SECONDS)


def _post(http: httpx.Client, path: str) -> str:
    started = time.monotonic()
    try:
        response = post_beacon(http, path)
    except httpx.ConnectError:
        return REFUSED
    except httpx.TransportError:
        return HUNG if time.monotonic() - started > HUNG_SECONDS else CUT
    if time.monotonic() - started > HUNG_SECONDS:
        return HUNG
    if response.status_code == 503 and not _explained(response):
        return "503 without Retry-After and an error"
    return str(response.status_code)


def _explained(refusal: httpx.Response) -> bool:
    try:
        return "retry-after" in refusal.headers and "error" in refusal.json()
    except ValueError:  # not JSON
        return False


Serve = Callable[[dict[str, str], Path, int], ServerProcess]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start ``audience serve --workers N`` and wait until it is ready; whatever a failed test
    left running is killed at the end."""
    started: list[ServerProcess] = []

    def start(env: dict[str, str], log_path: Path, workers: int) -> ServerProcess:
        server = ServerProcess(env, log_path, "--workers", str(workers))
        started.append(server)
        server.wait_ready()
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            server.stop(signal.SIGKILL)


def signal_and_time(server: ServerProcess, sig: signal.Signals) -> tuple[int, float, float]:
    """Send ``sig``; the exit code, the seconds from the signal to the exit, and its moment."""
    started = time.monotonic()
    server.process.send_signal(sig)
    try:
        code = server.process.wait(EXIT_SECONDS)
    except subprocess.TimeoutExpired as error:
        raise AssertionError(f"no exit {EXIT_SECONDS} s after {sig.name}") from error
    exited = time.monotonic()
    server.log.close()
    return code, exited - started, exited


def normal_inserts(settings: Settings) -> None:
    """Undo ``slow_inserts``: the store at its own speed again."""
    store = Store.connect(settings.clickhouse_url)
    try:
        store.execute("ALTER TABLE audience.events DROP CONSTRAINT store_slow")
    finally:
        store.close()


def rows_stored_at_shutdown(log: str) -> int:
    found = re.search(r"shut down in [\d.]+ s after SIG\w+: (\d+) rows stored meanwhile", log)
    assert found, f"no closing line in the log:\n{log}"
    return int(found[1])


@pytest.mark.parametrize(
    ("sig", "workers", "insert_seconds"),
    [(signal.SIGTERM, 1, 0.0), (signal.SIGINT, 1, 0.0), (signal.SIGTERM, 2, 0.25)],
    ids=["sigterm", "sigint", "sigterm-2-workers-slow-store"],
)
def test_a_signal_under_load_stops_gracefully_and_stores_every_202_once(
    tmp_path: Path,
    geo_files: GeoFiles,
    serve: Serve,
    sig: signal.Signals,
    workers: int,
    insert_seconds: float,
) -> None:
    # Segments are stored while the load runs; the open ones (no age seals them) reach the store
    # only through the shutdown's drain. With a slow store the drain has a backlog to store too,
    # seconds long, during which the listening socket must refuse, not leave clients waiting.
    batch_rows, backlog = (50, 250) if insert_seconds else (100, 0)
    env = fault_settings(
        tmp_path, geo_files, AUDIENCE_FLUSH_INTERVAL="60", AUDIENCE_BATCH_ROWS=str(batch_rows)
    )
    settings = Settings.from_environ(env)
    if insert_seconds:
        slow_inserts(settings, insert_seconds)
    server = serve(env, tmp_path / "server.log", workers)
    clients = Clients(server.url, "graceful").start()
    if backlog:  # seconds of work for the store: 50 rows every quarter of a second at best
        wait_until(lambda: len(spooled_paths(settings.spool_dir)) >= backlog, "a backlog builds")
    else:
        wait_until(lambda: clients.counts()["202"] >= 400, "the load is under way")

    code, seconds, exited = signal_and_time(server, sig)
    clients.stop()
    log = server.log_path.read_text()
    rows = rows_stored_at_shutdown(log)
    print(
        f"\n{sig.name} under load, --workers {workers}: exit {code} after {seconds:.2f} s,"
        f" {rows} rows stored meanwhile"
    )
    assert code == 0, log
    assert f"{sig.name}: shutting down" in log
    # At most the batch being inserted at the signal was stored before it.
    assert rows > backlog - batch_rows, "the shutdown did not store what the spool held"
    counts = clients.counts()
    assert set(counts) <= LATE_ANSWERS, counts
    assert clients.counts(before=exited)[REFUSED] > 0, "the socket was open till the exit"

    stored = stored_paths(settings)
    assert [path for path, times in stored.items() if times > 1] == []
    assert set(stored) == clients.paths("202")


@pytest.mark.parametrize(
    ("first", "second", "workers"),
    [(signal.SIGTERM, signal.SIGTERM, 1), (signal.SIGINT, signal.SIGTERM, 2)],
    ids=["sigterm-sigterm", "sigint-sigterm-2-workers"],
)
def test_a_second_signal_exits_at_once_and_the_next_start_stores_every_202_once(
    tmp_path: Path,
    geo_files: GeoFiles,
    serve: Serve,
    first: signal.Signals,
    second: signal.Signals,
    workers: int,
) -> None:
    # A store taking half a second per batch of 20 rows: a backlog builds up in the spool, which
    # a graceful stop would take seconds to store.
    env = fault_settings(
        tmp_path, geo_files, AUDIENCE_FLUSH_INTERVAL="0.2", AUDIENCE_BATCH_ROWS="20"
    )
    settings = Settings.from_environ(env)
    slow_inserts(settings, 0.5)
    server = serve(env, tmp_path / "first.log", workers)
    clients = Clients(server.url, "twice").start()
    backlog = 200  # ten batches: five seconds
    wait_until(lambda: len(spooled_paths(settings.spool_dir)) >= backlog, "a backlog builds")

    # The second signal comes while the store is being given the backlog: the stage that
    # uvicorn let no signal cut short, in the process or in the parent of workers.
    server.process.send_signal(first)
    draining = "Waiting for application shutdown." if workers == 1 else "Stopping parent process"
    wait_until(lambda: draining in server.log_path.read_text(), "the drain begins", timeout=10)
    code, seconds, _ = signal_and_time(server, second)
    clients.stop()
    print(
        f"\n{first.name}, then {second.name} during the drain, --workers {workers}:"
        f" exit {code} {seconds:.2f} s after the second"
    )
    log = server.log_path.read_text()
    assert code == 128 + second, log
    assert seconds < AT_ONCE_SECONDS, "the second signal did not cut the shutdown short"
    assert f"{second.name}, a second signal: exiting now" in log
    assert spooled_paths(settings.spool_dir), "the spool was drained: the exit was not at once"
    counts = clients.counts()
    assert set(counts) <= LATE_ANSWERS, counts
    accepted, unanswered = clients.paths("202"), clients.paths(CUT)

    normal_inserts(settings)
    restarted = serve(env, tmp_path / "second.log", workers)
    wait_until(lambda: spool_is_drained(settings.spool_dir), "the restarted server drains")
    stop_gracefully(restarted)

    stored = stored_paths(settings)
    assert [path for path, times in stored.items() if times > 1] == []
    assert accepted - set(stored) == set(), "answered 202 but lost"
    assert set(stored) - accepted <= unanswered, "stored though refused"
