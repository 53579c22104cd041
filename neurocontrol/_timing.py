"""Wall-clock rates for the short speed benchmarks (``neurocontrol bench`` and the plants' own)."""

from __future__ import annotations

import time

__all__ = ["best_rate"]


def best_rate(fn, n: int, rounds: int) -> float:
    """Return the best calls-per-second over ``rounds`` runs of ``fn(n)``, after one short warm-up call.

    Parameters
    ----------
    fn : callable
        ``fn(n)`` does ``n`` units of work.
    n : int
        Units of work per timed call.
    rounds : int
        Timed calls; the fastest counts (the others met a busier machine).
    """
    fn(min(n, 200))
    best = 0.0
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn(n)
        best = max(best, n / max(time.perf_counter() - t0, 1e-12))
    return best
