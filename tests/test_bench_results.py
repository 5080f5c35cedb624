"""benchmarks/RESULTS.md is current: the shipped models' sizes and sha256 in its model-files
table match the files in edge_runtime/models/ (regenerate it with `make results`)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edge_runtime.bench.report import parse_files_table
from edge_runtime.classifier import MODELS_DIR
from edge_runtime.cli import app

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "RESULTS.md"
PREFIX = "edge_runtime/models/"


def mismatches(page: str, models_dir: Path) -> list[str]:
    """What in a results page disagrees with the shipped model files (empty: all agree)."""
    listed = {r["file"]: r for r in parse_files_table(page) if r["file"].startswith(PREFIX)}
    problems = []
    for path in sorted(models_dir.glob("*.onnx")):
        row = listed.pop(PREFIX + path.name, None)
        if row is None:
            problems.append(f"{path.name}: shipped but not in the results page")
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if row["bytes"] != path.stat().st_size or row["sha256"] != digest:
            problems.append(
                f"{path.name}: page says {row['bytes']} bytes, {row['sha256'][:12]}; "
                f"file has {path.stat().st_size} bytes, {digest[:12]}"
            )
    problems += [f"{name}: in the results page but no longer shipped" for name in listed]
    return problems


def test_results_md_matches_the_shipped_models():
    if not list(MODELS_DIR.glob("*.onnx")):
        pytest.skip(f"no shipped model in {MODELS_DIR} yet (make models)")
    if not RESULTS.is_file():
        pytest.skip(f"{RESULTS.relative_to(REPO)} not generated yet (make results)")
    problems = mismatches(RESULTS.read_text(), MODELS_DIR)
    assert not problems, (
        "benchmarks/RESULTS.md is stale, regenerate it with `make results`: " + "; ".join(problems)
    )


def test_the_check_catches_a_changed_model(tiny_onnx_model, tmp_path, monkeypatch):
    """The check above, on a page that `bench --models all --results-md` wrote for models
    installed in a stand-in models folder: it agrees, then catches a changed file."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "tiny.int8.onnx").write_bytes(tiny_onnx_model.read_bytes())
    for module in ("edge_runtime.classifier", "edge_runtime.bench.report"):
        monkeypatch.setattr(f"{module}.MODELS_DIR", models)
    out = tmp_path / "benchmarks"
    res = CliRunner().invoke(
        app,
        [
            "bench",
            "--models",
            "all",
            "--threads",
            "1",
            "--batch",
            "1",
            "--runs",
            "3",
            "--warmup",
            "0",
            "--out",
            str(out),
            "--results-md",
        ],
    )
    assert res.exit_code == 0, res.output
    page = (out / "RESULTS.md").read_text()
    assert f"`{PREFIX}tiny.int8.onnx`" in page
    assert mismatches(page, models) == []
    (models / "tiny.int8.onnx").write_bytes(tiny_onnx_model.read_bytes() + b"\0")
    (models / "other.int8.onnx").write_bytes(tiny_onnx_model.read_bytes())
    problems = mismatches(page, models)
    assert len(problems) == 2
    assert "other.int8.onnx: shipped but not" in problems[0] and "tiny.int8.onnx" in problems[1]
