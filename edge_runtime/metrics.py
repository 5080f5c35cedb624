"""Classification figures from a confusion matrix (numpy only, so the runtime can evaluate).

Training code uses scikit-learn for folds; these figures are checked against scikit-learn's
and scipy's in `tests/test_metrics.py`.
"""

from __future__ import annotations

from math import comb

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion matrix, rows = true class, columns = predicted class."""
    idx = np.asarray(y_true, np.int64) * n_classes + np.asarray(y_pred, np.int64)
    return np.bincount(idx, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def report(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str] | tuple[str, ...]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix."""
    cm = confusion(y_true, y_pred, len(labels))
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    n = int(cm.sum())
    return {
        "n": n,
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "macro_f1": float(f1.mean()),
        "labels": list(labels),
        "per_class": {
            lab: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, lab in enumerate(labels)
        },
        "confusion": cm.tolist(),
    }


def scores(y_true: np.ndarray, y_pred: np.ndarray, task: tuple[str, ...]) -> dict:
    """The report over every class the model may answer, with macro-F1 over the classes the
    data has (a class it lacks has no recall to average)."""
    rep = report(y_true, y_pred, task)
    have = [c for c in task if rep["per_class"][c]["support"]]
    rep["macro_f1"] = float(np.mean([rep["per_class"][c]["f1"] for c in have]))
    rep["scored_classes"] = have
    return rep


def confidence_report(
    probs: np.ndarray, y_true: np.ndarray, other_probs: np.ndarray | None, min_confidence: float
) -> dict:
    """What answering only faces whose top probability reaches `min_confidence` does: the
    share of the task's faces answered and their accuracy, and the share of faces of other
    classes (which have no right answer) that still get one."""
    answered = probs.max(1).astype(np.float64) >= min_confidence  # as the runtime compares
    right = probs.argmax(1) == y_true
    out = {
        "min_confidence": min_confidence,
        "answered": float(answered.mean()),
        "answered_accuracy": float(right[answered].mean()) if answered.any() else None,
        "other_faces": 0 if other_probs is None else int(len(other_probs)),
        "other_answered": None,
    }
    if other_probs is not None:
        out["other_answered"] = float(
            (other_probs.max(1).astype(np.float64) >= min_confidence).mean()
        )
    return out


def paired(y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray) -> dict:
    """Two models' answers on the same faces, face by face: how many only A gets right, how
    many only B, and the exact McNemar p-value, the chance of a split at least that uneven
    between those faces if A and B were equally accurate."""
    right_a, right_b = pred_a == y_true, pred_b == y_true
    only_a, only_b = int(np.sum(right_a & ~right_b)), int(np.sum(right_b & ~right_a))
    n = only_a + only_b
    tail = sum(comb(n, k) for k in range(min(only_a, only_b) + 1))
    return {
        "only_a_right": only_a,
        "only_b_right": only_b,
        "p_value": min(1.0, 2 * tail / 2**n),
    }
