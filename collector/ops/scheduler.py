"""Periodic jobs on one thread: the store's background work (``collector.storage.keeper``).

A job runs after its first delay, then every period after its previous run ended. A job that
raises is logged and runs again at its next time. A long job (the daily retention) runs on a
thread of its own, so that it delays no other job; it is not started again while it runs.
``stop`` waits for the jobs under way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("audience.scheduler")


@dataclass
class _Job:
    name: str
    run: Callable[[], None]
    period: float
    due: float
    long: bool
    thread: threading.Thread | None = field(default=None)


class Scheduler:
    def __init__(self, name: str = "audience-scheduler") -> None:
        self._jobs: list[_Job] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def every(
        self,
        seconds: float,
        job: Callable[[], None],
        *,
        name: str,
        first: float | None = None,
        long: bool = False,
    ) -> None:
        """Run ``job`` every ``seconds``, first after ``first`` seconds (default: one period)."""
        delay = seconds if first is None else first
        self._jobs.append(_Job(name, job, seconds, time.monotonic() + delay, long))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """No job starts from now on; the ones under way are waited for."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        for job in self._jobs:
            if job.thread is not None:
                job.thread.join()

    def _loop(self) -> None:
        while self._jobs:
            due = min(job.due for job in self._jobs)
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            for job in self._jobs:
                if job.due <= time.monotonic() and not self._stop.is_set():
                    self._start(job)

    def _start(self, job: _Job) -> None:
        if not job.long:
            _run_logged(job)
            job.due = time.monotonic() + job.period
            return
        if job.thread is not None and job.thread.is_alive():
            job.due = time.monotonic() + job.period
            return
        job.thread = threading.Thread(target=_run_logged, args=(job,), name=f"audience-{job.name}")
        job.thread.start()
        job.due = time.monotonic() + job.period


def _run_logged(job: _Job) -> None:
    try:
        job.run()
    except Exception:  # a bug, or a failure the job did not report itself: tried again later
        log.exception("the %s job failed; it runs again in %g s", job.name, job.period)
