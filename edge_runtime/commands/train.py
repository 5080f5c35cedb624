"""`edge-fer train`: train an architecture of the family on FER2013 (needs the train extra)."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import typer

from edge_runtime.commands.common import UserError, command_line, info, require_training_stack


def train(
    ctx: typer.Context,
    data: Path = typer.Option(
        None, "--data", help="fer2013.csv, an image folder, or a .zip of one."
    ),
    arch: str = typer.Option("b", "--arch", help="Architecture name (see --list-archs)."),
    classes: str = typer.Option(
        "all", "--classes", help="Task: 'all' (7 emotions) or e.g. happy,sad."
    ),
    epochs: int = typer.Option(
        40,
        "--epochs",
        min=1,
        help="Epochs (each ~40 s for nano, ~93 s for b, ~90-155 s for vgg_bn on 2 cores).",
    ),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Images per step."),
    lr: float = typer.Option(1e-3, "--lr", help="Peak learning rate (warm-up, then cosine)."),
    cv: int = typer.Option(
        0, "--cv", help="K for repeated stratified k-fold on Training (0: off)."
    ),
    repeats: int = typer.Option(1, "--repeats", min=1, help="Repeats of the k-fold."),
    cv_final: str = typer.Option("best", "--cv-final", help="best | refit | ensemble"),
    seed: int = typer.Option(0, "--seed", help="Seed of data order, folds and initial weights."),
    label_smoothing: float = typer.Option(
        0.0,
        "--label-smoothing",
        min=0.0,
        max=0.5,
        help="Share of each target spread evenly over the classes.",
    ),
    class_weight: str = typer.Option(
        "none", "--class-weight", help="none | balanced (inverse frequency) | sqrt (its root)"
    ),
    patience: int = typer.Option(
        0, "--patience", help="Early-stop after N epochs without gain (0: off)."
    ),
    keep: str = typer.Option(
        "best",
        "--keep",
        help="The epoch the run keeps: best (most accurate on the validation split) | last. "
        "last leaves the validation split unused by the run, for comparing runs on it.",
    ),
    augment: bool = typer.Option(True, "--augment/--no-augment"),
    teacher: Path = typer.Option(
        None,
        "--teacher",
        help="Distil: a trained .keras model, an exported edge-fer .onnx model (e.g. a bundled "
        "one), or a --cv run directory (the mean of its fold models), whose probabilities are "
        "mixed into the targets.",
    ),
    also_teacher: list[Path] = typer.Option(
        [],
        "--also-teacher",
        help="Another teacher (repeatable), its answer averaged with --teacher's: e.g. a "
        "student of that teacher, whose mean with it is more accurate than either alone.",
    ),
    teacher_weight: float = typer.Option(
        0.5, "--teacher-weight", min=0.0, max=1.0, help="Share of the teacher in the targets."
    ),
    teacher_sees: str = typer.Option(
        "originals",
        "--teacher-sees",
        help="originals: the teacher labels each training image once | augmented: it labels "
        "each epoch's augmented images afresh, so the student matches it on what it learns from "
        "(the teacher's inference time is added to every epoch).",
    ),
    teacher_other_faces: bool = typer.Option(
        False,
        "--teacher-other-faces",
        help="The teacher also labels the training faces of the classes the task leaves out "
        "(angry, neutral... for happy,sad): the student learns its answer on them too, which "
        "gives it more of the teacher to match than the task's own images.",
    ),
    sharpen: bool = typer.Option(
        False,
        "--sharpen",
        help="With --teacher-sees augmented: half the augmented faces also get an unsharp mask "
        "of random strength, so the student learns its teacher's answer on faces as sharp as "
        "FER2013's test images (its Training images are softer).",
    ),
    mixup: bool = typer.Option(
        False,
        "--mixup",
        help="With --teacher-sees augmented: each augmented face is also blended with another "
        "(mixup, weight ~ Beta(0.4, 0.4)) and the teacher labels the blend, so the student "
        "matches its teacher between the training faces too, not only on them.",
    ),
    init: Path = typer.Option(
        None,
        "--init",
        help="Fine-tune: start from a trained .keras model of the same --arch, or of one that "
        "--arch grows (nano for nano_deep: the new layers start fresh), or from an exported "
        "fp32 .onnx file or a bundled model that ships one (fer7-nano): its run is rebuilt "
        "from the file and card into OUT/init, batch norms from --data's Training faces. The "
        "classifier head is replaced when the task or the depth differs.",
    ),
    votes: str = typer.Option(
        None,
        "--labels",
        help="Train on crowd votes: 'ferplus' (ferplus.csv beside --data: FER+, 10 taggers per "
        "FER2013 image) or a votes file with its columns (see evaluate --help). Each image's "
        "target is its votes' distribution over the task's classes (images whose most voted "
        "answer is no class of the task are dropped), and the kept epoch is chosen by the "
        "majority label's accuracy on PublicTest.",
    ),
    dataset_label_weight: float = typer.Option(
        0.0,
        "--dataset-label-weight",
        min=0.0,
        max=1.0,
        help="With --labels: the share of the dataset's own label (FER2013's single tagger) "
        "in each target, the votes' distribution taking the rest.",
    ),
    strategy: str = typer.Option("none", "--strategy", help="none | mirrored | multiworker"),
    cpu_devices: int = typer.Option(
        0, "--cpu-devices", help="Split the CPU into N logical devices (for mirrored without GPUs)."
    ),
    out: Path = typer.Option(None, "--out", help="Output directory (default runs/<arch>_<task>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run in --out."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out."),
    list_archs: bool = typer.Option(False, "--list-archs", help="List architectures and exit."),
) -> None:
    """Train a model: Training split, PublicTest for validation, or repeated k-fold with --cv."""
    if list_archs:  # the family's own record: no TensorFlow needed
        from edge_train.archs import ARCHS

        for name, a in ARCHS.items():
            typer.echo(f"{name:6s} {a.params:>10,d} params (7 classes)  {a.description}")
        return
    require_training_stack("train")
    from edge_runtime.labels import parse_classes, task_name
    from edge_train.archs import ARCHS

    if arch not in ARCHS:
        raise UserError(f"--arch {arch!r}: unknown architecture; known: {', '.join(ARCHS)}")
    if cv_final not in ("best", "refit", "ensemble"):
        raise UserError(f"--cv-final {cv_final!r}: choose best, refit or ensemble")
    if keep not in ("best", "last"):
        raise UserError(f"--keep {keep!r}: choose best or last")
    if class_weight not in ("none", "balanced", "sqrt"):
        raise UserError(f"--class-weight {class_weight!r}: choose none, balanced or sqrt")
    if strategy not in ("none", "mirrored", "multiworker"):
        raise UserError(f"--strategy {strategy!r}: choose none, mirrored or multiworker")
    if teacher_sees not in ("originals", "augmented"):
        raise UserError(f"--teacher-sees {teacher_sees!r}: choose originals or augmented")
    if cv == 1 or cv < 0:
        raise UserError("--cv needs at least 2 folds")
    if also_teacher and teacher is None:
        raise UserError("--also-teacher needs --teacher")
    for t in [teacher, *also_teacher]:
        if t is not None and not t.exists():
            raise UserError(f"--teacher {t}: no such file or directory")
    if dataset_label_weight and not votes:
        raise UserError("--dataset-label-weight needs --labels")
    if teacher_other_faces and (teacher is None or cv or class_weight != "none" or votes):
        raise UserError(
            "--teacher-other-faces needs --teacher, and neither --cv, --class-weight nor "
            "--labels (the other faces have no class of the task)"
        )
    for flag, wanted in (("--sharpen", sharpen), ("--mixup", mixup)):
        if wanted and (teacher is None or teacher_sees != "augmented" or not augment):
            raise UserError(f"{flag} needs --teacher with --teacher-sees augmented (and --augment)")
    if teacher is not None and cv:
        raise UserError(
            "--teacher with --cv: the teacher has seen every held-out fold, so the fold "
            "scores would be inflated; distil in a plain run"
        )
    if teacher is not None:
        from edge_train.fit import teacher_members

        try:
            for t in [teacher, *also_teacher]:
                teacher_members(str(t))
        except ValueError as e:
            raise UserError(str(e)) from None
    exported = _exported_init(init, arch) if init is not None else None
    if data is None:
        raise UserError("--data is required (fer2013.csv, an image folder or a .zip)")
    try:
        task = parse_classes(classes)
    except ValueError as e:
        raise UserError(f"--classes: {e}") from None
    if init is not None and cv:
        from edge_train.fit import init_leak

        leak = _exported_leak(exported, task) if exported else init_leak(str(init), task)
        if leak:
            raise UserError(f"--init with --cv: {leak}; the fold scores would be inflated")
    out = out or Path("runs") / f"{arch}_{task_name(task)}"
    from edge_train.data import DataError, load
    from edge_train.fit import TrainConfig, prepare_out, run_training, split_cpu

    try:
        prepare_out(out, resume, overwrite)
    except FileExistsError as e:
        raise UserError(str(e)) from None
    if cpu_devices > 1:
        split_cpu(cpu_devices)
    try:
        full = load(data)
        if votes:
            from edge_train.votes import find_votes, relabelled

            votes = str(find_votes(votes, data))
            ds = relabelled(full, task, Path(votes), dataset_label_weight)
        else:
            ds = full.task(task)
        others = full.other_faces(task) if teacher_other_faces else None
    except DataError as e:
        raise UserError(str(e)) from None
    info(ds.summary())
    if exported is not None:
        init = _rebuilt_init(exported, out / "init", data)
    if others is not None:
        info(f"{len(others)} training faces of the other classes, for the teacher to label")
    given = {f.name: ctx.params[f.name] for f in fields(TrainConfig) if f.name in ctx.params}
    cfg = TrainConfig(
        **{
            **given,
            "classes": task,
            "teacher": str(teacher) if teacher else "",
            "also_teachers": tuple(str(t) for t in also_teacher),
            "init": str(init) if init else "",
            "votes": votes or "",
            "command": command_line(ctx),
        }
    )
    try:
        metrics = run_training(cfg, ds, out, resume=resume, others=others)
    except ValueError as e:
        raise UserError(str(e)) from None
    for split, rep in metrics["splits"].items():
        info(
            f"{split}: accuracy {rep['accuracy']:.4f} macro-F1 {rep['macro_f1']:.4f} (n={rep['n']})"
        )
    info(f"wrote {out}/model.keras, metrics.json, history.csv, curves.png, confusion.png")


def _exported_init(init: Path, arch: str) -> tuple[Path, Path] | None:
    """(fp32 file, card) when --init is an exported .onnx file or a bundled model's name; None
    for a .keras model. One line for anything a run cannot start from."""
    from edge_runtime.classifier import MODELS_DIR, bundled_files, bundled_models, card_path

    if init.suffix != ".onnx" and init.is_file():
        return None
    if init.suffix == ".onnx":
        if not init.is_file():
            raise UserError(f"--init {init}: no such file")
        fp32 = init
    elif bundled_files(str(init)):
        fp32 = MODELS_DIR / f"{init}.fp32.onnx"
        if not fp32.is_file():
            with_fp32 = [n for n in bundled_models() if "fp32" in bundled_files(n)]
            raise UserError(
                f"--init {init}: only its int8 file is bundled, and a run starts from an fp32 "
                f"file (bundled for {', '.join(with_fp32) or 'none'})"
            )
    else:
        raise UserError(f"--init {init}: no such file, nor a bundled model")
    if fp32.name.endswith(".int8.onnx"):
        raise UserError(f"--init {init}: an int8 file; a run starts from the fp32 file")
    card = card_path(fp32)
    try:
        card_arch = json.loads(card.read_text()).get("arch")
    except (OSError, ValueError, AttributeError):
        raise UserError(f"--init {init}: no readable model card beside it ({card})") from None
    if card_arch != arch:
        raise UserError(f"--init {init}: a {card_arch} model; train it with --arch {card_arch}")
    return fp32, card


def _exported_leak(exported: tuple[Path, Path], task: tuple[str, ...]) -> str | None:
    labels = json.loads(exported[1].read_text()).get("labels") or []
    seen = [c for c in task if c in labels]
    return f"{exported[0]} was trained on {', '.join(seen)} images" if seen else None


def _rebuilt_init(exported: tuple[Path, Path], rebuilt: Path, data: Path) -> Path:
    """The rebuilt run's model.keras in `rebuilt` (kept there for --resume)."""
    from edge_export.from_onnx import write_run
    from edge_runtime.errors import EdgeFerError

    model = rebuilt / "model.keras"
    if not model.is_file():
        try:
            diff = write_run(exported[0], exported[1], rebuilt, data)
        except EdgeFerError as e:
            raise UserError(str(e)) from None
        info(f"--init: {exported[0]} rebuilt as {model} (max |dp| {diff:.1e})")
    return model
