"""Training: one model on Training (validated on PublicTest), or repeated stratified k-fold.

Every epoch ends with a checkpoint (`checkpoint/`: model with optimizer state, and
`state.json`: epoch, history, best score, fold results), so `--resume` continues an
interrupted run where it stopped. Data order per epoch comes from (seed, fold, epoch), so a
resumed run sees the same batches as an uninterrupted one. What TensorFlow cannot make
bit-exact: multi-threaded CPU kernels (oneDNN) sum in varying order, so two runs with the same
seed agree closely but not to the last bit.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge_runtime.labels import task_name, task_probs
from edge_runtime.metrics import report
from edge_train.data import Dataset
from edge_train.run_dir import as_input, keras_labels, load_keras, predict, run_metrics

CHECKPOINT = "checkpoint"


@dataclass
class TrainConfig:
    arch: str
    classes: tuple[str, ...]
    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    label_smoothing: float = 0.0
    class_weight: str = "none"  # none | balanced | sqrt
    patience: int = 0  # 0 = no early stopping
    keep: str = "best"  # best (on the validation split) | last: the epoch a run keeps
    cv: int = 0
    repeats: int = 1
    cv_final: str = "best"  # best | refit | ensemble
    strategy: str = "none"  # none | mirrored | multiworker
    augment: bool = True
    teacher: str = ""  # a trained .keras model whose probabilities become soft targets
    teacher_weight: float = 0.5
    teacher_sees: str = "originals"  # originals (targets once) | augmented (afresh each epoch)
    teacher_other_faces: bool = False  # the teacher also labels the faces of classes left out
    sharpen: bool = False  # online augmentation also unsharp-masks half the faces
    mixup: bool = False  # online augmentation also blends each face with another (mixup)
    also_teachers: tuple[str, ...] = ()  # more teachers, their answers averaged with teacher's
    init: str = ""  # a trained .keras model (this architecture or one it grows) that starts the run
    votes: str = ""  # a votes file (FER+): soft targets, and the majority as the label
    dataset_label_weight: float = 0.0  # with votes: the dataset's own label's share of a target
    command: str = ""
    extra: dict = field(default_factory=dict)


def _keras():
    import keras

    return keras


def set_seeds(seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)


def distribution_strategy(name: str):
    """TensorFlow's own distributed engine; None for plain single-device training."""
    if name == "none":
        return None
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy(
            devices=[d.name for d in tf.config.list_logical_devices("GPU")]
            or [d.name for d in tf.config.list_logical_devices("CPU")]
        )
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy multiworker needs TF_CONFIG set for each worker")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r} (none, mirrored, multiworker)")


def split_cpu(n: int) -> None:
    """Present the CPU as `n` logical devices (lets MirroredStrategy run without GPUs)."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
    )


def _lr_at(cfg: TrainConfig, epoch: int) -> float:
    """Linear warm-up over 2 epochs, then cosine decay to 2% of the base rate."""
    warm = min(2, max(cfg.epochs - 1, 1))
    if epoch < warm:
        return cfg.lr * (epoch + 1) / warm
    t = (epoch - warm) / max(cfg.epochs - warm, 1)
    return cfg.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t)))


def _class_weights(labels: np.ndarray, n: int, mode: str) -> dict[int, float] | None:
    """Loss weight per class: `balanced` is inverse frequency, `sqrt` its square root (rare
    classes count more, the prior less distorted); both average 1 over the images."""
    if mode == "none":
        return None
    counts = np.maximum(np.bincount(labels, minlength=n).astype(np.float64), 1)
    w = 1.0 / counts if mode == "balanced" else 1.0 / np.sqrt(counts)
    w *= counts.sum() / (w * counts).sum()
    return {i: float(v) for i, v in enumerate(w)}


def _compile(model, cfg: TrainConfig) -> None:
    keras = _keras()
    model.compile(
        optimizer=keras.optimizers.Adam(cfg.lr),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
        metrics=["accuracy"],
    )


def augmented(
    x: np.ndarray, seed: int, batch_size: int = 1024, sharpen: bool = False
) -> np.ndarray:
    """`x` [N, 48, 48, 1] through the training augmentation, rounded to whole pixel values, so
    a teacher that reads uint8 faces sees exactly what the student learns from. `sharpen`:
    half the faces also get an unsharp mask of random strength, since FER2013's Training
    images are softer than its test images and a student matches its teacher only on the kind
    of image it was taught on."""
    from edge_train.archs import augmentation

    aug = augmentation(seed)
    batches = range(0, len(x), batch_size)
    out = np.concatenate([np.asarray(aug(x[i : i + batch_size], training=True)) for i in batches])
    if sharpen:
        rng = np.random.default_rng(seed)
        amount = rng.uniform(0.0, 1.5, len(out)) * (rng.random(len(out)) < 0.5)
        for i in np.flatnonzero(amount):
            face = out[i, :, :, 0]
            out[i, :, :, 0] = face + amount[i] * (face - cv2.GaussianBlur(face, (0, 0), 1.0))
    return np.clip(np.rint(out), 0, 255).astype(np.float32)


def mixed(
    x: np.ndarray, y: np.ndarray, has_label: np.ndarray, seed: int, alpha: float = 0.4
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mixup: each face blended with a random partner by a Beta(alpha, alpha) weight, rounded
    to whole pixel values (the teacher then labels the blend it sees), targets blended by the
    same weight; a blend has a label only when both of its faces have one."""
    rng = np.random.default_rng(seed)
    lam = rng.beta(alpha, alpha, len(x)).astype(np.float32)
    partner = rng.permutation(len(x))
    blend = lam[:, None, None, None] * x + (1 - lam[:, None, None, None]) * x[partner]
    targets = lam[:, None] * y + (1 - lam[:, None]) * y[partner]
    return np.rint(blend).astype(np.float32), targets, has_label & has_label[partner]


def _onehot(labels: np.ndarray, n: int) -> np.ndarray:
    return np.eye(n, dtype=np.float32)[labels]


def evaluate(model, ds: Dataset) -> dict:
    probs = predict(model, ds.images)
    return report(ds.labels, probs.argmax(1), ds.classes)


def teacher_targets(path: str, images: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """A teacher's probabilities over `classes` for `images` (see `load_teacher`)."""
    return load_teacher(path, classes)(images)


def load_teacher(path: str, classes: tuple[str, ...]) -> Callable[[np.ndarray], np.ndarray]:
    """The teacher at `path`, loaded once: a function from uint8 faces [N, 48, 48] to its
    probabilities over `classes`.

    The teacher is an exported edge-fer `.onnx` model (its own answer: flip averaging and
    smoothing, if any, are in its graph), a trained `.keras` model or a `--cv` run directory
    (the mean of its fold models, each flip-averaged). A teacher trained on more classes
    (fer7 teaching happy_sad) gives its columns for `classes`, renormalised; a Keras teacher's
    labels come from its run's metrics.json.
    """
    if path.endswith(".onnx"):
        return _onnx_teacher(path, classes)

    members = [load_keras(m) for m in teacher_members(path)]
    labels = (run_metrics(path) or {}).get("labels")
    if labels is not None:
        missing = [c for c in classes if c not in labels]
        if missing:
            raise ValueError(f"--teacher {path}: it does not predict {', '.join(missing)}")

    def teach(images: np.ndarray) -> np.ndarray:
        probs = sum(
            (predict(m, images) + predict(m, images[:, :, ::-1])) / 2.0 for m in members
        ) / len(members)
        if labels is not None:
            return task_probs(probs, tuple(labels), classes)
        if probs.shape[1] != len(classes):
            raise ValueError(
                f"--teacher {path}: it predicts {probs.shape[1]} classes, the task has "
                f"{len(classes)}, and no metrics.json beside it names them"
            )
        return probs

    return teach


def load_teachers(paths: list[str], classes: tuple[str, ...]) -> Callable[[np.ndarray], np.ndarray]:
    """The mean answer of the teachers at `paths` (each as `load_teacher` reads it)."""
    teachers = [load_teacher(p, classes) for p in paths]
    return lambda images: sum(t(images) for t in teachers) / len(teachers)


def _onnx_teacher(path: str, classes: tuple[str, ...]) -> Callable[[np.ndarray], np.ndarray]:
    from edge_runtime.classifier import EmotionClassifier

    clf = EmotionClassifier(path, threads=os.cpu_count() or 1)
    missing = [c for c in classes if c not in clf.labels]
    if missing:
        raise ValueError(f"--teacher {path}: it does not predict {', '.join(missing)}")
    return lambda images: task_probs(clf.predict_proba(images), clf.labels, classes)


def teacher_members(path: str) -> list[Path]:
    """The models a teacher path stands for: the file itself, or a k-fold run's fold models."""
    p = Path(path)
    if not p.is_dir():
        return [p]
    members = sorted(p.glob("folds/*/model.keras"))
    if not members or not (run_metrics(path) or {}).get("cv"):
        raise ValueError(
            f"--teacher {path}: a directory, but not a finished --cv run (no metrics.json with "
            "its k-fold and fold models in folds/)"
        )
    return members


def kfold_on_task(run_dir: Path, ds: Dataset, classes: tuple[str, ...]) -> dict | None:
    """The k-fold of the run in `run_dir` scored on `classes` only: each fold model answers,
    over those classes, for its held-out images of those classes (single pass, as the run's own
    fold scores). `ds` is the run's dataset with all its classes. None when the run was not a
    k-fold, kept no fold models, or `ds` is not its data."""
    m = run_metrics(str(run_dir)) or {}
    cv, config = m.get("cv"), m.get("config") or {}
    if not cv or (m.get("data") or {}).get("sha256") != ds.digest:
        return None
    labels = tuple(m["labels"])
    base = ds.task(labels)
    base = base.split("train") if {"Training", "train"} & set(base.splits.tolist()) else base
    keras = _keras()
    keep = np.isin(base.labels, [labels.index(c) for c in classes])
    index = {labels.index(c): i for i, c in enumerate(classes)}
    per_fold = []
    for i, (_, held) in enumerate(
        fold_indices(base.labels, cv["folds"], cv["repeats"], config.get("seed", 0))
    ):
        r, k = divmod(i, cv["folds"])
        path = run_dir / "folds" / f"r{r + 1}_k{k + 1}" / "model.keras"
        if not path.is_file():
            return None
        held = held[keep[held]]
        probs = task_probs(
            predict(keras.saving.load_model(path, safe_mode=True), base.images[held]),
            labels,
            classes,
        )
        truth = np.array([index[v] for v in base.labels[held].tolist()])
        rep = report(truth, probs.argmax(1), classes)
        per_fold.append(
            {
                "repeat": r + 1,
                "fold": k + 1,
                "n": rep["n"],
                "accuracy": rep["accuracy"],
                "macro_f1": rep["macro_f1"],
            }
        )
    return {
        **_cv_summary(per_fold, cv["folds"], cv["repeats"], cv.get("final")),
        "scored_on": list(classes),
        "trained_on": list(labels),
    }


def _weighted_layers(model) -> list:
    return [layer for layer in model.layers if layer.name != "augment" and layer.get_weights()]


def warm_start(model, path: str, classes: tuple[str, ...]) -> None:
    """Start `model` from the weights of the trained model at `path`: the same architecture, or
    one that grows it (nano_deep from nano) by layers before the classifier head.

    Layers are paired in order; layers the trained model lacks stay freshly initialised. The
    classifier head is copied only when the trained model has the same depth and the same labels
    in the same order (metrics.json beside it); otherwise it stays fresh, so a backbone trained
    on one task can be fine-tuned on another.
    """

    dst, src = _weighted_layers(model), _weighted_layers(load_keras(Path(path)))
    body = len(src) - 1

    def shapes(layer) -> list[tuple]:
        return [tuple(w.shape) for w in layer.get_weights()]

    if len(dst) < len(src) or any(
        shapes(d) != shapes(s) for d, s in zip(dst, src[:body], strict=False)
    ):
        raise ValueError(f"--init {path}: its layers do not match architecture {model.name!r}")
    for layer, s in zip(dst, src[:body], strict=False):
        layer.set_weights(s.get_weights())
    if len(dst) == len(src) and keras_labels(Path(path)) == tuple(classes):
        dst[-1].set_weights(src[-1].get_weights())


def init_leak(path: str, classes: tuple[str, ...]) -> str | None:
    """Why k-fold scores of a run started from `path` would be inflated, or None.

    Honest only when the starting model never saw an image of the task's classes: then no
    held-out fold image was in its training data. The models it started from or was distilled
    from (their metrics.json) must not have seen one either.
    """
    m = run_metrics(path)
    if m is None:
        return f"no readable metrics.json beside {path} says which classes it was trained on"
    seen = [c for c in classes if c in m.get("labels", classes)]
    if seen:
        return f"{path} was trained on {', '.join(seen)} images, so it has seen the held-out folds"
    config = m.get("config") or {}
    for parent in (config.get("init"), config.get("teacher")):
        leak = init_leak(parent, classes) if parent else None
        if leak:
            return leak
    return None


class _WallClock:
    """Wall time of a run over all its invocations, saved after every epoch: a run killed
    mid-way (a session that ends) still counts the time it spent when it is resumed."""

    def __init__(self, path: Path, resume: bool) -> None:
        self.path = path
        self.prior = float(path.read_text()) if resume and path.is_file() else 0.0
        self.t0 = time.time()

    @property
    def seconds(self) -> float:
        return self.prior + time.time() - self.t0

    def save(self) -> None:
        self.path.write_text(f"{self.seconds:.1f}")


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return "under 1m"
    return f"~{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"~{minutes}m"


class _Progress:
    """One summary line per epoch on stderr, with the time the rest of this fit should take
    at the median epoch so far (Keras draws the per-batch bar on a terminal)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seconds: list[float] = []

    def epoch(self, row: dict, epochs: int, seconds: float) -> None:
        self.seconds.append(seconds)
        left = (epochs - row["epoch"]) * float(np.median(self.seconds))
        print(
            f"{self.name} epoch {row['epoch']}/{epochs}: loss {row['loss']:.4f} "
            f"acc {row['accuracy']:.4f} val_loss {row['val_loss']:.4f} "
            f"val_acc {row['val_accuracy']:.4f} lr {row['lr']:.2e} {seconds:.1f}s"
            + (f", {_duration(left)} left" if left else ""),
            file=sys.stderr,
            flush=True,
        )


def fit_one(
    cfg: TrainConfig,
    train: Dataset,
    val: Dataset,
    workdir: Path,
    name: str = "train",
    resume: bool = False,
    data_seed: int = 0,
    on_epoch: Callable[[], None] = lambda: None,
    others: np.ndarray | None = None,
):
    """Train one model with per-epoch checkpoints in `workdir`; returns (best model, history).

    The kept model is the epoch with the best validation accuracy. `others` (uint8 faces with
    no label of the task) are learnt from the teacher's answer alone.
    """
    keras = _keras()
    from edge_train.archs import build

    ckpt = workdir / CHECKPOINT
    state_file = ckpt / "state.json"
    n = len(cfg.classes)
    teach = load_teachers([cfg.teacher, *cfg.also_teachers], cfg.classes) if cfg.teacher else None
    online = teach is not None and cfg.augment and cfg.teacher_sees == "augmented"
    strategy = distribution_strategy(cfg.strategy)
    if resume and state_file.is_file():
        state = json.loads(state_file.read_text())
        model = keras.saving.load_model(ckpt / "last.keras", safe_mode=True)
        print(f"{name}: resuming after epoch {state['epoch']}", file=sys.stderr)
    else:
        set_seeds(cfg.seed + data_seed)
        if strategy is not None:
            with strategy.scope():
                model = build(cfg.arch, n, augment=cfg.augment and not online, seed=cfg.seed)
                _compile(model, cfg)
        else:
            model = build(cfg.arch, n, augment=cfg.augment and not online, seed=cfg.seed)
            _compile(model, cfg)
        if cfg.init:
            warm_start(model, cfg.init, cfg.classes)
        state = {"epoch": 0, "history": [], "best": -1.0, "best_epoch": 0, "wait": 0}
        ckpt.mkdir(parents=True, exist_ok=True)

    faces = train.images
    y_train = _onehot(train.labels, n) if train.targets is None else train.targets
    labelled = np.ones(len(faces), bool)
    if others is not None:
        faces = np.concatenate([faces, others])
        y_train = np.concatenate([y_train, np.zeros((len(others), n), y_train.dtype)])
        labelled = np.concatenate([labelled, np.zeros(len(others), bool)])
    x_train = as_input(faces)
    w = cfg.teacher_weight

    def with_teacher(y: np.ndarray, images: np.ndarray, has_label: np.ndarray) -> np.ndarray:
        t = teach(images)
        return np.where(has_label[:, None], (1 - w) * y + w * t, t)

    if teach is not None and not online:
        y_train = with_teacher(y_train, faces, labelled)
    x_val, y_val = as_input(val.images), _onehot(val.labels, n)
    weights = _class_weights(train.labels, n, cfg.class_weight)
    progress = _Progress(name)
    verbose = 1 if sys.stdout.isatty() else 0
    while state["epoch"] < cfg.epochs:
        epoch = state["epoch"]
        lr = _lr_at(cfg, epoch)
        model.optimizer.learning_rate.assign(lr)
        order = np.random.default_rng([cfg.seed, data_seed, epoch]).permutation(len(x_train))
        t0 = time.perf_counter()
        x_epoch, y_epoch = x_train[order], y_train[order]
        if online:
            seed = cfg.seed * 100_003 + data_seed * 1009 + epoch
            x_epoch = augmented(x_epoch, seed=seed, sharpen=cfg.sharpen)
            has_label = labelled[order]
            if cfg.mixup:
                x_epoch, y_epoch, has_label = mixed(x_epoch, y_epoch, has_label, seed=seed + 1)
            y_epoch = with_teacher(y_epoch, x_epoch[..., 0].astype(np.uint8), has_label)
        hist = model.fit(
            x_epoch,
            y_epoch,
            batch_size=cfg.batch_size,
            epochs=1,
            shuffle=False,
            verbose=verbose,
            class_weight=weights,
        )
        val_loss, val_acc = model.evaluate(x_val, y_val, batch_size=512, verbose=0)
        seconds = time.perf_counter() - t0
        row = {
            "epoch": epoch + 1,
            "loss": float(hist.history["loss"][-1]),
            "accuracy": float(hist.history["accuracy"][-1]),
            "val_loss": float(val_loss),
            "val_accuracy": float(val_acc),
            "lr": lr,
            "seconds": seconds,
        }
        state["history"].append(row)
        state["epoch"] = epoch + 1
        progress.epoch(row, cfg.epochs, seconds)
        if val_acc > state["best"]:
            state.update(best=float(val_acc), best_epoch=epoch + 1, wait=0)
            _save_atomic(model, ckpt / "best.keras")
        else:
            state["wait"] += 1
        _save_atomic(model, ckpt / "last.keras")
        on_epoch()  # first: a run killed between the two still counts the time this epoch took
        _write_json(state_file, state)
        if cfg.patience and state["wait"] >= cfg.patience:
            print(f"{name}: early stop, no gain for {cfg.patience} epochs", file=sys.stderr)
            break
    kept = keras.saving.load_model(ckpt / f"{cfg.keep}.keras", safe_mode=True)
    return kept, state


def _save_atomic(model, path: Path) -> None:
    """Save a checkpoint beside `path`, then move it into place: a run killed mid-save keeps
    the previous checkpoint whole, so `--resume` always finds one."""
    tmp = path.with_name(f".{path.stem}-{os.getpid()}.keras")
    model.save(tmp)
    os.replace(tmp, path)


def _write_json(path: Path, obj) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)


def library_versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": sys.version.split()[0]}
    for pkg in (
        "numpy",
        "tensorflow",
        "tensorflow-cpu",
        "keras",
        "onnxruntime",
        "opencv-python-headless",
        "scikit-learn",
        "tf2onnx",
        "onnx",
    ):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def _kept_epoch(history: list[dict], keep: str) -> int:
    """The epoch (from 1) whose weights a run keeps: the first of the most accurate on the
    validation split, or the last; 0 for no history."""
    if not history:
        return 0
    if keep == "last":
        return len(history)
    return int(np.argmax([h["val_accuracy"] for h in history]) + 1)


def _validation_split(ds: Dataset) -> tuple[Dataset, Dataset, str]:
    """(train, validation, validation name): PublicTest for FER2013, `test` for folder sets,
    else a stratified 10% of the training images."""
    name = ds.choice_split()
    if name and set(ds.splits.tolist()) & {"Training", "train"}:
        return ds.split("train"), ds.split(name), name
    from sklearn.model_selection import train_test_split

    base = ds.split("all")
    idx = np.arange(len(base))
    tr, va = train_test_split(idx, test_size=0.1, stratify=base.labels, random_state=0)
    return base._take(np.isin(idx, tr)), base._take(np.isin(idx, va)), "holdout10"


def evaluate_splits(model, ds: Dataset) -> dict[str, dict]:
    """The model's report on each split `ds` has."""
    out = {}
    for name in ("Training", "PublicTest", "PrivateTest", "train", "test", "all"):
        if name in set(ds.splits.tolist()):
            out[name] = evaluate(model, ds._take(ds.splits == name))
    return out


def run_training(
    cfg: TrainConfig,
    ds: Dataset,
    out: Path,
    resume: bool = False,
    others: np.ndarray | None = None,
) -> dict:
    """Plain or k-fold training on `ds` (already reduced to cfg.classes); writes `out`.
    `others`: training faces of the classes left out, for the teacher to label (plain runs)."""
    from edge_train.plots import plot_confusion, plot_curves

    clock = _WallClock(out / "wall_seconds.txt", resume)
    if cfg.cv:
        model, history, cv = _cross_validate(cfg, ds, out, resume, clock.save)
    else:
        train, val, _ = _validation_split(ds)
        model, state = fit_one(
            cfg, train, val, out, resume=resume, on_epoch=clock.save, others=others
        )
        history, cv = state["history"], None
    clock.save()
    wall = clock.seconds

    metrics = {
        "task": task_name(cfg.classes),
        "labels": list(cfg.classes),
        "arch": cfg.arch,
        "params": int(model.count_params()),
        "epochs": len(history),
        "best_epoch": _kept_epoch(history, "best"),
        "kept_epoch": _kept_epoch(history, cfg.keep),
        "wall_seconds": round(wall, 1),
        "seconds_per_epoch": round(float(np.median([h["seconds"] for h in history])), 2)
        if history
        else None,
        "command": cfg.command,
        "config": {k: v for k, v in asdict(cfg).items() if k != "command"},
        "data": {"source": ds.source, "sha256": ds.digest, "counts": ds.counts()},
        "scored_against": f"majority of the votes in {cfg.votes}" if cfg.votes else "labels",
        "splits": evaluate_splits(model, ds),
        "cv": cv,
        "teacher": _provenance(cfg.teacher),
        "also_teachers": [_provenance(p) for p in cfg.also_teachers],
        "init": _provenance(cfg.init),
        "versions": library_versions(),
    }
    model.save(out / "model.keras")
    _write_json(out / "metrics.json", metrics)
    with open(out / "history.csv", "w", newline="") as f:
        if history:
            w = csv.DictWriter(f, fieldnames=list(history[0]))
            w.writeheader()
            w.writerows(history)
    plot_curves(
        history,
        out / "curves.png",
        title=f"{cfg.arch} {metrics['task']}",
        kept=metrics["kept_epoch"],
    )
    report_split = ds.choice_split() or "all"
    if report_split in metrics["splits"]:
        plot_confusion(
            metrics["splits"][report_split],
            out / "confusion.png",
            title=f"{cfg.arch} {metrics['task']} on {report_split}",
        )
    return metrics


def _provenance(path: str) -> dict | None:
    """Where a teacher or starting model came from: path, labels, command, k-fold scores."""
    if not path:
        return None
    m = run_metrics(path) or {}
    return {"path": path, "labels": m.get("labels"), "command": m.get("command"), "cv": m.get("cv")}


def fold_indices(labels: np.ndarray, k: int, repeats: int, seed: int) -> list:
    """(train, held-out) index pairs of repeated stratified k-fold: every image is held out
    once per repeat, each fold keeps the class proportions, the same seed gives the same folds."""
    from sklearn.model_selection import RepeatedStratifiedKFold

    rskf = RepeatedStratifiedKFold(n_splits=k, n_repeats=repeats, random_state=seed)
    return list(rskf.split(np.zeros(len(labels)), labels))


def _cross_validate(cfg: TrainConfig, ds: Dataset, out: Path, resume: bool, on_epoch: Callable):
    """Repeated stratified k-fold on the training split; fixed epochs, scored on held-out folds."""
    keras = _keras()
    base = ds.split("train") if {"Training", "train"} & set(ds.splits.tolist()) else ds
    fold_cfg = TrainConfig(**{**asdict(cfg), "patience": 0})
    folds, models, histories = [], [], []
    for i, (tr, te) in enumerate(fold_indices(base.labels, cfg.cv, cfg.repeats, cfg.seed)):
        r, k = divmod(i, cfg.cv)
        fdir = out / "folds" / f"r{r + 1}_k{k + 1}"
        done = fdir / "result.json"
        if resume and done.is_file():
            folds.append(json.loads(done.read_text()))
            models.append(keras.saving.load_model(fdir / "model.keras", safe_mode=True))
            histories.append(json.loads((fdir / CHECKPOINT / "state.json").read_text())["history"])
            continue
        train = base._take(np.isin(np.arange(len(base)), tr))
        held = base._take(np.isin(np.arange(len(base)), te))
        fold_cfg.epochs = cfg.epochs
        model, state = _fit_fixed(
            fold_cfg, train, held, fdir, f"fold r{r + 1}k{k + 1}", resume, i + 1, on_epoch
        )
        rep = evaluate(model, held)
        result = {
            "repeat": r + 1,
            "fold": k + 1,
            "n": rep["n"],
            "accuracy": rep["accuracy"],
            "macro_f1": rep["macro_f1"],
            "epochs": state["epoch"],
        }
        model.save(fdir / "model.keras")
        _write_json(done, result)
        print(
            f"fold r{r + 1}k{k + 1}: accuracy {rep['accuracy']:.4f} macro-F1 {rep['macro_f1']:.4f}",
            file=sys.stderr,
        )
        folds.append(result)
        models.append(model)
        histories.append(state["history"])
    acc = np.array([f["accuracy"] for f in folds])
    cv = _cv_summary(folds, cfg.cv, cfg.repeats, cfg.cv_final)
    print(
        f"cv {cfg.cv}x{cfg.repeats}: "
        f"accuracy {cv['accuracy_mean']:.4f} +- {cv['accuracy_std']:.4f}, "
        f"macro-F1 {cv['macro_f1_mean']:.4f} +- {cv['macro_f1_std']:.4f}",
        file=sys.stderr,
    )
    if cfg.cv_final == "best":
        model, history = models[int(acc.argmax())], histories[int(acc.argmax())]
    elif cfg.cv_final == "ensemble":
        model = ensemble(models, cfg.arch)
        history = []
    else:
        train, val, _ = _validation_split(ds)
        model, state = _fit_fixed(fold_cfg, train, val, out / "refit", "refit", resume, 0, on_epoch)
        history = state["history"]
    return model, history, cv


def _cv_summary(folds: list[dict], k: int, repeats: int, final: str | None) -> dict:
    acc = np.array([f["accuracy"] for f in folds])
    f1 = np.array([f["macro_f1"] for f in folds])
    return {
        "folds": k,
        "repeats": repeats,
        "per_fold": folds,
        "accuracy_mean": float(acc.mean()),
        "accuracy_std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
        "macro_f1_mean": float(f1.mean()),
        "macro_f1_std": float(f1.std(ddof=1)) if len(f1) > 1 else 0.0,
        "final": final,
    }


def _fit_fixed(cfg, train, held, workdir, name, resume, data_seed, on_epoch):
    """Fixed-length training whose kept model is the last epoch (held-out data not peeked at)."""
    keras = _keras()
    _, state = fit_one(cfg, train, held, workdir, name, resume, data_seed, on_epoch)
    return keras.saving.load_model(workdir / CHECKPOINT / "last.keras", safe_mode=True), state


ENSEMBLE_SUFFIX = "_ensemble"


def networks(model) -> list:
    """The networks whose mean `model` answers: its members when it is an ensemble, else
    itself."""
    if not model.name.endswith(ENSEMBLE_SUFFIX):
        return [model]
    keras = _keras()
    return [layer for layer in model.layers if isinstance(layer, keras.Model)]


def ensemble(models: list, name: str):
    """One Keras model whose output is the mean of the members' probabilities. A member that
    is itself an ensemble (a k-fold run's) gives its networks, so every network weighs the
    same."""
    keras = _keras()
    from edge_train.archs import INPUT_SHAPE

    inputs = keras.Input(INPUT_SHAPE, name="image")
    outs = []
    for i, m in enumerate(net for model in models for net in networks(model)):
        m.name = f"{name}_member{i + 1}"
        outs.append(m(inputs, training=False))
    out = keras.layers.Average(name="probabilities")(outs) if len(outs) > 1 else outs[0]
    return keras.Model(inputs, out, name=f"{name}{ENSEMBLE_SUFFIX}")


def prepare_out(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to write into an existing run unless resuming or told to overwrite."""
    if out.exists() and any(out.iterdir()):
        if resume:
            return
        if not overwrite:
            raise FileExistsError(
                f"{out}: output directory exists; pass --resume to continue it or --overwrite"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
