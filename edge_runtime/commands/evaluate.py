"""`edge-fer evaluate`: accuracy, macro-F1, per-class recall, confusion of a model on a dataset.

`.onnx` models run through onnxruntime (no TensorFlow import); `.keras` models need the
train extra.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import typer

from edge_runtime.classifier import with_flip
from edge_runtime.commands.common import UserError, require_training_stack

Predictor = Callable[[np.ndarray], np.ndarray]


def keras_labels(path: Path) -> tuple[str, ...] | None:
    """Labels of a trained `.keras` model, from the metrics.json its training run wrote."""
    metrics = path.parent / "metrics.json"
    if metrics.is_file():
        try:
            return tuple(json.loads(metrics.read_text())["labels"])
        except (ValueError, KeyError):
            return None
    return None


def load_predictor(model: str, threads: int = 1) -> tuple[tuple[str, ...], Predictor, str]:
    """(labels, probabilities function over uint8 [N,48,48] faces, kind) for a model."""
    if str(model).endswith(".keras"):
        require_training_stack("evaluate")
        from train.fit import predict
        from train.keras_io import load_keras

        path = Path(model)
        m = load_keras(path)
        labels = keras_labels(path)
        if labels is None:
            n = int(m.output_shape[-1])
            labels = tuple(f"class{i}" for i in range(n))
        return labels, (lambda x: predict(m, x)), "keras"
    from edge_runtime.classifier import EmotionClassifier

    clf = EmotionClassifier(model, threads=threads)
    return clf.labels, clf.predict_proba, "onnx"


def evaluate(
    model: str = typer.Option("fer7", "--model", help="Bundled model name or a .onnx/.keras path."),
    data: Path = typer.Option(
        ..., "--data", help="fer2013.csv, an image folder, or a .zip of one."
    ),
    split: str = typer.Option(
        None,
        "--split",
        help="PrivateTest | PublicTest | test | train | all (default: PrivateTest, else test, all)",
    ),
    classes: str = typer.Option(
        None, "--classes", help="Classes to score (default: the model's labels)."
    ),
    tta: bool = typer.Option(False, "--tta", help="Average with the horizontally flipped face."),
    threads: int = typer.Option(1, "--threads", min=1),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Score a model on a labelled dataset."""
    from edge_runtime.labels import parse_classes
    from edge_runtime.metrics import report
    from train.data import DataError, load

    labels, fn, kind = load_predictor(model, threads)
    try:
        task = parse_classes(classes) if classes else labels
    except ValueError as e:
        raise UserError(f"--classes: {e}") from None
    if len(task) != len(labels) or set(task) != set(labels):
        raise UserError(
            f"--classes {','.join(task)} does not match the model's labels {','.join(labels)}"
        )
    try:
        ds = load(data)
        present = set(ds.splits.tolist())
        split = split or next(
            s for s in ("PrivateTest", "test", "all") if s == "all" or s in present
        )
        part = ds.split(split).task(tuple(labels))
    except DataError as e:
        raise UserError(str(e)) from None
    probs = (with_flip(fn) if tta else fn)(part.images)
    rep = report(part.labels, probs.argmax(1), labels)
    rep.update(model=str(model), kind=kind, data=str(data), split=split, tta=tta)
    if as_json:
        typer.echo(json.dumps(rep))
        return
    typer.echo(f"{model} on {data} [{split}], n={rep['n']}{' (flip TTA)' if tta else ''}")
    typer.echo(f"accuracy {rep['accuracy']:.4f}   macro-F1 {rep['macro_f1']:.4f}")
    width = max(len(lab) for lab in labels)
    for lab in labels:
        pc = rep["per_class"][lab]
        typer.echo(
            f"  {lab:<{width}}  recall {pc['recall']:.3f}  "
            f"precision {pc['precision']:.3f}  n={pc['support']}"
        )
    typer.echo("confusion (rows true, columns predicted): " + ", ".join(labels))
    for lab, row in zip(labels, rep["confusion"], strict=True):
        typer.echo(f"  {lab:<{width}} " + " ".join(f"{v:5d}" for v in row))
