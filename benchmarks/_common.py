"""Timing shared by the benchmark scripts, which import it by name (a script's own folder leads sys.path)."""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def run_times_s(function: Callable[[], object], repeats: int) -> list[float]:
    """Seconds of each of `repeats` calls of `function`, after one warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def median_s(function: Callable[[], object], repeats: int) -> float:
    """Median seconds per call of `function` over `repeats` calls after a warm-up."""
    return statistics.median(run_times_s(function, repeats))
