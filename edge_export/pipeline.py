"""`edge-fer export`: Keras -> fp32 ONNX -> int8 ONNX, parity-checked, with a model card.

Nothing is half-written: every file is built under a temporary name in the output directory
and renamed into place only when the whole export succeeded.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_export.card import render_markdown
from edge_export.contrast import network_input
from edge_export.macs import count_macs
from edge_export.quantize import (
    CANDIDATES,
    REDUCE_RANGE,
    TIME_TIE,
    calibration_sample,
    choose,
    full_range_overrides,
    preprocess,
    quantize,
)
from edge_export.smoothing import smooth
from edge_export.to_onnx import OPSET, count_ops, keras_to_onnx, set_metadata
from edge_runtime.classifier import EmotionClassifier, with_flip
from edge_runtime.cpu import cpu_info
from edge_runtime.errors import EdgeFerError, brief
from edge_runtime.labels import task_name, task_probs
from edge_runtime.metrics import confidence_report, report
from edge_runtime.model_info import ModelInfo, file_sha256
from edge_runtime.portable import portable
from edge_runtime.terminal import progress
from edge_runtime.timing import interleaved

MIN_PARITY_IMAGES = 1000
MIN_CALIBRATION_IMAGES = 500


class ExportError(EdgeFerError):
    """An export that cannot proceed or whose int8 model misses its bounds."""


@dataclass
class ExportOptions:
    keras_paths: tuple[Path, ...]
    calibration: Path
    out: Path
    name: str | None = None
    classes: tuple[str, ...] | None = None
    max_int8_drop: float = 0.5
    # A guard against broken int8 (the AVX2 overflow of quantize.REDUCE_RANGE's comment left
    # 92-93% of top-1 answers unchanged); the accuracy drop is the bound that counts. 7-bit
    # weights cost agreement: the vgg fer7 member agreed 97.91% with fp32 on PublicTest for a
    # 0.17-point drop; one network alone flips more near-ties than a mean of two: the continued
    # vgg_bn fer7 96.99% for 0.33 points, the two-network fer7 before it 98.72% for 0.02.
    min_agreement: float = 0.96
    max_prob_diff: float = 1e-4
    force: bool = False
    require_int8: bool = False
    overwrite: bool = False
    face_margin: float = 0.0
    flip_tta: bool = False
    smooth_sigma: float = 0.0
    contrast_stretch: bool = False
    kfold: Path | None = None
    latency_runs: int = 300
    calibration_images: int = 1000
    labels: str | None = None  # crowd votes (evaluate --labels) the card also scores against
    command: str = ""


def _say(message: str) -> None:
    """A step or warning on stderr, so stdout keeps only results."""
    print(f"edge-fer: {message}", file=sys.stderr, flush=True)


def _same(fn):
    return fn


def _figures(probs: np.ndarray, labels: np.ndarray, classes) -> dict:
    rep = report(labels, probs.argmax(1), classes)
    return {"accuracy": rep["accuracy"], "macro_f1": rep["macro_f1"], "n": rep["n"]}


def _training_block(keras_path: Path, metrics: dict, full, classes, columns) -> dict:
    """The card's training record. A model exported for a subset of its classes gets the
    k-fold of its run (or its teacher's run) scored on that subset: fer7 fold models answering
    happy vs sad, not their 7-class scores."""
    from edge_train.fit import kfold_on_task

    block = {
        k: metrics.get(k)
        for k in (
            "command",
            "data",
            "epochs",
            "best_epoch",
            "kept_epoch",
            "wall_seconds",
            "seconds_per_epoch",
            "cv",
            "teacher",
            "also_teachers",
            "init",
            "norm_statistics",
            "config",
        )
    }
    if columns is None:
        return block
    owner = block if block.get("cv") else block.get("teacher") or {}
    if owner.get("cv"):
        teacher = Path(owner.get("path", ""))
        run_dir = (
            keras_path.parent
            if owner is block
            else (teacher if teacher.is_dir() else teacher.parent)
        )
        owner["cv"] = kfold_on_task(run_dir, full, tuple(classes))
        if owner["cv"] is None:
            _say(
                f"warning: the k-fold of {run_dir} cannot be scored on "
                f"{', '.join(classes)} (fold models or its data missing); the card omits it"
            )
    return block


def _training_blocks(paths, member_metrics, full, classes, columns) -> dict:
    """`training` for one model; `training` (the first) and `members` (all) for an ensemble."""
    blocks = [
        _training_block(p, m, full, classes, columns)
        for p, m in zip(paths, member_metrics, strict=True)
    ]
    return (
        {"training": blocks[0]}
        if len(blocks) == 1
        else {
            "training": blocks[0],
            "members": [{"model": str(p), **b} for p, b in zip(paths, blocks, strict=True)],
        }
    )


#: settings that say how a run was organised, not what it learns: a --cv run of a recipe
#: differs from the plain run of that recipe only in these
_NOT_RECIPE = ("cv", "repeats", "cv_final", "strategy", "seed")


def _recipe(metrics: dict) -> tuple[dict, str | None]:
    """What a run learns from: its settings other than _NOT_RECIPE, and its data."""
    config = {k: v for k, v in (metrics.get("config") or {}).items() if k not in _NOT_RECIPE}
    return config, (metrics.get("data") or {}).get("sha256")


def _recipe_kfold(kfold: Path, paths, member_metrics, full, classes) -> dict:
    """The k-fold of the --cv run `kfold`, scored on `classes`, with the member (or the model a
    member was fine-tuned from) that its recipe trained: {"run", "command", "recipe_of",
    "start_of", "cv"}. Refuses a run that is no k-fold or whose recipe trained none of them."""
    from edge_train.fit import kfold_on_task
    from edge_train.run_dir import run_metrics

    run = run_metrics(str(kfold)) or {}
    if not run.get("cv"):
        raise ExportError(
            f"--kfold {kfold}: not a finished --cv run (its metrics.json has no k-fold)"
        )
    match = None
    for path, m in zip(paths, member_metrics, strict=True):
        init = (m.get("init") or {}).get("path")
        for model, start_of, metrics in (
            (path, None, m),
            (init, path, run_metrics(init) if init else None),
        ):
            if match is None and metrics and _recipe(metrics) == _recipe(run):
                match = {"recipe_of": str(model), "start_of": str(start_of) if start_of else None}
    if match is None:
        raise ExportError(
            f"--kfold {kfold}: the recipe of `{run.get('command')}` (its k-fold settings aside) "
            "trained none of the models exported nor any model they were fine-tuned from"
        )
    cv = kfold_on_task(Path(kfold), full, tuple(classes))
    if cv is None:
        raise ExportError(
            f"--kfold {kfold}: cannot be scored: a fold model is missing or it "
            "was trained on other data than --calibration"
        )
    return {"run": str(kfold), "command": run.get("command"), **match, "cv": cv}


CONFIDENCE_THRESHOLDS = (0.8, 0.9, 0.95)


def _confidence(full, split: str, classes, probs, labels, answer) -> dict:
    """What `--min-confidence` does for this model on `split`: for each of a few thresholds,
    the share of the task's faces answered and their accuracy, and the share of the faces of
    the data's other classes that still get an answer."""
    part = full.split(split)
    others = part._take(~np.isin(np.array(part.classes)[part.labels], classes))
    other_probs = answer(others.images) if len(others) else None
    return {
        "rule": "a face whose top probability is below --min-confidence is answered "
        "'uncertain' (off by default)",
        "split": split,
        "rows": [confidence_report(probs, labels, other_probs, t) for t in CONFIDENCE_THRESHOLDS],
    }


def _crowd(full, classes, opts: ExportOptions, answers: dict) -> dict:
    """Each shipped format's figures on PublicTest and PrivateTest against the dataset's
    labels and the votes (majority, clear expressions), each also without the leaked images
    (`edge_train.votes`)."""
    from edge_train.votes import truths

    out: dict = {"votes": None, "leaked": None}
    for split in ("PublicTest", "PrivateTest"):
        if split not in set(full.splits.tolist()):
            continue
        part = full.split(split)
        truth = truths(part, tuple(classes), opts.labels, Path(opts.calibration), None)
        out[split] = {}
        for fmt, answer in answers.items():
            fig = truth.figures(answer(part.images).argmax(1))
            src = fig.pop("sources")
            out.update(votes=src["votes"] and src["votes"]["file"], leaked=src["leaked"])
            for v in fig.values():
                v.pop("recall", None)
                (v.get("without_leaked") or {}).pop("recall", None)
            out[split][fmt] = fig
    return out


def _pick_splits(ds) -> tuple[object, object, str, object | None]:
    """(calibration pool, evaluation split, its name, final-report split or None)."""
    pool = ds.training_pool()
    name = ds.choice_split()
    evaluation = ds.split(name) if name else pool
    name = name or "calibration pool"
    final = ds.split("PrivateTest") if "PrivateTest" in set(ds.splits.tolist()) else None
    return pool, evaluation, name, final


def _load_members(paths: tuple[Path, ...]) -> tuple[object, list[dict]]:
    """The model to export and each member's training metrics. Several trained models of the
    same labels become one model answering the mean of their probabilities (an ensemble)."""
    from edge_train.fit import ensemble
    from edge_train.run_dir import load_keras, run_metrics

    members = [load_keras(p) for p in paths]
    metrics = [run_metrics(p) or {} for p in paths]
    if len(members) == 1:
        return members[0], metrics
    label_sets = {tuple(m.get("labels") or ()) for m in metrics}
    if len(label_sets) != 1 or () in label_sets:
        raise ExportError(
            "an ensemble needs models trained on the same labels, each with its metrics.json: "
            + "; ".join(
                f"{p}: {','.join(m.get('labels') or ['unknown'])}"
                for p, m in zip(paths, metrics, strict=True)
            )
        )
    archs = [m.get("arch") or model.name for m, model in zip(metrics, members, strict=True)]
    return ensemble(members, "_".join(archs)), metrics


def _labels(opts: ExportOptions, n_out: int, metrics: dict):
    """(the network's labels, the exported model's classes, their columns or None)."""
    labels = tuple(metrics.get("labels", ())) or opts.classes
    classes = opts.classes or labels
    if not classes:
        raise ExportError(
            f"{opts.keras_paths[0]}: no metrics.json beside the model to take labels from; "
            "pass --classes"
        )
    if len(labels) != n_out:
        raise ExportError(
            f"--classes has {len(labels)} classes ({','.join(labels)}) "
            f"but the model outputs {n_out}"
        )
    missing = [c for c in classes if c not in labels]
    if missing:
        raise ExportError(
            f"--classes: the model does not predict {', '.join(missing)} "
            f"(it predicts {', '.join(labels)})"
        )
    return labels, classes, None if classes == labels else [labels.index(c) for c in classes]


def _fp32_parity(keras_eval, fp32_eval, split: str, opts: ExportOptions) -> dict:
    """How the fp32 ONNX agrees with Keras on `split`; ExportError past the bound."""
    parity = {
        "split": split,
        "n": int(len(fp32_eval)),
        "keras_fp32_max_abs_diff": float(np.abs(keras_eval - fp32_eval).max()),
        "keras_fp32_top1_identical": bool(
            np.array_equal(keras_eval.argmax(1), fp32_eval.argmax(1))
        ),
    }
    if (
        parity["keras_fp32_max_abs_diff"] > opts.max_prob_diff
        or not parity["keras_fp32_top1_identical"]
    ):
        raise ExportError(
            f"fp32 ONNX disagrees with Keras: max |dp| {parity['keras_fp32_max_abs_diff']:.2e} "
            f"(bound {opts.max_prob_diff:.0e}), identical top-1 "
            f"{parity['keras_fp32_top1_identical']}"
        )
    return parity


def _quantize_and_choose(
    tmp: Path,
    fp32_tmp: Path,
    calib,
    evaluation,
    eval_name: str,
    classes,
    fp32,
    fp32_eval,
    base_info: ModelInfo,
    opts: ExportOptions,
):
    """Every int8 candidate built, scored on `evaluation` against fp32 and timed interleaved
    with it; (rows, the chosen one, timings, whether int8 is written, how many weight tensors
    kept 8 bits)."""
    fp32_acc = _figures(fp32_eval, evaluation.labels, classes)
    progress(
        f"quantizing to int8: {len(CANDIDATES)} candidates, each calibrated on "
        f"{len(calib)} images and scored on {eval_name}"
    )
    pre_tmp = tmp / "pre.onnx"
    preprocess(fp32_tmp, pre_tmp)
    one = evaluation.images[:1][:, None].astype(np.float32)
    overrides = full_range_overrides(pre_tmp, calib)
    rows, sessions = [], {"fp32": fp32}
    for cand in CANDIDATES:
        q_tmp = tmp / f"{cand.fmt}_{cand.method}.onnx"
        try:
            quantize(pre_tmp, q_tmp, calib, cand, overrides)
        except Exception as e:  # a candidate onnxruntime cannot build is just not kept
            rows.append({"candidate": cand.name, "error": brief(e)})
            continue
        import onnx

        qp = onnx.load(str(q_tmp))
        set_metadata(qp, base_info.to_metadata())
        q_tmp.write_bytes(qp.SerializeToString())
        clf = EmotionClassifier(q_tmp, threads=1)
        probs = clf.predict_proba(evaluation.images)
        fig = _figures(probs, evaluation.labels, classes)
        rows.append(
            {
                "candidate": cand.name,
                "path": q_tmp,
                "probs": probs,
                "accuracy": fig["accuracy"],
                "macro_f1": fig["macro_f1"],
                "agreement": float(np.mean(probs.argmax(1) == fp32_eval.argmax(1))),
                "drop_points": 100.0 * (fp32_acc["accuracy"] - fig["accuracy"]),
                "size_bytes": q_tmp.stat().st_size,
            }
        )
        sessions[cand.name] = clf
    progress(
        f"timing fp32 and the int8 candidates, batch 1, one thread ({opts.latency_runs} runs each)"
    )
    timings = interleaved(
        {k: (lambda c=c: c.infer(one)) for k, c in sessions.items()},
        runs=opts.latency_runs,
        warmup=30,
    )
    fp32_ms = timings["fp32"]["p50_ms"]
    for r in rows:
        if "error" in r:
            continue
        t = timings[r["candidate"]]
        r.update(p50_ms=t["p50_ms"], p95_ms=t["p95_ms"], speedup=fp32_ms / t["p50_ms"])
        r["accurate"] = (
            r["agreement"] >= opts.min_agreement and r["drop_points"] <= opts.max_int8_drop
        )
        r["passes"] = r["accurate"] and r["p50_ms"] < fp32_ms
    usable = [r for r in rows if "error" not in r]
    if not usable:
        raise ExportError(
            "no int8 candidate could be built: "
            + "; ".join(f"{r['candidate']}: {r['error']}" for r in rows)
        )
    chosen = choose(usable)
    if not chosen["passes"]:
        msg = (
            f"int8 misses its bounds: best candidate {chosen['candidate']} agreement "
            f"{chosen['agreement']:.4f} (>= {opts.min_agreement}), accuracy drop "
            f"{chosen['drop_points']:.2f} points (<= {opts.max_int8_drop}), "
            f"{chosen['p50_ms']:.3f} ms vs fp32 {fp32_ms:.3f} ms (must be faster)"
        )
        if opts.require_int8 and not opts.force:
            raise ExportError(msg + "; pass --force to write it anyway")
        if opts.force:
            _say(f"warning: {msg}; written because of --force")
        else:
            _say(f"{msg}; int8 not written, the fp32 model ships alone")
    write_int8 = bool(chosen["passes"] or opts.force)

    full_range = sum("reduce_range" in o[0] for o in overrides.values())
    return rows, chosen, timings, write_int8, full_range


def _write(card: dict, formats, sources: dict, tmp: Path, targets: dict, info: ModelInfo) -> dict:
    """Each format's file with the card's figures in its metadata, the card as JSON and
    markdown, all moved into place at the end (an int8 file an earlier export left is removed
    when this one ships fp32 alone); the card as written."""
    import onnx

    evaluation, final = card["evaluation"], card["final_report"]
    for fmt in formats:
        p = onnx.load(str(sources[fmt]))
        figs = {
            "format": fmt,
            "arch": card["arch"],
            "params": card["params"],
            "macs": card["macs_per_face"],
            "eval_split": evaluation["split"],
            "flip_tta": card["flip_tta"],
            "eval_accuracy": evaluation[fmt]["accuracy"],
            "eval_macro_f1": evaluation[fmt]["macro_f1"],
        }
        if final:
            figs.update(
                private_accuracy=final[fmt]["accuracy"], private_macro_f1=final[fmt]["macro_f1"]
            )
        crowd = (card.get("crowd") or {}).get("PrivateTest", {}).get(fmt)
        if crowd and "ferplus_majority" in crowd:
            figs.update(
                private_ferplus_accuracy=crowd["ferplus_majority"]["accuracy"],
                private_ferplus_macro_f1=crowd["ferplus_majority"]["macro_f1"],
                private_clear_accuracy=crowd["ferplus_clear"]["accuracy"],
            )
        meta = ModelInfo(
            labels=info.labels, task=info.task, face_margin=info.face_margin, card=figs
        )
        set_metadata(p, meta.to_metadata())
        (tmp / f"final.{fmt}.onnx").write_bytes(p.SerializeToString())
    card["files"] = {
        fmt: {
            "file": targets[f"{fmt}.onnx"].name,
            "bytes": (tmp / f"final.{fmt}.onnx").stat().st_size,
            "sha256": file_sha256(tmp / f"final.{fmt}.onnx"),
        }
        for fmt in formats
    }
    if "int8" in formats:
        card["files"]["size_ratio"] = (
            card["files"]["fp32"]["bytes"] / card["files"]["int8"]["bytes"]
        )
    card = portable(card)
    (tmp / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    (tmp / "card.md").write_text(render_markdown(card))
    for fmt in formats:
        os.replace(tmp / f"final.{fmt}.onnx", targets[f"{fmt}.onnx"])
    if "int8" not in formats:  # an earlier export's int8 file would pass for this model's
        targets["int8.onnx"].unlink(missing_ok=True)
    os.replace(tmp / "card.json", targets["card.json"])
    os.replace(tmp / "card.md", targets["md"])
    return card


def run_export(opts: ExportOptions) -> dict:
    """Write NAME.fp32.onnx, NAME.int8.onnx, NAME.card.json and NAME.md; return the card."""
    from edge_train.data import DataError, load
    from edge_train.fit import library_versions, networks
    from edge_train.run_dir import predict

    model, member_metrics = _load_members(opts.keras_paths)
    labels, classes, columns = _labels(opts, int(model.output_shape[-1]), member_metrics[0])
    name = opts.name or task_name(tuple(classes))
    out = opts.out
    targets = {k: out / f"{name}.{k}" for k in ("fp32.onnx", "int8.onnx", "card.json", "md")}
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing and not opts.overwrite:
        raise ExportError(f"{existing[0]} exists; pass --overwrite to replace it")

    try:
        full = load(opts.calibration)
        ds = full.task(tuple(classes))
    except DataError as e:
        raise ExportError(str(e)) from None
    recipe_kfold = (
        _recipe_kfold(opts.kfold, opts.keras_paths, member_metrics, full, classes)
        if opts.kfold
        else None
    )
    pool, evaluation, eval_name, final = _pick_splits(ds)
    calib_idx = calibration_sample(pool.labels, opts.calibration_images)
    if len(calib_idx) < MIN_CALIBRATION_IMAGES:
        _say(
            f"warning: only {len(calib_idx)} calibration images "
            f"(at least {MIN_CALIBRATION_IMAGES} recommended)"
        )
    calib = pool.images[calib_idx][:, None].astype(np.float32)

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=f".{name}.export-") as tmpdir:
        tmp = Path(tmpdir)
        base_info = ModelInfo(
            labels=tuple(classes), task=task_name(tuple(classes)), face_margin=opts.face_margin
        )
        progress(f"converting {', '.join(map(str, opts.keras_paths))} to ONNX")
        proto = keras_to_onnx(
            model,
            OPSET,
            flip_tta=opts.flip_tta,
            columns=columns,
            smooth_sigma=opts.smooth_sigma,
            contrast_stretch=opts.contrast_stretch,
        )
        set_metadata(proto, base_info.to_metadata())
        fp32_tmp = tmp / "fp32.onnx"
        fp32_tmp.write_bytes(proto.SerializeToString())
        transposes = count_ops(proto, "Transpose")
        macs = count_macs(proto)

        model_fn = (with_flip if opts.flip_tta else _same)(
            lambda x: predict(
                model, smooth(network_input(x, opts.contrast_stretch), opts.smooth_sigma)
            )
        )

        def keras_fn(x: np.ndarray) -> np.ndarray:
            probs = model_fn(x)
            return probs if columns is None else task_probs(probs, labels, classes)

        progress(f"checking the fp32 ONNX against Keras on {eval_name} ({len(evaluation)} images)")
        keras_eval = keras_fn(evaluation.images)
        fp32 = EmotionClassifier(fp32_tmp, threads=1)
        fp32_eval = fp32.predict_proba(evaluation.images)
        fp32_acc = _figures(fp32_eval, evaluation.labels, classes)
        parity = _fp32_parity(keras_eval, fp32_eval, eval_name, opts)

        rows, chosen, timings, write_int8, full_range = _quantize_and_choose(
            tmp, fp32_tmp, calib, evaluation, eval_name, classes, fp32, fp32_eval, base_info, opts
        )
        fp32_ms = timings["fp32"]["p50_ms"]
        int8_eval = chosen["probs"]
        evaluation_fig = {
            "split": eval_name,
            "keras": _figures(keras_eval, evaluation.labels, classes),
            "fp32": fp32_acc,
            "int8": _figures(int8_eval, evaluation.labels, classes),
        }
        final_fig = None
        if final is not None:
            final_fig = {
                "split": "PrivateTest",
                "keras": _figures(keras_fn(final.images), final.labels, classes),
                "fp32": _figures(fp32.predict_proba(final.images), final.labels, classes),
                "int8": _figures(
                    EmotionClassifier(chosen["path"]).predict_proba(final.images),
                    final.labels,
                    classes,
                ),
            }
        shipped = chosen if write_int8 else {"path": fp32_tmp, "probs": fp32_eval}
        answers = {"fp32": fp32.predict_proba}
        if write_int8:
            answers["int8"] = EmotionClassifier(chosen["path"]).predict_proba
        crowd = _crowd(full, classes, opts, answers)
        sure = _confidence(
            full,
            eval_name,
            classes,
            shipped["probs"],
            evaluation.labels,
            EmotionClassifier(shipped["path"]).predict_proba,
        )
        parity.update(
            int8_fp32_top1_agreement=chosen["agreement"],
            int8_accuracy_drop_points=chosen["drop_points"],
            bounds={
                "max_prob_diff": opts.max_prob_diff,
                "min_agreement": opts.min_agreement,
                "max_int8_drop_points": opts.max_int8_drop,
            },
            passed=bool(chosen.get("passes")),
            forced=bool(opts.force and not chosen.get("passes")),
            int8_written=write_int8,
        )
        if parity["n"] < MIN_PARITY_IMAGES:
            parity["note"] = f"fewer than {MIN_PARITY_IMAGES} evaluation images available"

        card = {
            "name": name,
            "task": base_info.task,
            "labels": list(classes),
            "arch": "+".join(m.get("arch") or model.name for m in member_metrics),
            "params": int(model.count_params()),
            "macs_per_face": macs,
            "networks": len(networks(model)),
            "input": {
                "name": "image",
                "shape": ["N", 1, 48, 48],
                "layout": "NCHW",
                "dtype": "float32",
                "pixels": "raw gray 0..255 (scaled inside the graph)",
            },
            "output": {"name": "probabilities", "shape": ["N", len(classes)]},
            "opset": OPSET,
            "flip_tta": opts.flip_tta,
            "smooth_sigma": opts.smooth_sigma,
            "contrast_stretch": opts.contrast_stretch,
            "transpose_nodes_fp32": transposes,
            "columns_of": list(labels) if columns else None,
            **_training_blocks(opts.keras_paths, member_metrics, full, classes, columns),
            "recipe_kfold": recipe_kfold,
            "evaluation": evaluation_fig,
            "final_report": final_fig,
            "crowd": crowd,
            "min_confidence": {"format": "int8" if write_int8 else "fp32", **sure},
            "parity": parity,
            "quantization": {
                "chosen": chosen["candidate"],
                "time_tie": TIME_TIE,
                "per_channel": True,
                "weight_bits": 7 if REDUCE_RANGE else 8,
                "full_range_weights": full_range,
                "calibration": {
                    "source": str(opts.calibration),
                    "images": int(len(calib_idx)),
                    "split": "training",
                    "stratified": True,
                },
                "fp32_p50_ms": fp32_ms,
                "cpu": cpu_info(),
                "fp32_p95_ms": timings["fp32"]["p95_ms"],
                "timing": f"batch 1, 1 thread, {opts.latency_runs} runs interleaved in 10 rounds",
                "candidates": [
                    {k: v for k, v in r.items() if k not in ("path", "probs")} for r in rows
                ],
            },
            "export_command": opts.command,
            "versions": library_versions(),
        }
        formats = ("fp32", "int8") if write_int8 else ("fp32",)
        card = _write(
            card, formats, {"fp32": fp32_tmp, "int8": chosen["path"]}, tmp, targets, base_info
        )
    return card
