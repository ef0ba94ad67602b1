"""The garbage collector of a serving process, tuned once it has started.

A beacon's garbage is freed by reference counting; the cycle collector only finds the odd cycle.
Left at its defaults it ran a full collection every second and a half under load, each pausing
the event loop for about 30 ms over the 70,000 objects made at start (parsers, templates,
drivers): that was the collector's p99. Once started, those objects are frozen out of the
collector's sight, and collections come less often.
"""

from __future__ import annotations

import gc

# Objects allocated (less those freed) before a young collection; older ones each 20 of those.
THRESHOLDS = (20_000, 20, 20)


def settle() -> None:
    """Call once the process has started and before it serves: collect, freeze, space out."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
