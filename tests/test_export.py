"""`edge-fer export`: ONNX names, metadata, Transposes, int8 parity and size, failure modes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from train_fixtures import SHARED_ZIP, needs_training_stack, train_args, write_synthetic_zip
from typer.testing import CliRunner

from edge_runtime.classifier import EmotionClassifier
from edge_runtime.cli import app
from edge_runtime.model_info import ModelError
from edge_runtime.portable import portable_path


def _export(*args: str):
    return CliRunner().invoke(app, ["export", *args])


def test_graph_names_dynamic_batch_and_metadata(exported):
    import onnx

    fp32 = exported / "happy_sad.fp32.onnx"
    proto = onnx.load(str(fp32))
    (inp,), (out,) = proto.graph.input, proto.graph.output
    assert inp.name == "image" and out.name == "probabilities"
    dims = [d.dim_value or d.dim_param for d in inp.type.tensor_type.shape.dim]
    assert dims[1:] == [1, 48, 48] and isinstance(dims[0], str)  # dynamic batch, NCHW
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    for path in (fp32, exported / "happy_sad.int8.onnx"):
        clf = EmotionClassifier(path)
        assert clf.labels == ("happy", "sad") and clf.info.task == "happy_sad"
        assert clf.info.layout == "NCHW" and clf.info.pixel_scale == "raw_0_255"
        assert clf.info.card["arch"] == "poc" and "eval_accuracy" in clf.info.card
        faces = np.random.default_rng(0).integers(0, 256, (5, 48, 48), dtype=np.uint8)
        p5 = clf.predict_proba(faces)
        assert p5.shape == (5, 2)
        np.testing.assert_allclose(clf.predict_proba(faces[:1]), p5[:1], atol=1e-6)


def test_export_says_each_step_on_a_terminal_and_keeps_stdout_for_results(
    trained_run, synthetic_zip, tmp_path, monkeypatch
):
    monkeypatch.setattr("edge_runtime.terminal.is_terminal", lambda: True)
    res = _export(
        str(trained_run / "model.keras"),
        "--calibration",
        str(synthetic_zip),
        "--out",
        str(tmp_path),
        "--force",
    )
    assert res.exit_code == 0, res.output
    steps = [line for line in res.stderr.splitlines() if line.startswith("edge-fer: ")]
    for step in ("converting", "checking the fp32 ONNX", "quantizing to int8", "timing fp32"):
        assert any(line.startswith(f"edge-fer: {step}") for line in steps), res.stderr
    assert "edge-fer:" not in res.stdout


def test_card_records_what_min_confidence_does(exported, synthetic_zip):
    from edge_runtime.labels import task_probs
    from edge_train.data import load

    card = json.loads((exported / "happy_sad.card.json").read_text())
    block = card["min_confidence"]
    clf = EmotionClassifier(exported / f"happy_sad.{block['format']}.onnx")
    pub = load(synthetic_zip).split("PublicTest")
    names = np.array(pub.classes)[pub.labels]
    task = np.isin(names, ["happy", "sad"])
    probs = task_probs(clf.predict_proba(pub.images), clf.labels, ("happy", "sad"))
    top = probs.max(1).astype(np.float64)
    assert task.all()  # the synthetic set holds only happy and sad: no other faces to answer
    for row in block["rows"]:
        t = row["min_confidence"]
        assert row["answered"] == pytest.approx(np.mean(top >= t))
        assert row["other_faces"] == 0 and row["other_answered"] is None
    assert [r["min_confidence"] for r in block["rows"]] == [0.8, 0.9, 0.95]
    md = (exported / "happy_sad.md").read_text()
    assert "Answering only sure faces (`--min-confidence P`" in md
    assert "| 0.9 | " in md and "other classes" not in md


def test_card_records_parity_sizes_and_the_measured_choice(exported):
    card = json.loads((exported / "happy_sad.card.json").read_text())
    p = card["parity"]
    assert p["keras_fp32_max_abs_diff"] <= 1e-4 and p["keras_fp32_top1_identical"]
    assert p["int8_fp32_top1_agreement"] >= 0.98
    assert p["n"] == 60 * 2 and p["split"] == "PublicTest"
    files = card["files"]
    for fmt in ("fp32", "int8"):
        path = exported / files[fmt]["file"]
        assert path.stat().st_size == files[fmt]["bytes"]
    assert files["int8"]["bytes"] < files["fp32"]["bytes"]
    q = card["quantization"]
    assert q["calibration"]["split"] == "training" and q["calibration"]["images"] >= 290
    kept = [c for c in q["candidates"] if c["candidate"] == q["chosen"]]
    assert kept and kept[0]["p50_ms"] > 0
    # a 30k-parameter CNN's int8 is not faster than fp32 here: the card says it was forced
    if not kept[0]["passes"]:
        assert p["forced"] and not p["passed"]
    assert card["training"]["command"].startswith("edge-fer train")
    assert card["training"]["kept_epoch"] == card["training"]["best_epoch"] >= 1
    assert card["export_command"].startswith("edge-fer export")
    md = (exported / "happy_sad.md").read_text()
    assert "# Model card: `happy_sad`" in md and q["chosen"] in md
    assert not [p for p in exported.iterdir() if p.name.startswith(".")]  # no temp left


def test_int8_choice_is_the_fastest_unless_a_near_tie_is_more_accurate():
    from edge_export.quantize import TIME_TIE, choose

    def row(name, ms, acc, agree=0.99, passes=True):
        return {
            "candidate": name,
            "p50_ms": ms,
            "accuracy": acc,
            "agreement": agree,
            "passes": passes,
        }

    near = 2.0 * (1 + TIME_TIE / 2)
    assert choose([row("QDQ", 2.0, 0.93), row("QOp", near, 0.94)])["candidate"] == "QOp"
    assert (
        choose([row("QDQ", 2.0, 0.93), row("QOp", 2.0 * (1 + 2 * TIME_TIE), 0.94)])["candidate"]
        == "QDQ"
    )
    # a failing candidate is never kept over a passing one, however fast or accurate
    assert (
        choose([row("QDQ", 2.0, 0.93), row("QOp", 1.0, 0.95, passes=False)])["candidate"] == "QDQ"
    )
    # none passing: the fastest within the accuracy bounds (int8 no faster than fp32 here,
    # exported only with --force), else the one that agrees most with fp32
    slow_qdq = row("QDQ", 0.48, 0.9606, 0.9649, False) | {"accurate": True}
    same_qop = row("QOp", 0.149, 0.9595, 0.9646, False) | {"accurate": True}
    assert choose([slow_qdq, same_qop])["candidate"] == "QOp"
    assert (
        choose([row("QDQ", 2.0, 0.93, 0.90, False), row("QOp", 1.0, 0.95, 0.80, False)])[
            "candidate"
        ]
        == "QDQ"
    )
    # and where they agree alike and score alike, the faster (happy_sad-nano: 2.4x apart)
    tie = [row("QDQ", 0.854, 0.938, 0.9916, False), row("QOp", 0.276, 0.938, 0.9916, False)]
    assert choose(tie)["candidate"] == "QOp"


CV = {
    "folds": 5,
    "repeats": 2,
    "accuracy_mean": 0.9,
    "accuracy_std": 0.01,
    "macro_f1_mean": 0.89,
    "macro_f1_std": 0.01,
    "per_fold": [{"repeat": 1, "fold": 1, "n": 100, "accuracy": 0.9, "macro_f1": 0.89}],
}


def test_card_of_a_distilled_model_names_its_teacher_and_the_teachers_kfold(exported):
    from edge_export.card import render_markdown

    card = json.loads((exported / "happy_sad.card.json").read_text())
    assert "No k-fold estimate" in render_markdown(card)
    card["training"]["teacher"] = {
        "path": "runs/cv/model.keras",
        "command": "edge-fer train T",
        "cv": CV,
    }
    md = render_markdown(card)
    assert "No k-fold estimate" not in md
    assert "Distilled from `runs/cv/model.keras`, trained by `edge-fer train T`" in md
    assert "(5 folds x 2 repeats): accuracy 90.00% +- 1.00" in md
    onnx_teacher = {"path": "edge_runtime/models/fer7.int8.onnx", "command": None, "cv": None}
    md_onnx = render_markdown({**card, "training": {**card["training"], "teacher": onnx_teacher}})
    assert "`edge_runtime/models/fer7.int8.onnx`, an exported model (its own card" in md_onnx
    assert "None" not in md_onnx
    card["training"]["init"] = {
        "path": "runs/others/model.keras",
        "labels": ["angry", "fear"],
        "command": "edge-fer train B",
    }
    assert (
        "Fine-tuned from `runs/others/model.keras` (trained on angry, fear by `edge-fer train B`)"
    ) in render_markdown(card)


def test_ensemble_card_reports_the_kfold_of_any_member(exported):
    """The k-fold is not only the first member's: a later member that is a k-fold run, or was
    distilled from one, brings its k-fold into the card, named."""
    from edge_export.card import render_markdown

    card = json.loads((exported / "happy_sad.card.json").read_text())
    plain = {"model": "runs/a/model.keras", "command": "edge-fer train A", "config": {"arch": "a"}}
    cv_run = {"model": "runs/cv/model.keras", "command": "edge-fer train --cv 5", "cv": CV}
    card.update(networks=2, training=plain, members=[plain, cv_run])
    md = render_markdown(card)
    assert "No k-fold estimate" not in md and "(5 folds x 2 repeats): accuracy 90.00%" in md
    assert "`runs/cv/model.keras` comes from a k-fold run" in md
    student = {
        "model": "runs/s/model.keras",
        "command": "edge-fer train S",
        "teacher": {"path": "runs/cv", "command": "edge-fer train --cv 5", "cv": CV},
    }
    card["members"] = [plain, student]
    md = render_markdown(card)
    assert (
        "`runs/s/model.keras` was distilled from `runs/cv`, trained by `edge-fer train --cv "
        "5`: the k-fold below scores its fold models."
    ) in md
    card["members"] = [plain, plain]
    assert "No k-fold estimate" in render_markdown(card)


def test_committed_cards_are_their_json_rendered():
    """Each .md card in the repository is its .card.json rendered by today's renderer, so a
    change to the renderer cannot leave stale cards behind."""
    from edge_export.card import render_markdown

    root = Path(__file__).resolve().parents[1]
    cards = [
        p for d in ("edge_runtime/models", "benchmarks") for p in (root / d).rglob("*.card.json")
    ]
    assert len(cards) >= 2
    for card in cards:
        md = card.with_name(card.name.removesuffix(".card.json") + ".md")
        assert md.read_text() == render_markdown(json.loads(card.read_text())), f"{md} is stale"


def test_transposes_around_convolutions_are_gone():
    needs_training_stack()
    import keras
    from keras import layers

    from edge_export.to_onnx import count_ops, keras_to_onnx
    from edge_train.archs import build

    flat = keras_to_onnx(build("b", 7, augment=False))
    inputs = keras.Input((48, 48, 1), name="image")
    x = layers.Conv2D(8, 3, activation="relu")(inputs)
    x = layers.SeparableConv2D(8, 3)(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(7, activation="softmax", name="probabilities")(x)
    pooled = keras_to_onnx(keras.Model(inputs, outputs))
    assert count_ops(flat, "Conv") >= 6
    assert count_ops(flat, "Transpose") <= 1  # only before Flatten, on 4.6k values
    assert count_ops(pooled, "Transpose") == 0


def test_same_inputs_give_identical_files(trained_run, synthetic_zip, tmp_path, monkeypatch):
    """Everything but the timing is deterministic. The int8 candidate kept depends on which one
    ran fastest, which other load on the machine can change, so both exports get the same
    timings here."""
    from edge_export import pipeline
    from edge_runtime.timing import stats_ms

    def fixed_timings(variants, **_):
        return {name: stats_ms([1_000_000 + 1_000 * i] * 10) for i, name in enumerate(variants)}

    monkeypatch.setattr(pipeline, "interleaved", fixed_timings)
    for out in ("a", "b"):
        res = _export(
            str(trained_run / "model.keras"),
            "--calibration",
            str(synthetic_zip),
            "--out",
            str(tmp_path / out),
            "--force",
        )
        assert res.exit_code == 0, res.output
    for name in ("happy_sad.fp32.onnx", "happy_sad.int8.onnx"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_flip_tta_is_baked_into_the_graph(exported, trained_run, synthetic_zip, tmp_path):
    res = _export(
        str(trained_run / "model.keras"),
        "--calibration",
        str(synthetic_zip),
        "--out",
        str(tmp_path),
        "--force",
        "--tta",
    )
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "happy_sad.card.json").read_text())
    assert card["flip_tta"] and card["parity"]["keras_fp32_max_abs_diff"] <= 1e-4
    tta = EmotionClassifier(tmp_path / "happy_sad.fp32.onnx")
    plain = EmotionClassifier(exported / "happy_sad.fp32.onnx")
    faces = np.random.default_rng(1).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    expected = (plain.predict_proba(faces) + plain.predict_proba(faces[:, :, ::-1].copy())) / 2
    np.testing.assert_allclose(tta.predict_proba(faces), expected, atol=1e-5)


def test_smoothing_keeps_flat_images_flat_and_matches_in_numpy_and_tensorflow():
    needs_training_stack()
    from edge_export.smoothing import kernel, smooth, smooth_tf

    assert kernel(0.8).shape == (7, 7) and kernel(0.8).sum() == pytest.approx(1.0)
    flat = np.full((2, 48, 48), 200, np.uint8)
    np.testing.assert_allclose(smooth(flat, 0.8), 200.0, rtol=1e-5)  # borders keep brightness
    faces = np.random.default_rng(3).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    soft = smooth(faces, 0.8)
    assert soft.std() < faces.std() and np.array_equal(smooth(faces, 0.0), faces)
    tf_soft = np.asarray(smooth_tf(faces[..., None].astype(np.float32), 0.8))[..., 0]
    np.testing.assert_allclose(tf_soft, soft, atol=1e-3)


def test_smoothing_is_baked_into_the_graph(exported, trained_run, synthetic_zip, tmp_path):
    from edge_export.smoothing import smooth

    res = _export(
        str(trained_run / "model.keras"),
        "--calibration",
        str(synthetic_zip),
        "--out",
        str(tmp_path),
        "--force",
        "--smooth",
        "0.8",
    )
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "happy_sad.card.json").read_text())
    assert card["smooth_sigma"] == 0.8 and card["parity"]["keras_fp32_max_abs_diff"] <= 1e-4
    assert (
        "input smoothed in the graph (Gaussian, sigma 0.8 px)"
        in (tmp_path / "happy_sad.md").read_text()
    )
    smoothed = EmotionClassifier(tmp_path / "happy_sad.fp32.onnx")
    plain = EmotionClassifier(exported / "happy_sad.fp32.onnx")
    faces = np.random.default_rng(1).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    np.testing.assert_allclose(
        smoothed.predict_proba(faces), plain.predict_proba(smooth(faces, 0.8)), atol=1e-5
    )
    import onnx

    int8 = onnx.load(str(tmp_path / "happy_sad.int8.onnx")).graph
    fp32_weights = {
        t.name: tuple(t.dims) for t in int8.initializer if t.data_type == onnx.TensorProto.FLOAT
    }
    float_convs = [fp32_weights.get(n.input[1]) for n in int8.node if n.op_type == "Conv"]
    assert (1, 1, 7, 7) in float_convs, "the Gaussian (radius 3) stays a float Conv in int8"
    res = _export(
        str(trained_run / "model.keras"),
        "--calibration",
        str(synthetic_zip),
        "--out",
        str(tmp_path / "bad"),
        "--smooth",
        "-1",
    )
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_int8_missing_its_bounds_ships_fp32_alone_unless_required(
    trained_run, synthetic_zip, tmp_path
):
    args = [
        str(trained_run / "model.keras"),
        "--calibration",
        str(synthetic_zip),
        "--max-int8-drop",
        "-1",
    ]
    res = _export(*args, "--out", str(tmp_path / "required"), "--require-int8")
    assert res.exit_code == 2
    assert "int8 misses its bounds" in res.output and "agreement" in res.output
    assert list((tmp_path / "required").iterdir()) == []  # nothing half-written
    assert _export(*args, "--out", str(tmp_path / "alone"), "--force").exit_code == 0
    assert (tmp_path / "alone" / "happy_sad.int8.onnx").is_file()
    res = _export(*args, "--out", str(tmp_path / "alone"), "--overwrite")
    assert res.exit_code == 0, res.output
    assert "int8 not written, the fp32 model ships alone" in res.output
    written = sorted(p.name for p in (tmp_path / "alone").iterdir())
    assert written == ["happy_sad.card.json", "happy_sad.fp32.onnx", "happy_sad.md"]
    card = json.loads((tmp_path / "alone" / "happy_sad.card.json").read_text())
    assert set(card["files"]) == {"fp32"} and card["parity"]["int8_written"] is False
    assert "the fp32 model ships alone" in (tmp_path / "alone" / "happy_sad.md").read_text()
    EmotionClassifier(tmp_path / "alone" / "happy_sad.fp32.onnx")


def test_export_failure_modes(trained_run, synthetic_zip, exported, tmp_path):
    model = str(trained_run / "model.keras")
    cases = [
        ([str(tmp_path / "missing.keras"), "--calibration", str(synthetic_zip)], "no such file"),
        (
            [str(trained_run / "metrics.json"), "--calibration", str(synthetic_zip)],
            "not a .keras model",
        ),
        (
            [model, "--calibration", str(synthetic_zip), "--classes", "happy,fear"],
            "the model does not predict fear (it predicts happy, sad)",
        ),
        (
            [model, "--calibration", str(synthetic_zip), "--out", str(exported)],
            "exists; pass --overwrite",
        ),
    ]
    empty = tmp_path / "empty"
    (empty / "train" / "happy").mkdir(parents=True)
    (empty / "train" / "happy" / "a.jpg").write_bytes(b"broken")
    cases.append(
        ([model, "--calibration", str(empty), "--out", str(tmp_path / "o")], "no usable images")
    )
    fake = tmp_path / "fake.keras"
    fake.write_bytes(b"not a zip at all")
    cases.append(([str(fake), "--calibration", str(synthetic_zip)], "cannot load Keras model"))
    for args, message in cases:
        res = _export(*args)
        assert res.exit_code == 2, (args, res.output)
        assert message in res.output, (message, res.output)
        assert "Traceback" not in res.output


def test_several_models_export_as_the_mean_of_their_probabilities(
    trained_run, synthetic_zip, exported, tmp_path
):
    from edge_train.fit import predict
    from edge_train.run_dir import load_keras

    other = tmp_path / "other"
    res = CliRunner().invoke(
        app,
        train_args(str(synthetic_zip), "--seed", "1", "--out", str(other)),
    )
    assert res.exit_code == 0, res.output
    members = [trained_run / "model.keras", other / "model.keras"]
    res = _export(
        *map(str, members),
        "--calibration",
        str(synthetic_zip),
        "--out",
        str(tmp_path / "ens"),
        "--name",
        "ens",
        "--force",
    )
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "ens" / "ens.card.json").read_text())
    single = json.loads((exported / "happy_sad.card.json").read_text())
    assert card["arch"] == "poc+poc" and card["params"] == 2 * single["params"]
    # cards give paths as portable_path writes them (relative where the tree is shared)
    assert [m["model"] for m in card["members"]] == [portable_path(p) for p in members]
    assert card["members"][1]["config"]["seed"] == 1
    md = (tmp_path / "ens" / "ens.md").read_text()
    assert card["networks"] == 2 and "An ensemble of 2 networks from 2 training runs" in md
    assert md.count("- training: `edge-fer") == 2
    faces = np.random.default_rng(2).integers(0, 256, (6, 48, 48), dtype=np.uint8)
    expected = np.mean([predict(load_keras(p), faces) for p in members], axis=0)
    got = EmotionClassifier(tmp_path / "ens" / "ens.fp32.onnx").predict_proba(faces)
    np.testing.assert_allclose(got, expected, atol=1e-5)

    # members must answer the same labels, in the same order
    swapped = tmp_path / "swapped"
    swapped.mkdir()
    (swapped / "model.keras").write_bytes((other / "model.keras").read_bytes())
    metrics = json.loads((other / "metrics.json").read_text())
    (swapped / "metrics.json").write_text(json.dumps({**metrics, "labels": ["sad", "happy"]}))
    res = _export(
        str(members[0]),
        str(swapped / "model.keras"),
        "--calibration",
        str(synthetic_zip),
        "--out",
        str(tmp_path / "bad"),
        "--force",
    )
    assert res.exit_code == 2 and "models trained on the same labels" in res.output, res.output
    assert "Traceback" not in res.output


@pytest.mark.slow
def test_subset_of_a_kfold_run_answers_among_its_classes(tmp_path):
    """happy_sad from a 3-class k-fold run: 2 outputs summing to 1, the fold models re-scored
    on their held-out happy and sad images only."""
    needs_training_stack()
    data = write_synthetic_zip(tmp_path / "three.zip", classes=("happy", "sad", "neutral"))
    run = tmp_path / "cv"
    res = CliRunner().invoke(
        app,
        train_args(
            str(data),
            "--cv",
            "2",
            "--cv-final",
            "ensemble",
            "--out",
            str(run),
            classes="happy,sad,neutral",
        ),
    )
    assert res.exit_code == 0, res.output
    res = _export(
        str(run / "model.keras"),
        "--calibration",
        str(data),
        "--classes",
        "sad,happy",
        "--out",
        str(tmp_path / "m"),
        "--tta",
        "--force",
    )
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "m" / "sad_happy.card.json").read_text())
    assert card["labels"] == ["sad", "happy"]
    assert card["columns_of"] == ["happy", "sad", "neutral"]
    assert card["parity"]["keras_fp32_top1_identical"] and card["evaluation"]["fp32"]["n"] == 120
    cv = card["training"]["cv"]
    assert cv["scored_on"] == ["sad", "happy"] and cv["trained_on"] == card["columns_of"]
    assert sum(f["n"] for f in cv["per_fold"]) == 300  # each happy/sad training image once
    md = (tmp_path / "m" / "sad_happy.md").read_text()
    assert "scored on its held-out sad, happy images" in md
    assert card["networks"] == 2 and "An ensemble of 2 networks:" in md
    faces = np.random.default_rng(1).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    probs = EmotionClassifier(tmp_path / "m" / "sad_happy.fp32.onnx").predict_proba(faces)
    assert probs.shape == (4, 2) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)

    # a student distilled from the run's fold models carries their k-fold, scored the same way
    res = CliRunner().invoke(
        app,
        train_args(
            str(data),
            "--teacher",
            str(run),
            "--out",
            str(tmp_path / "student"),
            classes="happy,sad,neutral",
        ),
    )
    assert res.exit_code == 0, res.output
    res = _export(
        str(tmp_path / "student" / "model.keras"),
        "--calibration",
        str(data),
        "--classes",
        "sad,happy",
        "--out",
        str(tmp_path / "s"),
        "--force",
    )
    assert res.exit_code == 0, res.output
    student = json.loads((tmp_path / "s" / "sad_happy.card.json").read_text())
    assert student["training"]["teacher"]["cv"] == cv

    # --kfold: a model fine-tuned from a plain run of the k-fold's recipe carries that k-fold,
    # scored the same way and named as the recipe's; a run of another recipe is refused
    train = train_args(str(data), classes="happy,sad,neutral")
    plain, tuned = tmp_path / "plain" / "model.keras", tmp_path / "tuned" / "model.keras"
    res = CliRunner().invoke(app, [*train, "--out", str(plain.parent)])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(
        app, [*train, "--init", str(plain), "--lr", "0.0003", "--out", str(tuned.parent)]
    )
    assert res.exit_code == 0, res.output
    kfold = ["--calibration", str(data), "--classes", "sad,happy", "--kfold", str(run), "--force"]
    res = _export(str(tuned), *kfold, "--out", str(tmp_path / "k"))
    assert res.exit_code == 0, res.output
    recipe = json.loads((tmp_path / "k" / "sad_happy.card.json").read_text())["recipe_kfold"]
    assert recipe["cv"] == cv and recipe["command"].startswith("edge-fer train")
    assert (recipe["recipe_of"], recipe["start_of"]) == (portable_path(plain), portable_path(tuned))
    md = (tmp_path / "k" / "sad_happy.md").read_text()
    assert f"recipe that trained `{portable_path(plain)}`, the start of" in md
    assert "No k-fold estimate" not in md
    res = _export(str(tmp_path / "student" / "model.keras"), *kfold, "--out", str(tmp_path / "x"))
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert f"--kfold {run}: the recipe of `edge-fer train" in res.output
    assert "trained none of the models exported" in res.output


def test_lambda_model_is_refused(tmp_path, synthetic_zip):
    needs_training_stack()
    import keras

    inputs = keras.Input((48, 48, 1))
    x = keras.layers.Lambda(lambda t: t / 255.0)(inputs)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    model.save(tmp_path / "lambda.keras")
    res = _export(
        str(tmp_path / "lambda.keras"),
        "--calibration",
        str(synthetic_zip),
        "--classes",
        "happy,sad",
        "--out",
        str(tmp_path / "o"),
    )
    assert res.exit_code == 2
    assert "unsafe deserialisation" in res.output


def test_model_without_metadata_is_refused(tmp_path):
    needs_training_stack()
    from edge_export.to_onnx import keras_to_onnx
    from edge_train.archs import build

    path = tmp_path / "plain.onnx"
    path.write_bytes(keras_to_onnx(build("poc", 2, augment=False)).SerializeToString())
    with pytest.raises(ModelError, match="not an edge-fer model"):
        EmotionClassifier(path)


def test_evaluate_onnx_without_tensorflow(exported, synthetic_zip):
    code = (
        "import sys, json\n"
        "from typer.testing import CliRunner\n"
        "from edge_runtime.cli import app\n"
        "r = CliRunner().invoke(app, ['evaluate', '--model', "
        f"{str(exported / 'happy_sad.int8.onnx')!r},"
        f" '--data', {str(synthetic_zip)!r}, '--split', 'PublicTest', '--json'])\n"
        "assert r.exit_code == 0, r.output\n"
        "rep = json.loads(r.output.strip().splitlines()[-1])\n"
        "print(json.dumps({'acc': rep['accuracy'], 'n': rep['n'],"
        " 'tf': [m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules]}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, timeout=300
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["tf"] == [] and got["n"] == 120
    card = json.loads((exported / "happy_sad.card.json").read_text())
    assert got["acc"] == pytest.approx(card["evaluation"]["int8"]["accuracy"])


def test_inspect_and_models(exported):
    res = CliRunner().invoke(app, ["inspect", str(exported / "happy_sad.int8.onnx")])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["labels"] == ["happy", "sad"] and d["card"]["format"] == "int8"
    assert (
        d["card"]["macs"]
        == json.loads((exported / "happy_sad.card.json").read_text())["macs_per_face"]
        > 0
    )
    res = CliRunner().invoke(app, ["models"])
    assert res.exit_code == 0 and "MACs/face" in res.output, res.output
    res = CliRunner().invoke(app, ["inspect", str(exported / "nope.onnx")])
    assert res.exit_code == 2 and "not found" in res.output


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.skipif(not SHARED_ZIP.is_file(), reason="../shared/datasets/fer2013.zip not present")
def test_export_end_to_end_on_fer2013(tmp_path):
    needs_training_stack()
    run = tmp_path / "run"
    res = CliRunner().invoke(
        app,
        train_args(str(SHARED_ZIP), "--out", str(run), arch="a"),
    )
    assert res.exit_code == 0, res.output
    res = _export(
        str(run / "model.keras"),
        "--calibration",
        str(SHARED_ZIP),
        "--out",
        str(tmp_path / "m"),
        "--force",
    )
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "m" / "happy_sad.card.json").read_text())
    assert card["parity"]["n"] >= 1000 and card["parity"]["keras_fp32_top1_identical"]
    assert card["quantization"]["calibration"]["images"] >= 500
    assert card["final_report"]["split"] == "PrivateTest"
    assert card["final_report"]["int8"]["n"] == 1774 + 1247 - 1548  # happy+sad PrivateTest


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([str(Path(__file__))]))


def _separable_graph(path: Path) -> Path:
    """image [N,1,16,16] 0..255 -> x/255 -> 3x3 conv, 4 filters (reads the image) -> ReLU ->
    3x3 depthwise -> ReLU -> 1x1 conv, 8 filters -> global average pool -> output."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = {
        "scale": np.array(1 / 255, np.float32),
        "w_image": rng.standard_normal((4, 1, 3, 3)).astype(np.float32),
        "w_dw": rng.standard_normal((4, 1, 3, 3)).astype(np.float32),
        "w_pw": rng.standard_normal((8, 4, 1, 1)).astype(np.float32),
    }
    nodes = [
        helper.make_node("Mul", ["image", "scale"], ["scaled"]),
        helper.make_node("Conv", ["scaled", "w_image"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w_dw"], ["c2"], pads=[1, 1, 1, 1], group=4),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Conv", ["r2", "w_pw"], ["c3"]),
        helper.make_node("GlobalAveragePool", ["c3"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes,
        "separable",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 16, 16])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 8, 1, 1])],
        [numpy_helper.from_array(v, k) for k, v in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("fmt", ["QOperator", "QDQ"])
def test_depthwise_and_image_conv_weights_keep_8_bits_and_the_image_conv_input_7(tmp_path, fmt):
    """Other weights use 7 bits (no u8s8 pair overflow on AVX2 without VNNI); depthwise
    kernels widen to 16 bits, and the conv reading the image gets an input in 0..127, so
    theirs keep all 8 bits."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    from edge_export.quantize import Candidate, full_range_overrides, preprocess, quantize

    pre = tmp_path / "pre.onnx"
    preprocess(_separable_graph(tmp_path / "fp32.onnx"), pre)
    calib = np.random.default_rng(1).integers(0, 256, (100, 1, 16, 16)).astype(np.float32)
    q = tmp_path / "int8.onnx"
    overrides = full_range_overrides(pre, calib)
    assert sum("reduce_range" in o[0] for o in overrides.values()) == 2
    quantize(pre, q, calib, Candidate(fmt, "MinMax"), overrides)
    model = onnx.load(str(q))
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}

    def peak(prefix: str) -> int:
        [name] = [k for k in init if k.startswith(prefix) and init[k].ndim == 4]
        return int(np.abs(init[name].astype(int)).max())

    assert peak("w_image") == 127 and peak("w_dw") == 127
    assert peak("w_pw") <= 64
    # the image conv's input: 0..1 scaled into the lower half of the 8-bit range
    scale = next(v for k, v in init.items() if k.startswith("scaled") and k.endswith("_scale"))
    assert float(scale) == pytest.approx(2.0 / 255, rel=0.02)


def test_export_labels_put_crowd_figures_on_the_card(trained_run, synthetic_zip, tmp_path):
    needs_training_stack()
    from train_fixtures import write_votes

    votes = write_votes(synthetic_zip, tmp_path / "votes.csv")
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app,
        [
            "export",
            str(trained_run / "model.keras"),
            "--calibration",
            str(synthetic_zip),
            "--out",
            str(out),
            "--force",
            "--labels",
            str(votes),
            "--name",
            "voted",
        ],
    )
    assert res.exit_code == 0, res.output
    card = json.loads((out / "voted.card.json").read_text())
    crowd = card["crowd"]
    assert crowd["votes"] == str(votes) and set(crowd["PrivateTest"]) == {"fp32", "int8"}
    res = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--model",
            str(out / "voted.fp32.onnx"),
            "--data",
            str(synthetic_zip),
            "--labels",
            str(votes),
            "--json",
        ],
    )
    figures = json.loads(res.output.strip().splitlines()[-1])["figures"]
    for truth in ("fer2013", "ferplus_majority", "ferplus_clear"):
        assert crowd["PrivateTest"]["fp32"][truth]["accuracy"] == pytest.approx(
            figures[truth]["accuracy"]
        )
    assert "Against" in (out / "voted.md").read_text()
    embedded = EmotionClassifier(out / "voted.fp32.onnx").info.card  # what `models` lists
    assert embedded["private_ferplus_accuracy"] == pytest.approx(
        crowd["PrivateTest"]["fp32"]["ferplus_majority"]["accuracy"]
    )
    res = CliRunner().invoke(
        app,
        [
            "export",
            str(trained_run / "model.keras"),
            "--calibration",
            str(synthetic_zip),
            "--out",
            str(out),
            "--labels",
            "ferplus",
        ],
    )
    assert res.exit_code == 2 and "no ferplus.csv" in res.output


def test_contrast_stretch_matches_in_numpy_and_tensorflow():
    needs_training_stack()
    from edge_export.contrast import stretch, stretch_tf

    rng = np.random.default_rng(2)
    dim = (rng.integers(0, 60, (3, 48, 48)) + 20).astype(np.uint8)
    out = stretch(dim)
    assert np.allclose(out.min(axis=(1, 2)), 0) and np.allclose(out.max(axis=(1, 2)), 255)
    np.testing.assert_allclose(stretch(np.full((1, 48, 48), 90, np.uint8)), 0.0)  # flat: no range
    tf_out = np.asarray(stretch_tf(dim[..., None].astype(np.float32)))[..., 0]
    np.testing.assert_allclose(tf_out, out, atol=1e-3)


def test_contrast_stretch_is_baked_into_the_graph_and_rebuilds(
    exported, trained_run, synthetic_zip, tmp_path
):
    from edge_export.contrast import stretch
    from edge_export.from_onnx import rebuild

    res = _export(
        str(trained_run / "model.keras"),
        "--calibration",
        str(synthetic_zip),
        "--out",
        str(tmp_path),
        "--force",
        "--stretch",
    )
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "happy_sad.card.json").read_text())
    assert card["contrast_stretch"] and card["parity"]["keras_fp32_max_abs_diff"] <= 1e-4
    assert "contrast stretched to 0..255 in the graph" in (tmp_path / "happy_sad.md").read_text()
    stretched = EmotionClassifier(tmp_path / "happy_sad.fp32.onnx")
    plain = EmotionClassifier(exported / "happy_sad.fp32.onnx")
    faces = (np.random.default_rng(1).integers(0, 80, (4, 48, 48)) + 30).astype(np.uint8)
    np.testing.assert_allclose(
        stretched.predict_proba(faces), plain.predict_proba(stretch(faces)), atol=1e-5
    )
    assert EmotionClassifier(tmp_path / "happy_sad.int8.onnx").predict_proba(faces).shape == (4, 2)
    _, diff = rebuild(tmp_path / "happy_sad.fp32.onnx", card)
    assert diff <= 1e-4
