"""The device runtime never loads TensorFlow, Keras, matplotlib or scikit-image, --demo included
(its photo is bundled)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]

CHECK = """
import json, sys
from edge_runtime.cli import main
sys.argv = ["edge-fer"] + json.loads(sys.argv[1])
try:
    main()
except SystemExit as e:
    code = e.code
else:
    code = 0
heavy = [m for m in ("tensorflow", "keras", "matplotlib", "skimage") if m in sys.modules]
print("RESULT " + json.dumps({"code": code, "heavy": heavy}))
"""


def run_in_fresh_python(args: list[str]) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", CHECK, json.dumps(args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT ") :])


def test_predict_and_run_leave_tensorflow_keras_matplotlib_unloaded(tiny_onnx_model, tmp_path):
    img = tmp_path / "face.png"
    cv2.imwrite(str(img), np.random.default_rng(0).integers(0, 255, (48, 48), np.uint8))
    got = run_in_fresh_python(["predict", "--model", str(tiny_onnx_model), str(img)])
    assert got == {"code": 0, "heavy": []}
    got = run_in_fresh_python(
        ["run", "--demo", "--model", str(tiny_onnx_model), "--max-frames", "3"]
    )
    assert got["heavy"] == []
    got = run_in_fresh_python(["predict", "--demo", "--model", str(tiny_onnx_model)])
    assert got["heavy"] == []


def test_public_api_import_is_light():
    code = (
        "import sys; from edge_runtime import EmotionRecognizer; "
        "print([m for m in ('tensorflow','keras','matplotlib') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert out.stdout.strip() == "[]", out.stderr


def test_the_distribution_installs_only_names_of_its_own():
    """`pip install edge-fer[train]` puts every package under the project's prefix, so it
    never collides with another project's `train` or `export` in a user's environment."""
    import pytest

    tomllib = pytest.importorskip("tomllib", reason="needs Python 3.11 to read pyproject.toml")
    from setuptools import find_packages

    find = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    packages = find_packages(REPO, include=find["find"]["include"])
    assert {p.split(".")[0] for p in packages} == {"edge_runtime", "edge_train", "edge_export"}


def test_training_and_export_never_reach_up_into_the_cli_or_the_bench():
    """Data flows one way, dataset -> edge_train -> edge_export -> runtime; the CLI and the bench
    sit on top and call down, never the reverse."""
    import ast

    upward = ("edge_runtime.cli", "edge_runtime.commands", "edge_runtime.bench")
    found = []
    for path in sorted((REPO / "edge_train").rglob("*.py")) + sorted(
        (REPO / "edge_export").rglob("*.py")
    ):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            found += [f"{path.name}: {n}" for n in names if n.startswith(upward)]
    assert found == []
