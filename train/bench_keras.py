"""Keras rows of `edge-fer bench` (train extra): `model.predict` and a direct call, timed
like the ONNX rows. Lives in train/ so that edge_runtime never imports TensorFlow."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge_runtime.bench.runners import Runner, current_rss_mb


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
