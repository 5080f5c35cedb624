"""The FER2013 emotion vocabulary: canonical names, Kaggle codes, folder-name aliases, and a
model's answer narrowed to some of its classes."""

from __future__ import annotations

import numpy as np

# The answer for a face whose most likely class is below the caller's --min-confidence.
UNCERTAIN = "uncertain"

# Kaggle fer2013.csv codes, in code order.
FER2013_LABELS: tuple[str, ...] = (
    "angry",
    "disgust",
    "fear",
    "happy",
    "sad",
    "surprise",
    "neutral",
)

ALIASES: dict[str, str] = {
    "anger": "angry",
    "angry": "angry",
    "disgust": "disgust",
    "disgusted": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "scared": "fear",
    "happy": "happy",
    "happiness": "happy",
    "joy": "happy",
    "sad": "sad",
    "sadness": "sad",
    "surprise": "surprise",
    "surprised": "surprise",
    "neutral": "neutral",
    "contempt": "contempt",
    "afraid": "fear",
    "unhappy": "sad",
    # JAFFE's file-name codes, also used as folder names
    "an": "angry",
    "di": "disgust",
    "fe": "fear",
    "ha": "happy",
    "sa": "sad",
    "su": "surprise",
    "ne": "neutral",
}


def canonical_label(name: str) -> str | None:
    """The canonical emotion for a folder or user-given name, or None when unknown."""
    return ALIASES.get(name.strip().lower())


def parse_classes(text: str | None) -> tuple[str, ...]:
    """Parse a `--classes` value ("happy,sad", "all" or None) into canonical labels, in order.

    Raises ValueError naming the offending entry.
    """
    if text is None or text.strip().lower() in ("", "all", "fer7"):
        return FER2013_LABELS
    out: list[str] = []
    for part in text.split(","):
        label = canonical_label(part)
        if label is None or label not in FER2013_LABELS:
            raise ValueError(f"unknown class {part.strip()!r}; known: {', '.join(FER2013_LABELS)}")
        if label in out:
            raise ValueError(f"class {label!r} is listed twice")
        out.append(label)
    if len(out) < 2:
        raise ValueError("a task needs at least two classes")
    return tuple(out)


def task_name(classes: tuple[str, ...]) -> str:
    """A short task name: 'fer7' for all seven emotions, else the classes joined by '_'."""
    return "fer7" if tuple(classes) == FER2013_LABELS else "_".join(classes)


def task_probs(probs: np.ndarray, labels: tuple[str, ...], classes: tuple[str, ...]) -> np.ndarray:
    """The probabilities of `classes` (a subset of the model's `labels`), renormalised to sum
    to 1: how a fer7 model answers happy vs sad."""
    cols = probs[:, [labels.index(c) for c in classes]]
    return cols / np.maximum(cols.sum(axis=1, keepdims=True), 1e-12)
