"""The garbage collector of a long-running process (`mcs worker`, `mcs api`), once started.

Imports and start-up leave 160,000-215,000 objects that live as long as the process. Every full
collection scanned them all again: in `bench/e2e.py` the worker made one every 10-15 s of a burst,
125-210 ms each with the GIL held, so every step and workflow task of the process stood still
meanwhile. Frozen, they are never scanned again. Measured with a `gc.callbacks` probe, one bench
run each: the worker's collections after start-up took 585 ms in all, the longest 77 ms; a higher
threshold for young collections (10,000 or 50,000) made fewer collections but pauses of 65-109
ms, so the thresholds stay Python's.
"""

import gc


def settle() -> None:
    """Collect once, then freeze what is left: start-up's objects, out of the collector's sight
    for good. Call it once the process is set up, not in tests (their objects would stay)."""
    gc.collect()
    gc.freeze()
