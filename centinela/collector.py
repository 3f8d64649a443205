"""Python's cyclic garbage collector, set for a receiver holding thousands of connections."""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
"""Allocations between young collections (Python's default is 700)."""


def tune_collector() -> None:
    """Collect rarely, and never rescan what start-up built.

    With the default thresholds, a storm's signals still in flight (thousands, each a few objects)
    outlive young collections and pile into the oldest generation. Its full scan walks every
    connection, cached account and in-flight record: 50-67 ms with 5,000 panels, every few
    seconds, during which no panel was read or answered. What the receiver allocates is freed by
    reference counting (those scans found almost nothing to collect), so collecting rarely
    costs little memory. Called by each process's entry point once it has loaded its code, not on
    import: a test run's process keeps its own settings.
    """
    gc.freeze()  # modules, catalogues, settings: alive for good, no reason to scan them again
    gc.set_threshold(YOUNG_THRESHOLD, 20, 100)
