"""Batch-norm statistics taken from faces rather than from the running averages training left.

A run trained with augmentation and mixup keeps in each batch norm the mean and variance of
augmented, mixed batches, not of the faces the model will see. This recomputes them, layer by
layer, from a run's training faces as they are, and writes the result as a new run:

    python -m edge_train.norms RUN_DIR DATA OUT_DIR

The run's own directory is left as it was. `edge-fer export OUT_DIR/model.keras` then exports
the recomputed model; its card says where its statistics came from.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import numpy as np

from edge_runtime.errors import EdgeFerError


def _input_moments(probe, faces: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    from edge_train.run_dir import as_input

    total, squares, n = 0.0, 0.0, 0
    for i in range(0, len(faces), batch_size):
        x = np.asarray(probe(as_input(faces[i : i + batch_size]), training=False), np.float64)
        x = x.reshape(-1, x.shape[-1])
        total, squares, n = total + x.sum(0), squares + (x * x).sum(0), n + len(x)
    mean = total / n
    return mean, np.maximum(squares / n - mean * mean, 0.0)


def set_norm_statistics(
    model, faces: np.ndarray, keep_function: bool, batch_size: int = 512
) -> int:
    """Give each batch norm of `model`, in order, the mean and variance of its input over
    `faces` (uint8 [N, 48, 48]); return how many there were. With `keep_function` its scale
    and shift are rescaled so that the model computes at inference what it did before (only
    its training-mode behaviour changes); without, scale and shift stay and the model now
    normalises by the faces' statistics."""
    import keras

    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for norm in norms:
        mean, var = _input_moments(keras.Model(model.input, norm.input), faces, batch_size)
        scale, shift, old_mean, old_var = (w.astype(np.float64) for w in norm.get_weights())
        if keep_function:
            gain = scale / np.sqrt(old_var + norm.epsilon)  # what the norm multiplies by
            scale = gain * np.sqrt(var + norm.epsilon)
            shift = shift - old_mean * gain + gain * mean
        norm.set_weights([w.astype(np.float32) for w in (scale, shift, mean, var)])
    return len(norms)


def write_run(run: Path, data: Path, out: Path, command: str) -> dict:
    """OUT/model.keras: the model of `run` (a run directory or its model.keras) with its batch
    norms' statistics recomputed on every training face of its classes in `data`; OUT's
    metrics.json is the run's, with the splits scored anew and the recomputation recorded.
    Returns that metrics record."""
    from edge_train.run_dir import KerasModelError, load_keras, run_metrics

    run = Path(run)
    model_path = run / "model.keras" if run.is_dir() else run
    metrics = run_metrics(model_path)
    if metrics is None or not isinstance(metrics.get("labels"), list):
        raise KerasModelError(f"{model_path}: no metrics.json with its labels beside it")
    out = Path(out)
    for name in ("model.keras", "metrics.json"):
        if (out / name).exists():
            raise KerasModelError(f"{out}/{name} exists; not overwritten")
    from edge_train.data import load
    from edge_train.fit import evaluate_splits

    model = load_keras(model_path)
    ds = load(data).task(tuple(metrics["labels"]))
    faces = ds.training_pool().images
    count = set_norm_statistics(model, faces, keep_function=False)
    if count == 0:
        raise KerasModelError(f"{model_path}: no batch norms to recompute")
    metrics = {
        **metrics,
        "splits": evaluate_splits(model, ds),
        "norm_statistics": {"faces": int(len(faces)), "norms": count, "command": command},
    }
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.keras")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m edge_train.norms RUN_DIR DATA OUT_DIR", file=sys.stderr)
        return 2
    from edge_train.tf_import import import_tensorflow

    import_tensorflow()
    command = shlex.join(["python", "-m", "edge_train.norms", *argv])
    try:
        metrics = write_run(Path(argv[0]), Path(argv[1]), Path(argv[2]), command)
    except (EdgeFerError, OSError) as e:
        print(f"edge-fer: {e}", file=sys.stderr)
        return 1
    scores = ", ".join(f"{k} {v['accuracy']:.4f}" for k, v in metrics["splits"].items())
    n = metrics["norm_statistics"]
    print(f"{argv[2]}: {n['norms']} batch norms from {n['faces']} training faces; {scores}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
