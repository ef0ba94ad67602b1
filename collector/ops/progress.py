"""Progress of long work: a bar on a terminal, a log line every few seconds anywhere else.

    with progress("events stored", total, unit="events", logger=log) as shown:
        for batch in batches:
            ...
            shown.advance(len(batch))

Where stderr is a terminal, a tqdm bar with the rate and the time left; where it is not (a log
file, CI, systemd), a line through ``logger`` every ``LOG_INTERVAL_SECONDS`` with done/total, the
rate and the time left, and one when the work ends: never a line per item. The total may be
unknown (a download without a Content-Length), or learned on the way (``set_total``).

``advance`` only adds under a lock, from any thread: cheap enough for a hot loop. A ticker thread
of the context shows the figures, so a step that stalls (one slow statement) still shows its
elapsed time. With ``delay``, nothing is shown for work that ends within that many seconds.
Figures only: a description or note never holds personal data.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from tqdm import tqdm

log = logging.getLogger("audience.progress")
LOG_INTERVAL_SECONDS = 5.0  # between two log lines; read at each start, so tests may shorten it
BAR_INTERVAL_SECONDS = 0.25  # between two redraws of the bar
FALLBACK_SIZE = os.terminal_size((80, 24))  # for a terminal that does not tell its size
BYTES = "B"  # the unit of a download: shown as kB, MB, GB


class Progress:
    """Work done so far toward an optional total: what ``progress`` yields."""

    def __init__(self, total: int | None) -> None:
        self._lock = threading.Lock()
        self._done = 0
        self._total = total
        self._note = ""

    def advance(self, n: int = 1) -> None:
        """``n`` more items done (any thread)."""
        with self._lock:
            self._done += n

    def set_total(self, total: int | None) -> None:
        """The total once it is known, or known better (None: unknown)."""
        with self._lock:
            self._total = total

    def note(self, text: str) -> None:
        """What is under way, shown after the figures ("" for nothing)."""
        with self._lock:
            self._note = text

    @property
    def done(self) -> int:
        return self._done

    def figures(self) -> tuple[int, int | None, str]:
        """(done, total, note), read together."""
        with self._lock:
            return self._done, self._total, self._note


@contextmanager
def progress(
    description: str,
    total: int | None = None,
    *,
    unit: str = "events",
    logger: logging.Logger = log,
    delay: float = 0.0,
    tty: bool | None = None,
    stream: TextIO | None = None,
    interval: float | None = None,
) -> Iterator[Progress]:
    """Show the progress of the work done in the ``with`` block.

    ``tty`` chooses the bar (True) or the log lines (False); by default the bar when ``stream``
    (sys.stderr) is a terminal. ``interval`` is the seconds between two lines or redraws.
    """
    out = stream if stream is not None else sys.stderr
    on_terminal = out.isatty() if tty is None else tty
    if interval is None:
        interval = BAR_INTERVAL_SECONDS if on_terminal else LOG_INTERVAL_SECONDS
    shown = Progress(total)
    view: _Bar | _LogLines
    if on_terminal:
        view = _Bar(description, total, unit, out, delay)
    else:
        view = _LogLines(description, unit, logger, delay)
    stop = threading.Event()
    ticker = threading.Thread(
        target=_tick, args=(view, shown, stop, delay or interval, interval), daemon=True
    )
    ticker.name = "audience-progress"
    ticker.start()
    ended = False
    try:
        yield shown
        ended = True
    finally:
        stop.set()
        ticker.join()
        view.end(*shown.figures(), ended=ended)


def _tick(
    view: _Bar | _LogLines, shown: Progress, stop: threading.Event, first: float, every: float
) -> None:
    wait = first
    while not stop.wait(wait):
        view.show(*shown.figures())
        wait = every


class _Bar:
    """The tqdm bar, touched by the ticker thread only, then by ``end``."""

    def __init__(
        self, description: str, total: int | None, unit: str, out: TextIO, delay: float
    ) -> None:
        sized = _terminal_size(out).columns > 0
        self._bar = tqdm(
            total=total,
            desc=description,
            unit=unit,
            unit_scale=unit == BYTES,
            file=out,
            delay=delay,
            mininterval=0,
            # Follows the terminal's size; one that says 0 (a pty nobody sized) gets 80 x 24.
            dynamic_ncols=sized,
            ncols=None if sized else FALLBACK_SIZE.columns,
            nrows=None if sized else FALLBACK_SIZE.lines,
        )

    def show(self, done: int, total: int | None, note: str) -> None:
        bar = self._bar
        if total != bar.total:
            bar.total = total
        bar.set_postfix_str(note, refresh=False)
        if done != bar.n:
            bar.update(done - bar.n)  # the bar's own rate: a moving average
        else:
            bar.refresh()  # the elapsed time moves on while a step stalls

    def end(self, done: int, total: int | None, note: str, *, ended: bool) -> None:
        """The last figures with the overall rate; nothing if it never showed (``delay``)."""
        bar = self._bar
        bar.total = total
        bar.set_postfix_str("" if ended else note, refresh=False)
        bar.n = done
        bar.close()


class _LogLines:
    """A line every so often: the figures, the rate since the line before, the time left at
    that rate."""

    def __init__(self, description: str, unit: str, logger: logging.Logger, delay: float) -> None:
        self._description = description
        self._unit = unit
        self._logger = logger
        self._delay = delay
        self._started = time.monotonic()
        self._last = (self._started, 0)  # (when, done) of the line before
        self._lines = 0

    def show(self, done: int, total: int | None, note: str) -> None:
        now = time.monotonic()
        then, done_then = self._last
        rate = (done - done_then) / (now - then) if now > then else 0.0
        text = f"{self._description}: {self._figures(done, total)}, {self._rate(rate)}"
        if total is not None and done >= total:
            text += ", finishing"
        elif total is not None and rate > 0:
            text += f", {_duration((total - done) / rate)} left"
        elif total is not None:
            text += ", time left unknown"
        if note:
            text += f" ({note})"
        self._logger.info("%s", text)
        self._last = (now, done)
        self._lines += 1

    def end(self, done: int, total: int | None, note: str, *, ended: bool) -> None:
        elapsed = time.monotonic() - self._started
        if not ended:
            if self._lines:  # the reader saw it going: say where it stopped
                self._logger.info(
                    "%s: stopped at %s after %s",
                    self._description,
                    self._figures(done, total),
                    _duration(elapsed),
                )
            return
        if elapsed < self._delay:
            return
        rate = done / elapsed if elapsed > 0 else 0.0
        self._logger.info(
            "%s: done, %s in %s (%s)",
            self._description,
            self._figures(done, total),
            _duration(elapsed),
            self._rate(rate),
        )

    def _figures(self, done: int, total: int | None) -> str:
        """12,345/100,000 events (12%); 1.2 MB/130.0 MB (1%); 1.2 MB when the total is unknown."""
        if self._unit == BYTES:
            figures = _size(done) if total is None else f"{_size(done)}/{_size(total)}"
        else:
            figures = f"{done:,}" if total is None else f"{done:,}/{total:,}"
            figures += f" {self._unit}"
        if total:
            figures += f" ({100 * done / total:.0f}%)"
        return figures

    def _rate(self, rate: float) -> str:
        if self._unit == BYTES:
            return f"{_size(rate)}/s"
        return f"{rate:,.0f} {self._unit}/s" if rate >= 100 else f"{rate:.1f} {self._unit}/s"


def _terminal_size(out: TextIO) -> os.terminal_size:
    """The size of the terminal ``out`` writes to; 0 x 0 when it does not say."""
    try:
        return os.get_terminal_size(out.fileno())
    except (OSError, ValueError):  # not a terminal, or not a file (io.UnsupportedOperation)
        return os.terminal_size((0, 0))


def _size(count: float) -> str:
    """Bytes as people read them: 512 B, 12.3 kB, 130.0 MB."""
    if count < 1000:
        return f"{count:.0f} B"
    for prefix in "kMGT":
        count /= 1000
        if count < 1000 or prefix == "T":
            break
    return f"{count:.1f} {prefix}B"


def _duration(seconds: float) -> str:
    """3.2 s, 45 s, 4 min 05 s, 2 h 07 min."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
