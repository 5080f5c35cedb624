"""`edge-fer evaluate` on face sets other than FER2013: other class names, missing and extra
classes, and a model narrowed to some of its classes."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import bench_row, build_tiny_onnx_model
from typer.testing import CliRunner

from edge_runtime.classifier import EmotionClassifier
from edge_runtime.cli import app
from edge_runtime.labels import task_probs

# a CK+-style set: no neutral, no fear, other names, and contempt, which no model predicts
CKPLUS = {"anger": 6, "disgusted": 5, "happiness": 8, "sadness": 7, "surprised": 4, "contempt": 3}
CANONICAL = {
    "anger": "angry",
    "disgusted": "disgust",
    "happiness": "happy",
    "sadness": "sad",
    "surprised": "surprise",
}


def _face(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.uniform(0, 1, (48, 48)) * rng.uniform(40, 255)).astype(np.uint8)


@pytest.fixture(scope="module")
def ckplus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("faces") / "ckplus.zip"
    seed = 0
    with zipfile.ZipFile(path, "w") as zf:
        for folder, n in CKPLUS.items():
            for _ in range(n):
                seed += 1
                zf.writestr(f"{folder}/S{seed:03d}.png", cv2.imencode(".png", _face(seed))[1])
    return path


def _evaluate(*args: str) -> dict:
    res = CliRunner().invoke(app, ["evaluate", *args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output.strip().splitlines()[-1])


def _answers(model: Path, labels: tuple[str, ...]) -> list[tuple[str | None, np.ndarray]]:
    """Each face of the set in order: its canonical class (None for contempt) and the model's
    probabilities over `labels`, computed here image by image."""
    clf = EmotionClassifier(model)
    out, seed = [], 0
    for folder, n in CKPLUS.items():
        for _ in range(n):
            seed += 1
            probs = task_probs(clf.predict_proba(_face(seed)), clf.labels, labels)[0]
            out.append((CANONICAL.get(folder), probs))
    return out


def _expected(model: Path, labels: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(true, predicted) indices into `labels` of the faces of those classes."""
    scored = [(c, p) for c, p in _answers(model, labels) if c in labels]
    return np.array([labels.index(c) for c, _ in scored]), np.array([p.argmax() for _, p in scored])


def test_a_subset_of_classes_under_other_names_is_scored_and_the_rest_reported(
    tiny_onnx_model, ckplus
):
    rep = _evaluate("--model", str(tiny_onnx_model), "--data", str(ckplus))
    labels = tuple(rep["labels"])
    assert len(labels) == 7 and rep["split"] == "all" and rep["narrowed_to"] is None
    assert rep["skipped_classes"] == {"contempt": 3}
    assert rep["n"] == sum(n for f, n in CKPLUS.items() if f != "contempt")
    assert rep["scored_classes"] == ["angry", "disgust", "happy", "sad", "surprise"]
    true, pred = _expected(tiny_onnx_model, labels)
    assert rep["accuracy"] == pytest.approx(np.mean(true == pred))
    cm = np.array(rep["confusion"])
    assert cm.shape == (7, 7) and cm.sum() == rep["n"]
    assert cm[labels.index("neutral")].sum() == 0 and cm[labels.index("fear")].sum() == 0
    f1 = [rep["per_class"][c]["f1"] for c in rep["scored_classes"]]
    assert rep["macro_f1"] == pytest.approx(np.mean(f1))  # over the classes present


def test_classes_narrow_the_model_to_a_subset(tiny_onnx_model, ckplus):
    rep = _evaluate(
        "--model", str(tiny_onnx_model), "--data", str(ckplus), "--classes", "happiness,sadness"
    )
    assert rep["labels"] == ["happy", "sad"] and rep["narrowed_to"] == ["happy", "sad"]
    assert rep["n"] == CKPLUS["happiness"] + CKPLUS["sadness"]
    assert set(rep["skipped_classes"]) == {"angry", "disgust", "surprise", "contempt"}
    true, pred = _expected(tiny_onnx_model, ("happy", "sad"))
    assert rep["accuracy"] == pytest.approx(np.mean(true == pred))
    res = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--model",
            str(tiny_onnx_model),
            "--data",
            str(ckplus),
            "--classes",
            "happy,sad",
        ],
    )
    assert res.exit_code == 0 and "narrowed to happy, sad (2 of the model's 7" in res.output
    assert "contempt (3 images)" in res.output


def test_nothing_to_score_is_one_line(tiny_onnx_model, tmp_path):
    only = tmp_path / "contempt.zip"
    with zipfile.ZipFile(only, "w") as zf:
        zf.writestr("contempt/a.png", cv2.imencode(".png", _face(1))[1])
    res = CliRunner().invoke(
        app, ["evaluate", "--model", str(tiny_onnx_model), "--data", str(only)]
    )
    assert res.exit_code == 2
    assert "none of its classes (contempt) is one the model scores" in res.output
    assert len(res.output.strip().splitlines()) == 1
    res = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--model",
            str(tiny_onnx_model),
            "--data",
            str(only),
            "--classes",
            "happy,contempt",
        ],
    )
    assert res.exit_code == 2 and "--classes" in res.output


def test_min_confidence_reports_what_answering_only_sure_faces_does(tiny_onnx_model, ckplus):
    task, sure = ("happy", "sad"), {"task": [], "right": [], "other": []}
    for canonical, p in _answers(tiny_onnx_model, task):
        if canonical in task:
            sure["task"].append(p.max())
            sure["right"].append(task[int(p.argmax())] == canonical)
        else:
            sure["other"].append(p.max())
    t = float(np.median(sure["task"]))
    rep = _evaluate(
        "--model",
        str(tiny_onnx_model),
        "--data",
        str(ckplus),
        "--classes",
        "happy,sad",
        "--min-confidence",
        str(t),
    )
    c = rep["confidence"]
    answered = np.array(sure["task"]) >= t
    assert c["min_confidence"] == t and c["answered"] == pytest.approx(answered.mean())
    assert c["answered_accuracy"] == pytest.approx(np.array(sure["right"])[answered].mean())
    assert c["other_faces"] == len(sure["other"]) == 6 + 5 + 4 + 3
    assert c["other_answered"] == pytest.approx(np.mean(np.array(sure["other"]) >= t))
    assert "confidence" not in _evaluate("--model", str(tiny_onnx_model), "--data", str(ckplus))
    res = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--model",
            str(tiny_onnx_model),
            "--data",
            str(ckplus),
            "--classes",
            "happy,sad",
            "--min-confidence",
            str(t),
        ],
    )
    assert (
        f"--min-confidence {t}: answers {100 * answered.mean():.1f}% of these faces" in res.output
        and "of the 18 faces of other classes" in res.output
    )


def test_against_compares_two_models_face_by_face(tiny_onnx_model, ckplus, tmp_path):
    task = ("happy", "sad")
    rep = _evaluate(
        "--model",
        str(tiny_onnx_model),
        "--against",
        "fer7-nano",
        "--data",
        str(ckplus),
        "--classes",
        "happy,sad",
    )
    true, mine = _expected(tiny_onnx_model, task)
    _, theirs = _expected("fer7-nano", task)
    a = rep["against"]
    assert a["model"] == "fer7-nano" and a["n"] == rep["n"] == len(true)
    assert a["accuracy"] == pytest.approx(np.mean(theirs == true))
    assert a["only_a_right"] == np.sum((mine == true) & (theirs != true))
    assert a["only_b_right"] == np.sum((theirs == true) & (mine != true))
    assert 0.0 < a["p_value"] <= 1.0
    assert "against" not in _evaluate("--model", str(tiny_onnx_model), "--data", str(ckplus))
    # --precision is the scored model's: one shipped in int8 alone is still compared, in int8
    fp32 = _evaluate(
        "--model", "fer7-nano", "--precision", "fp32", "--against", "fer7", "--data", str(ckplus)
    )
    assert fp32["against"]["model"] == "fer7" and fp32["against"]["n"] == fp32["n"]

    narrow = build_tiny_onnx_model(tmp_path / "hs.onnx", labels=task)
    res = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--model",
            str(tiny_onnx_model),
            "--against",
            str(narrow),
            "--data",
            str(ckplus),
        ],
    )
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1
    assert f"--against {narrow}: it does not predict angry" in res.output


def test_detect_scores_the_whole_pipeline_on_photos_and_counts_faceless_ones(tmp_path):
    from edge_runtime.recognizer import EmotionRecognizer

    photo = next(Path(__file__).resolve().parents[1].glob("edge_runtime/data/*.jpg"))
    data = tmp_path / "photos.zip"
    noise = np.random.default_rng(0).integers(0, 255, (120, 160, 3), np.uint8)
    with zipfile.ZipFile(data, "w") as zf:
        zf.write(photo, "happy/astronaut.jpg")
        zf.writestr("sad/noise.png", cv2.imencode(".png", noise)[1])
        zf.writestr("contempt/other.png", cv2.imencode(".png", noise)[1])
    rep = _evaluate("--model", "fer7-nano", "--data", str(data), "--detect")
    d = rep["detect"]
    assert (
        d["photos"] == 2 and d["no_face"] == 1 and d["no_face_files"] == [f"{data}!sad/noise.png"]
    )
    assert rep["skipped_classes"] == {"contempt": 1} and rep["n"] == 1
    faces = EmotionRecognizer("fer7-nano").predict(str(photo))
    want = max(faces, key=lambda f: f.box[2] * f.box[3]).label
    assert rep["confusion"][rep["labels"].index("happy")][rep["labels"].index(want)] == 1
    assert d["pipeline_accuracy"] == (0.5 if want == "happy" else 0.0)
    res = CliRunner().invoke(
        app, ["evaluate", "--data", str(data), "--detect", "--labels", "ferplus"]
    )
    assert res.exit_code == 2 and "--detect with --labels: not supported" in res.output


def test_a_class_the_data_lacks_is_shown_absent_and_a_flat_folder_gets_the_layout(
    tiny_onnx_model, ckplus, tmp_path
):
    res = CliRunner().invoke(
        app, ["evaluate", "--model", str(tiny_onnx_model), "--data", str(ckplus)]
    )
    assert res.exit_code == 0, res.output
    assert re.search(
        r"neutral\s+absent from this data \(the model answered it \d+ times\)", res.output
    )
    assert "recall 0.000  precision 0.000  n=0" not in res.output
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(3):
        cv2.imwrite(str(flat / f"{i}.png"), _face(i))
    res = CliRunner().invoke(
        app, ["evaluate", "--model", str(tiny_onnx_model), "--data", str(flat)]
    )
    assert res.exit_code == 2 and "no class folder: 3" in res.output
    assert "expected images in class folders: <emotion>/*.jpg" in res.output


def test_bench_scores_a_set_without_neutral_as_evaluate_does(tiny_onnx_model, ckplus):
    rep = _evaluate("--model", str(tiny_onnx_model), "--data", str(ckplus))
    row = bench_row(str(tiny_onnx_model), str(ckplus))
    assert row["accuracy"] == pytest.approx(rep["accuracy"]) and row["eval_n"] == rep["n"]
