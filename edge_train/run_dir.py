"""A trained Keras run, in one place: its model file (loaded safely, one-line errors for user
mistakes), the metrics.json its training wrote beside it, the labels that file names, and the
model's probabilities for faces. Training, export, evaluate and the bench all read runs here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edge_runtime.errors import EdgeFerError, brief


class KerasModelError(EdgeFerError):
    """A path that is not a loadable, safe `.keras` model."""


def load_keras(path: Path):
    """Load `path` with `safe_mode=True`: a model needing unsafe deserialisation (Lambda
    layers with Python code) is refused rather than executed."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise KerasModelError(f"{path}: no such file")
    if path.suffix != ".keras":
        raise KerasModelError(f"{path}: not a .keras model file")
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except ValueError as e:
        msg = str(e)
        if "unsafe" in msg.lower() or "lambda" in msg.lower() or "safe_mode" in msg:
            raise KerasModelError(
                f"{path}: needs unsafe deserialisation (e.g. a Lambda layer); refused"
            ) from None
        raise KerasModelError(f"{path}: cannot load Keras model ({brief(e)})") from None
    except Exception as e:  # zip/h5 errors of corrupt files come in many types
        raise KerasModelError(f"{path}: cannot load Keras model ({brief(e)})") from None


def run_metrics(path: str | Path) -> dict | None:
    """The metrics.json of the training run of the model at `path` (beside it), or of the run
    directory `path`; None when there is none readable."""
    p = Path(path)
    try:
        m = json.loads(((p if p.is_dir() else p.parent) / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) else None


def keras_labels(path: str | Path) -> tuple[str, ...] | None:
    """The labels of the trained model at `path`, in output order, from its run's metrics.json;
    None when it has none."""
    labels = (run_metrics(path) or {}).get("labels")
    return tuple(labels) if isinstance(labels, list) else None


def as_input(images: np.ndarray) -> np.ndarray:
    """uint8 faces [N, 48, 48] as the float [N, 48, 48, 1] a Keras model of the family takes."""
    return images[..., None].astype(np.float32)


def predict(model, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Probabilities from a Keras model, in batches, inference mode."""
    out = [
        np.asarray(model(as_input(images[i : i + batch_size]), training=False))
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)
