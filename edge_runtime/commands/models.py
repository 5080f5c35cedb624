"""`edge-fer models` and `edge-fer inspect`: what models are bundled, and what a file says."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer

from edge_runtime import measured
from edge_runtime.classifier import (
    EmotionClassifier,
    bundled_files,
    bundled_models,
    card_beside,
    choose_precision,
)
from edge_runtime.commands.common import UserError
from edge_runtime.cpu import cpu_info
from edge_runtime.errors import brief
from edge_runtime.providers import available as available_providers
from edge_runtime.providers import resolve as resolve_provider
from edge_runtime.timing import interleaved

TIME_RUNS = 300
TIME_REPEATS = 5  # separate measurements, whose spread says what is noise


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


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _latency(card: dict, precision: str) -> str:
    """The card's batch-1, one-thread p50 for `precision`, and the CPU it was timed on."""
    q = card.get("quantization") or {}
    if precision == "fp32":
        ms = q.get("fp32_p50_ms")
    else:
        ms = next(
            (
                c.get("p50_ms")
                for c in q.get("candidates", [])
                if c.get("candidate") == q.get("chosen")
            ),
            None,
        )
    if ms is None:
        return "-"
    cpu = q.get("cpu") or {}
    where = f"{cpu.get('model', '?')}, {cpu.get('isa_class', '?')}" if cpu else "CPU not recorded"
    return f"{ms:.2f} ms ({where})"


def _time_here(found: dict[str, Path], err: bool) -> None:
    """Time int8 against fp32 for each bundled model that ships both, batch 1, one thread,
    interleaved as export times them, and remember it for `--precision auto` here (reported
    on stderr when `err`)."""
    try:
        target = measured.record_path()
    except RuntimeError as e:  # no home folder
        raise UserError(
            f"--time: nowhere to record the timing ({brief(e)}); set EDGE_FER_CACHE"
        ) from None
    here = cpu_info()
    face = np.random.default_rng(0).integers(0, 256, (48, 48), dtype=np.uint8)
    both = [n for n in found if set(bundled_files(n)) == {"int8", "fp32"}]
    if not both:
        typer.echo("--time: no bundled model ships both int8 and fp32; nothing to time", err=err)
    for name in both:
        files = bundled_files(name)
        clfs = {p: EmotionClassifier(f, threads=1) for p, f in files.items()}
        batch = {p: c.prepare(face) for p, c in clfs.items()}
        calls = {p: (lambda c=c, x=batch[p]: c.infer(x)) for p, c in clfs.items()}
        reps = [
            interleaved(calls, runs=TIME_RUNS, warmup=30 if i == 0 else 5)
            for i in range(TIME_REPEATS)
        ]
        p50 = {p: sorted(r[p]["p50_ms"] for r in reps) for p in ("int8", "fp32")}
        ms = {p: float(np.median(v)) for p, v in p50.items()}
        spread = {p: (v[0], v[-1]) for p, v in p50.items()}
        try:
            measured.remember(name, files, here, ms["int8"], ms["fp32"], spread)
        except OSError as e:
            raise UserError(f"cannot record the timing in {target}: {brief(e)}") from None
        chosen, why = choose_precision(
            "auto", ("int8", "fp32"), measured=[measured.recalled(name, files) or {}]
        )
        typer.echo(
            f"{name}: int8 {ms['int8']:.3f} ms ({spread['int8'][0]:.3f}-{spread['int8'][1]:.3f}), "
            f"fp32 {ms['fp32']:.3f} ms ({spread['fp32'][0]:.3f}-{spread['fp32'][1]:.3f}): median "
            f"and range of the p50s of {TIME_REPEATS} interleaved measurements of {TIME_RUNS} "
            f"calls, batch 1, one thread; auto runs {chosen} ({why}); recorded in {target}",
            err=err,
        )


def models(
    as_json: bool = typer.Option(False, "--json", help="One JSON object per model."),
    time_here: bool = typer.Option(
        False,
        "--time",
        help="First time int8 against fp32 for each bundled model that ships both, on this "
        "CPU, and remember it: --precision auto then follows that measurement on this machine "
        "(over the card's and the CPU flags). Takes a few seconds.",
    ),
) -> None:
    """List the bundled models: task, the precision --precision auto runs here and why,
    size, parameters, MACs per face, PrivateTest accuracy and the latency on the card."""
    found = bundled_models()
    if not found:
        typer.echo("no bundled model is installed", err=True)
        return
    if time_here:
        _time_here(found, err=as_json)
    cpu = cpu_info()
    rows: list[list[str]] = []
    reasons: dict[str, list[str]] = {}
    for name in found:
        clf = EmotionClassifier(name)
        d = _describe(clf)
        d.update(
            name=name,
            precision=clf.precision,
            precision_reason=clf.precision_reason,
            files={p: f.stat().st_size for p, f in bundled_files(name).items()},
        )
        if as_json:
            typer.echo(json.dumps(d))
            continue
        reasons.setdefault(clf.precision_reason, []).append(name)
        card, card_file = d["card"], card_beside(clf.path)
        macs = clf.macs
        acc = card.get("private_accuracy")
        rows.append(
            [
                name,
                d["task"],
                f"{clf.precision} ({', '.join(d['files'])})",
                f"{d['size_bytes'] / 2**20:.2f} MiB",
                f"{card.get('params', 0):,}",
                "-" if macs is None else f"{macs / 1e6:.1f}M",
                "-" if acc is None else f"{100 * acc:.2f}%",
                _pct(card.get("private_ferplus_accuracy"))
                + (
                    f" / {card['private_ferplus_macro_f1']:.3f}"
                    if card.get("private_ferplus_macro_f1") is not None
                    else ""
                ),
                _latency(card_file, clf.precision),
            ]
        )
    if as_json:
        return
    typer.echo(
        f"this CPU: {cpu['model']}, class {cpu['isa_class']} "
        f"({', '.join(cpu['flags']) or 'no relevant flags'})"
    )
    auto = resolve_provider("auto")
    typer.echo(
        f"onnxruntime providers: {', '.join(available_providers())}; --provider auto runs "
        f"{auto.name} ({auto.reason})"
    )
    head = [
        "name",
        "task",
        "precision (shipped)",
        "size",
        "params",
        "MACs/face",
        "PrivateTest",
        "FER+ acc / F1",
        "latency b1 1 thread, from the card",
    ]
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        typer.echo("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    typer.echo("precision auto:")
    for why, names in sorted(reasons.items()):
        typer.echo(f"  {', '.join(names)}: {why}")


def _recipe(card_file: dict) -> dict:
    """What the card beside a model says of how it was made: smoothing, flip averaging, MACs
    and the k-fold of its recipe (mean and spread over the folds)."""
    cv = (card_file.get("recipe_kfold") or {}).get("cv") or {}
    return {
        k: v
        for k, v in {
            "smooth_sigma": card_file.get("smooth_sigma"),
            "flip_tta": card_file.get("flip_tta"),
            "macs_per_face": card_file.get("macs_per_face"),
            "kfold": {
                k: cv[k]
                for k in (
                    "folds",
                    "repeats",
                    "accuracy_mean",
                    "accuracy_std",
                    "macro_f1_mean",
                    "macro_f1_std",
                )
                if k in cv
            }
            or None,
        }.items()
        if v is not None
    }


def inspect(
    model: str = typer.Argument(..., help="Bundled model name or .onnx path."),
) -> None:
    """Print a model's metadata and card figures as JSON, with its recipe (smoothing, flip
    averaging, MACs, k-fold) from the card file beside it when there is one."""
    clf = EmotionClassifier(model)
    typer.echo(json.dumps({**_describe(clf), "recipe": _recipe(card_beside(clf.path))}, indent=2))
