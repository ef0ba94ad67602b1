"""The writer's side of the spool: the sealed segments of every producer, read and removed.

A segment is the writer's batch; ``<producer>-<seq>`` is its deduplication token. At start, the
segments that producers left open (a process killed) are sealed and adopted
(``collector.storage.spool`` writes them).
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from collector.storage.spool import LOCK_NAME, OPEN_SUFFIX, SEALED_SUFFIX, lock_exclusive
from collector.storage.spool_records import Records, read_records

log = logging.getLogger("audience.spool")


@dataclass(frozen=True)
class Segment:
    path: Path

    @property
    def token(self) -> str:
        """Stable across renames and replays: the producer and the sequence number."""
        return f"{self.path.parent.name}-{self.path.name.split('.', 1)[0]}"


class SpoolConsumer:
    """The writer's view: sealed segments to drain, and the leftovers of dead producers."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def sealed(self) -> list[Segment]:
        found: list[Segment] = []
        with contextlib.suppress(FileNotFoundError):
            for directory in sorted(os.scandir(self.root), key=lambda entry: entry.name):
                if directory.is_dir():
                    found += [
                        Segment(Path(directory.path) / name)
                        for name in sorted(os.listdir(directory.path))
                        if name.endswith(SEALED_SUFFIX)
                    ]
        return found

    def read(self, segment: Segment) -> Records:
        return read_records(segment.path.read_bytes())

    def remove(self, segment: Segment) -> None:
        with contextlib.suppress(FileNotFoundError):
            segment.path.unlink()

    def adopt_orphans(self) -> int:
        """Seal the open segments of producers that died, and remove their emptied directories.

        Returns how many segments were sealed. A producer that is alive holds its lock, so its
        directory is left alone.
        """
        sealed = 0
        with contextlib.suppress(FileNotFoundError):
            for directory in os.scandir(self.root):
                if not directory.is_dir() or directory.name.startswith("."):
                    continue
                path = Path(directory.path)
                lock_fd = lock_exclusive(path / LOCK_NAME)
                if lock_fd is None:
                    continue
                try:
                    sealed += _seal_open_segments(path)
                    if not any(name.endswith(SEALED_SUFFIX) for name in os.listdir(path)):
                        (path / LOCK_NAME).unlink(missing_ok=True)
                        with contextlib.suppress(OSError):  # not empty after all: next time
                            path.rmdir()
                finally:
                    os.close(lock_fd)
        return sealed


def _seal_open_segments(directory: Path) -> int:
    sealed = 0
    for name in sorted(os.listdir(directory)):
        if name.endswith(OPEN_SUFFIX):
            opened = directory / name
            if opened.stat().st_size == 0:
                opened.unlink()
                continue
            opened.rename(directory / (name[: -len(OPEN_SUFFIX)] + SEALED_SUFFIX))
            sealed += 1
    return sealed
