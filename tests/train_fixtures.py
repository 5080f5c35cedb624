"""Synthetic FER2013-layout data for training and export tests (learnable, a few hundred images)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest


def synthetic_face(label: int, seed: int) -> np.ndarray:
    """A 48x48 gray 'face': noise plus a mouth curve that bends up (label 0) or down (1)."""
    rng = np.random.default_rng(seed)
    img = rng.normal(110, 25, (48, 48)).clip(0, 255).astype(np.uint8)
    cv2.ellipse(img, (24, 24), (18, 22), 0, 0, 360, 170, -1)
    start, end = (0, 180) if label == 0 else (180, 360)
    cy = 30 if label == 0 else 38
    cv2.ellipse(img, (24, cy), (10, 5), 0, start, end, 30, 2)
    return img


def write_synthetic_zip(
    path: Path,
    per_class: tuple[int, int, int] = (150, 60, 30),
    classes: tuple[str, ...] = ("happy", "sad"),
) -> Path:
    """train/<cls>/Training_*.png and test/<cls>/{PublicTest,PrivateTest}_*.png in a zip."""
    n_train, n_pub, n_priv = per_class
    seed = 0
    with zipfile.ZipFile(path, "w") as zf:
        for label, cls in enumerate(classes):
            for prefix, folder, n in (
                ("Training", "train", n_train),
                ("PublicTest", "test", n_pub),
                ("PrivateTest", "test", n_priv),
            ):
                for _ in range(n):
                    seed += 1
                    png = cv2.imencode(".png", synthetic_face(label % 2, seed))[1].tobytes()
                    zf.writestr(f"{folder}/{cls}/{prefix}_{seed}.png", png)
    return path


def write_votes(data: Path, path: Path) -> Path:
    """A votes file for a happy/sad zip of write_synthetic_zip: 8 of 10 votes for the image's
    class, except on every third image, where the crowd disagrees (2 of 10)."""
    from edge_train.votes import VOTE_COLUMNS

    with zipfile.ZipFile(data) as zf, open(path, "w") as f:
        f.write("file," + ",".join(VOTE_COLUMNS) + "\n")
        for i, name in enumerate(n for n in zf.namelist() if n.endswith(".png")):
            happy = 8 if "/happy/" in name else 2
            if i % 3 == 0:
                happy = 10 - happy
            f.write(f"{name},0,{happy},0,{10 - happy},0,0,0,0,0,0\n")
    return path


# ---- session fixtures (registered through `pytest_plugins` in conftest.py) -----------------

SHARED_ZIP = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "fer2013.zip"


def needs_training_stack() -> None:
    import importlib.util

    for mod in ("tensorflow", "tf2onnx", "sklearn", "matplotlib"):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"needs the train extra ({mod} missing): pip install '.[train]'")


def scramble_norms(model, seed: int = 0) -> None:
    """Give `model`'s batch norms random statistics and its Dense layers a random bias, as a
    trained model has, unlike a freshly built one."""
    rng = np.random.default_rng(seed)
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


def norm_gap(model, faces: np.ndarray) -> float:
    """The largest relative difference, over `model`'s batch norms, between what each computes
    in training mode on `faces` as one batch and at inference: near 0 when their statistics
    are those of `faces`."""
    import keras

    from edge_train.run_dir import as_input

    norms = [x for x in model.layers if isinstance(x, keras.layers.BatchNormalization)]
    probe = keras.Model(model.input, [norm.input for norm in norms])
    inputs = probe(as_input(faces), training=False)
    gaps = []
    for norm, x in zip(norms, inputs, strict=True):
        at_inference = np.asarray(norm(x, training=False))
        in_training = np.asarray(norm(x, training=True))
        gaps.append(np.abs(in_training - at_inference).max() / np.abs(at_inference).max())
    return max(gaps)


def train_args(
    data, *extra: str, arch: str = "poc", classes: str | None = "happy,sad", epochs: int | None = 1
) -> list[str]:
    """`edge-fer train` arguments for a quick run of `arch` on `data`, then `extra`."""
    args = ["train", "--data", str(data), "--arch", arch]
    if classes is not None:
        args += ["--classes", classes]
    if epochs is not None:
        args += ["--epochs", str(epochs)]
    return [*args, *extra]


@pytest.fixture(scope="session")
def synthetic_zip(tmp_path_factory) -> Path:
    return write_synthetic_zip(tmp_path_factory.mktemp("data") / "synthetic.zip")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, synthetic_zip) -> Path:
    """A poc model trained for 8 epochs through the CLI on the synthetic zip."""
    needs_training_stack()
    from typer.testing import CliRunner

    from edge_runtime.cli import app

    os.environ.setdefault("EDGE_FER_CACHE", str(tmp_path_factory.mktemp("cache")))
    out = tmp_path_factory.mktemp("runs") / "poc_happy_sad"
    res = CliRunner().invoke(
        app,
        train_args(str(synthetic_zip), "--out", str(out), epochs=8),
    )
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="session")
def exported(tmp_path_factory, trained_run, synthetic_zip) -> Path:
    """The trained poc model exported (with --force: a 30k model's int8 is not faster)."""
    from typer.testing import CliRunner

    from edge_runtime.cli import app

    out = tmp_path_factory.mktemp("export")
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
        ],
    )
    assert res.exit_code == 0, res.output
    return out
