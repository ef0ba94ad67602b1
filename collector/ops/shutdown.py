"""SIGTERM and SIGINT in ``audience serve``: the first stops gracefully, a second exits at once.

The first signal (either kind): the listening socket closes, requests in flight finish (a beacon
that still reaches the app while it stops is answered 503 with Retry-After), each spool is sealed,
the writer stores every sealed segment (``writer.SHUTDOWN_DRAIN_SECONDS`` at most) and the process
exits 0, logging when it began and how long it took. A second signal, of either kind, exits at
once with 128 + its number: every record the spool answered 202 for was fdatasync'ed, and the next
start's writer adopts what was left and stores it.

What uvicorn 0.55 does alone, and why this module exists:
- its server forces an exit on a second SIGINT only, never on a second SIGTERM, and not even on a
  second SIGINT once the application's shutdown (the drain) has begun; and it re-raises SIGTERM
  once stopped, so a clean stop ended in -15, not 0;
- its supervisor of ``--workers N`` takes every signal into a queue read twice a second, treats a
  second SIGINT or SIGTERM like the first, and never puts the handlers back: a signal during the
  store owner's drain, which comes after it, was lost. Its handlers also keep it alive, and with it
  the listening socket, until the process ends: connections made during the drain hung.

The handlers only set flags or append to a list, and exit on the second signal; the log lines are
written by the loops that notice them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Generator, Iterator
from types import FrameType

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

log = logging.getLogger("audience.shutdown")

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Shutdown:
    """The two signals of one process; ``stored_rows`` counts the rows its writer stored."""

    def __init__(self, stored_rows: Callable[[], int]) -> None:
        self.stored_rows = stored_rows
        self.signal: int | None = None
        self.notify: Callable[[int], None] = lambda sig: None  # the first: tell what serves
        self.children: Callable[[], list[int]] = list  # the second: processes to kill first
        self._began = 0.0
        self._rows_before = 0
        self._announced = False

    @contextlib.contextmanager
    def handling_signals(self) -> Iterator[None]:
        previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
        self.install()
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def install(self) -> None:
        for sig in SIGNALS:
            signal.signal(sig, self._handle)

    def _handle(self, sig: int, frame: FrameType | None) -> None:
        if self.signal is not None:
            self._exit_now(sig)
        self.signal = sig
        self._began = time.monotonic()
        self._rows_before = self.stored_rows()
        self.notify(sig)

    def _exit_now(self, sig: int) -> None:
        for pid in self.children():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        # A handler may interrupt a write to the same stream: the exit must not depend on it.
        with contextlib.suppress(Exception):
            log.warning(
                "%s, a second signal: exiting now; the spool is stored at the next start",
                signal.Signals(sig).name,
            )
        os._exit(128 + sig)

    def announce(self) -> None:
        """The first line of a shutdown, once, from the loop that noticed the signal."""
        if self.signal is None or self._announced:
            return
        self._announced = True
        log.info(
            "%s: shutting down: no new connections, requests in flight finish, then the spool "
            "is stored (a second signal exits at once)",
            signal.Signals(self.signal).name,
        )

    def finished(self) -> None:
        """The last line: how long the shutdown took and the rows stored meanwhile."""
        if self.signal is None:
            return
        log.info(
            "shut down in %.2f s after %s: %d rows stored meanwhile",
            time.monotonic() - self._began,
            signal.Signals(self.signal).name,
            self.stored_rows() - self._rows_before,
        )


class GracefulServer(uvicorn.Server):
    """uvicorn's server, its signals left to a ``Shutdown``."""

    def __init__(self, config: uvicorn.Config, shutdown: Shutdown) -> None:
        super().__init__(config)
        self.signals = shutdown
        shutdown.notify = self._exit_soon

    def _exit_soon(self, sig: int) -> None:
        self.should_exit = True  # the main loop looks ten times a second

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # handled for the whole of ``run_server``, and never raised again once stopped

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.signals.announce()
        await super().shutdown(sockets)


class Supervisor(Multiprocess):
    """uvicorn's supervisor of worker processes, SIGINT and SIGTERM left to a ``Shutdown``."""

    def __init__(
        self, config: uvicorn.Config, sockets: list[socket.socket], shutdown: Shutdown
    ) -> None:
        super().__init__(config, sockets)  # its handlers for every signal it knows
        self.signals = shutdown
        shutdown.notify = self.signal_queue.append  # read by its loop, twice a second
        shutdown.children = self._worker_pids
        shutdown.install()
        if shutdown.signal is not None:  # it came while the socket was being bound
            self.signal_queue.append(shutdown.signal)

    def _worker_pids(self) -> list[int]:
        return [process.pid for process in self.processes if process.pid is not None]

    def handle_int(self) -> None:
        self.signals.announce()
        self.should_exit.set()  # the workers get SIGTERM, seal their spools and stop

    def handle_term(self) -> None:
        self.handle_int()


def run_server(config: uvicorn.Config, stored_rows: Callable[[], int]) -> int:
    """One process serving ``config``'s app, whose lifespan drains the spool; the exit status."""
    shutdown = Shutdown(stored_rows)
    server = GracefulServer(config, shutdown)
    with shutdown.handling_signals():
        server.run()
    shutdown.finished()
    return 0 if server.started else STARTUP_FAILURE


def run_workers(
    config: uvicorn.Config, stored_rows: Callable[[], int], stop_owner: Callable[[], None]
) -> int:
    """The parent of ``config.workers`` processes: once they have stopped, ``stop_owner`` drains
    their spools; a second signal exits at once then too. The exit status."""
    shutdown = Shutdown(stored_rows)
    with shutdown.handling_signals():
        try:
            listener = config.bind_socket()
            try:
                Supervisor(config, [listener], shutdown).run()
            finally:
                listener.close()  # refused from now on, not left waiting during the drain
        finally:
            stop_owner()
    shutdown.finished()
    return 0
