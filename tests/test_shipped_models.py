"""Guards on the models shipped in edge_runtime/models: accuracy on FER2013 PrivateTest (a
retrain or a preprocessing change must not silently lose accuracy) and sane answers on a
real photo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edge_runtime.classifier import bundled_files, bundled_models
from edge_runtime.cli import app

SHARED = Path(__file__).resolve().parents[2] / "shared"
FER2013 = SHARED / "datasets" / "fer2013.zip"
JUSTIN = SHARED / "samples" / "justin.jpg"

# Floors for the int8 files on PrivateTest, accuracy and macro-F1: a little under what
# `edge-fer evaluate` measures. The int8 kernels onnxruntime picks depend on the CPU (on x86
# with AVX2 but no VNNI, u8s8 products saturate in 16 bits; the 7-bit weights exports write
# avoid that), so the floors sit half a point under the cards, measured with VNNI: fer7
# 68.15% / 0.669, happy_sad 94.23% / 0.940. The bars of issue #5 are fer7 68.0% / 0.66 and
# happy_sad 94.0%. Raise the floors when a better model ships.
# The nano tier's floors are its bars (fer7-nano 67.0%, happy_sad-nano 94.0%), which its files
# clear by less than half a point (happy_sad-nano: 94.09% fp32, 94.16% int8).
FLOORS = {"happy_sad": 0.937, "fer7": 0.676, "fer7-nano": 0.670, "happy_sad-nano": 0.940}
F1_FLOORS = {"happy_sad": 0.935, "fer7": 0.663, "fer7-nano": 0.650, "happy_sad-nano": 0.935}
# How far a CPU's int8 kernels may move a card's PrivateTest accuracy (the int8 loss bound)
CPU_KERNEL_TOLERANCE = 0.005
NANO_MAC_BUDGET = 15_000_000

needs_shared = pytest.mark.skipif(not FER2013.is_file(), reason="../shared/datasets absent")


def _card(name: str) -> dict:
    return json.loads(bundled_models()[name].with_name(f"{name}.card.json").read_text())


def test_every_model_is_bundled_with_its_card():
    models = bundled_models()
    assert set(FLOORS) <= set(models), f"bundled: {sorted(models)}"
    for name in models:
        card = _card(name)
        for precision, path in bundled_files(name).items():
            assert card["files"][precision]["bytes"] == path.stat().st_size, (name, precision)
        # int8 may ship no faster than fp32 here (the nano tier's, for CPUs with dot products;
        # `auto` then runs fp32), never less accurate than the parity bounds allow
        p = card["parity"]
        assert "int8" not in bundled_files(name) or (
            p["int8_fp32_top1_agreement"] >= p["bounds"]["min_agreement"]
            and p["int8_accuracy_drop_points"] <= p["bounds"]["max_int8_drop_points"]
        ), f"{name}: int8 outside the parity bounds"


def test_a_nano_model_stays_within_its_mac_budget():
    """The edge tier's promise: at most 15M multiply-accumulates per face, counted from the
    shipped graph itself (flip averaging inside a graph counts twice)."""
    onnx = pytest.importorskip("onnx", reason="counting MACs needs onnx: pip install '.[train]'")
    from edge_export.macs import count_macs

    nano = [n for n in bundled_models() if n.endswith("-nano")]
    if not nano:
        pytest.skip("no nano model is bundled yet")
    for name in nano:
        for path in bundled_files(name).values():
            macs = count_macs(onnx.load(str(path)))
            assert macs <= NANO_MAC_BUDGET, (path.name, macs)
            assert macs == _card(name)["macs_per_face"]


@pytest.mark.parametrize("name", sorted(n for n in FLOORS if not n.endswith("-nano")))
def test_shipped_cards_report_a_repeated_stratified_kfold(name):
    cv = (_card(name).get("recipe_kfold") or {}).get("cv")
    assert cv, f"{name}: exported without --kfold"
    assert cv["folds"] >= 5 and cv["repeats"] >= 2
    accuracy = [f["accuracy"] for f in cv["per_fold"]]
    assert len(accuracy) == cv["folds"] * cv["repeats"]
    assert cv["accuracy_mean"] == pytest.approx(sum(accuracy) / len(accuracy))
    assert sum(f["n"] for f in cv["per_fold"]) == cv["repeats"] * sum(
        f["n"] for f in cv["per_fold"] if f["repeat"] == 1
    ), "each repeat holds out every training image once"


@pytest.mark.shared
@needs_shared
@pytest.mark.parametrize("name", sorted(FLOORS))
def test_shipped_accuracy_on_private_test(name):
    """Every precision shipped meets the floors (`auto` may run either)."""
    for precision in bundled_files(name):
        res = CliRunner().invoke(
            app,
            ["evaluate", "--model", name, "--precision", precision, "--data", str(FER2013)]
            + ["--split", "PrivateTest", "--json"],
        )
        assert res.exit_code == 0, res.output
        rep = json.loads(res.output.strip().splitlines()[-1])
        assert rep["accuracy"] >= FLOORS[name], (name, precision, rep["accuracy"])
        assert rep["macro_f1"] >= F1_FLOORS[name], (name, precision, rep["macro_f1"])
        card_accuracy = _card(name)["final_report"][precision]["accuracy"]
        assert rep["accuracy"] == pytest.approx(card_accuracy, abs=CPU_KERNEL_TOLERANCE)


@pytest.mark.shared
@pytest.mark.skipif(not JUSTIN.is_file(), reason="../shared/samples absent")
@pytest.mark.parametrize("name", sorted(FLOORS))
def test_justin_smiles(name):
    res = CliRunner().invoke(app, ["predict", "--model", name, "--json", str(JUSTIN)])
    assert res.exit_code == 0, res.output
    faces = json.loads(res.output.strip().splitlines()[-1])["faces"]
    assert len(faces) == 1 and faces[0]["label"] == "happy"


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_the_demo_says_happy(name):
    """`edge-fer run --demo`: the camera pans and zooms over a smiling face; the tracked face
    reads happy in every frame it is found (haar's rare second box, on the suit, is ignored)."""
    res = CliRunner().invoke(app, ["run", "--demo", "--model", name, "--json"])
    assert res.exit_code == 0, res.output
    frames = [json.loads(line) for line in res.output.splitlines() if line.startswith("{")]
    frames = [f for f in frames if "faces" in f]
    best = [max(f["faces"], key=lambda face: face["score"]) for f in frames if f["faces"]]
    assert len(best) >= 0.9 * len(frames) and len(frames) >= 100
    assert all(face["label"] == "happy" for face in best)


def test_inspect_shows_the_recipe_from_the_card_beside_the_model():
    res = CliRunner().invoke(app, ["inspect", "fer7"])
    assert res.exit_code == 0, res.output
    recipe = json.loads(res.output)["recipe"]
    assert recipe["smooth_sigma"] == 0.6 and recipe["flip_tta"] is True
    assert recipe["macs_per_face"] == 236_138_240
    assert recipe["kfold"]["folds"] == 5 and 0.6 < recipe["kfold"]["accuracy_mean"] < 0.65
