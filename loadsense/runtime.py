"""Process-wide tuning of the interpreter for the long-running ``serve`` process."""

from __future__ import annotations

import gc

GC_THRESHOLDS = (50_000, 20, 10)
"""Young-generation threshold raised from CPython's 700 allocations: a correlator tick
builds ~10k rows per signal family (plus the history and dispatch work behind it), and
with the default the collector ran ~20 full collections in 8 ticks of the benchmark
world, ~0.27 s per tick holding the GIL (docs/performance.md#correlator). Cyclic garbage
is still collected, in fewer, larger passes."""


def tune_gc() -> None:
    """Raise the collection thresholds and move everything allocated so far (modules,
    the app, settings) out of the collector's view: it lives as long as the process."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
