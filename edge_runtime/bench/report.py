"""Benchmark outputs: Markdown tables and page, CSV, JSON; reading the page's files table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from edge_runtime.bench.engine import BenchResult
from edge_runtime.bench.models import FORMAT_ORDER
from edge_runtime.bench.system import auto_line, system_lines
from edge_runtime.classifier import MODELS_DIR
from edge_runtime.portable import portable_path
from edge_runtime.results import STAGES

SCHEMA = "edge-fer-bench/1"
FILES_HEADING = "## Model files"


def fmt_ms(x: float | None) -> str:
    """Milliseconds with sensible precision (3 decimals below 1 ms)."""
    if x is None:
        return "-"
    return f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:.1f}"


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _num(x: float | None, digits: int = 4) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def ratio(x: float | None) -> str:
    """A speed ratio: 2 decimals, 2 significant digits below 0.1 (Keras vs ONNX)."""
    if x is None:
        return "-"
    return f"{x:.2f}x" if x >= 0.1 else f"{x:.2g}x"


def _size(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n < 2**20 else f"{n / 2**20:.2f} MiB"


def row_order(r: dict) -> tuple:
    fmt = FORMAT_ORDER.index(r["format"]) if r["format"] in FORMAT_ORDER else 99
    return (r["batch"], r["threads"], r["model"], fmt)


def table(rows: list[dict], columns: list[tuple[str, object]]) -> list[str]:
    """A Markdown table: `columns` are (header, key or function of the row)."""
    head = "| " + " | ".join(h for h, _ in columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    body = [
        "| "
        + " | ".join(str(f(r)) if callable(f) else str(r.get(f, "-")) for _, f in columns)
        + " |"
        for r in rows
    ]
    return [head, sep, *body]


def _stage(stage: str):
    return lambda r: fmt_ms(r["stage_ms"].get(stage))


LATENCY_COLUMNS: list[tuple[str, object]] = [
    ("model", "model"),
    ("format", "format"),
    ("CPU class", lambda r: r.get("isa_class") or "-"),
    ("threads", "threads"),
    ("batch", "batch"),
    ("p50 ms", lambda r: fmt_ms(r["p50_ms"])),
    ("p90 ms", lambda r: fmt_ms(r["p90_ms"])),
    ("p99 ms", lambda r: fmt_ms(r["p99_ms"])),
    ("min ms", lambda r: fmt_ms(r["min_ms"])),
    ("ms/face", lambda r: fmt_ms(r["p50_per_face_ms"])),
    ("faces/s", lambda r: f"{r['throughput']:,.0f}"),
    ("speed-up vs fp32", lambda r: ratio(r.get("speedup_vs_fp32"))),
    ("size", lambda r: _size(r["size_bytes"])),
    ("load ms", lambda r: fmt_ms(r["load_ms"])),
    ("classes", lambda r: len(r.get("labels") or []) or "-"),
    ("MACs", lambda r: f"{r['macs'] / 1e6:.1f}M" if r.get("macs") else "-"),
    ("accuracy", lambda r: pct(r.get("accuracy"))),
    ("macro-F1", lambda r: _num(r.get("macro_f1"))),
    ("without leaked", lambda r: pct(r.get("accuracy_without_leaked"))),
    ("FER+ acc.", lambda r: pct(r.get("ferplus_accuracy"))),
    ("FER+ F1", lambda r: _num(r.get("ferplus_macro_f1"))),
    ("FER+ without leaked", lambda r: pct(r.get("ferplus_without_leaked"))),
    ("clear acc.", lambda r: pct(r.get("clear_accuracy"))),
    ("corrupted acc.", lambda r: pct(r.get("corrupted_accuracy"))),
    ("FER+ corrupted", lambda r: pct(r.get("ferplus_corrupted_accuracy"))),
]
#: columns shown only when some row has their figure
OPTIONAL_FIGURES = {
    "without leaked": "accuracy_without_leaked",
    "FER+ acc.": "ferplus_accuracy",
    "FER+ F1": "ferplus_macro_f1",
    "FER+ without leaked": "ferplus_without_leaked",
    "clear acc.": "clear_accuracy",
    "corrupted acc.": "corrupted_accuracy",
    "FER+ corrupted": "ferplus_corrupted_accuracy",
}


def latency_columns(rows: list[dict]) -> list[tuple[str, object]]:
    """LATENCY_COLUMNS less the optional figures no row has."""
    return [
        (h, f)
        for h, f in LATENCY_COLUMNS
        if h not in OPTIONAL_FIGURES or any(r.get(OPTIONAL_FIGURES[h]) is not None for r in rows)
    ]


ARM_COLUMNS: list[tuple[str, object]] = [
    ("model", "model"),
    ("format", "format"),
    ("MACs", lambda r: f"{r['macs'] / 1e6:.1f}M" if r.get("macs") else "-"),
    ("p50 ms here", lambda r: fmt_ms(r["p50_ms_here"])),
    ("Pi 4 estimate ms", lambda r: fmt_ms(r["a72_ms_estimate"])),
    ("Pi 5 estimate ms", lambda r: fmt_ms(r["a76_ms_estimate"])),
    ("from", "basis"),
]


def arm_lines(arm: dict) -> list[str]:
    """The Raspberry Pi 4 and 5 estimates: what they rest on, then one row per model and
    format."""
    b = arm["basis"]
    pi5 = (
        f"A Pi 5 (Cortex-A76, neon-dotprod) estimate is the Pi 4 one times "
        f"{b['a76_over_a72']:.3f}, YuNet's A76/A72 time ratio at 160x120 in another published "
        f"table ({b['a76_source']}; an RK3588's A76 cores at 2.25 GHz, several threads), and "
        "for int8 its fp32 twin's times YuNet's int8/fp32 ratio on the A76: OpenCV's int8 did "
        "not gain from dot products there, onnxruntime's kernels use them, so the int8 figure "
        "leans slow."
    )
    return [
        "## Estimated for a Raspberry Pi 4 (Cortex-A72, class neon) and a Pi 5 (Cortex-A76, "
        "class neon-dotprod): estimates, not timings",
        "",
        f"YuNet at 320x320, one thread, took {fmt_ms(b['yunet_320_ms_here'])} ms here in the "
        f"same rounds as the models, and a published {b['yunet_320_ms_a72']} ms (int8: "
        f"{b['yunet_320_int8_ms_a72']} ms) on one Cortex-A72 core at 1.5 GHz ({b['source']}): "
        f"factor {b['factor']:.1f}. Batch 1, one thread. The factor assumes a model gains from "
        "this CPU what YuNet gains in OpenCV: read the estimates as rough "
        f"(`edge_runtime/bench/arm_estimate.py`). {pi5}",
        "",
        *table(sorted(arm["rows"], key=lambda r: (r["model"], r["format"])), ARM_COLUMNS),
    ]


VIDEO_COLUMNS: list[tuple[str, object]] = [
    ("model", "model"),
    ("format", "format"),
    ("threads", "threads"),
    ("setting", lambda r: f"{r['setting']} (detect every {r['detect_every']})"),
    ("fps", lambda r: f"{r['fps']:.1f}"),
    ("frame p50 ms", lambda r: fmt_ms(r["p50_ms"])),
    ("p90 ms", lambda r: fmt_ms(r["p90_ms"])),
    ("p99 ms", lambda r: fmt_ms(r["p99_ms"])),
    *[(f"{s} ms", _stage(s)) for s in STAGES],
    ("faces/frame", lambda r: f"{r['faces_per_frame']:.2f}"),
    ("full detections", lambda r: pct(r["full_detection_share"])),
]


DETECTOR_COLUMNS: list[tuple[str, object]] = [
    ("detector", "detector"),
    ("frame", lambda r: f"{r['width']}x{r['height']}"),
    ("threads", "threads"),
    ("p50 ms", lambda r: fmt_ms(r["p50_ms"])),
    ("p90 ms", lambda r: fmt_ms(r["p90_ms"])),
    ("p99 ms", lambda r: fmt_ms(r["p99_ms"])),
    ("faces found", "faces"),
]


def tracking_gains(video_rows: list[dict]) -> list[str]:
    """One line per model: fps with tracking (default) over fps detecting every frame."""
    by = {(r["model"], r["setting"]): r for r in video_rows}
    lines = []
    for model in dict.fromkeys(r["model"] for r in video_rows):
        d, e = by.get((model, "default")), by.get((model, "detect-every-frame"))
        if d and e and e["fps"] > 0:
            lines.append(
                f"- {model}: tracking with a full detection every {d['detect_every']} "
                f"frames gives {d['fps'] / e['fps']:.2f}x the fps of detection on "
                f"every frame ({d['fps']:.1f} vs {e['fps']:.1f} fps)."
            )
    return lines


def markdown_tables(result: BenchResult) -> str:
    """The latency/accuracy table and, with --video, the pipeline table (stdout output)."""
    out = [
        "## Latency and accuracy",
        "",
        *table(
            sorted(result.latency_rows(), key=row_order), latency_columns(result.latency_rows())
        ),
    ]
    auto = auto_line(result.system)
    if auto:
        out += ["", auto]
    if result.arm:
        out += ["", *arm_lines(result.arm)]
    video = result.video_rows()
    if video:
        out += [
            "",
            "## Video pipeline (read, detect, track, classify, smooth)",
            "",
            *table(video, VIDEO_COLUMNS),
            "",
            *tracking_gains(video),
        ]
    if result.detectors:
        out += [
            "",
            "## Face detection, one full frame (the demo photo, one face)",
            "",
            *table(result.detectors, DETECTOR_COLUMNS),
            "",
            "`run` detects on a copy shrunk to `--detect-size` (320 px on the longer side "
            "by default) and, between full detections, only around each tracked face.",
        ]
    return "\n".join(out) + "\n"


def display_path(path: str, bundled: bool) -> str:
    """Bundled files as `edge_runtime/models/NAME` (the same on every machine); others as
    given, relative to the working directory."""
    p = Path(path)
    if bundled and p.parent.resolve() == MODELS_DIR.resolve():
        return f"edge_runtime/models/{p.name}"
    return portable_path(p)


def files_table(rows: list[dict]) -> list[str]:
    seen: dict[str, dict] = {}
    for r in rows:
        if r["kind"] == "latency":
            seen.setdefault(r["path"], r)
    ordered = sorted(seen.values(), key=lambda r: (r["model"], row_order(r)[3]))
    return table(
        ordered,
        [
            ("model", "model"),
            ("format", lambda r: "keras" if r["format"].startswith("keras") else r["format"]),
            ("file", lambda r: f"`{display_path(r['path'], r['bundled'])}`"),
            ("bytes", lambda r: f"{r['size_bytes']:,}"),
            ("sha256", lambda r: f"`{r['sha256']}`"),
        ],
    )


def method_lines(result: BenchResult) -> list[str]:
    c = result.config
    rounds = max(1, min(c["rounds"], c["runs"]))
    lat = result.latency_rows()
    peak = max((r["peak_rss_mb"] for r in result.rows), default=0.0)
    lines = [
        f"- Latency: per variant (model x format x threads x batch) {c['warmup']} warm-up "
        f"calls discarded, then {c['runs']} calls timed with `time.perf_counter_ns` in "
        f"{rounds} interleaved rounds: every variant runs one block per round, so drift and "
        "other load on the machine hit all variants alike. A call is one onnxruntime "
        "`session.run` (Keras: `model.predict` or a direct `model(x)`) on a prepared float "
        "batch; face detection and cropping are not in it (see the video table).",
        "- ms/face = p50 / batch; faces/s = batch / p50; speed-up vs fp32 = fp32 p50 / this "
        "p50, same model, threads and batch, from this same run (above 1 is faster). "
        "The spread is p90, p99 and min beside the median.",
        "- Size: file bytes. Load: session (or Keras model) creation, after one discarded "
        "session creation that pays onnxruntime's one-time start-up. Peak resident memory of "
        f"the whole bench process (all models and any --data loaded): {peak:.0f} MiB; each "
        "model's own growth on load is `load_rss_mb` in results.json.",
    ]
    if any(r.get("accuracy") is not None for r in lat):
        split = next(r["eval_split"] for r in lat if r.get("eval_split"))
        lines.append(
            f"- Accuracy and macro-F1: split {split} of `{c['data']}` against its own labels "
            "(FER2013: one tagger per image), each model over its own classes."
            + (
                " Without leaked: the same, less the test images whose pixels are also in "
                "Training (the list beside the data)."
                if any(r.get("accuracy_without_leaked") is not None for r in lat)
                else ""
            )
        )
    if any(r.get("ferplus_accuracy") is not None for r in lat):
        lines.append(
            f"- FER+: against the crowd votes ({c.get('labels')}, 10 taggers per image): "
            "accuracy and macro-F1 on the majority label (the most voted answer; ties, "
            "unknown, not-a-face and classes outside the model dropped), and clear acc., the "
            "share of faces where 7 of 10 taggers chose one emotion other than neutral that "
            "get that emotion."
        )
    if any(r.get("corrupted_accuracy") is not None for r in lat):
        lines.append(
            "- Corrupted: the mean accuracy over the faces tilted 15 and 30 degrees, in a "
            "loose detector box (+-15% shift and scale), in low light, motion-blurred, at JPEG "
            "quality 15, with sensor noise and as a 24-pixel face upscaled "
            "(`edge_train/corruptions.py`; per corruption in results.json)."
        )
    if result.video_rows():
        lines.append(
            f"- Video: `{c['video']}`, {c['detector']} detector, "
            f"passes per setting: {c['video_passes']}, alternating, after a 10-frame "
            "warm-up; frame ms = read + detect + preprocess + infer + smooth; stage "
            "columns are means per frame."
        )
    return lines


def markdown_page(result: BenchResult, command: str, images: list[str]) -> str:
    """The whole results page: command, system block, method, tables, plots, files, notes."""
    out = [
        "# edge-fer benchmark results",
        "",
        "Produced by:",
        "",
        "```sh",
        command,
        "```",
        "",
        "## System",
        "",
        *system_lines(result.system),
        "",
        "## Method",
        "",
        *method_lines(result),
        "",
        markdown_tables(result).rstrip(),
        "",
    ]
    for name in images:
        out += [f"![{name}]({name})", ""]
    out += [FILES_HEADING, "", *files_table(result.rows), ""]
    if result.notes:
        out += ["## Notes", "", *[f"- {n}" for n in result.notes], ""]
    return "\n".join(out).rstrip() + "\n"


def flat(row: dict) -> dict:
    """A row with `stage_ms` spread into `stage_<name>_ms` columns and labels joined with
    commas (for CSV)."""
    d = {
        k: (",".join(v) if isinstance(v, list) else v)
        for k, v in row.items()
        if k not in ("stage_ms", "corruptions")  # corruptions: per corruption, in JSON
    }
    for k, v in (row.get("stage_ms") or {}).items():
        d[f"stage_{k}_ms"] = v
    return d


def write_csv(rows: list[dict], path: Path) -> None:
    flats = [flat(r) for r in rows]
    fields = list(dict.fromkeys(k for r in flats for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(flats)


def to_json(result: BenchResult, command: str) -> dict:
    return {
        "schema": SCHEMA,
        "command": command,
        "system": result.system,
        "config": result.config,
        "notes": result.notes,
        "rows": result.rows,
        "detectors": result.detectors,
        "arm_estimates": result.arm,
    }


def parse_files_table(markdown: str) -> list[dict]:
    """The rows of a results page's model-files table: model, format, file, bytes, sha256."""
    lines = markdown.splitlines()
    try:
        start = lines.index(FILES_HEADING)
    except ValueError:
        return []
    rows, header = [], None
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if not line.startswith("|") or line.startswith("|---"):
            continue
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            continue
        row = dict(zip(header, cells, strict=False))
        row["bytes"] = int(row["bytes"].replace(",", ""))
        rows.append(row)
    return rows


def write_json(obj: dict, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=1) + "\n")
