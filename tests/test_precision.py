"""--precision auto|int8|fp32: the CPU's class from its flags, and the file each choice runs."""

from __future__ import annotations

import json
import os
import shutil

import onnxruntime as ort
import pytest
from conftest import build_tiny_onnx_model
from typer.testing import CliRunner

import edge_runtime.classifier as classifier
import edge_runtime.cpu as cpu
import edge_runtime.measured as measured
from edge_runtime.cli import app
from edge_runtime.model_info import ModelError

X86_AVX2 = ["avx2", "fma"]
X86_VNNI = ["avx2", "fma", "avx512f", "avx512_vnni"]
PI4 = ["asimd"]  # Cortex-A72: NEON, no dot product
PI5 = ["asimd", "asimddp"]  # Cortex-A76


@pytest.mark.parametrize(
    "flags, isa, dot",
    [
        (X86_AVX2, "avx2", False),
        (X86_VNNI, "avx512-vnni", True),
        (["avx2", "avx_vnni"], "avx-vnni", True),
        (["avx2", "avx512_vnni", "amx_tile", "amx_int8"], "amx", True),
        (PI4, "neon", False),
        (PI5, "neon-dotprod", True),
        (["asimd", "asimddp", "i8mm"], "neon-i8mm", True),
        ([], "other", False),
    ],
)
def test_isa_class_and_int8_dot_products(flags, isa, dot):
    assert cpu.isa_class(flags) == isa
    assert cpu.int8_dot_products(flags) is dot


def test_cpuinfo_of_a_pi4_and_a_pi5_gives_their_class():
    a72 = "processor\t: 0\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU part\t: 0xd08\n"
    a76 = "processor\t: 0\nFeatures\t: fp asimd asimddp cpuid\nCPU part\t: 0xd0b\n"
    assert cpu.cpu_info(a72)["isa_class"] == "neon"
    assert cpu.cpu_info(a76)["isa_class"] == "neon-dotprod"


@pytest.mark.parametrize(
    "flags, want",
    [
        (X86_AVX2, "fp32"),
        (X86_VNNI, "int8"),
        (PI4, "fp32"),
        (PI5, "int8"),
    ],
)
def test_auto_takes_int8_only_with_int8_dot_products(flags, want):
    got, why = classifier.choose_precision("auto", ("int8", "fp32"), flags)
    assert got == want and "int8 dot-product" in why


def test_a_card_timed_on_this_very_cpu_decides_over_the_cpus_class():
    """int8 where the card measured it faster on this CPU; fp32 where it measured int8 no
    faster (within MEASURED_GAIN), even on a CPU with int8 dot products: same speed, and fp32
    is never the less accurate. A card timed on another CPU leaves the class to decide."""
    timed = {"cpu": {"model": "x", "flags": list(X86_VNNI)}, "int8_ms": 0.152, "fp32_ms": 0.153}
    got, why = classifier.choose_precision("auto", ("int8", "fp32"), X86_VNNI, [timed])
    assert got == "fp32" and "measured no faster on this CPU" in why and "0.152 ms" in why
    faster = {**timed, "int8_ms": 0.153 * (1 - classifier.MEASURED_GAIN) - 0.001}
    assert classifier.choose_precision("auto", ("int8", "fp32"), X86_VNNI, [faster])[0] == "int8"
    assert classifier.choose_precision("auto", ("int8", "fp32"), PI5, [timed])[0] == "int8"


def test_auto_also_takes_int8_where_it_was_measured_faster_on_this_very_cpu():
    faster = {"cpu": {"model": "x", "flags": list(X86_AVX2)}, "int8_ms": 1.0, "fp32_ms": 1.2}
    got, why = classifier.choose_precision("auto", ("int8", "fp32"), X86_AVX2, [faster])
    assert got == "int8" and "measured faster on this CPU" in why and "1.000 ms" in why
    slower = {**faster, "int8_ms": 1.5}
    assert classifier.choose_precision("auto", ("int8", "fp32"), X86_AVX2, [slower])[0] == "fp32"
    elsewhere = {**faster, "cpu": {"model": "x", "flags": list(X86_VNNI)}}  # another CPU
    assert classifier.choose_precision("auto", ("int8", "fp32"), X86_AVX2, [elsewhere])[0] == (
        "fp32"
    )
    card = {
        "quantization": {
            "cpu": faster["cpu"],
            "chosen": "QDQ/MinMax",
            "fp32_p50_ms": 1.2,
            "candidates": [{"candidate": "QDQ/MinMax", "p50_ms": 1.0}],
        }
    }
    assert classifier.export_timing(card) == faster
    assert classifier.export_timing({"quantization": {"chosen": "x"}}) is None  # older cards


def test_one_shipped_precision_and_explicit_choices():
    assert classifier.choose_precision("auto", ("int8",), X86_AVX2) == (
        "int8",
        "the only precision shipped",
    )
    assert classifier.choose_precision("fp32", ("int8", "fp32"), X86_VNNI)[0] == "fp32"
    with pytest.raises(ModelError, match="no fp32 file"):
        classifier.choose_precision("fp32", ("int8",))
    with pytest.raises(ModelError, match="unknown precision 'fp16'"):
        classifier.choose_precision("fp16", ("int8", "fp32"))


@pytest.fixture
def both_precisions(tmp_path, monkeypatch):
    """A models folder holding `tiny` in int8 and fp32, installed as the bundled models."""
    int8 = build_tiny_onnx_model(tmp_path / "tiny.int8.onnx")
    shutil.copy(int8, tmp_path / "tiny.fp32.onnx")
    monkeypatch.setattr(classifier, "MODELS_DIR", tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    "flags, want", [(X86_AVX2, "fp32"), (X86_VNNI, "int8"), (PI4, "fp32"), (PI5, "int8")]
)
def test_a_bundled_model_runs_the_file_auto_picks_for_the_cpu(
    both_precisions, monkeypatch, flags, want
):
    monkeypatch.setattr(cpu, "cpu_info", lambda cpuinfo=None: {"flags": flags})
    clf = classifier.EmotionClassifier("tiny")
    assert clf.precision == want and clf.path == both_precisions / f"tiny.{want}.onnx"
    forced = classifier.EmotionClassifier("tiny", precision="int8")
    assert forced.path == both_precisions / "tiny.int8.onnx"
    assert classifier.bundled_models() == {"tiny": both_precisions / "tiny.int8.onnx"}


def test_a_path_runs_as_given_whatever_the_precision(tiny_onnx_model):
    clf = classifier.EmotionClassifier(tiny_onnx_model, precision="fp32")
    assert clf.path == tiny_onnx_model and clf.precision_reason == "the file given"


def test_cli_precision_errors_are_one_line():
    res = CliRunner().invoke(app, ["predict", "--demo", "--precision", "fp16"])
    assert res.exit_code == 2 and "unknown precision 'fp16'" in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1
    if "fer7" in classifier.bundled_models() and "fp32" not in classifier.bundled_files("fer7"):
        res = CliRunner().invoke(app, ["predict", "--demo", "--precision", "fp32"])
        assert res.exit_code == 2 and "fer7: no fp32 file" in res.output, res.output


def test_models_says_what_auto_picks_here_and_why():
    res = CliRunner().invoke(app, ["models"])
    assert res.exit_code == 0, res.output
    assert f"class {cpu.isa_class()}" in res.output and "precision auto:" in res.output
    assert "MACs/face" in res.output.splitlines()[2]
    assert res.output.splitlines()[1].startswith("onnxruntime providers: ")
    reasons = res.output.split("precision auto:\n")[1].splitlines()
    named = [n for line in reasons for n in line.strip().split(": ", 1)[0].split(", ")]
    assert sorted(named) == sorted(classifier.bundled_models()), reasons


def test_the_card_beside_a_file_is_read_whatever_its_precision_and_garbage_is_no_card(tmp_path):
    (tmp_path / "m.card.json").write_text('{"macs_per_face": 5}')
    assert classifier.card_beside(tmp_path / "m.int8.onnx") == {"macs_per_face": 5}
    assert classifier.card_beside(tmp_path / "m.fp32.onnx") == {"macs_per_face": 5}
    assert classifier.card_beside(tmp_path / "other.onnx") == {}
    for garbage in ("[1, 2]", "not json"):
        (tmp_path / "m.card.json").write_text(garbage)
        assert classifier.card_beside(tmp_path / "m.onnx") == {}


def test_the_first_measurement_on_this_cpu_decides():
    here = {"cpu": {"model": "x", "flags": list(X86_AVX2)}, "where": "by `edge-fer models --time`"}
    slower, faster = (
        {**here, "int8_ms": 1.5, "fp32_ms": 1.2},
        {**here, "int8_ms": 1.0, "fp32_ms": 1.2},
    )
    elsewhere = {**faster, "cpu": {"model": "x", "flags": list(X86_VNNI)}}
    got, why = classifier.choose_precision("auto", ("int8", "fp32"), X86_AVX2, [slower, faster])
    assert got == "fp32" and "no faster on this CPU (avx2) by `edge-fer models --time`" in why
    timings = [elsewhere, faster, slower]
    assert classifier.choose_precision("auto", ("int8", "fp32"), X86_AVX2, timings)[0] == "int8"


def _record(path, **changes) -> None:
    data = json.loads(path.read_text())
    data["tiny"].update(changes)
    path.write_text(json.dumps(data))


def test_models_time_records_a_timing_here_that_auto_then_follows(
    both_precisions, precision_record
):
    res = CliRunner().invoke(app, ["models", "--time"])
    assert res.exit_code == 0, res.output
    assert f"recorded in {precision_record}" in res.output.splitlines()[0]
    entry = json.loads(precision_record.read_text())["tiny"]
    assert entry["cpu"] == cpu.cpu_info() and entry["int8_ms"] > 0 and entry["fp32_ms"] > 0
    assert "by `edge-fer models --time`" in res.output.split("precision auto:\n")[1]

    assert "median and range of the p50s of 5 interleaved measurements" in res.output
    _record(
        precision_record, int8_ms=1.0, fp32_ms=2.0, int8_spread=[0.9, 1.1], fp32_spread=[1.9, 2.1]
    )
    clf = classifier.EmotionClassifier("tiny")
    assert clf.precision == "int8" and "measured faster on this CPU" in clf.precision_reason
    # faster by its medians, but the measurements overlap: noise, so fp32, and it says so
    _record(
        precision_record, int8_ms=1.0, fp32_ms=1.1, int8_spread=[0.8, 1.3], fp32_spread=[1.0, 1.2]
    )
    clf = classifier.EmotionClassifier("tiny")
    assert clf.precision == "fp32" and "not beyond the spread" in clf.precision_reason
    _record(precision_record, int8_spread="wide")  # malformed: ignored with one line
    assert "models --time" not in classifier.EmotionClassifier("tiny").precision_reason
    _record(precision_record, int8_spread=[0.8, 1.3])
    _record(precision_record, int8_ms=2.0, fp32_ms=1.0)
    assert classifier.EmotionClassifier("tiny").precision == "fp32"
    assert classifier.EmotionClassifier("tiny", precision="int8").precision == "int8"

    _record(precision_record, onnxruntime="0.0.1")  # timed under another onnxruntime
    assert "models --time" not in classifier.EmotionClassifier("tiny").precision_reason
    _record(precision_record, onnxruntime=ort.__version__)
    assert "models --time" in classifier.EmotionClassifier("tiny").precision_reason
    # a new file (loadable: on a CPU without int8 dot products auto picks it): what was timed
    # no longer applies
    build_tiny_onnx_model(both_precisions / "tiny.fp32.onnx", face_margin=0.1)
    assert "models --time" not in classifier.EmotionClassifier("tiny").precision_reason
    precision_record.write_text("{not json")
    assert "models --time" not in classifier.EmotionClassifier("tiny").precision_reason


def test_models_time_where_it_cannot_record_is_one_line(
    both_precisions, precision_record, monkeypatch
):
    blocker = precision_record.parent / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(measured, "record_path", lambda: blocker / "precision.json")
    res = CliRunner().invoke(app, ["models", "--time"])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
    assert f"cannot record the timing in {blocker / 'precision.json'}" in res.output


@pytest.mark.parametrize(
    "cpu_field",
    [{"flags": None}, {"flags": 7}, {"flags": ["avx2", 3]}, ["avx2"], {"flags": [], "model": 5}],
)
def test_a_malformed_record_entry_is_ignored_with_one_line(
    both_precisions, precision_record, capsys, cpu_field
):
    res = CliRunner().invoke(app, ["models", "--time"])
    assert res.exit_code == 0, res.output
    _record(precision_record, cpu=cpu_field)
    measured._said.clear()
    clf = classifier.EmotionClassifier("tiny")
    assert "models --time" not in clf.precision_reason
    err = capsys.readouterr().err
    assert err.count("malformed") == 1 and "ignoring the timing" in err


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "huge", "list"])
def test_a_record_that_is_no_regular_json_file_is_ignored_without_hanging(
    both_precisions, precision_record, capsys, kind
):
    if kind == "dev-zero":
        precision_record.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(precision_record)
    elif kind == "huge":
        precision_record.write_text("{" + " " * (measured.MAX_RECORD_BYTES + 10) + "}")
    else:
        precision_record.write_text("[1, 2]")
    measured._said.clear()
    clf = classifier.EmotionClassifier("tiny")
    assert "models --time" not in clf.precision_reason
    assert "ignoring the timing" in capsys.readouterr().err
