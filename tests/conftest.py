"""Shared fixtures: a tiny valid edge-fer ONNX model (no TensorFlow), paths to ../shared."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SAMPLES = SHARED / "samples"

FER7 = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


@pytest.fixture(autouse=True)
def precision_record(tmp_path_factory, monkeypatch) -> Path:
    """Where `edge-fer models --time` records its timings during a test: a fresh file, so that
    a record on the machine running the tests never changes what `--precision auto` picks."""
    import edge_runtime.measured as measured

    path = tmp_path_factory.mktemp("record") / "precision.json"
    monkeypatch.setattr(measured, "record_path", lambda: path)
    return path


def build_tiny_onnx_model(
    path: Path, labels: tuple[str, ...] = FER7, layout: str = "NCHW", face_margin: float = 0.0
) -> Path:
    """Write a small valid edge-fer model: input "image" float [N,1,48,48] (or NHWC) raw
    0..255, 4x4 average pooling, Flatten, Gemm with fixed deterministic weights, Softmax,
    output "probabilities"; metadata from ModelInfo. Deterministic and brightness-dependent,
    so different faces give different (but repeatable) answers."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edge_runtime.model_info import ModelInfo

    n = len(labels)
    shape = ["N", 1, 48, 48] if layout == "NCHW" else ["N", 48, 48, 1]
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((144, n)) * 0.15).astype(np.float32)
    b = np.linspace(-0.5, 0.5, n).astype(np.float32)
    nodes = []
    x = "image"
    if layout == "NHWC":
        nodes.append(helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]))
        x = "nchw"
    nodes += [
        helper.make_node("Mul", [x, "scale"], ["scaled"]),
        helper.make_node(
            "AveragePool", ["scaled"], ["pooled"], kernel_shape=[4, 4], strides=[4, 4]
        ),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "W", "B"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_edge_fer",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", n])],
        initializer=[
            numpy_helper.from_array(np.array(1 / 255, np.float32), "scale"),
            numpy_helper.from_array(w, "W"),
            numpy_helper.from_array(b, "B"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    info = ModelInfo(
        labels=tuple(labels),
        task="fer7" if len(labels) == 7 else "_".join(labels),
        layout=layout,
        face_margin=face_margin,
        card={"note": "test fixture"},
    )
    helper.set_model_props(model, info.to_metadata())
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def tiny_onnx_model(tmp_path_factory) -> Path:
    """Path to a tiny valid edge-fer ONNX model with the 7 FER2013 labels."""
    return build_tiny_onnx_model(tmp_path_factory.mktemp("model") / "tiny.onnx")


@pytest.fixture(scope="session")
def shared_samples() -> Path:
    """../shared/samples, or skip: the sample photos and video live beside the repository."""
    if not (SAMPLES / "justin.jpg").is_file():
        pytest.skip(f"needs the shared samples at {SAMPLES} (absent on this machine)")
    return SAMPLES


@pytest.fixture(scope="session")
def yunet_model() -> Path:
    """The YuNet file bundled in the package."""
    from edge_runtime.detect import YUNET_MODEL

    return YUNET_MODEL


def write_noise_video(path: Path, frames: int = 30) -> Path:
    """A small synthetic MJPG video (96x72 noise, no faces, 20 fps)."""
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 20, (96, 72))
    rng = np.random.default_rng(1)
    for _ in range(frames):
        w.write(rng.integers(0, 255, (72, 96, 3), np.uint8))
    w.release()
    return path


@pytest.fixture()
def video(tmp_path) -> Path:
    """A 30-frame synthetic video file (noise, no faces)."""
    return write_noise_video(tmp_path / "clip.avi")


pytest_plugins = ["train_fixtures"]


def bench_row(model: Path, data: Path, *extra: str) -> dict:
    """The last JSON row of `edge-fer bench MODEL --data DATA EXTRA...` on the fp32 file with
    two timed calls: the tests that use it read its accuracy, not its latency."""
    import json

    from typer.testing import CliRunner

    from edge_runtime.cli import app

    args = ["bench", str(model), "--formats", "fp32", "--data", str(data), *extra]
    res = CliRunner().invoke(
        app, [*args, "--runs", "2", "--warmup", "0", "--batch", "1", "--threads", "1", "--json"]
    )
    assert res.exit_code == 0, res.output
    return json.loads(res.output.strip().splitlines()[-1])
