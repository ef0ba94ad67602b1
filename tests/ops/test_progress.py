"""Progress of long work: periodic log lines off a terminal, a tqdm bar on one, and a real caller
(``audience geoip update``) showing each on a pipe and on a pseudo-terminal."""

from __future__ import annotations

import io
import logging
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from collector.ops import progress as progress_module
from collector.ops.progress import BYTES, progress
from collector.settings import Settings
from collector.storage import migrations
from collector.storage.store import Store
from tests.console.test_cli import audience
from tests.ops.test_geoip_update import Databases, Mirror, dbip, env_of, serve_dbip

LOGGER = "audience.test-progress"
INTERVAL = 0.05


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def work(
    items: int, seconds: float, *, total: int | None, unit: str = "items", step: int = 1
) -> None:
    """``items`` advances spread over ``seconds``, shown as log lines every INTERVAL."""
    with progress(
        "work", total, unit=unit, logger=logging.getLogger(LOGGER), tty=False, interval=INTERVAL
    ) as shown:
        for _ in range(items):
            shown.advance(step)
            time.sleep(seconds / items)


PERIODIC = re.compile(
    r"work: \d+/400 items \(\d+%\), [\d.,]+ items/s, ([\d.]+ s|\d+ min \d+ s) left|"
    r"work: \d+/400 items \(\d+%\), 0\.0 items/s, time left unknown|"
    r"work: 400/400 items \(100%\), [\d.,]+ items/s, finishing"
)


def test_log_lines_come_every_interval_with_rate_and_time_left(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    work(400, 0.4, total=400)
    messages = logged(caplog)
    *periodic, final = messages
    assert 3 <= len(periodic) < 100  # about one per INTERVAL: never one per item
    for message in periodic:
        assert PERIODIC.fullmatch(message), message
    done = [int(m.split("/")[0].removeprefix("work: ")) for m in periodic]
    assert done == sorted(done) and done[0] < 400
    assert re.fullmatch(
        r"work: done, 400/400 items \(100%\) in [\d.]+ s \([\d.,]+ items/s\)", final
    )


def test_an_unknown_total_shows_the_amount_and_rate_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    work(30, 0.25, total=None, unit=BYTES, step=123_456)
    *periodic, final = logged(caplog)
    assert periodic
    for message in periodic:
        assert re.fullmatch(r"work: [\d.]+ [kM]?B, [\d.]+ [kM]?B/s", message), message
    assert re.fullmatch(r"work: done, 3\.7 MB in [\d.]+ s \([\d.]+ [kM]?B/s\)", final)


def test_a_stalled_step_is_reported_with_its_note(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    logger = logging.getLogger(LOGGER)
    with progress(
        "migrations", 3, unit="migrations", logger=logger, tty=False, interval=INTERVAL
    ) as shown:
        shown.advance()
        shown.note("applying 010_slow.sql")
        time.sleep(0.3)  # one slow statement: nothing advances
        shown.advance(2)
    messages = logged(caplog)
    assert (
        "migrations: 1/3 migrations (33%), 0.0 migrations/s, time left unknown"
        " (applying 010_slow.sql)"
    ) in messages
    assert messages[-1].startswith("migrations: done, 3/3 migrations (100%) in ")


def test_work_shorter_than_the_delay_shows_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    logger = logging.getLogger(LOGGER)
    bar = io.StringIO()
    with progress("quick", 5, logger=logger, tty=False, delay=0.5, interval=INTERVAL) as shown:
        shown.advance(5)
    with progress("quick", 5, tty=True, stream=bar, delay=0.5, interval=INTERVAL) as shown:
        shown.advance(5)
    assert logged(caplog) == []
    assert bar.getvalue() == ""
    with progress("slow", 5, logger=logger, tty=False, delay=0.1, interval=1.0) as shown:
        time.sleep(0.4)  # past the delay: the first line comes then, not after the interval
        shown.advance(5)
    assert [m.split(",")[0] for m in logged(caplog)] == ["slow: 0/5 events (0%)", "slow: done"]


def test_work_that_fails_says_where_it_stopped(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    logger = logging.getLogger(LOGGER)

    def fail() -> None:
        with progress(
            "work", 10, unit="items", logger=logger, tty=False, interval=INTERVAL
        ) as shown:
            shown.advance(3)
            time.sleep(0.12)
            raise RuntimeError("the store went away")

    with pytest.raises(RuntimeError, match="went away"):
        fail()
    assert re.fullmatch(r"work: stopped at 3/10 items \(30%\) after [\d.]+ s", logged(caplog)[-1])


def test_the_bar_renders_with_rate_and_time_left(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    stream = io.StringIO()
    with progress("events stored", 200, tty=True, stream=stream, interval=0.02) as shown:
        for _ in range(20):
            shown.advance(10)
            time.sleep(0.01)
    frames = stream.getvalue().split("\r")
    assert len(frames) >= 3  # redrawn in place
    # Part way: the share done, the bar, done/total, elapsed<left and the rate.
    between = re.compile(
        r"events stored:  \d\d%\|[#0-9 ]+\| \d+/200 \[[\d:]+<[\d:]+, [\d.]+events/s\] *"
    )
    assert any(between.fullmatch(frame) for frame in frames), frames
    assert re.fullmatch(
        r"events stored: 100%\|#+\| 200/200 \[[\d:]+<00:00, [\d.]+events/s\]\n", frames[-1]
    )
    assert not [r for r in caplog.records if "events stored" in r.getMessage()]

    unknown = io.StringIO()
    with progress("download", None, unit=BYTES, tty=True, stream=unknown, interval=0.02) as shown:
        for _ in range(10):
            shown.advance(500_000)
            time.sleep(0.01)
    assert re.fullmatch(
        r"download: 5\.00MB \[[\d:]+, [\d.]+MB/s\]\n", unknown.getvalue().split("\r")[-1]
    )


def test_advance_from_threads_counts_every_item() -> None:
    stream = io.StringIO()
    with progress("threads", 40_000, tty=True, stream=stream) as shown:

        def share() -> None:
            for _ in range(10_000):
                shown.advance()

        with ThreadPoolExecutor(4) as pool:
            for future in [pool.submit(share) for _ in range(4)]:
                future.result()
        assert shown.done == 40_000
    assert "40000/40000" in stream.getvalue().split("\r")[-1]


@pytest.fixture
def mirror() -> Iterator[Mirror]:
    with Mirror() as site:
        yield site


@pytest.fixture
def dbs(tmp_path: Path) -> Databases:
    return Databases(tmp_path / "built")


def test_geoip_update_logs_its_downloads_off_a_terminal(
    tmp_path: Path, mirror: Mirror, dbs: Databases
) -> None:
    serve_dbip(mirror, dbs.city_a, dbs.asn)
    result = audience(env_of(tmp_path / "data"), "geoip", "update", "--base-url", mirror.url)
    assert result.returncode == 0, result.stderr
    size = len(mirror.files[dbip("city")])
    assert re.search(
        rf"INFO audience\.geoip: city database download: done, {size} B/{size} B \(100%\) in "
        r"[\d.]+ s \([\d.]+ [kM]?B/s\)\n",
        result.stderr,
    ), result.stderr
    assert "operator database download: done, " in result.stderr
    assert "\r" not in result.stderr  # no bar


def run_on_terminal(command: list[str], env: dict[str, str], timeout: float = 60) -> str:
    """What ``command`` writes to a pseudo-terminal (its stdout and stderr) until it exits."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen(command, env=env, stdout=secondary, stderr=secondary)
    os.close(secondary)
    output = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(primary, 65536)
                except OSError:  # EIO: the terminal's last writer has gone
                    break
                if not chunk:
                    break
                output += chunk
            elif process.poll() is not None:
                break
    finally:
        os.close(primary)
        process.wait(10)
    return output.decode()


def test_geoip_update_draws_a_bar_on_a_terminal(
    tmp_path: Path, mirror: Mirror, dbs: Databases
) -> None:
    serve_dbip(mirror, dbs.city_a, dbs.asn)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIENCE_")}
    command = [sys.executable, "-m", "collector.cli", "geoip", "update", "--base-url", mirror.url]
    output = run_on_terminal(command, env | env_of(tmp_path / "data"))
    assert "city: installed GeoIP2-City built " in output
    bar = r"\rcity database download: 100%\|[█#]+\| (\d+)/\1 \[[\d:]+<00:00, [\d.]+[kM]?B/s\]"
    assert re.search(bar, output), output
    assert "\roperator database download: 100%|" in output
    assert "database download: done" not in output  # the bar, not the log lines


def test_slow_migrations_are_shown_and_timed(
    settings: Settings, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every migration counted as slow: each is timed, and the run shows its progress."""
    monkeypatch.setattr(migrations, "SLOW_MIGRATION_SECONDS", 0.0)
    monkeypatch.setattr(progress_module, "LOG_INTERVAL_SECONDS", 0.01)
    stderr = io.StringIO()  # not a terminal, even under `pytest -s`
    monkeypatch.setattr(sys, "stderr", stderr)
    caplog.set_level(logging.INFO, logger="audience.store")
    store = Store.connect(settings.clickhouse_url)
    try:
        applied = store.migrate(settings.retention_months)
    finally:
        store.close()
    messages = [r.getMessage() for r in caplog.records if r.name == "audience.store"]
    for name in applied:
        assert any(re.fullmatch(rf"migration {re.escape(name)} took [\d.]+ s", m) for m in messages)
    assert any(re.match(r"migrations: \d+/\d+ migrations .*\(applying ", m) for m in messages)
    steps = len(applied)
    assert re.fullmatch(
        rf"migrations: done, {steps}/{steps} migrations \(100%\) in [\d.]+ s"
        r" \([\d.]+ migrations/s\)",
        messages[-1],
    )
    assert stderr.getvalue() == ""  # no bar
