"""The model family, folds, `edge-fer train` (plain, resumed, k-fold, mirrored) and evaluate."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from train_fixtures import needs_training_stack, train_args, write_synthetic_zip, write_votes
from typer.testing import CliRunner

from edge_runtime.classifier import MODELS_DIR
from edge_runtime.cli import app

OUTPUT_FILES = ["model.keras", "metrics.json", "history.csv", "curves.png", "confusion.png"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "edge_runtime.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_list_archs_prints_the_family_with_parameter_counts_without_tensorflow():
    needs_training_stack()
    from edge_train.archs import ARCHS, param_count

    code = (
        "import sys; from typer.testing import CliRunner; from edge_runtime.cli import app; "
        "r = CliRunner().invoke(app, ['train', '--list-archs']); print(r.output); "
        "print('tensorflow loaded:', 'tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "tensorflow loaded: False" in out.stdout
    rows = re.findall(r"^(\w+)\s+([\d,]+) params", out.stdout, flags=re.M)
    counts = {name: int(n.replace(",", "")) for name, n in rows}
    assert set(counts) == set(ARCHS) >= {"poc", "a", "b", "c", "vgg", "nano"}
    for name, n in counts.items():  # the recorded counts are the built models'
        assert n == param_count(name, 7), name


def test_every_arch_scales_inside_and_augments_only_in_training():
    needs_training_stack()
    from edge_train.archs import ARCHS, build

    x = np.random.default_rng(0).uniform(0, 255, (2, 48, 48, 1)).astype(np.float32)
    for name in ARCHS:
        m = build(name, 3, seed=1)
        assert m.input_shape == (None, 48, 48, 1) and m.output_shape == (None, 3)
        assert any(layer.name == "scale" for layer in m.layers)
        a, b = np.asarray(m(x, training=False)), np.asarray(m(x, training=False))
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a.sum(1), 1.0, rtol=1e-5)
    aug = build("poc", 2, seed=1).get_layer("augment")
    assert not np.array_equal(np.asarray(aug(x, training=True)), x)
    np.testing.assert_array_equal(np.asarray(aug(x, training=False)), x)


def test_each_epoch_line_says_how_long_the_rest_of_the_fit_takes(capsys):
    from edge_train.fit import _Progress

    progress = _Progress("train")
    row = {"loss": 1.0, "accuracy": 0.5, "val_loss": 1.1, "val_accuracy": 0.4, "lr": 1e-3}
    for epoch, seconds in ((1, 95.0), (2, 91.0), (3, 300.0)):
        progress.epoch({**row, "epoch": epoch}, 43, seconds)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].endswith(", ~1h06m left")  # 42 epochs left at 95 s
    # the median epoch so far (95 s) times the 40 epochs left, not the slow last one
    assert lines[2].endswith(", ~1h03m left")
    progress.epoch({**row, "epoch": 43}, 43, 90.0)
    assert capsys.readouterr().err.rstrip().endswith("90.0s")


def test_repeated_stratified_folds():
    needs_training_stack()
    from edge_train.fit import fold_indices

    labels = np.array([0] * 50 + [1] * 30 + [2] * 20)
    folds = fold_indices(labels, k=5, repeats=2, seed=3)
    assert len(folds) == 10
    for r in range(2):
        held = np.concatenate([te for _, te in folds[r * 5 : (r + 1) * 5]])
        assert sorted(held.tolist()) == list(range(100))  # every image tested once per repeat
    for tr, te in folds:
        assert not set(tr) & set(te)
        assert np.bincount(labels[te]).tolist() == [10, 6, 4]  # class proportions kept
    again = fold_indices(labels, k=5, repeats=2, seed=3)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    assert not np.array_equal(folds[0][1], fold_indices(labels, 5, 2, seed=4)[0][1])


def test_class_weights_favour_rare_classes_and_average_one():
    needs_training_stack()
    from edge_train.fit import _class_weights

    labels = np.array([0] * 400 + [1] * 100 + [2] * 25)
    assert _class_weights(labels, 3, "none") is None
    balanced, root = _class_weights(labels, 3, "balanced"), _class_weights(labels, 3, "sqrt")
    for w in (balanced, root):
        assert np.mean([w[c] for c in labels]) == pytest.approx(1.0)
        assert w[0] < w[1] < w[2]
    assert balanced[2] / balanced[0] == pytest.approx(16.0)  # inverse frequency
    assert root[2] / root[0] == pytest.approx(4.0)  # its square root


def test_train_writes_every_output_and_refuses_to_overwrite(trained_run, synthetic_zip):
    for name in OUTPUT_FILES:
        assert (trained_run / name).is_file(), name
    m = json.loads((trained_run / "metrics.json").read_text())
    assert m["labels"] == ["happy", "sad"] and m["arch"] == "poc" and m["epochs"] == 8
    for split in ("Training", "PublicTest", "PrivateTest"):
        rep = m["splits"][split]
        assert 0 <= rep["accuracy"] <= 1 and len(rep["confusion"]) == 2
        assert set(rep["per_class"]["happy"]) == {"precision", "recall", "f1", "support"}
    assert m["params"] > 0 and m["wall_seconds"] > 0
    assert m["command"].startswith("edge-fer train") and len(m["data"]["sha256"]) == 64
    assert "tensorflow" in "".join(m["versions"]) or "keras" in m["versions"]
    assert len((trained_run / "history.csv").read_text().splitlines()) == 9
    assert m["kept_epoch"] == m["best_epoch"] and m["config"]["keep"] == "best"
    assert _same_weights(trained_run / "model.keras", trained_run / "checkpoint" / "best.keras")
    res = CliRunner().invoke(
        app,
        train_args(str(synthetic_zip), "--out", str(trained_run), epochs=None),
    )
    assert res.exit_code == 2
    assert "exists; pass --resume" in res.output


def _same_weights(a: Path, b: Path) -> bool:
    import keras

    wa, wb = (keras.saving.load_model(p, safe_mode=True).get_weights() for p in (a, b))
    return all(np.array_equal(x, y) for x, y in zip(wa, wb, strict=True))


def test_keep_last_keeps_the_last_epoch_whatever_the_validation_split_says(synthetic_zip, tmp_path):
    needs_training_stack()
    out = tmp_path / "last"
    res = CliRunner().invoke(
        app, train_args(str(synthetic_zip), "--keep", "last", "--out", str(out), epochs=3)
    )
    assert res.exit_code == 0, res.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["kept_epoch"] == 3 and m["config"]["keep"] == "last"
    assert "--keep last" in m["command"]
    assert _same_weights(out / "model.keras", out / "checkpoint" / "last.keras")
    if m["best_epoch"] != 3:
        assert not _same_weights(out / "model.keras", out / "checkpoint" / "best.keras")
    res = CliRunner().invoke(app, train_args(str(synthetic_zip), "--keep", "first"))
    assert res.exit_code == 2 and "--keep 'first': choose best or last" in res.output


def test_train_bad_options_are_one_line_errors(synthetic_zip, tmp_path):
    needs_training_stack()
    r = CliRunner()
    res = r.invoke(app, ["train", "--data", str(synthetic_zip), "--arch", "nope"])
    assert res.exit_code == 2 and "unknown architecture" in res.output
    res = r.invoke(
        app,
        train_args(
            str(tmp_path / "none.zip"), "--out", str(tmp_path / "o"), classes=None, epochs=None
        ),
    )
    assert res.exit_code == 2 and "no such file" in res.output
    res = r.invoke(app, ["train", "--data", str(synthetic_zip), "--classes", "happy,joyful"])
    assert res.exit_code == 2 and "unknown class" in res.output
    assert "Traceback" not in res.output


@pytest.mark.slow
def test_resume_continues_a_killed_run(synthetic_zip, tmp_path):
    needs_training_stack()
    out = tmp_path / "run"
    args = train_args(str(synthetic_zip), "--out", str(out), epochs=3)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_runtime.cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    state = out / "checkpoint" / "state.json"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if state.is_file() and json.loads(state.read_text())["epoch"] >= 1:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = json.loads(state.read_text())
    assert 1 <= before["epoch"] < 3, "the run finished before it could be interrupted"
    killed_seconds = float((out / "wall_seconds.txt").read_text())
    assert killed_seconds >= before["history"][0]["seconds"]
    res = _cli(*args, "--resume")
    assert res.returncode == 0, res.stderr
    assert f"resuming after epoch {before['epoch']}" in res.stderr
    history = json.loads(state.read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[0] == before["history"][0]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 3
    assert metrics["wall_seconds"] >= killed_seconds + history[-1]["seconds"]


@pytest.mark.slow
def test_kfold_ensemble(synthetic_zip, tmp_path):
    needs_training_stack()
    out = tmp_path / "cv"
    res = CliRunner().invoke(
        app,
        train_args(
            str(synthetic_zip),
            "--cv",
            "2",
            "--repeats",
            "2",
            "--cv-final",
            "ensemble",
            "--out",
            str(out),
        ),
    )
    assert res.exit_code == 0, res.output
    cv = json.loads((out / "metrics.json").read_text())["cv"]
    assert len(cv["per_fold"]) == 4 and cv["final"] == "ensemble"
    accs = [f["accuracy"] for f in cv["per_fold"]]
    assert cv["accuracy_mean"] == pytest.approx(np.mean(accs))
    assert cv["accuracy_std"] == pytest.approx(np.std(accs, ddof=1))
    assert sum(f["n"] for f in cv["per_fold"][:2]) == 300  # each training image held out once
    import keras

    ens = keras.saving.load_model(out / "model.keras", safe_mode=True)
    assert ens.output_shape == (None, 2)

    from edge_train.data import load
    from edge_train.fit import ensemble, networks, predict, teacher_targets

    images = load(synthetic_zip).split("PublicTest").images[:10]
    members = sorted(out.glob("folds/*/model.keras"))
    assert len(networks(ens)) == 4
    # an ensemble given as a member contributes each of its networks, at equal weight
    single = keras.saving.load_model(members[0], safe_mode=True)
    mixed = ensemble([ens, single], "mixed")
    assert len(networks(mixed)) == 5
    nets = [keras.saving.load_model(m, safe_mode=True) for m in members] + [single]
    np.testing.assert_allclose(
        predict(mixed, images), np.mean([predict(n, images) for n in nets], axis=0), atol=1e-6
    )

    mean = np.mean([teacher_targets(str(m), images, ("happy", "sad")) for m in members], axis=0)
    np.testing.assert_allclose(
        teacher_targets(str(out), images, ("happy", "sad")), mean, atol=1e-6
    )  # a k-fold run directory teaches as its fold models
    res = CliRunner().invoke(
        app,
        train_args(str(synthetic_zip), "--teacher", str(out / "folds"), classes=None),
    )
    assert res.exit_code == 2 and "not a finished --cv run" in res.output


def test_distillation_takes_the_teachers_columns_by_label(trained_run, synthetic_zip, tmp_path):
    needs_training_stack()
    from edge_train.data import load
    from edge_train.fit import teacher_targets

    teacher = str(trained_run / "model.keras")
    images = load(synthetic_zip).split("PublicTest").images[:20]
    hs = teacher_targets(teacher, images, ("happy", "sad"))
    assert hs.shape == (20, 2) and np.allclose(hs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(teacher_targets(teacher, images, ("sad", "happy")), hs[:, ::-1])
    with pytest.raises(ValueError, match="does not predict angry"):
        teacher_targets(teacher, images, ("angry", "happy"))

    args = train_args(str(synthetic_zip), "--teacher", teacher, "--teacher-weight", "0.7")
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "student")])
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "student" / "metrics.json").read_text())
    assert metrics["config"]["teacher"] == teacher and metrics["config"]["teacher_weight"] == 0.7
    assert metrics["teacher"]["command"].startswith("edge-fer train")
    res = CliRunner().invoke(app, [*args, "--cv", "2", "--out", str(tmp_path / "cv")])
    assert res.exit_code == 2 and "held-out fold" in res.output
    res = CliRunner().invoke(app, [*args[:-4], "--teacher", str(tmp_path / "none.keras")])
    assert res.exit_code == 2 and "none.keras: no such file" in res.output


def test_an_exported_onnx_model_teaches_through_onnxruntime(exported, synthetic_zip, tmp_path):
    needs_training_stack()
    from edge_runtime.classifier import EmotionClassifier
    from edge_train.data import load
    from edge_train.fit import teacher_targets

    teacher = exported / "happy_sad.int8.onnx"
    images = load(synthetic_zip).split("PublicTest").images[:20]
    probs = EmotionClassifier(teacher).predict_proba(images)
    probs = probs / probs.sum(axis=1, keepdims=True)  # an int8 softmax sums to 1 only roughly
    np.testing.assert_allclose(
        teacher_targets(str(teacher), images, ("happy", "sad")), probs, rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        teacher_targets(str(teacher), images, ("sad", "happy")),
        probs[:, ::-1],
        rtol=1e-5,
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="does not predict angry"):
        teacher_targets(str(teacher), images, ("angry", "happy"))

    res = CliRunner().invoke(
        app,
        train_args(
            str(synthetic_zip),
            "--teacher",
            str(teacher),
            "--out",
            str(tmp_path / "nano"),
            arch="nano",
        ),
    )
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "nano" / "metrics.json").read_text())
    assert metrics["config"]["teacher"] == str(teacher) and metrics["arch"] == "nano"


def test_teacher_sees_each_epochs_augmented_images(exported, synthetic_zip, tmp_path, monkeypatch):
    needs_training_stack()
    import edge_train.fit
    from edge_runtime.cli import app
    from edge_train.data import load
    from edge_train.run_dir import load_keras

    seen = []
    real = edge_train.fit.load_teacher

    def recording(path, classes):
        teach = real(path, classes)
        return lambda images: seen.append(images.copy()) or teach(images)

    monkeypatch.setattr(edge_train.fit, "load_teacher", recording)
    originals = load(synthetic_zip).task(("happy", "sad")).split("train").images
    out = tmp_path / "online"
    res = CliRunner().invoke(
        app,
        train_args(
            str(synthetic_zip),
            "--teacher",
            str(exported / "happy_sad.int8.onnx"),
            "--teacher-sees",
            "augmented",
            "--out",
            str(out),
            arch="nano",
            epochs=2,
        ),
    )
    assert res.exit_code == 0, res.output
    assert len(seen) == 2 and all(s.dtype == np.uint8 and s.shape == originals.shape for s in seen)
    # each epoch the teacher labels new augmented copies, never the training images themselves
    assert not np.array_equal(seen[0], seen[1])
    assert all(np.abs(s.astype(int) - originals.astype(int)).mean() > 1 for s in seen)
    assert json.loads((out / "metrics.json").read_text())["config"]["teacher_sees"] == "augmented"
    # the student learns from augmented images made outside it, so it holds no augmentation
    assert "augment" not in [layer.name for layer in load_keras(out / "model.keras").layers]

    res = CliRunner().invoke(
        app, ["train", "--data", str(synthetic_zip), "--teacher-sees", "both", "--out", str(out)]
    )
    assert res.exit_code == 2 and "--teacher-sees 'both'" in res.output


def test_sharpen_unsharp_masks_half_the_augmented_faces(synthetic_zip):
    needs_training_stack()
    from edge_train.data import load
    from edge_train.fit import augmented

    faces = load(synthetic_zip).split("train").images[:200, :, :, None].astype(np.float32)
    plain, sharp = augmented(faces, seed=5), augmented(faces, seed=5, sharpen=True)
    # the same seed gives the same epoch (--resume relies on it)
    assert np.array_equal(sharp, augmented(faces, seed=5, sharpen=True))
    changed = np.any(sharp != plain, axis=(1, 2, 3))
    assert 0.3 < changed.mean() < 0.7, changed.mean()

    def detail(x: np.ndarray) -> float:
        return float(np.abs(np.diff(x, axis=2)).mean())

    assert detail(sharp[changed]) > 1.05 * detail(plain[changed])
    assert sharp.min() >= 0 and sharp.max() <= 255 and np.array_equal(sharp, np.rint(sharp))


def test_mixup_blends_faces_and_their_targets_alike():
    from edge_train.fit import mixed

    rng = np.random.default_rng(0)
    n = 300
    x = rng.integers(0, 256, (n, 48, 48, 1)).astype(np.float32)
    y = np.eye(n, dtype=np.float32)  # one class per face: a target shows whom a face was mixed with
    has = rng.random(n) < 0.8
    bx, by, bhas = mixed(x, y, has, seed=3)
    again = mixed(x, y, has, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((bx, by, bhas), again, strict=True))
    assert np.allclose(by.sum(1), 1.0)
    lam = np.diagonal(by)
    others = by - np.diag(lam)
    partner = np.where(others.max(1) > 0, others.argmax(1), np.arange(n))
    expect = np.rint(lam[:, None, None, None] * x + (1 - lam[:, None, None, None]) * x[partner])
    assert np.abs(bx - expect).max() <= 1
    assert np.array_equal(bhas, has & has[partner])
    assert np.mean((lam > 0.1) & (lam < 0.9)) > 0.3  # Beta(0.4, 0.4) visibly blends many faces


@pytest.mark.parametrize("flag", ["--sharpen", "--mixup"])
def test_online_augmentations_run_and_are_refused_without_an_online_teacher(
    flag, exported, synthetic_zip, tmp_path
):
    needs_training_stack()
    from edge_runtime.cli import app

    teacher = str(exported / "happy_sad.int8.onnx")
    out = tmp_path / "run"
    args = train_args(str(synthetic_zip), "--teacher", teacher, flag, "--out", str(out))
    res = CliRunner().invoke(app, [*args, "--teacher-sees", "augmented"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "metrics.json").read_text())["config"][flag[2:]] is True
    no_teacher = train_args(str(synthetic_zip), flag)
    for bad in (no_teacher, args, [*args, "--teacher-sees", "augmented", "--no-augment"]):
        res = CliRunner().invoke(app, bad)
        assert res.exit_code == 2 and f"{flag} needs --teacher" in res.output, bad


def test_also_teacher_averages_the_teachers(exported, trained_run, synthetic_zip, tmp_path):
    needs_training_stack()
    from edge_export.card import _training_section
    from edge_runtime.cli import app
    from edge_train.data import load
    from edge_train.fit import load_teachers, teacher_targets

    onnx, keras_run = str(exported / "happy_sad.int8.onnx"), str(trained_run / "model.keras")
    images = load(synthetic_zip).split("PublicTest").images[:20]
    task = ("happy", "sad")
    mean = (teacher_targets(onnx, images, task) + teacher_targets(keras_run, images, task)) / 2
    np.testing.assert_allclose(load_teachers([onnx, keras_run], task)(images), mean, rtol=1e-6)

    out = tmp_path / "two"
    args = train_args(str(synthetic_zip), "--teacher", onnx, "--also-teacher", keras_run)
    res = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["also_teachers"] == [keras_run]
    assert metrics["also_teachers"][0]["path"] == keras_run
    lines = _training_section({"training": metrics})
    assert any(f"the mean answer of that model and `{keras_run}`" in line for line in lines)

    res = CliRunner().invoke(app, train_args(str(synthetic_zip), "--also-teacher", keras_run))
    assert res.exit_code == 2 and "--also-teacher needs --teacher" in res.output
    res = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "none.keras")])
    assert res.exit_code == 2 and "none.keras: no such file or directory" in res.output


def test_teacher_also_labels_the_faces_of_other_classes(exported, tmp_path, monkeypatch):
    needs_training_stack()
    import edge_train.fit
    from edge_runtime.cli import app
    from edge_train.data import load

    seen = []
    real = edge_train.fit.load_teacher

    def recording(path, classes):
        teach = real(path, classes)
        return lambda images: seen.append(len(images)) or teach(images)

    monkeypatch.setattr(edge_train.fit, "load_teacher", recording)
    synthetic_zip = write_synthetic_zip(
        tmp_path / "three.zip", (40, 10, 5), classes=("happy", "sad", "neutral")
    )
    full = load(synthetic_zip)
    task = full.task(("happy", "sad")).split("train")
    others = full.other_faces(("happy", "sad"))
    assert len(others) == len(full.split("train")) - len(task) > 0
    teacher = str(exported / "happy_sad.int8.onnx")
    out = tmp_path / "others"
    args = train_args(str(synthetic_zip), "--teacher", teacher, arch="nano", epochs=2)
    for sees in ("originals", "augmented"):
        seen.clear()
        res = CliRunner().invoke(
            app,
            [
                *args,
                "--teacher-sees",
                sees,
                "--teacher-other-faces",
                "--out",
                str(out),
                "--overwrite",
            ],
        )
        assert res.exit_code == 0, res.output
        assert f"{len(others)} training faces of the other classes" in res.output
        assert seen == [len(task) + len(others)] * (2 if sees == "augmented" else 1), sees
    assert json.loads((out / "metrics.json").read_text())["config"]["teacher_other_faces"]

    for bad in (["--cv", "2"], ["--class-weight", "sqrt"]):
        res = CliRunner().invoke(app, [*args, "--teacher-other-faces", *bad])
        assert res.exit_code == 2 and "--teacher-other-faces needs --teacher" in res.output
    no_teacher = train_args(str(synthetic_zip), "--teacher-other-faces")
    res = CliRunner().invoke(app, no_teacher)
    assert res.exit_code == 2 and "--teacher-other-faces needs --teacher" in res.output
    res = CliRunner().invoke(
        app,
        train_args(
            str(synthetic_zip),
            "--teacher",
            teacher,
            "--teacher-other-faces",
            classes="sad,happy,neutral",
        ),
    )
    assert res.exit_code == 2 and "no training faces outside sad, happy, neutral" in res.output


def test_init_fine_tunes_a_backbone_trained_on_another_task(trained_run, synthetic_zip, tmp_path):
    needs_training_stack()
    from edge_train.archs import build
    from edge_train.fit import init_leak, warm_start
    from edge_train.run_dir import load_keras

    init = str(trained_run / "model.keras")
    src = load_keras(trained_run / "model.keras")

    def weights(m, part):
        return [layer.get_weights()[0] for layer in m.layers if part in layer.name]

    for classes, same_head in ((("happy", "sad"), True), (("sad", "happy"), False)):
        model = build("poc", 2, augment=False)
        warm_start(model, init, classes)
        assert all(map(np.array_equal, weights(model, "conv"), weights(src, "conv")))
        head = np.array_equal(*[weights(m, "probabilities")[0] for m in (model, src)])
        assert head == same_head  # another task (here: other label order) gets a fresh head
    with pytest.raises(ValueError, match="do not match architecture 'a'"):
        warm_start(build("a", 2, augment=False), init, ("happy", "sad"))
    grown = tmp_path / "nano.keras"
    nano = build("nano", 2, augment=False)
    nano.save(grown)
    deep = build("nano_deep", 2, augment=False)
    fresh = [w.copy() for w in deep.get_weights()]
    warm_start(deep, str(grown), ("happy", "sad"))
    kept = [layer for layer in nano.layers if layer.get_weights()][:-1]  # nano's body
    pairs = list(zip(deep.get_weights(), fresh, strict=True))
    copied = sum(len(layer.get_weights()) for layer in kept)
    assert all(map(np.array_equal, deep.get_weights()[:copied], nano.get_weights()[:copied]))
    assert not any(np.array_equal(a, b) for a, b in pairs[:copied] if a.std() > 0)
    # the fifth stage and the 512-wide head start fresh
    assert all(np.array_equal(a, b) for a, b in pairs[copied:])
    deep.save(tmp_path / "deep.keras")  # a deeper model cannot start a shallower one
    with pytest.raises(ValueError, match="do not match architecture 'nano'"):
        warm_start(build("nano", 2, augment=False), str(tmp_path / "deep.keras"), ("happy", "sad"))
    assert init_leak(init, ("angry", "fear")) is None  # never saw an angry or fearful image
    assert "has seen the held-out folds" in init_leak(init, ("happy", "fear"))
    child = tmp_path / "child"
    child.mkdir()
    (child / "metrics.json").write_text(json.dumps({"labels": ["angry"], "config": {"init": init}}))
    assert "has seen the held-out folds" in init_leak(str(child / "model.keras"), ("happy",))
    (child / "metrics.json").write_text("{not json")
    assert "no readable metrics.json" in init_leak(str(child / "model.keras"), ("happy",))

    args = ["train", "--data", str(synthetic_zip), "--arch", "poc", "--epochs", "1", "--init", init]
    res = CliRunner().invoke(app, [*args, "--classes", "sad,happy", "--out", str(tmp_path / "ft")])
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "ft" / "metrics.json").read_text())
    assert metrics["init"]["labels"] == ["happy", "sad"] and metrics["config"]["init"] == init
    res = CliRunner().invoke(app, [*args, "--classes", "happy,sad", "--cv", "2"])
    assert res.exit_code == 2 and "the fold scores would be inflated" in res.output
    res = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "none.keras")])
    assert res.exit_code == 2 and "none.keras: no such file" in res.output


def test_init_starts_from_a_bundled_model(synthetic_zip, tmp_path):
    """`--init fer7-nano`: the bundled fp32 file rebuilt into OUT/init (batch norms from the
    data's Training faces) starts a happy/sad run; what cannot start one is refused in a line."""
    needs_training_stack()
    out = tmp_path / "ft"
    args = train_args(synthetic_zip, "--init", "fer7-nano", arch="nano_deep")
    res = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    rebuilt = json.loads((out / "init" / "metrics.json").read_text())
    assert rebuilt["arch"] == "nano_deep" and rebuilt["labels"][3] == "happy"
    assert rebuilt["rebuilt_from"]["norm_statistics_from"].endswith(f"of {synthetic_zip}")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["init"] == str(out / "init" / "model.keras")
    assert metrics["init"]["labels"] == rebuilt["labels"]

    int8 = str(MODELS_DIR / "fer7-nano.int8.onnx")
    for init, arch, said in (
        ("fer7-nano", "nano", "fer7-nano: a nano_deep model; train it with --arch nano_deep"),
        ("happy_sad", "vgg", "--init happy_sad: only its int8 file is bundled"),
        (int8, "nano_deep", f"--init {int8}: an int8 file; a run starts from the fp32 file"),
        ("no-such-model", "nano_deep", "--init no-such-model: no such file, nor a bundled model"),
    ):
        res = CliRunner().invoke(app, train_args(synthetic_zip, "--init", init, arch=arch))
        assert res.exit_code == 2 and said in res.output, res.output
    res = CliRunner().invoke(app, [*args, "--cv", "2"])
    assert res.exit_code == 2 and "was trained on happy, sad images" in res.output


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(synthetic_zip, tmp_path):
    needs_training_stack()
    res = _cli(
        "train",
        "--data",
        str(synthetic_zip),
        "--arch",
        "poc",
        "--classes",
        "happy,sad",
        "--epochs",
        "1",
        "--strategy",
        "mirrored",
        "--cpu-devices",
        "2",
        "--out",
        str(tmp_path / "m"),
    )
    assert res.returncode == 0, res.stderr
    m = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert m["config"]["strategy"] == "mirrored"


def test_evaluate_keras_model(trained_run, synthetic_zip):
    res = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--model",
            str(trained_run / "model.keras"),
            "--data",
            str(synthetic_zip),
            "--split",
            "PublicTest",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output.strip().splitlines()[-1])
    assert {"accuracy", "macro_f1", "n", "labels", "confusion"} <= set(rep)
    assert rep["n"] == 120 and rep["labels"] == ["happy", "sad"]
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert rep["accuracy"] == pytest.approx(metrics["splits"]["PublicTest"]["accuracy"])


def test_train_without_training_stack_says_how_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tensorflow" else real(name, *a),
    )
    res = CliRunner().invoke(app, ["train", "--data", "faces.zip"])
    assert res.exit_code == 3
    assert "pip install 'edge-fer[train]'" in res.output
    assert len(res.output.strip().splitlines()) == 1
    # listing the family needs no TensorFlow
    assert CliRunner().invoke(app, ["train", "--list-archs"]).exit_code == 0


def test_cli_help_lists_every_command():
    res = CliRunner().invoke(app, ["--help"])
    for verb in ("train", "evaluate", "export", "models", "inspect", "predict", "run"):
        assert verb in res.output


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([str(Path(__file__))]))


def test_train_on_votes_learns_their_distribution_and_keeps_the_epoch_by_their_majority(
    synthetic_zip, tmp_path, monkeypatch
):
    needs_training_stack()
    import edge_train.fit as fit

    votes = write_votes(synthetic_zip, tmp_path / "votes.csv")
    seen = []
    real_fit_one = fit.fit_one
    monkeypatch.setattr(
        fit,
        "fit_one",
        lambda cfg, train, *a, **k: seen.append(train) or real_fit_one(cfg, train, *a, **k),
    )
    out = tmp_path / "voted"
    args = train_args(synthetic_zip, "--labels", str(votes), "--dataset-label-weight", "0.5")
    res = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    train = seen[0]
    assert np.allclose(np.unique(train.targets.round(3)), [0.1, 0.4, 0.6, 0.9])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["scored_against"] == f"majority of the votes in {votes}"
    assert metrics["config"]["dataset_label_weight"] == 0.5
    res = CliRunner().invoke(app, [*train_args(synthetic_zip, "--dataset-label-weight", "0.5")])
    assert res.exit_code == 2 and "--dataset-label-weight needs --labels" in res.output
