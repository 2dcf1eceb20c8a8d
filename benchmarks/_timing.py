"""Interleaved timing shared by the side-by-side benchmarks."""
from __future__ import annotations

import time
from typing import Callable, Dict


def fastest(fns: Dict[str, Callable[[], object]], rounds: int) -> Dict[str, float]:
    """Seconds of the fastest of ``rounds`` calls of each function, the functions called in
    turn (a, b, a, b, …) after one warm-up call each, so that a machine's changing load falls
    on all of them alike."""
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: min(v) for k, v in times.items()}
