"""`python -m edge_export.from_onnx`: a lost run's model.keras and metrics.json rebuilt from its
exported fp32 file and card."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from train_fixtures import needs_training_stack, norm_gap, scramble_norms

from edge_runtime.portable import portable


def _fp32_and_card(exported: Path) -> tuple[Path, Path]:
    (fp32,) = exported.glob("*.fp32.onnx")
    return fp32, fp32.with_name(fp32.name.replace(".fp32.onnx", ".card.json"))


def test_rebuilt_run_answers_as_the_trained_one(exported, trained_run, synthetic_zip, tmp_path):
    from edge_export.from_onnx import write_run
    from edge_train.fit import predict
    from edge_train.run_dir import load_keras

    fp32, card = _fp32_and_card(exported)
    write_run(fp32, card, tmp_path / "run", synthetic_zip)
    images = np.random.default_rng(1).integers(0, 256, (32, 48, 48), dtype=np.uint8)
    rebuilt = predict(load_keras(tmp_path / "run" / "model.keras"), images)
    trained = predict(load_keras(trained_run / "model.keras"), images)
    assert np.abs(rebuilt - trained).max() < 1e-5
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    original = json.loads((trained_run / "metrics.json").read_text())
    for key in ("labels", "arch", "params", "command", "epochs", "config"):
        assert metrics[key] == portable(original[key]), key  # as the card wrote them
    assert metrics["rebuilt_from"]["norm_statistics_from"].endswith(
        f"training faces of {synthetic_zip}"
    )


def _exported(tmp_path: Path, arch: str, flip_tta: bool, sigma: float) -> tuple[Path, dict]:
    """`arch` with random batch-norm statistics and head bias, exported as `edge-fer export`
    exports it, and its card's rebuild fields."""
    import onnx

    from edge_export.to_onnx import keras_to_onnx
    from edge_train.archs import build

    model = build(arch, 3, augment=False, seed=0)
    scramble_norms(model)
    path = tmp_path / "m.fp32.onnx"
    onnx.save(keras_to_onnx(model, flip_tta=flip_tta, smooth_sigma=sigma), str(path))
    card = {"labels": ["a", "b", "c"], "arch": arch, "flip_tta": flip_tta, "smooth_sigma": sigma}
    return path, card


@pytest.mark.parametrize(
    ("arch", "flip_tta", "sigma"), [("vgg_bn", True, 0.0), ("nano_deep", False, 0.6)]
)
def test_exported_graphs_are_undone(tmp_path, arch, flip_tta, sigma):
    """vgg_bn exports with each batch norm folded into its conv and, with --tta, the network
    run on the image and its mirror; the nano tier's depthwise convs keep theirs as a Mul and an
    Add, behind the input smoothing the export adds. Either way the rebuilt Keras model gives the
    file's probabilities."""
    needs_training_stack()
    from edge_export.from_onnx import rebuild

    _, diff = rebuild(*_exported(tmp_path, arch, flip_tta, sigma))
    assert diff < 1e-4


def test_batch_norms_get_the_statistics_the_export_dropped(tmp_path):
    """Rebuilt with faces, each batch norm in training mode, on a batch of those faces, computes
    what it computes at inference: a run can train on from the rebuilt model. Without them it
    does not (the check can fail)."""
    needs_training_stack()
    from edge_export.from_onnx import rebuild

    faces = np.random.default_rng(2).integers(0, 256, (96, 48, 48), dtype=np.uint8)
    path, card = _exported(tmp_path, "nano_deep", False, 0.0)

    assert norm_gap(rebuild(path, card, faces)[0], faces) < 1e-3
    assert norm_gap(rebuild(path, card)[0], faces) > 0.1


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


def test_the_bundled_nano_model_rebuilds():
    """The happy/sad students start from fer7-nano's weights (`train --init fer7-nano`):
    the bundled fp32 file and its card must keep rebuilding into its architecture."""
    needs_training_stack()
    from edge_export.from_onnx import rebuild
    from edge_runtime.classifier import MODELS_DIR

    card = json.loads((MODELS_DIR / "fer7-nano.card.json").read_text())
    model, diff = rebuild(MODELS_DIR / "fer7-nano.fp32.onnx", card)
    assert model.name == card["arch"] and diff < 1e-4
