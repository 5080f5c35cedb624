"""One model in one format, loaded: a timed call on a prepared batch and a probability
function for accuracy. ONNX runs through `EmotionClassifier`; Keras (only where TensorFlow
is installed) through `edge_train/bench_keras.py`, so the runtime never imports TensorFlow."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge_runtime.classifier import EmotionClassifier
from edge_runtime.timing import Runner, current_rss_mb


def tensorflow_available() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


class OnnxRunner(Runner):
    def __init__(
        self, model: str, fmt: str, path: Path, threads: int, provider: object = "cpu"
    ) -> None:
        before = current_rss_mb()
        self.clf = EmotionClassifier(path, threads=threads, provider=provider)
        after = current_rss_mb()
        self.model, self.format, self.path, self.threads = model, fmt, Path(path), threads
        self.labels = self.clf.labels
        self.provider = self.clf.provider.name
        self.macs = self.clf.macs
        self.load_ms = self.clf.load_ms
        self.load_rss_mb = None if before is None or after is None else after - before

    def timed_call(self, faces: np.ndarray) -> Callable[[], object]:
        x = self.clf.prepare(faces)
        infer = self.clf.infer
        return lambda: infer(x)

    def proba(self, faces: np.ndarray) -> np.ndarray:
        return self.clf.predict_proba(faces)
