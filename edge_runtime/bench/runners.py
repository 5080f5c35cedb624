"""One model in one format, loaded: a timed call on a prepared batch and a probability
function for accuracy. ONNX runs through `EmotionClassifier`; Keras (only where TensorFlow
is installed) through Keras `predict` or a direct call, as training evaluates it."""

from __future__ import annotations

import hashlib
import importlib.util
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge_runtime.classifier import EmotionClassifier


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
        self.load_ms = self.clf.load_ms
        self.load_rss_mb = None if before is None or after is None else after - before

    def timed_call(self, faces: np.ndarray) -> Callable[[], object]:
        x = self.clf._preprocess(faces)
        infer = self.clf.infer
        return lambda: infer(x)

    def proba(self, faces: np.ndarray) -> np.ndarray:
        return self.clf.predict_proba(faces)


def set_tensorflow_threads(threads: int) -> int:
    """Set TensorFlow's intra-op threads before its runtime starts; the value in force
    (0 = TensorFlow's default, all cores) if it had started already."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # the runtime is initialised: settings are fixed
        pass
    return int(tf.config.threading.get_intra_op_parallelism_threads())


class KerasRunner(Runner):
    """`mode` "predict": `model.predict(x, batch_size=B)`; "call": `model(x, training=False)`
    (what `train.fit.predict` does). Pass one `cache` dict to share a loaded model between
    the two modes."""

    def __init__(self, model: str, path: Path, mode: str, threads: int,
                 cache: dict[Path, tuple[object, float, float | None]] | None = None) -> None:
        from edge_runtime.commands.evaluate import keras_labels
        from train.keras_io import load_keras

        path = Path(path)
        cache = {} if cache is None else cache
        if path not in cache:
            before = current_rss_mb()
            t0 = time.perf_counter()
            m = load_keras(path)
            ms = (time.perf_counter() - t0) * 1e3
            after = current_rss_mb()
            cache[path] = (m, ms, None if before is None or after is None else after - before)
        self.keras_model, self.load_ms, self.load_rss_mb = cache[path]
        self.model, self.format, self.path, self.threads = model, f"keras-{mode}", path, threads
        self.mode = mode
        labels = keras_labels(path)
        n = int(self.keras_model.output_shape[-1])
        self.labels = labels or tuple(f"class{i}" for i in range(n))

    def timed_call(self, faces: np.ndarray) -> Callable[[], object]:
        x = faces[..., None].astype(np.float32)
        m = self.keras_model
        if self.mode == "predict":
            return lambda: m.predict(x, batch_size=len(x), verbose=0)
        return lambda: np.asarray(m(x, training=False))

    def proba(self, faces: np.ndarray) -> np.ndarray:
        from train.fit import predict

        return predict(self.keras_model, faces)
