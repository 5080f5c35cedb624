"""`edge-fer export`: a trained `.keras` model (or an ensemble of several) to fp32 and int8
ONNX with a model card."""

from __future__ import annotations

from pathlib import Path

import typer

from edge_runtime.commands.common import UserError, command_line, info, require_training_stack


def export(
    ctx: typer.Context,
    models: list[Path] = typer.Argument(
        ...,
        help="Trained model.keras (its metrics.json beside it); several of the same labels "
        "export as one model answering the mean of their probabilities.",
    ),
    calibration: Path = typer.Option(
        ...,
        "--calibration",
        help="Dataset: its training split calibrates int8, PublicTest/test checks parity.",
    ),
    classes: str = typer.Option(
        None,
        "--classes",
        help="Export only these of the model's classes, e.g. happy,sad from a fer7 model "
        "(their probabilities renormalised); for a model without metrics.json, its labels "
        "in output order.",
    ),
    out: Path = typer.Option(Path("models"), "--out", help="Output directory."),
    name: str = typer.Option(None, "--name", help="File name stem (default: the task name)."),
    max_int8_drop: float = typer.Option(
        0.5, "--max-int8-drop", help="Allowed int8 accuracy drop, points."
    ),
    face_margin: float = typer.Option(
        0.0,
        "--face-margin",
        help="Margin around detector boxes when cropping, stored in the model.",
    ),
    flip_tta: bool = typer.Option(
        False, "--tta", help="Bake test-time flip averaging into the graph (2 passes per face)."
    ),
    smooth: float = typer.Option(
        0.0,
        "--smooth",
        min=0.0,
        max=3.0,
        help="Smooth every input face inside the graph with a Gaussian of this sigma (pixels "
        "of the 48x48 face; 0: off), for a model trained on softer images than it will see.",
    ),
    stretch: bool = typer.Option(
        False,
        "--stretch",
        help="Stretch every input face's contrast to 0..255 inside the graph (its darkest "
        "pixel to 0, its brightest to 255): faces from a dim camera look like FER2013's.",
    ),
    kfold: Path = typer.Option(
        None,
        "--kfold",
        help="A finished --cv run of the recipe that trained one of the models (or the model "
        "one was fine-tuned from): its fold models, scored on the exported classes, go in the "
        "card as that recipe's k-fold.",
    ),
    labels: str = typer.Option(
        None,
        "--labels",
        help="Crowd votes the card also scores against ('ferplus': ferplus.csv beside "
        "--calibration; see evaluate --labels): majority accuracy and macro-F1, clear "
        "expressions, each also without the leaked test images.",
    ),
    force: bool = typer.Option(False, "--force", help="Write int8 even when it misses its bounds."),
    require_int8: bool = typer.Option(
        False,
        "--require-int8",
        help="Fail when int8 misses its bounds (default: write the fp32 model alone and say why).",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
) -> None:
    """Convert to ONNX (fp32), quantize to int8, check parity, write the model card."""
    require_training_stack("export")
    from edge_export.pipeline import ExportOptions, run_export
    from edge_runtime.labels import parse_classes

    for model in models:
        if not model.is_file():
            raise UserError(f"{model}: no such file")
        if model.suffix != ".keras":
            raise UserError(f"{model}: not a .keras model file")
    if kfold is not None and not kfold.is_dir():
        raise UserError(f"--kfold {kfold}: no such run directory")
    try:
        task = parse_classes(classes) if classes else None
    except ValueError as e:
        raise UserError(f"--classes: {e}") from None
    if labels:
        from edge_train.data import DataError
        from edge_train.votes import find_votes

        try:
            find_votes(labels, calibration)
        except DataError as e:
            raise UserError(str(e)) from None
    card = run_export(
        ExportOptions(
            keras_paths=tuple(models),
            calibration=calibration,
            out=out,
            name=name,
            classes=task,
            max_int8_drop=max_int8_drop,
            force=force,
            require_int8=require_int8,
            overwrite=overwrite,
            face_margin=face_margin,
            flip_tta=flip_tta,
            smooth_sigma=smooth,
            contrast_stretch=stretch,
            kfold=kfold,
            labels=labels,
            command=command_line(ctx),
        )
    )
    ev, q, files = card["evaluation"], card["quantization"], card["files"]
    shipped = "int8" in files
    info(
        f"{ev['split']}: keras {ev['keras']['accuracy']:.4f}, fp32 {ev['fp32']['accuracy']:.4f}, "
        f"int8 {ev['int8']['accuracy']:.4f}"
        + (
            f"; int8 {q['chosen']} {files['int8']['bytes']:,} bytes "
            f"({files['size_ratio']:.2f}x smaller)"
            if shipped
            else "; int8 not written"
        )
    )
    info(
        f"wrote {out}/{card['name']}.fp32.onnx{', .int8.onnx' if shipped else ''}, .card.json, .md"
    )
