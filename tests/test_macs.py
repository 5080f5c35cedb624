"""MACs per face counted from ONNX graphs: fp32, QDQ and QOperator, flip TTA counted twice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from train_fixtures import needs_training_stack

MODELS = Path(__file__).resolve().parents[1] / "edge_runtime" / "models"
NANO_BUDGET = 15_000_000


def _small_keras():
    import keras
    from keras import layers

    inputs = keras.Input((48, 48, 1), name="image")
    x = layers.Conv2D(8, 3, padding="same")(inputs)
    x = layers.DepthwiseConv2D(3, padding="same")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(7, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs)


# conv 1->8 3x3 at 48x48, depthwise 3x3 on 8 channels at 48x48, dense 8->7
SMALL_MACS = 48 * 48 * 8 * 9 + 48 * 48 * 8 * 9 + 8 * 7


def test_macs_of_a_known_graph_and_flip_tta_counts_twice():
    needs_training_stack()
    from edge_export.macs import count_macs
    from edge_export.to_onnx import keras_to_onnx

    model = _small_keras()
    assert count_macs(keras_to_onnx(model)) == SMALL_MACS
    assert count_macs(keras_to_onnx(model, flip_tta=True)) == 2 * SMALL_MACS


def test_quantized_graphs_count_as_their_fp32_graph(tmp_path):
    needs_training_stack()
    from edge_export.macs import count_macs
    from edge_export.quantize import CANDIDATES, full_range_overrides, preprocess, quantize
    from edge_export.to_onnx import keras_to_onnx

    fp32 = tmp_path / "fp32.onnx"
    fp32.write_bytes(keras_to_onnx(_small_keras()).SerializeToString())
    pre = tmp_path / "pre.onnx"
    preprocess(fp32, pre)
    calib = np.random.default_rng(0).uniform(0, 255, (16, 1, 48, 48)).astype(np.float32)
    for cand in CANDIDATES:
        q = tmp_path / f"{cand.fmt}_{cand.method}.onnx"
        quantize(pre, q, calib, cand, full_range_overrides(pre, calib))
        assert count_macs(q) == SMALL_MACS, cand.name


@pytest.mark.parametrize("arch", ["nano", "nano_deep"])
def test_nano_architecture_fits_the_edge_budget(arch):
    needs_training_stack()
    from edge_export.macs import count_macs
    from edge_export.to_onnx import keras_to_onnx
    from edge_train.archs import build

    macs = count_macs(keras_to_onnx(build(arch, 7, augment=False)))
    assert 5_000_000 < macs <= NANO_BUDGET


@pytest.mark.parametrize(
    "name, macs",
    # vgg_bn with flip TTA: 2 x 118.0M, plus the smoothing; happy_sad is two such networks
    [("fer7", 236_138_240), ("happy_sad", 472_218_880)],
)
def test_bundled_models_cost_what_their_graphs_say(name, macs):
    pytest.importorskip("onnx", reason="needs onnx (pip install '.[train]')")
    from edge_export.macs import count_macs

    assert count_macs(MODELS / f"{name}.int8.onnx") == macs


@pytest.mark.parametrize("name", ["fer7", "happy_sad"])
def test_the_runtime_reads_a_models_macs_from_the_card_beside_it(name):
    """The bundled files predate embedded MAC counts: `models` and `bench` read the count from
    the card shipped beside them, which the test above checks against the graph."""
    from edge_runtime.classifier import EmotionClassifier, card_beside

    clf = EmotionClassifier(name)
    assert "macs" not in clf.info.card
    assert clf.macs == card_beside(clf.path)["macs_per_face"] > 0
