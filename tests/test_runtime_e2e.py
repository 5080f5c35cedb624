"""End to end on ../shared/samples: real photos and the test video as a camera stand-in."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from edge_runtime import EmotionRecognizer
from edge_runtime.cli import app

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def haar(tiny_onnx_model):
    return EmotionRecognizer(tiny_onnx_model, detector="haar")


@pytest.mark.parametrize("name, count", [("justin.jpg", 1), ("couple.jpg", 2), ("no-faces.jpg", 0)])
def test_face_counts_with_haar(haar, shared_samples, name, count):
    faces = haar.predict(shared_samples / name)
    assert len(faces) == count
    for f in faces:
        assert f.label in haar.labels and 0 < f.score <= 1
        assert abs(sum(f.probs.values()) - 1) < 1e-4


@pytest.mark.parametrize("name, count", [("justin.jpg", 1), ("couple.jpg", 2), ("no-faces.jpg", 0)])
def test_face_counts_with_yunet(tiny_onnx_model, yunet_model, shared_samples, name, count):
    rec = EmotionRecognizer(tiny_onnx_model, detector="yunet", detector_model=yunet_model)
    assert len(rec.predict(shared_samples / name)) == count


def test_many_small_faces_with_yunet(tiny_onnx_model, yunet_model, shared_samples):
    rec = EmotionRecognizer(tiny_onnx_model, detector="yunet", detector_model=yunet_model)
    faces = rec.predict(shared_samples / "selfie-many-people.jpg")
    assert len(faces) >= 4
    assert len({f.box for f in faces}) == len(faces)


def test_justin_box_is_in_original_pixels(haar, shared_samples):
    (face,) = haar.predict(shared_samples / "justin.jpg")
    x, y, w, h = face.box
    assert 40 < x < 140 and 40 < y < 140 and 120 < w < 260  # the 381x384 photo's face


def test_video_as_a_camera_stand_in(haar, shared_samples):
    stream = haar.stream(str(shared_samples / "test.mp4"))
    results = list(stream)
    assert [r.frame for r in results] == list(range(115))
    ids = [f.id for r in results for f in r.faces]
    assert len(ids) >= 100  # the face is found in nearly every frame
    assert set(ids) == {1}  # one person in view: one stable id
    assert all(len(r.faces) <= 1 for r in results)
    s = stream.summary()
    assert s["frames"] == 115 and s["full_detections"] < 115 // 2


def test_cli_predict_folder_and_run_video(tiny_onnx_model, shared_samples):
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "predict",
            "--model",
            str(tiny_onnx_model),
            "--json",
            str(shared_samples / "justin.jpg"),
            str(shared_samples / "couple.jpg"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert [len(json.loads(x)["faces"]) for x in r.stdout.splitlines()] == [1, 2]
    r = runner.invoke(
        app,
        [
            "run",
            "--model",
            str(tiny_onnx_model),
            "--json",
            "--video",
            str(shared_samples / "test.mp4"),
        ],
    )
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(lines) == 116 and lines[-1]["summary"]["frames"] == 115
    assert {f["id"] for x in lines[:-1] for f in x["faces"]} == {1}


def test_face_scores_are_reported_and_thresholds_drop_faces(tiny_onnx_model, shared_samples):
    photo = shared_samples / "selfie-many-people.jpg"
    res = CliRunner().invoke(
        app, ["predict", "--model", str(tiny_onnx_model), "--json", str(photo)]
    )
    assert res.exit_code == 0, res.output
    faces = json.loads(res.output.strip().splitlines()[-1])["faces"]
    scores = sorted(f["face_score"] for f in faces)
    sides = sorted(max(f["box"][2:]) for f in faces)
    assert len(faces) >= 4 and all(0.7 <= s <= 1.0 for s in scores)  # YuNet's own floor
    cut = (scores[0] + scores[-1]) / 2
    res = CliRunner().invoke(
        app,
        [
            "predict",
            "--model",
            str(tiny_onnx_model),
            "--json",
            str(photo),
            "--min-face-score",
            f"{cut:.4f}",
        ],
    )
    kept = json.loads(res.output.strip().splitlines()[-1])["faces"]
    assert len(kept) == sum(s >= round(cut, 4) for s in scores) and all(
        f["face_score"] >= round(cut, 4) for f in kept
    )
    side = sides[len(sides) // 2]
    res = CliRunner().invoke(
        app,
        [
            "predict",
            "--model",
            str(tiny_onnx_model),
            "--json",
            str(photo),
            "--min-face-size",
            str(side),
        ],
    )
    kept = json.loads(res.output.strip().splitlines()[-1])["faces"]
    assert 0 < len(kept) < len(faces) and all(max(f["box"][2:]) >= side - 1 for f in kept)


def test_stream_faces_carry_their_detector_score(tiny_onnx_model, shared_samples):
    rec = EmotionRecognizer(tiny_onnx_model)
    results = list(rec.stream(str(shared_samples / "test.mp4"), max_frames=30))
    scores = [f.face_score for r in results for f in r.faces]
    assert len(scores) >= 25 and all(0.7 <= s <= 1.0 for s in scores)
    assert "face_score" in results[-1].to_json()["faces"][0]
