"""`edge-fer models` and `edge-fer inspect`: what models are bundled, and what a file says."""

from __future__ import annotations

import json

import typer

from edge_runtime.classifier import EmotionClassifier, bundled_models


def _describe(clf: EmotionClassifier) -> dict:
    return {
        "name": clf.path.name.split(".")[0],
        "path": str(clf.path),
        "task": clf.info.task,
        "labels": list(clf.labels),
        "size_bytes": clf.size_bytes,
        "input": {
            "height": clf.info.height,
            "width": clf.info.width,
            "channels": clf.info.channels,
            "layout": clf.info.layout,
            "pixel_scale": clf.info.pixel_scale,
        },
        "face_margin": clf.info.face_margin,
        "card": clf.info.card,
    }


def models(
    as_json: bool = typer.Option(False, "--json", help="One JSON object per model."),
) -> None:
    """List the bundled models with labels, size and card figures."""
    found = bundled_models()
    if not found:
        typer.echo("no bundled models installed", err=True)
        return
    for name, path in found.items():
        d = _describe(EmotionClassifier(path))
        if as_json:
            typer.echo(json.dumps(d))
            continue
        card = d["card"]
        acc, macs = card.get("private_accuracy"), card.get("macs")
        typer.echo(
            f"{name:10s} {d['task']:10s} {d['size_bytes'] / 1024:7.1f} KiB  "
            f"arch {card.get('arch', '?')}, {card.get('params', 0):,} params, "
            f"{'-' if macs is None else f'{macs / 1e6:.1f}M'} MACs per face, "
            f"PrivateTest accuracy {'-' if acc is None else f'{100 * acc:.2f}%'}  "
            f"labels {','.join(d['labels'])}"
        )


def inspect(
    model: str = typer.Argument(..., help="Bundled model name or .onnx path."),
) -> None:
    """Print a model's metadata and card figures as JSON."""
    typer.echo(json.dumps(_describe(EmotionClassifier(model)), indent=2))
