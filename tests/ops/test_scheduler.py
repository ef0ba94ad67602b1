"""collector.ops.scheduler: the periodic jobs of the store's keeper, on one thread."""

from __future__ import annotations

import itertools
import logging
import threading
import time

import pytest

from collector.ops.scheduler import Scheduler


def wait_for(condition: threading.Event, seconds: float = 5.0) -> None:
    assert condition.wait(seconds), "the job did not run in time"


def test_a_job_runs_after_its_first_delay_then_every_period() -> None:
    runs: list[float] = []
    three = threading.Event()

    def job() -> None:
        runs.append(time.monotonic())
        if len(runs) == 3:
            three.set()

    scheduler = Scheduler()
    scheduler.every(0.1, job, name="tick", first=0.0)
    started = time.monotonic()
    scheduler.start()
    wait_for(three)
    scheduler.stop()
    assert runs[0] - started < 0.1
    gaps = [b - a for a, b in itertools.pairwise(runs)]
    assert all(gap >= 0.09 for gap in gaps), gaps


def test_a_failing_job_is_logged_and_runs_again(caplog: pytest.LogCaptureFixture) -> None:
    attempts = []
    again = threading.Event()

    def job() -> None:
        attempts.append(1)
        if len(attempts) == 2:
            again.set()
        raise RuntimeError("the store is away")

    scheduler = Scheduler()
    scheduler.every(0.05, job, name="sites", first=0.0)
    with caplog.at_level(logging.ERROR, logger="audience.scheduler"):
        scheduler.start()
        wait_for(again)
        scheduler.stop()
    assert "the sites job failed" in caplog.text
    assert "the store is away" in caplog.text


def test_a_long_job_delays_no_other_and_stop_waits_for_it() -> None:
    release, long_started, long_done = threading.Event(), threading.Event(), threading.Event()
    short_runs = []
    short_ran_while_long = threading.Event()

    def long_job() -> None:
        long_started.set()
        release.wait(10)
        long_done.set()

    def short_job() -> None:
        short_runs.append(1)
        if long_started.is_set() and not long_done.is_set() and len(short_runs) >= 3:
            short_ran_while_long.set()

    scheduler = Scheduler()
    scheduler.every(3600, long_job, name="retention", first=0.0, long=True)
    scheduler.every(0.02, short_job, name="metrics")
    scheduler.start()
    wait_for(long_started)
    wait_for(short_ran_while_long)
    stopping = threading.Thread(target=scheduler.stop)
    stopping.start()
    time.sleep(0.2)
    assert stopping.is_alive(), "stop returned while the long job was under way"
    release.set()
    stopping.join(5)
    assert not stopping.is_alive() and long_done.is_set()
    runs_at_stop = len(short_runs)
    time.sleep(0.1)
    assert len(short_runs) == runs_at_stop  # nothing runs once stopped
