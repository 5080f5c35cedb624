"""`python -m edge_train.norms`: a run's batch-norm statistics recomputed on its training faces,
written as a new run whose export says so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from train_fixtures import needs_training_stack, norm_gap, scramble_norms

ROOT = Path(__file__).resolve().parents[1]


def _run_with_stale_norms(tmp_path: Path) -> Path:
    """A nano_deep happy/sad run whose batch norms hold statistics of some other data, as a
    run trained on augmented, mixed batches does."""
    from edge_train.archs import build

    model = build("nano_deep", 2, augment=True, seed=0)
    scramble_norms(model)
    run = tmp_path / "run"
    run.mkdir()
    model.save(run / "model.keras")
    metrics = {"task": "happy_sad", "labels": ["happy", "sad"], "arch": "nano_deep"}
    (run / "metrics.json").write_text(json.dumps(metrics))
    return run


def test_statistics_are_those_of_the_training_faces(tmp_path, synthetic_zip):
    """Afterwards each batch norm computes at inference what it computes in training mode over
    all the training faces (and did not before); the run itself is left as it was; the new
    run's metrics record the recomputation and score the recomputed model."""
    needs_training_stack()
    from edge_train.data import load
    from edge_train.norms import write_run
    from edge_train.run_dir import load_keras

    run = _run_with_stale_norms(tmp_path)
    before = (run / "model.keras").read_bytes()
    faces = load(synthetic_zip).task(("happy", "sad")).training_pool().images
    assert norm_gap(load_keras(run / "model.keras"), faces) > 0.1

    metrics = write_run(run, synthetic_zip, tmp_path / "out", "python -m edge_train.norms ...")
    assert norm_gap(load_keras(tmp_path / "out" / "model.keras"), faces) < 1e-3
    assert (run / "model.keras").read_bytes() == before
    assert metrics["norm_statistics"] == {
        "faces": 300,
        "norms": 17,
        "command": "python -m edge_train.norms ...",
    }
    assert set(metrics["splits"]) == {"Training", "PublicTest", "PrivateTest"}
    assert json.loads((tmp_path / "out" / "metrics.json").read_text()) == metrics


def test_keeping_the_function_changes_only_training_mode(tmp_path):
    """`keep_function=True` (how `from_onnx` readies a rebuilt run for training) gives the same
    statistics without changing a single answer at inference; without it, answers change."""
    needs_training_stack()
    from edge_train.archs import build
    from edge_train.norms import set_norm_statistics
    from edge_train.run_dir import predict

    faces = np.random.default_rng(3).integers(0, 256, (128, 48, 48), dtype=np.uint8)
    model = build("nano_deep", 2, augment=True, seed=0)
    scramble_norms(model)
    weights, before = model.get_weights(), predict(model, faces)

    assert set_norm_statistics(model, faces, keep_function=True) == 17
    assert norm_gap(model, faces) < 1e-3
    assert np.abs(predict(model, faces) - before).max() < 1e-5

    model.set_weights(weights)
    set_norm_statistics(model, faces, keep_function=False)
    assert norm_gap(model, faces) < 1e-3
    assert np.abs(predict(model, faces) - before).max() > 1e-2


def test_mistakes_get_one_line_and_nothing_is_overwritten(tmp_path, synthetic_zip, trained_run):
    needs_training_stack()
    run = _run_with_stale_norms(tmp_path)
    (tmp_path / "bare").mkdir()
    (run / "model.keras").rename(tmp_path / "bare" / "model.keras")
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "model.keras").write_text("mine")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "metrics.json").write_text("mine")
    for args, line in (
        (
            [tmp_path / "bare", synthetic_zip, tmp_path / "out"],
            f"edge-fer: {tmp_path / 'bare'}/model.keras: no metrics.json with its labels beside it",
        ),
        (
            [run, synthetic_zip, tmp_path / "kept"],
            f"edge-fer: {tmp_path / 'kept'}/model.keras exists; not overwritten",
        ),
        (
            [run, synthetic_zip, tmp_path / "notes"],
            f"edge-fer: {tmp_path / 'notes'}/metrics.json exists; not overwritten",
        ),
        (
            [trained_run, synthetic_zip, tmp_path / "poc"],
            f"edge-fer: {trained_run / 'model.keras'}: no batch norms to recompute",
        ),
    ):
        res = subprocess.run(
            [sys.executable, "-m", "edge_train.norms", *map(str, args)],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert res.returncode == 1, res.stderr
        assert res.stderr.strip().splitlines() == [line]
    assert (tmp_path / "kept" / "model.keras").read_text() == "mine"
    assert (tmp_path / "notes" / "metrics.json").read_text() == "mine"
    assert not (tmp_path / "notes" / "model.keras").exists()
    assert not (tmp_path / "poc").exists()


def test_the_export_card_says_where_the_statistics_came_from():
    from edge_export.card import _provenance_section

    norms = {"faces": 12045, "norms": 17, "command": "python -m edge_train.norms RUN DATA OUT"}
    card = {
        "training": {"command": "edge-fer train ...", "epochs": 60, "norm_statistics": norms},
        "versions": {},
    }
    assert (
        "- batch-norm statistics then recomputed on 12045 training faces: "
        "`python -m edge_train.norms RUN DATA OUT`"
    ) in _provenance_section(card)
    del card["training"]["norm_statistics"]
    assert not any("batch-norm" in line for line in _provenance_section(card))
