"""The benchmark run: load every model x format x threads, score accuracy, time the video
pipeline, then time all latency variants in interleaved rounds, as rows of plain dicts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edge_runtime.bench import arm_estimate
from edge_runtime.bench.detectors import TIMED, detector_rows
from edge_runtime.bench.models import FORMATS, KERAS_ROWS, BenchError, ModelFiles
from edge_runtime.bench.progress import Progress
from edge_runtime.bench.runners import OnnxRunner, tensorflow_available
from edge_runtime.bench.system import load_average, system_info
from edge_runtime.cpu import isa_class
from edge_runtime.detect import DEFAULT_DETECTOR
from edge_runtime.model_info import file_sha256
from edge_runtime.portable import portable, portable_path
from edge_runtime.preprocess import FACE_SIZE
from edge_runtime.providers import ProviderError
from edge_runtime.providers import resolve as resolve_provider
from edge_runtime.timing import Runner, interleaved, peak_rss_mb

#: keys every row has (latency and video rows alike)
REQUIRED_KEYS: tuple[str, ...] = (
    "kind",
    "model",
    "format",
    "threads",
    "batch",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "min_ms",
    "throughput",
    "size_bytes",
    "load_ms",
    "peak_rss_mb",
)
VIDEO_SETTINGS: tuple[tuple[str, int | None], ...] = (
    ("default", None),  # the recognizer's default detect_every (full detection every 10)
    ("detect-every-frame", 1),
)


@dataclass
class BenchConfig:
    """What to measure and how (see `edge-fer bench --help` for the meaning of each)."""

    models: list[ModelFiles]
    formats: tuple[str, ...] = FORMATS
    threads: tuple[int, ...] = (1,)
    batches: tuple[int, ...] = (1, 8)
    warmup: int = 20
    runs: int = 200
    rounds: int = 10
    data: Path | None = None
    split: str | None = None
    labels: str | None = None  # crowd votes to score against too (evaluate --labels)
    corruptions: bool = False  # also the mean accuracy over edge_train.corruptions
    provider: str = "cpu"  # the execution provider of the ONNX rows (edge_runtime.providers)
    video: str | None = None
    video_frames: int | None = None
    video_passes: int = 2
    detector: str = DEFAULT_DETECTOR
    detector_model: Path | None = None
    detect_sizes: tuple[tuple[int, int], ...] = ()

    def describe(self) -> dict:
        d = asdict(self)
        d["models"] = {m.name: {k: str(p) for k, p in m.files.items()} for m in self.models}
        for k in ("data", "detector_model"):
            d[k] = None if d[k] is None else str(d[k])
        return portable(d)


@dataclass
class BenchResult:
    """A finished run: the system block, the settings, one dict per row, and notes."""

    system: dict
    config: dict
    rows: list[dict]
    notes: list[str] = field(default_factory=list)
    detectors: list[dict] = field(default_factory=list)
    #: Raspberry Pi 4 and 5 estimates (`arm_estimate`): {"basis": ..., "rows": [...]}, or {}
    arm: dict = field(default_factory=dict)

    def latency_rows(self) -> list[dict]:
        return [r for r in self.rows if r["kind"] == "latency"]

    def video_rows(self) -> list[dict]:
        return [r for r in self.rows if r["kind"] == "video"]


def _plan(cfg: BenchConfig, note: Callable[[str], None]) -> list[tuple[ModelFiles, str, int]]:
    """(model, row format, threads) for every runner to load."""
    plan = []
    tf_ok: bool | None = None
    for m in cfg.models:
        before = len(plan)
        if "keras" in cfg.formats and "keras" in m.files:
            tf_ok = tensorflow_available() if tf_ok is None else tf_ok
            if tf_ok:
                # TensorFlow's threads are fixed once its runtime starts: first --threads only
                plan += [(m, fmt, cfg.threads[0]) for fmt in KERAS_ROWS]
            else:
                note(f"{m.name}: keras rows skipped, TensorFlow is not installed")
        for fmt in ("fp32", "onnx", "int8"):
            if fmt in m.files and (fmt == "onnx" or fmt in cfg.formats):
                plan += [(m, fmt, t) for t in cfg.threads]
        if "tflite" in m.files:
            tf_ok = tensorflow_available() if tf_ok is None else tf_ok
            if tf_ok:
                plan += [(m, "tflite", t) for t in cfg.threads]
            else:
                note(f"{m.name}: tflite rows skipped, TensorFlow is not installed")
        if len(plan) == before:
            note(
                f"{m.name}: no file in the formats asked for ({', '.join(cfg.formats)}); "
                f"it has {', '.join(m.files) or 'none'}"
            )
    if not plan:
        raise BenchError("nothing to benchmark: no model file in the formats asked for")
    return plan


def _load_split(cfg: BenchConfig):
    """The scored split of --data (PrivateTest, else test, else all unless --split)."""
    from edge_train.data import DataError, load

    try:
        ds = load(cfg.data)
        split = cfg.split or ds.report_split()
        return ds.split(split), split
    except DataError as e:
        raise BenchError(str(e)) from None


def _faces(n: int, part) -> np.ndarray:
    if part is not None and len(part) >= n:
        return np.ascontiguousarray(part.images[:n])
    return np.random.default_rng(0).integers(0, 256, (n, FACE_SIZE, FACE_SIZE), np.uint8)


def _accuracy(
    runners: dict,
    cfg: BenchConfig,
    part,
    split: str,
    progress: Progress,
    note: Callable[[str], None],
) -> dict[tuple[str, str], dict]:
    """Accuracy and macro-F1 per (model, format) on the split, over each model's classes the
    data has; with the leaked list beside the data, accuracy without those images; with
    `cfg.labels`, the votes' majority accuracy and macro-F1 and the clear-expression accuracy."""
    from edge_train.data import DataError
    from edge_train.votes import truths

    out: dict[tuple[str, str], dict] = {}
    for (model, fmt, _t), r in runners.items():
        if (model, fmt) in out:
            continue
        key = "keras-call" if fmt == "keras-predict" else fmt  # same math: score once
        if (model, key) in out:
            out[(model, fmt)] = out[(model, key)]
            continue
        progress.update(f"accuracy {model} {fmt}")
        try:
            truth = truths(part, tuple(r.labels), cfg.labels, Path(cfg.data), None)
        except DataError as e:
            raise BenchError(str(e)) from None
        if not (truth.fer2013 >= 0).any():
            note(f"{model} {fmt}: no accuracy (none of its classes is in {cfg.data})")
            out[(model, fmt)] = {}
            continue
        fig = truth.figures(r.proba(part.images).argmax(1))
        own = fig["fer2013"]
        if cfg.corruptions:
            from edge_train.corruptions import robustness

            rob = robustness(lambda x, r=r: r.proba(x).argmax(1), part.images, truth.figures)
            mean = rob["mean"]
            out_extra = {
                "corrupted_accuracy": mean["fer2013"],
                "ferplus_corrupted_accuracy": mean.get("ferplus_majority"),
                "corruptions": rob,
            }
        else:
            out_extra = {}
        out[(model, fmt)] = {
            "accuracy": own["accuracy"],
            "macro_f1": own["macro_f1"],
            "eval_n": own["n"],
            "eval_split": split,
            "accuracy_without_leaked": own.get("without_leaked", {}).get("accuracy"),
        }
        if "ferplus_majority" in fig:
            major, clear = fig["ferplus_majority"], fig["ferplus_clear"]
            out[(model, fmt)].update(
                ferplus_accuracy=major["accuracy"],
                ferplus_macro_f1=major["macro_f1"],
                ferplus_without_leaked=major.get("without_leaked", {}).get("accuracy"),
                clear_accuracy=clear["accuracy"],
            )
        out[(model, fmt)].update(out_extra)
    return out


def _row_base(
    r: Runner | None, model: str, fmt: str, path: Path, threads: int, bundled: bool
) -> dict:
    return {
        "model": model,
        "format": fmt,
        "threads": threads,
        "path": portable_path(path),
        "bundled": bundled,
        "size_bytes": path.stat().st_size,
        "sha256": file_sha256(path),
        "labels": None if r is None else list(r.labels),
        "provider": getattr(r, "provider", None),
        "macs": getattr(r, "macs", None),
        "isa_class": isa_class(),
        "load_ms": None if r is None else r.load_ms,
        "load_rss_mb": None if r is None else r.load_rss_mb,
    }


def _video_rows(cfg: BenchConfig, progress: Progress, note: Callable[[str], None]) -> list[dict]:
    """End-to-end pipeline on the video per model (its int8 file, else fp32): default
    settings and detection on every frame, in alternating passes after a short warm-up."""
    import cv2

    from edge_runtime.classifier import EmotionClassifier
    from edge_runtime.detect import DetectorError
    from edge_runtime.recognizer import EmotionRecognizer, RecognizerOptions
    from edge_runtime.stream_sources import SourceError

    threads = cfg.threads[0]
    cv2.setNumThreads(threads)
    rows = []
    for m in cfg.models:
        fmt = next((f for f in ("int8", "fp32", "onnx") if f in m.files), None)
        if fmt is None:
            note(f"{m.name}: no video row (the pipeline runs ONNX files only)")
            continue
        clf = EmotionClassifier(m.files[fmt], threads=threads, provider=cfg.provider)
        recs = {}
        for name, every in VIDEO_SETTINGS:
            opts = RecognizerOptions() if every is None else RecognizerOptions(detect_every=every)
            try:
                recs[name] = EmotionRecognizer(
                    clf, cfg.detector, cfg.detector_model, threads=threads, options=opts
                )
            except DetectorError as e:
                raise BenchError(str(e)) from None
        frame_ms: dict[str, list[float]] = {k: [] for k in recs}
        totals = {
            k: {"frames": 0, "faces": 0, "seconds": 0.0, "full": 0, "stages": {}} for k in recs
        }
        for p in range(cfg.video_passes + 1):  # pass 0: warm-up, 10 frames, discarded
            for name, rec in recs.items():
                progress.update(f"video {m.name} {name}")
                limit = 10 if p == 0 else cfg.video_frames
                stream = rec.stream(cfg.video, max_frames=limit)
                try:
                    results = list(stream)
                except SourceError as e:
                    raise BenchError(str(e)) from None
                if p == 0:
                    continue
                s, t = stream.stats, totals[name]
                t["frames"] += s.frames
                t["faces"] += s.faces
                t["seconds"] += s.seconds
                t["full"] += s.full_detections
                for k, v in s.stage_total_ms.items():
                    t["stages"][k] = t["stages"].get(k, 0.0) + v
                frame_ms[name] += [sum(r.stage_ms.values()) for r in results]
        for name, _every in VIDEO_SETTINGS:
            t, n = totals[name], max(totals[name]["frames"], 1)
            if not frame_ms[name]:
                raise BenchError(f"{cfg.video}: no frames could be read")
            ms = np.asarray(frame_ms[name])
            fps = t["frames"] / t["seconds"] if t["seconds"] > 0 else 0.0
            row = _row_base(None, m.name, fmt, m.files[fmt], threads, m.bundled)
            row.update(
                provider=clf.provider.name,
                labels=list(clf.labels),
                kind="video",
                batch=1,
                setting=name,
                detect_every=recs[name].options.detect_every,
                video=str(cfg.video),
                passes=cfg.video_passes,
                frames=t["frames"] // max(cfg.video_passes, 1),
                faces_per_frame=t["faces"] / n,
                full_detection_share=t["full"] / n,
                fps=fps,
                throughput=fps,
                load_ms=clf.load_ms,
                p50_ms=float(np.median(ms)),
                p90_ms=float(np.percentile(ms, 90)),
                p95_ms=float(np.percentile(ms, 95)),
                p99_ms=float(np.percentile(ms, 99)),
                min_ms=float(ms.min()),
                mean_ms=float(ms.mean()),
                stage_ms={k: v / n for k, v in t["stages"].items()},
                peak_rss_mb=peak_rss_mb(),
            )
            rows.append(row)
    return rows


def _note_flip_tta(runners: dict, note: Callable[[str], None]) -> None:
    """Say where a model's Keras and ONNX rows are not the same computation."""
    keras_models = {m for (m, fmt, _t) in runners if fmt in KERAS_ROWS}
    for (model, fmt, _t), r in runners.items():
        if model in keras_models and fmt not in KERAS_ROWS and r.clf.info.card.get("flip_tta"):
            note(
                f"{model}: its ONNX files average each face with its mirror image inside the "
                "graph (two passes); its Keras rows run the trained network once, so their "
                "accuracy and latency are not the same computation"
            )
            keras_models.discard(model)


def run_bench(
    cfg: BenchConfig, show_progress: bool = False, on_note: Callable[[str], None] | None = None
) -> BenchResult:
    """Measure everything `cfg` asks for. BenchError for a bad input, before the long part."""
    notes: list[str] = []

    def note(msg: str) -> None:
        notes.append(msg)
        if on_note is not None:
            on_note(msg)

    system = system_info()
    try:
        system["onnxruntime"]["provider"] = resolve_provider(cfg.provider).name
    except ProviderError as e:
        raise BenchError(str(e)) from None
    part, split = _load_split(cfg) if cfg.data is not None else (None, None)
    plan = _plan(cfg, note)
    if any(fmt in (*KERAS_ROWS, "tflite") for _, fmt, _ in plan):
        from edge_train.bench_keras import KerasRunner, TfliteRunner, set_tensorflow_threads

        system["tensorflow_threads"] = set_tensorflow_threads(cfg.threads[0])
    rounds = max(1, min(cfg.rounds, cfg.runs))
    n_video = len(cfg.models) * len(VIDEO_SETTINGS) * (cfg.video_passes + 1) if cfg.video else 0
    n_acc = len({(m.name, f) for m, f, _ in plan}) if part is not None else 0
    n_detect = len(TIMED) * len(cfg.detect_sizes) * 6
    progress = Progress(
        len(plan) + n_acc + n_video + len(plan) * len(cfg.batches) * (rounds + 1) + n_detect,
        enabled=show_progress,
    )
    try:
        runners: dict[tuple[str, str, int], Runner] = {}
        keras_cache: dict = {}
        first_onnx = next(
            (m.files[f] for m, f, _ in plan if f not in (*KERAS_ROWS, "tflite")), None
        )
        if first_onnx is not None:  # onnxruntime's one-time start-up is no model's load time
            OnnxRunner("warm-up", "onnx", first_onnx, 1, cfg.provider)
        for m, fmt, t in plan:
            progress.update(f"load {m.name} {fmt} t{t}")
            if fmt in KERAS_ROWS:
                runners[(m.name, fmt, t)] = KerasRunner(
                    m.name, m.files["keras"], fmt.split("-")[1], t, keras_cache
                )
            elif fmt == "tflite":
                runners[(m.name, fmt, t)] = TfliteRunner(m.name, m.files[fmt], t)
            else:
                runners[(m.name, fmt, t)] = OnnxRunner(m.name, fmt, m.files[fmt], t, cfg.provider)
        _note_flip_tta(runners, note)
        acc = _accuracy(runners, cfg, part, split, progress, note) if part is not None else {}
        rows = _video_rows(cfg, progress, note) if cfg.video else []
        detectors = (
            detector_rows(
                cfg.detect_sizes,
                cfg.threads[0],
                runs=max(10, cfg.runs // 4),
                warmup=max(1, cfg.warmup // 4),
                yunet_model=cfg.detector_model,
                on_block=progress.update,
            )
            if cfg.detect_sizes
            else []
        )

        variants, keys = {}, {}
        for (model, fmt, t), r in runners.items():
            for b in cfg.batches:
                label = f"{model} {fmt} threads={t} batch={b}"
                variants[label] = r.timed_call(_faces(b, part))
                keys[label] = (model, fmt, t, b)
        one_one = 1 in cfg.threads and 1 in cfg.batches
        anchor = "YuNet 320x320 (Pi anchor)" if one_one and arm_estimate.estimable_here() else None
        if anchor:
            import cv2

            cv2.setNumThreads(1)  # as the published Pi 4 timing
            variants[anchor] = arm_estimate.anchor_call(cfg.detector_model)
        timings = interleaved(
            variants, runs=cfg.runs, warmup=cfg.warmup, rounds=rounds, on_block=progress.update
        )
    finally:
        progress.close()
    peak = peak_rss_mb()
    bundled = {m.name: m.bundled for m in cfg.models}
    anchor_ms = timings.pop(anchor)["p50_ms"] if anchor else None
    latency = []
    for label, st in timings.items():
        model, fmt, t, b = keys[label]
        r = runners[(model, fmt, t)]
        row = _row_base(r, model, fmt, r.path, t, bundled[model])
        row.update(kind="latency", batch=b, **st)
        row.update(
            p50_per_face_ms=st["p50_ms"] / b,
            throughput=b * 1000.0 / st["p50_ms"] if st["p50_ms"] > 0 else 0.0,
            peak_rss_mb=peak,
            accuracy=None,
            macro_f1=None,
            eval_n=None,
            eval_split=None,
            accuracy_without_leaked=None,
            ferplus_accuracy=None,
            ferplus_macro_f1=None,
            ferplus_without_leaked=None,
            clear_accuracy=None,
            corrupted_accuracy=None,
            ferplus_corrupted_accuracy=None,
        )
        row.update(acc.get((model, fmt), {}))
        latency.append(row)
    base = {
        (r["model"], r["threads"], r["batch"]): r["p50_ms"]
        for r in latency
        if r["format"] == "fp32"
    }
    for r in latency:
        b = base.get((r["model"], r["threads"], r["batch"]))
        r["speedup_vs_fp32"] = b / r["p50_ms"] if b and r["p50_ms"] > 0 else None
    system["load_average_end"] = load_average()
    arm = (
        {
            "basis": arm_estimate.summary(anchor_ms),
            "rows": arm_estimate.estimates(latency, anchor_ms),
        }
        if anchor_ms
        else {}
    )
    return BenchResult(system, cfg.describe(), latency + rows, notes, detectors, arm)
