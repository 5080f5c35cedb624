"""Crowd votes per image (Microsoft's FER+ relabelling of FER2013, or a user's file with the
same columns) and the figures they define: the majority label, the clear expressions, the
vote distribution a model can be trained on; and FER2013's list of leaked test images.

TensorFlow-free: `edge-fer evaluate` scores ONNX models against the votes on a runtime-only
install. Images are matched by their path inside the dataset (`test/angry/PrivateTest_1.jpg`),
which `Dataset.names` holds.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.metrics import scores
from edge_train.data import DataError, Dataset

# The vote columns of FER+'s fer2013new.csv, in its order; `NF` is "not a face".
VOTE_COLUMNS = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
    "unknown",
    "NF",
)
# Each column's class name (None: not an emotion).
COLUMN_CLASSES = (
    "neutral",
    "happy",
    "surprise",
    "sad",
    "angry",
    "disgust",
    "fear",
    "contempt",
    None,
    None,
)
VOTES_FILE = "ferplus.csv"
LEAKED_FILE = "fer2013-test-in-training.txt"
# A clear expression: at least this many taggers agree on one emotion other than neutral.
CLEAR_VOTES = 7
MAX_FILE_BYTES = 64 << 20
MAX_REPORTED = 20


@dataclass(frozen=True)
class Votes:
    """Vote counts ([N, 10] in VOTE_COLUMNS order) per image path."""

    source: str
    index: dict[str, int]
    counts: np.ndarray

    def of(self, names: np.ndarray) -> np.ndarray:
        """The counts of each of `names` ([len(names), 10]); a row of zeros for an image the
        file has no votes for."""
        out = np.zeros((len(names), len(VOTE_COLUMNS)), np.int64)
        for i, name in enumerate(names.tolist()):
            row = self.index.get(name)
            if row is not None:
                out[i] = self.counts[row]
        return out


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def find_votes(spec: str, data: Path) -> Path:
    """The votes file `--labels` names: `ferplus` is ferplus.csv inside a dataset folder or
    beside the dataset's file; anything else is a path. DataError when it is not there."""
    if spec.strip().lower() != "ferplus":
        path = Path(spec)
        if not path.is_file():
            raise DataError(f"--labels {spec}: no such votes file")
        return path
    places = ([data / VOTES_FILE] if data.is_dir() else []) + [data.parent / VOTES_FILE]
    for path in places:
        if path.is_file():
            return path
    raise DataError(
        f"--labels ferplus: no {VOTES_FILE} in {' or '.join(str(p.parent) for p in places)}; "
        "give the votes file's path instead"
    )


def read_votes(path: Path, report: Callable[[str], None] = _stderr) -> Votes:
    """Read a votes file: a `file` column (the image's path inside the dataset) and the ten
    vote columns of VOTE_COLUMNS (any order, other columns ignored). Bad rows are reported
    and skipped; DataError when the file cannot be used at all."""
    if not path.is_file():
        raise DataError(f"{path}: not a regular file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise DataError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB, not a votes file")
    index: dict[str, int] = {}
    rows: list[list[int]] = []
    bad = 0
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        lower = [h.lower() for h in header]
        missing = [c for c in ("file", *VOTE_COLUMNS) if c.lower() not in lower]
        if missing:
            raise DataError(
                f"{path}: not a votes file (no column {', '.join(missing)}; needs file and "
                f"{','.join(VOTE_COLUMNS)})"
            )
        i_file = lower.index("file")
        i_votes = [lower.index(c.lower()) for c in VOTE_COLUMNS]
        for row_no, row in enumerate(reader, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            try:
                name = row[i_file].strip().replace("\\", "/")
                counts = [int(row[i]) for i in i_votes]
                if min(counts) < 0 or not name:
                    raise ValueError
            except (ValueError, IndexError):
                bad += 1
                if bad <= MAX_REPORTED:
                    report(f"edge-fer: warning: {path}:{row_no}: unreadable votes row, skipped")
                continue
            if name in index:
                bad += 1
                if bad <= MAX_REPORTED:
                    report(f"edge-fer: warning: {path}:{row_no}: {name} voted twice, skipped")
                continue
            index[name] = len(rows)
            rows.append(counts)
    if not rows:
        raise DataError(f"{path}: no usable votes rows")
    return Votes(str(path), index, np.array(rows, np.int64))


def read_leaked(path: Path) -> set[str]:
    """Image paths, one a line, of test images whose pixels also appear in Training."""
    if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
        raise DataError(f"{path}: not a readable list of leaked images")
    text = path.read_text(encoding="utf-8", errors="replace")
    return {line.strip().replace("\\", "/") for line in text.splitlines() if line.strip()}


def find_leaked(spec: Path | None, data: Path) -> Path | None:
    """The leaked-images list: `spec` when given, else fer2013-test-in-training.txt beside
    the dataset (or inside its folder) when there is one."""
    if spec is not None:
        if not spec.is_file():
            raise DataError(f"--leaked {spec}: no such file")
        return spec
    places = ([data / LEAKED_FILE] if data.is_dir() else []) + [data.parent / LEAKED_FILE]
    return next((p for p in places if p.is_file()), None)


def _columns(classes: tuple[str, ...]) -> list[int]:
    """For each of `classes`, its vote column (-1 when the votes have none)."""
    return [COLUMN_CLASSES.index(c) if c in COLUMN_CLASSES else -1 for c in classes]


def majority(counts: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """Each image's majority label as an index into `classes`: the most voted of all ten
    columns; -1 for a tie at the top, or when that column (unknown, not a face, an emotion
    outside `classes`) is not one of `classes`."""
    top = counts.max(axis=1)
    tie = (counts == top[:, None]).sum(axis=1) > 1
    best = counts.argmax(axis=1)
    to_class = np.full(len(VOTE_COLUMNS), -1, np.int64)
    for i, col in enumerate(_columns(classes)):
        if col >= 0:
            to_class[col] = i
    out = to_class[best]
    out[tie | (top == 0)] = -1
    return out


def clear(counts: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """Each image's clear expression as an index into `classes`: an emotion other than
    neutral that at least CLEAR_VOTES taggers chose; -1 when there is none among `classes`."""
    out = np.full(len(counts), -1, np.int64)
    for i, col in enumerate(_columns(classes)):
        if col >= 0 and classes[i] != "neutral":
            out[counts[:, col] >= CLEAR_VOTES] = i
    return out


def distribution(counts: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """The votes for `classes` as probabilities ([N, len(classes)]); a row of zeros for an
    image with no vote for any of them."""
    cols = _columns(classes)
    picked = np.stack(
        [counts[:, c] if c >= 0 else np.zeros(len(counts), np.int64) for c in cols], axis=1
    ).astype(np.float32)
    total = picked.sum(axis=1, keepdims=True)
    return np.divide(picked, total, out=np.zeros_like(picked), where=total > 0)


def require_names(ds: Dataset, what: str) -> np.ndarray:
    """The dataset's image paths; DataError when it has none to match `what` by."""
    if ds.names is None or not any(ds.names.tolist()):
        raise DataError(
            f"{ds.source}: its images have no file names to match {what} by (a CSV dataset); "
            "use the image-folder or zip layout"
        )
    return ds.names


@dataclass(frozen=True)
class Truths:
    """What each image of a split is scored against, as indices into the task (-1: not
    scored there): its dataset label, and with votes the majority label and the clear
    expression; `clean` marks the images not leaked from Training (None: no list)."""

    task: tuple[str, ...]
    fer2013: np.ndarray
    majority: np.ndarray | None = None
    clear: np.ndarray | None = None
    clean: np.ndarray | None = None
    sources: dict | None = None

    def figures(self, pred: np.ndarray) -> dict:
        """Accuracy and macro-F1 of answers `pred` (one per image) against each truth, each
        also without the leaked images."""
        out: dict = {"sources": self.sources}
        named = (
            ("fer2013", self.fer2013),
            ("ferplus_majority", self.majority),
            ("ferplus_clear", self.clear),
        )
        for name, truth in named:
            if truth is None:
                continue
            keep = truth >= 0
            out[name] = _figure(truth[keep], pred[keep], self.task)
            if self.clean is not None:
                kept = keep & self.clean
                out[name]["without_leaked"] = _figure(truth[kept], pred[kept], self.task)
        return out


def _figure(truth: np.ndarray, pred: np.ndarray, task: tuple[str, ...]) -> dict:
    if len(truth) == 0:
        return {"n": 0, "accuracy": None, "macro_f1": None}
    rep = scores(truth, pred, task)
    return {
        "n": rep["n"],
        "accuracy": rep["accuracy"],
        "macro_f1": rep["macro_f1"],
        "recall": {c: rep["per_class"][c]["recall"] for c in rep["scored_classes"]},
    }


def truths(
    part: Dataset, task: tuple[str, ...], crowd: str | None, data: Path, leaked: Path | None
) -> Truths:
    """The truths of `part`'s images for `task`: the dataset's labels; with `crowd` (a
    `--labels` value) the votes' majority and clear expressions; without the leaked images
    listed in `leaked`, or in the list beside the dataset."""
    index = {part.classes.index(c): i for i, c in enumerate(task) if c in part.classes}
    fer = np.array([index.get(v, -1) for v in part.labels.tolist()], np.int64)
    sources: dict = {"votes": None, "leaked": None}
    clean = None
    leaked_path = find_leaked(leaked, Path(data))
    has_names = part.names is not None and any(part.names.tolist())
    if leaked_path is not None and (has_names or leaked is not None):
        listed = read_leaked(leaked_path)
        clean = ~np.isin(require_names(part, "the leaked list"), list(listed))
        sources["leaked"] = {"file": str(leaked_path), "in_split": int((~clean).sum())}
    if not crowd:
        return Truths(task, fer, clean=clean, sources=sources)
    names = require_names(part, "votes")
    found = read_votes(find_votes(crowd, Path(data)))
    counts = found.of(names)
    voted = counts.sum(axis=1) > 0
    if not voted.any():
        raise DataError(
            f"{found.source}: none of the {len(part)} images here has votes in it (matched "
            f"by path inside the dataset, such as {names[0]})"
        )
    sources["votes"] = {"file": found.source, "matched": int(voted.sum()), "of": len(part)}
    return Truths(task, fer, majority(counts, task), clear(counts, task), clean, sources)


def relabelled(full: Dataset, task: tuple[str, ...], path: Path, dataset_weight: float) -> Dataset:
    """`full` as a training set for `task` labelled by the votes in `path`: the images whose
    majority is a class of the task, labelled with it (so validation scores the majority),
    each with a soft target, the votes' distribution over the task mixed with the dataset's
    own label at `dataset_weight` (where that label is a class of the task)."""
    names = require_names(full, "votes")
    found = read_votes(path)
    counts = found.of(names)
    label = majority(counts, task)
    keep = label >= 0
    if not keep.any():
        raise DataError(f"{found.source}: no image of {full.source} has a majority in the task")
    own = np.array([full.classes[v] for v in full.labels.tolist()])
    onehot = np.stack([own == c for c in task], axis=1).astype(np.float32)
    dist = distribution(counts, task)
    weight = np.where(onehot.any(axis=1), dataset_weight, 0.0)[:, None].astype(np.float32)
    part = full._take(keep)
    part.labels = label[keep]
    part.classes = tuple(task)
    part.targets = ((1 - weight) * dist + weight * onehot)[keep]
    return part
