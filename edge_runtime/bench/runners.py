"""One model in one format, loaded: a timed call on a prepared batch and a probability
function for accuracy. ONNX runs through `EmotionClassifier`; Keras (only where TensorFlow
is installed) through `edge_train/bench_keras.py`, so the runtime never imports TensorFlow."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge_runtime.classifier import EmotionClassifier


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


def tensorflow_available() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


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


class OnnxRunner(Runner):
    def __init__(self, model: str, fmt: str, path: Path, threads: int) -> None:
        before = current_rss_mb()
        self.clf = EmotionClassifier(path, threads=threads)
        after = current_rss_mb()
        self.model, self.format, self.path, self.threads = model, fmt, Path(path), threads
        self.labels = self.clf.labels
        self.macs = self.clf.macs
        self.load_ms = self.clf.load_ms
        self.load_rss_mb = None if before is None or after is None else after - before

    def timed_call(self, faces: np.ndarray) -> Callable[[], object]:
        x = self.clf.prepare(faces)
        infer = self.clf.infer
        return lambda: infer(x)

    def proba(self, faces: np.ndarray) -> np.ndarray:
        return self.clf.predict_proba(faces)
