"""Garbage-collector settings for a long-running batch worker.

The engine's start-up objects (the device catalog: a million entries) live as long as the process.
Left in the collected generations, every full collection walks them all, and the default young
threshold (700 allocations) runs a collection every few dozen records. Measured on the feed worker
(bench/feed_bench.py): about a fifth of its time went to the collector.
"""

from __future__ import annotations

import gc

#: Allocations between young collections; a batch of a few thousand records allocates ~100,000 objects.
YOUNG_THRESHOLD = 50_000


def freeze_startup_heap() -> None:
    """Move everything alive now out of the collector's reach and collect the young generation less often.

    Objects frozen here are still freed by reference counting; only cycles among them are never
    collected, which is what start-up state (settings, catalog, connections) is anyway."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
