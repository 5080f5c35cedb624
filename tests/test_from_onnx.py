"""`python -m edge_export.from_onnx`: a lost run's model.keras and metrics.json rebuilt from its
exported fp32 file and card."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from train_fixtures import needs_training_stack

from edge_runtime.portable import portable


def _fp32_and_card(exported: Path) -> tuple[Path, Path]:
    (fp32,) = exported.glob("*.fp32.onnx")
    return fp32, fp32.with_name(fp32.name.replace(".fp32.onnx", ".card.json"))


def test_rebuilt_run_answers_as_the_trained_one(exported, trained_run, tmp_path):
    from edge_export.from_onnx import write_run
    from edge_train.fit import predict
    from edge_train.run_dir import load_keras

    fp32, card = _fp32_and_card(exported)
    write_run(fp32, card, tmp_path / "run")
    images = np.random.default_rng(1).integers(0, 256, (32, 48, 48), dtype=np.uint8)
    rebuilt = predict(load_keras(tmp_path / "run" / "model.keras"), images)
    trained = predict(load_keras(trained_run / "model.keras"), images)
    assert np.abs(rebuilt - trained).max() < 1e-5
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    original = json.loads((trained_run / "metrics.json").read_text())
    for key in ("labels", "arch", "params", "command", "epochs", "config"):
        assert metrics[key] == portable(original[key]), key  # as the card wrote them


def test_folded_batch_norm_and_flip_tta_are_undone(tmp_path):
    """vgg_bn exports with each batch norm folded into its conv and, with --tta, the network
    run on the image and its mirror: the rebuilt Keras model gives the file's probabilities."""
    needs_training_stack()
    import onnx

    from edge_export.from_onnx import rebuild
    from edge_export.to_onnx import keras_to_onnx
    from edge_train.archs import build

    model = build("vgg_bn", 3, augment=False, seed=0)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            n = layer.gamma.shape[0]
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, n),
                    rng.normal(0, 0.1, n),
                    rng.normal(0, 0.1, n),
                    rng.uniform(0.5, 2.0, n),
                ]
            )
        elif type(layer).__name__ == "Dense":
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0, 0.1, bias.shape)])
    path = tmp_path / "m.fp32.onnx"
    onnx.save(keras_to_onnx(model, flip_tta=True), str(path))
    card = {"task": "x", "labels": ["a", "b", "c"], "arch": "vgg_bn", "flip_tta": True}
    _, diff = rebuild(path, card)
    assert diff < 1e-4


def test_wrong_architecture_and_existing_run_are_refused(exported, tmp_path):
    from edge_export.from_onnx import RebuildError, write_run

    fp32, card = _fp32_and_card(exported)
    wrong = json.loads(card.read_text()) | {"arch": "a"}
    (tmp_path / "wrong.json").write_text(json.dumps(wrong))
    with pytest.raises(RebuildError, match="weighted layers"):
        write_run(fp32, tmp_path / "wrong.json", tmp_path / "run")
    assert not (tmp_path / "run").exists()

    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "model.keras").write_text("mine")
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge_export.from_onnx",
            str(fp32),
            str(card),
            str(tmp_path / "kept"),
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        f"edge-fer: {tmp_path / 'kept'}/model.keras exists; not overwritten"
    ]
    assert (tmp_path / "kept" / "model.keras").read_text() == "mine"
