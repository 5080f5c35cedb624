"""The emotion classifier: one ONNX file, run by onnxruntime, fed batches of 48x48 gray faces."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edge_runtime.model_info import ModelError, ModelInfo

MODELS_DIR = Path(__file__).parent / "models"
DEFAULT_MODEL = "fer7"


def bundled_models() -> dict[str, Path]:
    """Names of the models shipped inside the package, mapped to their int8 ONNX files."""
    return {p.name.split(".")[0]: p for p in sorted(MODELS_DIR.glob("*.int8.onnx"))}


def resolve_model(model: str | os.PathLike | None) -> Path:
    """A bundled model name (`fer7`, `happy_sad`, `fer7.int8`) or a path, as an existing file."""
    model = DEFAULT_MODEL if model is None else model
    p = Path(model)
    if p.suffix == ".onnx" or p.exists():
        if not p.is_file():
            raise ModelError(f"{model}: model file not found")
        return p
    name = str(model)
    candidates = [MODELS_DIR / f"{name}.onnx", MODELS_DIR / f"{name}.int8.onnx"]
    for c in candidates:
        if c.is_file():
            return c
    known = ", ".join(bundled_models()) or "none installed"
    raise ModelError(f"{model}: no such bundled model or file (bundled: {known})")


def with_flip(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """Test-time augmentation for any probability function over uint8 [N, H, W] faces: the
    mean of each face's and its mirror image's probabilities."""
    return lambda x: (fn(x) + fn(x[:, :, ::-1].copy())) / 2.0


def session_options(threads: int = 1) -> ort.SessionOptions:
    """Deliberate onnxruntime settings: full graph optimisation, `threads` intra-op threads.

    One thread is the default: the classifier takes well under a millisecond per face, so
    extra threads only pay at large batches and steal cores from face detection. On a 4-core
    Pi, `--threads 2` leaves two cores for the camera and OpenCV.
    """
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = max(1, int(threads))
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    return so


class EmotionClassifier:
    """An edge-fer ONNX model. `predict_proba(faces)` takes uint8 [N, 48, 48] gray faces."""

    def __init__(self, model: str | os.PathLike | None = None, threads: int = 1) -> None:
        self.path = resolve_model(model)
        t0 = time.perf_counter()
        try:
            self.session = ort.InferenceSession(
                str(self.path), session_options(threads), providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises several types for corrupt files
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ModelError(f"{self.path}: cannot load ONNX model ({first[:200]})") from None
        self.load_ms = (time.perf_counter() - t0) * 1000.0
        meta = self.session.get_modelmeta().custom_metadata_map
        self.info = ModelInfo.from_metadata(meta, str(self.path))
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"{self.path}: expected one input and one output")
        self._input = inputs[0].name
        out_dim = outputs[0].shape[-1]
        if isinstance(out_dim, int) and out_dim != len(self.info.labels):
            raise ModelError(
                f"{self.path}: output has {out_dim} classes but metadata lists "
                f"{len(self.info.labels)} labels"
            )
        self.threads = threads

    @property
    def labels(self) -> tuple[str, ...]:
        return self.info.labels

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size

    def _preprocess(self, faces: np.ndarray) -> np.ndarray:
        x = np.asarray(faces, dtype=np.float32)
        if x.ndim == 2:
            x = x[None]
        h, w = self.info.height, self.info.width
        if x.shape[1:] != (h, w):
            raise ValueError(f"faces must be [N, {h}, {w}], got {list(faces.shape)}")
        return x[:, None] if self.info.layout == "NCHW" else x[..., None]

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run the graph on an already laid-out float32 batch."""
        return self.session.run(None, {self._input: batch})[0]

    def predict_proba(self, faces: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Class probabilities [N, C] for uint8 gray faces [N, H, W] (or one face [H, W])."""
        x = self._preprocess(faces)
        if len(x) <= batch_size:
            return self.infer(x)
        return np.concatenate(
            [self.infer(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        )
