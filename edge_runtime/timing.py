"""Latency measurement: warm-up discarded, perf_counter_ns, interleaved rounds, robust stats;
resident memory; and `Runner`, what every timed model file is (ONNX in the bench, Keras and
TensorFlow Lite in edge_train/bench_keras.py, which may not import the bench)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

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


def current_rss_mb() -> float | None:
    """Resident memory of this process now (Linux /proc), in MiB; None elsewhere."""
    import os

    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (resource.getrusage)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


class Runner:
    """A loaded model file in one format at one thread count."""

    model: str
    format: str
    path: Path
    threads: int
    labels: tuple[str, ...]
    load_ms: float
    load_rss_mb: float | None

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size

    def timed_call(self, faces: np.ndarray) -> Callable[[], object]:
        """A no-argument call running the model once on `faces` (uint8 [B, H, W]), with all
        input preparation done beforehand."""
        raise NotImplementedError

    def proba(self, faces: np.ndarray) -> np.ndarray:
        """Probabilities [N, C] for uint8 faces [N, H, W]."""
        raise NotImplementedError
