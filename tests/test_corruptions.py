"""The corruption suite: what each corruption does to faces, that it is the same on every run,
and `evaluate --corruptions` / `bench --corruptions` scoring models on it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import bench_row
from test_votes import _evaluate, voted  # noqa: F401  (the voted fixture)
from typer.testing import CliRunner

from edge_runtime.cli import app
from edge_train.corruptions import CORRUPTIONS, corrupted


def _faces(n: int = 6) -> np.ndarray:
    rng = np.random.default_rng(3)
    faces = rng.integers(60, 200, (n, 48, 48)).astype(np.uint8)
    faces = np.stack([cv2.GaussianBlur(f, (5, 5), 0) for f in faces])
    faces[:, 30:34, 14:34] = 20  # a mouth: an edge for blur and rotation to move
    return faces


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_each_corruption_changes_every_face_alike_on_every_run(name):
    faces = _faces()
    out = corrupted(faces, name)
    assert out.shape == faces.shape and out.dtype == np.uint8
    assert np.array_equal(out, corrupted(faces, name))
    assert not np.array_equal(out, corrupted(faces, name, seed=1)) or name in (
        "low_light",
        "jpeg15",
        "face24",
    )  # those three draw nothing at random
    diff = np.abs(out.astype(int) - faces).reshape(len(faces), -1).mean(axis=1)
    assert (diff > 1.0).all(), (name, diff)


def test_corruptions_do_what_their_names_say():
    faces = _faces(4)
    assert corrupted(faces, "low_light").mean() < faces.mean() / 2
    shrunk = cv2.resize(faces[0], (24, 24), interpolation=cv2.INTER_AREA)
    assert np.array_equal(corrupted(faces, "face24")[0], cv2.resize(shrunk, (48, 48)))
    tilted = corrupted(faces, "roll30")
    rotations = [
        cv2.warpAffine(
            faces[0],
            cv2.getRotationMatrix2D((24, 24), angle, 1),
            (48, 48),
            borderMode=cv2.BORDER_REPLICATE,
        )
        for angle in (-30, 30)
    ]
    assert any(np.array_equal(tilted[0], r) for r in rotations)


def test_evaluate_and_bench_report_accuracy_on_every_corruption(tiny_onnx_model, voted):  # noqa: F811
    rep = _evaluate(
        "--model",
        str(tiny_onnx_model),
        "--data",
        str(voted),
        "--labels",
        "ferplus",
        "--corruptions",
    )
    rob = rep["corruptions"]
    assert list(rob) == ["clean", *CORRUPTIONS, "mean"]
    assert rob["clean"]["fer2013"] == pytest.approx(rep["figures"]["fer2013"]["accuracy"])
    for truth in ("fer2013", "ferplus_majority", "ferplus_clear"):
        assert rob["mean"][truth] == pytest.approx(np.mean([rob[c][truth] for c in CORRUPTIONS]))
    row = bench_row(str(tiny_onnx_model), str(voted), "--labels", "ferplus", "--corruptions")
    assert row["corrupted_accuracy"] == pytest.approx(rob["mean"]["fer2013"])
    assert row["ferplus_corrupted_accuracy"] == pytest.approx(rob["mean"]["ferplus_majority"])
    res = CliRunner().invoke(app, ["bench", str(tiny_onnx_model), "--corruptions"])
    assert res.exit_code == 2 and "--corruptions needs --data" in res.output
