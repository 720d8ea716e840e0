"""Garbage-collector settings for Concord's long-lived processes: the web server and the workers."""

import gc

# Young objects collected every this many allocations (CPython's default is 700), then the older generations.
THRESHOLDS = (50_000, 50, 100)


def tune_gc() -> None:
    """Fewer, cheaper garbage collections, once per process.

    A long review page or a chunk of ingested records allocates tens of thousands of short-lived objects; with
    the default thresholds collections ran every few hundred of them, and full collections over everything
    imported landed inside requests (bench/review.py: p95 three times p50) and took about 4% of ingestion's CPU.
    Objects alive when the process is ready are frozen out of collection.
    """
    if gc.get_threshold()[0] >= THRESHOLDS[0]:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
