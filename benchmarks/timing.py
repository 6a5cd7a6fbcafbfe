"""Timing helper shared by the benchmarks."""

import time


def best_of(fn, repeat=5):
    """The shortest of ``repeat`` wall-clock timings of ``fn()``, in seconds: the run
    least disturbed by the rest of the machine."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)
