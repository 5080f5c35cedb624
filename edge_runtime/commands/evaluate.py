"""`edge-fer evaluate`: accuracy, macro-F1, per-class recall, confusion of a model on a dataset,
and with `--against` a face-by-face comparison with another model.

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
from edge_runtime.commands.common import UserError, require_training_stack, warn
from edge_runtime.commands.recognizer_setup import (
    PRECISION_HELP,
    PROVIDER_HELP,
    PROVIDER_OPTION_HELP,
    provider_choice,
)
from edge_runtime.metrics import scores

Predictor = Callable[[np.ndarray], np.ndarray]


def load_predictor(
    model: str, threads: int = 1, precision: str = "auto", provider: object = "auto"
) -> tuple[tuple[str, ...], Predictor, str]:
    """(labels, probabilities function over uint8 [N,48,48] faces, kind) for a model."""
    if str(model).endswith(".keras"):
        require_training_stack("evaluate")
        from edge_train.run_dir import keras_labels, load_keras, predict

        path = Path(model)
        m = load_keras(path)
        labels = keras_labels(path)
        if labels is None:
            n = int(m.output_shape[-1])
            labels = tuple(f"class{i}" for i in range(n))
        return labels, (lambda x: predict(m, x)), "keras"
    from edge_runtime.classifier import EmotionClassifier

    clf = EmotionClassifier(model, threads=threads, precision=precision, provider=provider)
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
        None,
        "--classes",
        help="Narrow the model to some of its classes (e.g. happy,sad): it answers the most "
        "likely of those (default: all the model's labels).",
    ),
    tta: bool = typer.Option(False, "--tta", help="Average with the horizontally flipped face."),
    min_confidence: float = typer.Option(
        0.0,
        "--min-confidence",
        min=0.0,
        max=1.0,
        help="Also report what `predict/run --min-confidence` would do: the share of faces "
        "answered (not 'uncertain') and their accuracy, and the share of faces of the data's "
        "other classes that still get an answer.",
    ),
    threads: int = typer.Option(1, "--threads", min=1, help="onnxruntime threads."),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
    provider: str = typer.Option("auto", "--provider", help=PROVIDER_HELP),
    provider_option: list[str] = typer.Option([], "--provider-option", help=PROVIDER_OPTION_HELP),
    against: str = typer.Option(
        None,
        "--against",
        help="Also score this model (bundled name or .onnx/.keras path) on the very same faces "
        "and compare the two face by face: how many only one of them gets right, and the "
        "chance of a split that uneven if both were equally accurate (exact McNemar test). "
        "A bundled model runs in the precision `auto` picks (--precision is the scored "
        "model's); NAME.int8 or NAME.fp32 names one.",
    ),
    crowd: str = typer.Option(
        None,
        "--labels",
        help="Also score against crowd votes: 'ferplus' (ferplus.csv beside the dataset: FER+, "
        "10 taggers per FER2013 image) or a votes file with its columns (file, neutral, "
        "happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF). Reports "
        "the majority label's accuracy and macro-F1 and the clear-expression accuracy (faces "
        "where 7 of 10 taggers chose one emotion other than neutral).",
    ),
    leaked: Path = typer.Option(
        None,
        "--leaked",
        help="A list of test images (paths inside the dataset, one a line) that also appear "
        "in Training; every figure is also given without them. Default: "
        "fer2013-test-in-training.txt beside the dataset, when there is one.",
    ),
    corruptions: bool = typer.Option(
        False,
        "--corruptions",
        help="Also score the faces as a camera may deliver them: tilted 15 and 30 degrees, a "
        "loose detector box, low light, motion blur, JPEG quality 15, sensor noise, a 24-pixel "
        "face upscaled; accuracy per corruption and their mean.",
    ),
    detect: bool = typer.Option(
        False,
        "--detect",
        help="The data are photos or video frames in class folders (a folder or a zip): find "
        "the face with YuNet and crop it as run and predict do, then classify; the largest face "
        "of a photo counts, and a photo without one is a miss (reported by name).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Score a model on a labelled dataset: FER2013, or any folder or zip of class folders
    (CK+, JAFFE, your own photos) holding some of the model's classes under common names."""
    from edge_runtime.labels import parse_classes
    from edge_train import votes
    from edge_train.data import DataError, load

    if detect:
        if model.endswith(".keras"):
            raise UserError("--detect runs the camera pipeline: give an .onnx or bundled model")
        unsupported = [
            flag
            for flag, on in (("--labels", crowd), ("--corruptions", corruptions), ("--tta", tta))
            if on
        ] + (["--against", "--min-confidence"] if against or min_confidence else [])
        if unsupported:
            raise UserError(f"--detect with {unsupported[0]}: not supported")
        rep = evaluate_photos(
            model,
            data,
            split,
            classes,
            threads,
            precision,
            provider_choice(provider, provider_option),
        )
        if as_json:
            typer.echo(json.dumps(rep))
        else:
            print_report(rep, tuple(rep["model_labels"]))
        return
    engine = provider_choice(provider, provider_option)
    labels, fn, kind = load_predictor(model, threads, precision, engine)
    try:
        task = parse_classes(classes) if classes else labels
    except ValueError as e:
        raise UserError(f"--classes: {e}") from None
    answer = _answer_over(task, labels, fn, tta, "--classes: the model")
    if against:
        other, other_fn, _ = load_predictor(against, threads, provider=engine)
        other_answer = _answer_over(task, other, other_fn, tta, f"--against {against}: it")
    try:
        ds = load(data)
        split = split or ds.report_split()
        part = ds.split(split)
        truths = votes.truths(part, task, crowd, data, leaked)
    except DataError as e:
        raise UserError(str(e)) from None
    counts = {c: n for c, n in part.counts().items() if n}
    in_task = truths.fer2013 >= 0
    if not in_task.any():
        raise UserError(
            f"{data}: none of its classes ({', '.join(counts)}) is one the model scores "
            f"({', '.join(task)})"
        )
    all_probs = answer(part.images)
    probs, y_true = all_probs[in_task], truths.fer2013[in_task]
    rep = scores(y_true, probs.argmax(1), task)
    rep["figures"] = truths.figures(all_probs.argmax(1))
    if against:
        from edge_runtime.metrics import paired

        other_pred = other_answer(part.images).argmax(1)
        pred = other_pred[in_task]
        rep["against"] = scores(y_true, pred, task) | {"model": str(against)}
        rep["against"].update(paired(y_true, probs.argmax(1), pred))
        rep["against"]["figures"] = truths.figures(other_pred)
    rep.update(
        model=str(model),
        kind=kind,
        data=str(data),
        split=split,
        tta=tta,
        narrowed_to=list(task) if set(task) != set(labels) else None,
        skipped_classes={c: n for c, n in counts.items() if c not in task},
        skipped_files=dict(ds.skipped),
    )
    if corruptions:
        from edge_train.corruptions import robustness

        rep["corruptions"] = robustness(
            lambda faces: answer(faces).argmax(1), part.images, truths.figures
        )
    if min_confidence:
        from edge_runtime.metrics import confidence_report

        others = all_probs[~in_task]
        rep["confidence"] = confidence_report(
            probs, y_true, others if len(others) else None, min_confidence
        )
    if as_json:
        typer.echo(json.dumps(rep))
        return
    print_report(rep, labels)


def evaluate_photos(
    model: str,
    data: Path,
    split: str | None,
    classes: str | None,
    threads: int,
    precision: str,
    provider: object = "auto",
) -> dict:
    """The whole pipeline on labelled photos: detection, the runtime's crop, the classifier.
    The report covers the photos where a face was found, plus `pipeline_accuracy` over all of
    them (a photo without a face counts as wrong) and the photos without one."""
    from edge_runtime.errors import EdgeFerError
    from edge_runtime.image_io import decode_image
    from edge_runtime.labels import parse_classes, task_probs
    from edge_runtime.recognizer import EmotionRecognizer
    from edge_train.data import SPLIT_CHOICES, DataError, labelled_files

    rec = EmotionRecognizer(model, threads=threads, precision=precision, provider=provider)
    try:
        task = parse_classes(classes) if classes else rec.labels
    except ValueError as e:
        raise UserError(f"--classes: {e}") from None
    _answer_over(task, rec.labels, lambda x: x, False, "--classes: the model")
    truth, probs, no_face, unreadable, several, skipped = [], [], [], [], 0, {}
    try:
        for name, label, part, read in labelled_files(data):
            if split and part not in SPLIT_CHOICES.get(split, (split,)):
                continue
            if label not in task:
                skipped[label] = skipped.get(label, 0) + 1
                continue
            try:
                faces = rec.predict(decode_image(read()))
            except (EdgeFerError, OSError) as e:
                unreadable.append(name)
                warn(f"{name}: {e}, skipped")
                continue
            truth.append(task.index(label))
            several += len(faces) > 1
            if not faces:
                no_face.append(name)
                probs.append(None)
                continue
            face = max(faces, key=lambda f: f.box[2] * f.box[3])
            p = np.array([[face.probs[c] for c in rec.labels]])
            probs.append(task_probs(p, rec.labels, task)[0])
    except DataError as e:
        raise UserError(str(e)) from None
    if not truth:
        raise UserError(f"{data}: no photo of the model's classes ({', '.join(task)}) to score")
    found = np.array([p is not None for p in probs])
    y = np.array(truth)
    if not found.any():
        raise UserError(f"{data}: no face found in any of its {len(y)} photos")
    pred = np.array([p.argmax() for p in probs if p is not None])
    rep = scores(y[found], pred, task)
    rep.update(
        model=str(model),
        model_labels=list(rec.labels),
        kind="onnx",
        data=str(data),
        split=split or "all",
        tta=False,
        narrowed_to=list(task) if set(task) != set(rec.labels) else None,
        skipped_classes=skipped,
        skipped_files={"unreadable": len(unreadable)} if unreadable else {},
        figures={"sources": {"votes": None, "leaked": None}},
        detect={
            "photos": int(len(y)),
            "no_face": len(no_face),
            "no_face_files": no_face[:MAX_LISTED],
            "several_faces": int(several),
            "pipeline_accuracy": float(np.sum(pred == y[found]) / len(y)),
        },
    )
    return rep


MAX_LISTED = 20


def _answer_over(
    task: tuple[str, ...], labels: tuple[str, ...], fn: Predictor, tta: bool, who: str
) -> Predictor:
    """`fn` (a model's probabilities over its `labels`) as probabilities over `task`, flip
    averaged with `tta`; UserError naming `who` when the model lacks one of the task's classes."""
    outside = [c for c in task if c not in labels]
    if outside:
        raise UserError(
            f"{who} does not predict {', '.join(outside)} (it predicts {', '.join(labels)})"
        )
    answer = with_flip(fn) if tta else fn
    if tuple(task) == tuple(labels):
        return answer
    from edge_runtime.labels import task_probs

    return lambda x: task_probs(answer(x), labels, task)


def print_report(rep: dict, model_labels: tuple[str, ...]) -> None:
    task = rep["labels"]
    typer.echo(
        f"{rep['model']} on {rep['data']} [{rep['split']}], n={rep['n']}"
        + (" (flip TTA)" if rep["tta"] else "")
    )
    d = rep.get("detect")
    if d:
        typer.echo(
            f"whole pipeline (YuNet, the runtime's crop, the classifier): a face found in "
            f"{d['photos'] - d['no_face']} of {d['photos']} photos ({d['several_faces']} with "
            f"several: the largest counts); accuracy over all photos {d['pipeline_accuracy']:.4f}"
            " (a photo without a face is wrong), over those with a face below"
        )
        if d["no_face"]:
            typer.echo(
                f"no face in: {', '.join(d['no_face_files'])}"
                + (
                    f" and {d['no_face'] - len(d['no_face_files'])} more"
                    if d["no_face"] > len(d["no_face_files"])
                    else ""
                )
            )
    if rep["narrowed_to"]:
        typer.echo(
            f"narrowed to {', '.join(task)} ({len(task)} of the model's {len(model_labels)} "
            "classes): each face gets the most likely of these"
        )
    if rep["skipped_classes"]:
        typer.echo(
            "skipped, not classes of the model"
            + (" as narrowed" if rep["narrowed_to"] else "")
            + ": "
            + ", ".join(f"{c} ({n} images)" for c, n in rep["skipped_classes"].items())
        )
    missing = [c for c in task if c not in rep["scored_classes"]]
    typer.echo(
        f"accuracy {rep['accuracy']:.4f}   macro-F1 {rep['macro_f1']:.4f}"
        + (f" (over the {len(rep['scored_classes'])} classes present)" if missing else "")
    )
    width = max(len(lab) for lab in task)
    for i, lab in enumerate(task):
        pc = rep["per_class"][lab]
        if not pc["support"]:
            answered = sum(row[i] for row in rep["confusion"])
            typer.echo(
                f"  {lab:<{width}}  absent from this data (the model answered it {answered} times)"
            )
            continue
        typer.echo(
            f"  {lab:<{width}}  recall {pc['recall']:.3f}  "
            f"precision {pc['precision']:.3f}  n={pc['support']}"
        )
    typer.echo("confusion (rows true, columns predicted): " + ", ".join(task))
    for lab, row in zip(task, rep["confusion"], strict=True):
        typer.echo(f"  {lab:<{width}} " + " ".join(f"{v:5d}" for v in row))
    _print_figures(rep["figures"], rep["model"])
    if "corruptions" in rep:
        _print_corruptions(rep["corruptions"])
    a = rep.get("against")
    if a:
        typer.echo(
            f"against {a['model']}: accuracy {a['accuracy']:.4f}   macro-F1 {a['macro_f1']:.4f}"
        )
        typer.echo(
            f"  on the same {rep['n']} faces only {rep['model']} is right on {a['only_a_right']}, "
            f"only {a['model']} on {a['only_b_right']}: p = {a['p_value']:.3g} that two equally "
            "accurate models split them at least that unevenly (exact McNemar)"
        )
        _print_figures(a["figures"], a["model"])
    c = rep.get("confidence")
    if c:
        acc = c["answered_accuracy"]
        typer.echo(
            f"--min-confidence {c['min_confidence']}: answers {100 * c['answered']:.1f}% of "
            f"these faces ({'-' if acc is None else f'{100 * acc:.2f}%'} right), 'uncertain' "
            "for the rest"
            + (
                f"; still answers {100 * c['other_answered']:.1f}% of the {c['other_faces']} "
                "faces of other classes"
                if c["other_faces"]
                else ""
            )
        )


FIGURE_NAMES = {
    "fer2013": "dataset label (1 tagger)",
    "ferplus_majority": "votes' majority",
    "ferplus_clear": "clear (7+ of 10 votes, not neutral)",
}


def _print_figures(figures: dict, model: str) -> None:
    """One line per truth the faces were scored against, with its leak-free twin."""
    leaked = figures["sources"]["leaked"]
    if len(figures) <= 2 and not leaked:
        return  # the dataset's labels alone, already reported above
    typer.echo(
        f"{model}: accuracy, macro-F1 and faces by what it is scored against"
        + (f"; without the {leaked['in_split']} test images leaked from Training" if leaked else "")
    )
    width = max(len(v) for v in FIGURE_NAMES.values())
    for key, title in FIGURE_NAMES.items():
        if key in figures:
            f = figures[key]
            line = f"  {title:<{width}}  {_figure_text(f)}"
            if "without_leaked" in f:
                line += f" | without leaked: {_figure_text(f['without_leaked'])}"
            typer.echo(line)


def _figure_text(f: dict) -> str:
    if not f["n"]:
        return "n=0"
    return f"{f['accuracy']:.4f} F1 {f['macro_f1']:.4f} n={f['n']}"


def _print_corruptions(rob: dict) -> None:
    truths = [k for k in ("fer2013", "ferplus_majority") if rob["clean"].get(k) is not None]
    typer.echo(
        "accuracy on the faces as a camera may deliver them ("
        + " / ".join(FIGURE_NAMES[k] for k in truths)
        + "):"
    )
    for name, acc in rob.items():
        values = " / ".join(f"{100 * acc[k]:.2f}%" for k in truths)
        typer.echo(f"  {'mean corrupted' if name == 'mean' else name:<15} {values}")
