"""The model card as Markdown, for people; `NAME.card.json` holds the same for programs."""

from __future__ import annotations


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _acc_table(block: dict | None) -> list[str]:
    if not block:
        return []
    lines = [
        f"**{block['split']}** (n = {block['fp32']['n']})",
        "",
        "| format | accuracy | macro-F1 |",
        "|---|---|---|",
    ]
    for fmt in ("keras", "fp32", "int8"):
        f = block[fmt]
        lines.append(f"| {fmt} | {_pct(f['accuracy'])} | {f['macro_f1']:.4f} |")
    return lines + [""]


def _crowd_table(crowd: dict | None) -> list[str]:
    """Each split and format against each truth, and without the leaked test images."""
    if not crowd or not crowd.get("votes"):
        return []
    leaked = crowd.get("leaked")
    lines = [
        f"**Against {crowd['votes']}'s crowd votes** (FER+: 10 taggers per image; majority: the "
        "most voted answer, ties and unknown dropped; clear: 7+ of 10 agree on an emotion "
        "other than neutral)"
        + (f"; without leaked: less the test images listed in {leaked['file']}" if leaked else ""),
        "",
        "| split | format | dataset label | without leaked | majority acc. / macro-F1 | "
        "without leaked | clear |",
        "|---|---|---|---|---|---|---|",
    ]
    for split in ("PublicTest", "PrivateTest"):
        for fmt, f in (crowd.get(split) or {}).items():
            own, major, clear = f["fer2013"], f["ferplus_majority"], f["ferplus_clear"]
            lines.append(
                f"| {split} | {fmt} | {_pct(own['accuracy'])} | "
                f"{_pct((own.get('without_leaked') or {}).get('accuracy'))} | "
                f"{_pct(major['accuracy'])} / {major['macro_f1']:.3f} | "
                f"{_pct((major.get('without_leaked') or {}).get('accuracy'))} | "
                f"{_pct(clear['accuracy'])} |"
            )
    return lines + [""]


def _init_source(init: dict) -> str:
    """The model a run was fine-tuned from: its path, classes and training command."""
    labels = ", ".join(init.get("labels") or ["unknown classes"])
    return f"`{init['path']}` (trained on {labels} by `{init.get('command')}`)"


def _kfold_lines(cv: dict) -> list[str]:
    """A k-fold's summary sentence and its per-fold table."""
    return [
        f"Repeated stratified k-fold on Training ({cv['folds']} folds x {cv['repeats']} "
        f"repeats): accuracy {_pct(cv['accuracy_mean'])} +- {100 * cv['accuracy_std']:.2f}, "
        f"macro-F1 {cv['macro_f1_mean']:.4f} +- {cv['macro_f1_std']:.4f}."
        + (
            f" The fold models were trained on {', '.join(cv['trained_on'])}; each is "
            f"scored on its held-out {', '.join(cv['scored_on'])} images, answering among "
            "those classes."
            if cv.get("scored_on")
            else ""
        ),
        "",
        "| repeat | fold | n | accuracy | macro-F1 |",
        "|---|---|---|---|---|",
        *[
            f"| {f['repeat']} | {f['fold']} | {f['n']} | {_pct(f['accuracy'])} | "
            f"{f['macro_f1']:.4f} |"
            for f in cv["per_fold"]
        ],
        "",
    ]


def _confidence_table(block: dict | None) -> list[str]:
    if not block:
        return []
    others = block["rows"][0]["other_faces"]
    lines = [
        f"Answering only sure faces (`--min-confidence P`; {block['rule']}), {block['format']} "
        f"on {block['split']}:",
        "",
        "| P | faces answered | right among answered |"
        + (f" faces of other classes still answered (of {others}) |" if others else ""),
        "|---|---|---|" + ("---|" if others else ""),
    ]
    for r in block["rows"]:
        acc = r["answered_accuracy"]
        lines.append(
            f"| {r['min_confidence']:g} | {100 * r['answered']:.1f}% | "
            + ("-" if acc is None else f"{100 * acc:.1f}%")
            + " |"
            + (f" {100 * r['other_answered']:.1f}% |" if others else "")
        )
    return [*lines, ""]


def render_markdown(card: dict) -> str:
    """A readable rendering of an export card: what the model is, its accuracy, how it was
    trained, its files, its int8 quantization, parity and provenance."""
    return "\n".join(
        [
            *_summary_section(card),
            *_training_section(card),
            *_files_section(card["files"]),
            *_quantization_section(card["quantization"]),
            *_parity_section(card["parity"]),
            *_provenance_section(card),
        ]
    )


def _summary_section(card: dict) -> list[str]:
    return [
        f"# Model card: `{card['name']}`",
        "",
        f"Task **{card['task']}**, labels {', '.join(card['labels'])}. Architecture "
        f"`{card['arch']}`, {card['params']:,} parameters"
        + (f", {card['macs_per_face'] / 1e6:.1f}M MACs per face" if "macs_per_face" in card else "")
        + (
            ", each face's contrast stretched to 0..255 in the graph"
            if card.get("contrast_stretch")
            else ""
        )
        + (
            f", input smoothed in the graph (Gaussian, sigma {card['smooth_sigma']:g} px)"
            if card.get("smooth_sigma")
            else ""
        )
        + (", test-time flip averaging in the graph" if card.get("flip_tta") else "")
        + ". Input `image` float32 "
        "[N, 1, 48, 48] NCHW, raw gray pixels 0..255 (scaled inside the graph); output "
        f"`probabilities` [N, {len(card['labels'])}]."
        + (
            f" The network predicts {', '.join(card['columns_of'])}; this model outputs the "
            f"probabilities of {', '.join(card['labels'])} among them, renormalised."
            if card.get("columns_of")
            else ""
        ),
        "",
        "## Accuracy",
        "",
        *_acc_table(card.get("evaluation")),
        *_acc_table(card.get("final_report")),
        *_crowd_table(card.get("crowd")),
        *_confidence_table(card.get("min_confidence")),
    ]


def _training_section(card: dict) -> list[str]:
    """Distillation, fine-tuning, k-fold estimates and ensemble members."""
    t = card.get("training") or {}
    lines: list[str] = []
    members = card.get("members") or []
    kfolds = 0
    for b in members or [t]:
        teacher = b.get("teacher") or {}
        cv = b.get("cv") or teacher.get("cv")
        kfolds += bool(cv)
        distilled = f"`{b['model']}` was distilled" if members else "Distilled"
        if teacher:
            made = (
                f"trained by `{teacher['command']}`"
                if teacher.get("command")
                else "an exported model (its own card says how it was made)"
            )
            also = ", ".join(f"`{a['path']}`" for a in b.get("also_teachers") or [])
            lines += [
                f"{distilled} from `{teacher['path']}`, {made}"
                + (": the k-fold below scores its fold models." if cv else ".")
                + (f" Its targets are the mean answer of that model and {also}." if also else ""),
                "",
            ]
        elif cv and members:
            lines += [
                f"`{b['model']}` comes from a k-fold run: the k-fold below scores its fold models.",
                "",
            ]
        if b.get("init") and not members:
            lines += [f"Fine-tuned from {_init_source(b['init'])}.", ""]
        if cv:
            lines += _kfold_lines(cv)
    recipe = card.get("recipe_kfold")
    if recipe:
        start = f", the start of `{recipe['start_of']}`," if recipe.get("start_of") else ""
        lines += [
            f"The k-fold below is of the recipe that trained `{recipe['recipe_of']}`{start} "
            f"run again with `--cv`: `{recipe['command']}`. It estimates that recipe on "
            "held-out folds of Training, not this model; the test-split figures above are "
            "this model's.",
            "",
            *_kfold_lines(recipe["cv"]),
        ]
    if not kfolds and not recipe:
        lines += [
            "No k-fold estimate: its networks were each trained once on the whole training "
            "split, so the test-split figures above are its only accuracy figures.",
            "",
        ]
    n_nets = card.get("networks", len(members) or 1)
    if n_nets > 1 and not members:
        lines += [
            f"An ensemble of {n_nets} networks: its output is the mean of their probabilities.",
            "",
        ]
    if members:
        lines += [
            f"An ensemble of {n_nets} networks from {len(members)} training runs: its output "
            "is the mean of their probabilities.",
            "",
            "| model | architecture | training command | epochs | wall time s |",
            "|---|---|---|---|---|",
            *[
                f"| `{m['model']}` | `{(m.get('config') or {}).get('arch', '?')}` | "
                f"`{m.get('command') or 'unknown'}` | {m.get('epochs')} | {m.get('wall_seconds')} |"
                for m in members
            ],
            "",
        ]
        for m in members:
            if m.get("init"):
                lines += [f"`{m['model']}` was fine-tuned from {_init_source(m['init'])}.", ""]
    return lines


def _files_section(files: dict) -> list[str]:
    return [
        "## Files",
        "",
        "| file | bytes | sha256 |",
        "|---|---|---|",
        *[
            f"| `{files[k]['file']}` | {files[k]['bytes']:,} | `{files[k]['sha256'][:16]}…` |"
            for k in ("fp32", "int8")
            if k in files
        ],
        "",
        f"int8 is {files['size_ratio']:.2f}x smaller than fp32."
        if "int8" in files
        else "No int8 file: the best candidate below missed its bounds (parity or speed), so "
        "the fp32 model ships alone; the int8 rows above are that candidate's.",
        "",
    ]


def _quantization_section(q: dict) -> list[str]:
    lines = [
        "## int8 quantization",
        "",
        f"Static quantization ({q['chosen']}), per-channel int8 weights"
        # cards exported before weight_bits was recorded do not say which range they used
        + (f" ({q['weight_bits']}-bit range{_full_range(q)})" if q.get("weight_bits") else "")
        + ", calibrated on "
        f"{q['calibration']['images']} training images stratified by class. Candidates, "
        f"timed {q['timing']} (fp32: median {q['fp32_p50_ms']:.3f} ms, p95 "
        f"{q['fp32_p95_ms']:.3f} ms):",
        "",
        "| candidate | median ms | p95 ms | speed-up | top-1 agreement | accuracy | kept |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in q["candidates"]:
        if "error" in r:
            lines.append(f"| {r['candidate']} | failed: {r['error']} | | | | | |")
            continue
        kept = "**yes**" if r["candidate"] == q["chosen"] else ""
        lines.append(
            f"| {r['candidate']} | {r['p50_ms']:.3f} | {r['p95_ms']:.3f} | {r['speedup']:.2f}x | "
            f"{_pct(r['agreement'])} | {_pct(r['accuracy'])} | {kept} |"
        )
    kept = next((r for r in q["candidates"] if r["candidate"] == q["chosen"]), {})
    if q.get("time_tie") is not None and kept.get("passes", True):
        lines += [
            "",
            "Kept: the most accurate candidate that passes the parity bounds and beats fp32, among "
            f"those timed within {100 * q['time_tie']:.0f}% of the fastest such candidate.",
        ]
    elif q.get("time_tie") is not None and kept.get("accurate"):
        lines += [
            "",
            "No candidate beat fp32 on this CPU. Kept: the most accurate candidate within the "
            f"parity bounds, among those timed within {100 * q['time_tie']:.0f}% of the fastest "
            "such candidate, for CPUs whose int8 kernels run faster.",
        ]
    return [*lines, ""]


def _full_range(q: dict) -> str:
    """Which weights kept 8 bits (`edge_export.quantize.full_range_overrides`), if any."""
    n = q.get("full_range_weights")
    if not n:
        return ""
    return f"; 8-bit for {n} tensors: depthwise convs and the image conv, whose input uses 7"


def _parity_section(p: dict) -> list[str]:
    return [
        "## Parity",
        "",
        f"On {p['n']} images of {p['split']}: Keras vs fp32 ONNX max |dp| "
        f"{p['keras_fp32_max_abs_diff']:.2e}, identical top-1: {p['keras_fp32_top1_identical']}; "
        f"int8 vs fp32 top-1 agreement {_pct(p['int8_fp32_top1_agreement'])}, accuracy drop "
        f"{p['int8_accuracy_drop_points']:.2f} points. Bounds met: {p['passed']}"
        + (" (written with --force)" if p.get("forced") else "")
        + ".",
        "",
    ]


def _provenance_section(card: dict) -> list[str]:
    t, members = card.get("training") or {}, card.get("members") or []
    return [
        "## Provenance",
        "",
        *(
            [f"- training: `{m.get('command') or 'unknown'}`" for m in members]
            or [f"- training: `{t.get('command') or 'unknown'}`"]
        ),
        f"- data sha256: `{(t.get('data') or {}).get('sha256', 'unknown')}`",
        *([] if members else [f"- epochs: {t.get('epochs')}, wall time {t.get('wall_seconds')} s"]),
        *(
            [
                f"- batch-norm statistics then recomputed on {norms['faces']} training faces: "
                f"`{norms.get('command')}`"
            ]
            if (norms := t.get("norm_statistics")) and not members
            else []
        ),
        f"- export: `{card.get('export_command') or 'unknown'}`",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in card["versions"].items()),
        "",
    ]
