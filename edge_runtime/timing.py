"""Latency measurement: warm-up discarded, perf_counter_ns, interleaved rounds, robust stats."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def stats_ms(samples_ns: list[int] | np.ndarray) -> dict[str, float]:
    """Median, p90, p95, p99, min and mean of nanosecond samples, in milliseconds."""
    ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
    return {
        "p50_ms": float(np.median(ms)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p95_ms": float(np.percentile(ms, 95)),
        "p99_ms": float(np.percentile(ms, 99)),
        "min_ms": float(ms.min()),
        "mean_ms": float(ms.mean()),
        "runs": int(len(ms)),
    }


def interleaved(
    variants: dict[str, Callable[[], object]],
    runs: int = 200,
    warmup: int = 20,
    rounds: int = 10,
    on_block: Callable[[str], None] | None = None,
) -> dict[str, dict[str, float]]:
    """Time each variant `runs` times, in `rounds` alternating blocks so that machine drift
    (other load, frequency changes) hits all variants alike. Warm-up calls are discarded.

    `on_block(name)`, if given, is called after each variant's warm-up and after each of its
    timed blocks (`rounds + 1` calls per variant): the hook for a progress bar.
    """
    rounds = max(1, min(rounds, runs))
    for name, fn in variants.items():
        for _ in range(warmup):
            fn()
        if on_block is not None:
            on_block(name)
    samples: dict[str, list[int]] = {k: [] for k in variants}
    for i in range(rounds):
        per_round = runs // rounds + (1 if i < runs % rounds else 0)  # `runs` calls in all
        for name, fn in variants.items():
            s = samples[name]
            for _ in range(per_round):
                t0 = time.perf_counter_ns()
                fn()
                s.append(time.perf_counter_ns() - t0)
            if on_block is not None:
                on_block(name)
    return {k: stats_ms(v) for k, v in samples.items()}
