"""A serving process freezes what it made at start and spaces its collections out."""

from __future__ import annotations

import gc

from collector.ops import heap


def test_settle_freezes_the_start_and_raises_the_thresholds() -> None:
    thresholds = gc.get_threshold()
    try:
        heap.settle()
        assert gc.get_freeze_count() > 1000  # the modules, parsers and drivers loaded so far
        assert gc.get_threshold() == heap.THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
