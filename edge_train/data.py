"""FER2013 in the forms users have (Kaggle CSV, image folders, a zip of them) as one set of arrays.

TensorFlow-free on purpose: `edge-fer evaluate` on ONNX models runs on a runtime-only install.
Images of other sizes or in colour go through `edge_runtime.preprocess.to_face_input`, the
same function the device uses on face crops.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import sys
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from edge_runtime.cache import cache_dir
from edge_runtime.errors import EdgeFerError
from edge_runtime.labels import FER2013_LABELS, canonical_label
from edge_runtime.preprocess import FACE_SIZE, to_face_input
from edge_runtime.terminal import progress

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".tif", ".tiff", ".webp"}
SPLIT_PREFIXES = ("Training", "PublicTest", "PrivateTest")
TRAIN_FOLDERS = {"train", "training"}
TEST_FOLDERS = {"test", "testing", "val", "validation"}
# What `--split` accepts, and which stored split names each one selects.
SPLIT_CHOICES: dict[str, tuple[str, ...]] = {
    "Training": ("Training", "train"),
    "train": ("Training", "train"),
    "PublicTest": ("PublicTest",),
    "PrivateTest": ("PrivateTest",),
    "test": ("PublicTest", "PrivateTest", "test"),
    "all": ("Training", "PublicTest", "PrivateTest", "train", "test", "all"),
}
CACHE_VERSION = 3
# Every cache entry's name starts with this: the sweep deletes no file without it, so a user's
# own .npz files in the cache folder are never touched.
CACHE_PREFIX = "edge-fer-dataset-"
MAX_REPORTED = 20


class DataError(EdgeFerError):
    """A dataset that cannot be used at all (nothing usable, missing path, unknown format)."""


@dataclass
class Dataset:
    """Images (uint8 [N, 48, 48]), label indices into `classes`, each image's split name and
    its path inside the dataset (`test/angry/PrivateTest_1.jpg`; empty for a CSV's rows),
    which votes files and the leaked-images list match. `targets`, when set, are the soft
    training targets over `classes` ([N, len(classes)]) that replace the one-hot labels."""

    images: np.ndarray
    labels: np.ndarray
    splits: np.ndarray
    classes: tuple[str, ...]
    source: str
    digest: str
    skipped: dict[str, int] = field(default_factory=dict)
    names: np.ndarray | None = None
    targets: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def _take(self, mask: np.ndarray) -> Dataset:
        return Dataset(
            self.images[mask],
            self.labels[mask],
            self.splits[mask],
            self.classes,
            self.source,
            self.digest,
            dict(self.skipped),
            None if self.names is None else self.names[mask],
            None if self.targets is None else self.targets[mask],
        )

    def split(self, name: str) -> Dataset:
        """The images of one split (`Training`, `PublicTest`, `PrivateTest`, `train`, `test`,
        `all`); DataError when the dataset has none."""
        if name not in SPLIT_CHOICES:
            raise DataError(f"unknown split {name!r}; choose from {', '.join(SPLIT_CHOICES)}")
        part = self._take(np.isin(self.splits, SPLIT_CHOICES[name]))
        if len(part) == 0:
            have = ", ".join(sorted(set(self.splits.tolist()))) or "none"
            raise DataError(f"{self.source}: no images in split {name!r} (splits here: {have})")
        return part

    def training_pool(self) -> Dataset:
        """The images training, int8 calibration and batch-norm statistics draw from: the
        training split, else (a set without splits) all of it; DataError when it has only
        test images, which are never used for either."""
        present = set(self.splits.tolist())
        if present & {"Training", "train"}:
            return self.split("train")
        if "all" in present:
            return self.split("all")
        raise DataError(f"{self.source}: no training images (test splits are never used)")

    def report_split(self) -> str:
        """The split figures are reported on: FER2013's PrivateTest, else a folder set's test
        images, else all of it. Never used to choose anything."""
        present = set(self.splits.tolist())
        return next(s for s in ("PrivateTest", "test", "all") if s == "all" or s in present)

    def choice_split(self) -> str | None:
        """The held-out split choices are made on (the kept epoch, sigma, int8 parity):
        FER2013's PublicTest, else a folder set's test images; None when there is none."""
        present = set(self.splits.tolist())
        return next((s for s in ("PublicTest", "test") if s in present), None)

    def only(self, classes: tuple[str, ...]) -> Dataset:
        """The images of those of `classes` the dataset has, labels renumbered to index
        `classes` (a class it lacks just has no images)."""
        index = {self.classes.index(c): i for i, c in enumerate(classes) if c in self.classes}
        part = self._take(np.isin(self.labels, list(index)))
        part.labels = np.array([index[v] for v in part.labels.tolist()], dtype=np.int64)
        if part.targets is not None:
            cols = [self.classes.index(c) if c in self.classes else -1 for c in classes]
            kept = np.stack(
                [part.targets[:, c] if c >= 0 else np.zeros(len(part)) for c in cols], axis=1
            )
            part.targets = (kept / np.maximum(kept.sum(axis=1, keepdims=True), 1e-12)).astype(
                np.float32
            )
        part.classes = tuple(classes)
        return part

    def task(self, classes: tuple[str, ...]) -> Dataset:
        """Keep only `classes` and renumber labels in that order; DataError for an empty class."""
        missing = [c for c in classes if c not in self.classes]
        if missing:
            raise DataError(f"{self.source}: no class {', '.join(missing)} in this dataset")
        part = self.only(classes)
        empty = [c for i, c in enumerate(classes) if not np.any(part.labels == i)]
        if empty:
            raise DataError(f"{self.source}: class {', '.join(empty)} has no images")
        return part

    def other_faces(self, classes: tuple[str, ...]) -> np.ndarray:
        """The training faces of every class but `classes`; DataError when there are none."""
        train = self.split("train")
        keep = [i for i, c in enumerate(self.classes) if c in classes]
        faces = train.images[~np.isin(train.labels, keep)]
        if len(faces) == 0:
            raise DataError(f"{self.source}: no training faces outside {', '.join(classes)}")
        return faces

    def counts(self) -> dict[str, int]:
        return {c: int(np.sum(self.labels == i)) for i, c in enumerate(self.classes)}

    def summary(self) -> str:
        by_split = Counter(self.splits.tolist())
        parts = [f"{len(self)} images from {self.source}"]
        parts.append("splits " + ", ".join(f"{k} {v}" for k, v in sorted(by_split.items())))
        parts.append("classes " + ", ".join(f"{k} {v}" for k, v in self.counts().items()))
        if self.skipped:
            parts.append(
                "skipped " + ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items()))
            )
        return "; ".join(parts)


class _Problems:
    """Collects bad rows/entries: each reported on stderr (up to a cap) and counted."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self.report = report
        self.counts: Counter[str] = Counter()
        self.shown = 0

    def __call__(self, kind: str, message: str) -> None:
        self.counts[kind] += 1
        if self.shown < MAX_REPORTED:
            self.report(f"edge-fer: warning: {message}, skipped")
            self.shown += 1
        elif self.shown == MAX_REPORTED:
            self.report("edge-fer: warning: further problems are counted, not shown")
            self.shown += 1


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


# ---- sources -------------------------------------------------------------------------------


def _read_csv(path: Path, problem: _Problems) -> Iterator[tuple[np.ndarray, str, str, str]]:
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return
        cols = [h.strip().lower() for h in header]
        if "emotion" not in cols or "pixels" not in cols:
            raise DataError(f"{path}: not a FER2013 CSV (needs columns emotion,pixels[,Usage])")
        ie, ip = cols.index("emotion"), cols.index("pixels")
        iu = cols.index("usage") if "usage" in cols else None
        n_pix = FACE_SIZE * FACE_SIZE
        for row_no, row in enumerate(reader, start=2):
            where = f"{path}:{row_no}"
            if not row or all(not c.strip() for c in row):
                continue
            try:
                code = int(row[ie])
                pixels = row[ip].split()
            except (ValueError, IndexError):
                problem("bad_row", f"{where}: unreadable row")
                continue
            if not 0 <= code < len(FER2013_LABELS):
                problem("bad_label", f"{where}: unknown emotion code {row[ie]!r}")
                continue
            if len(pixels) != n_pix:
                problem("bad_pixels", f"{where}: {len(pixels)} pixels, expected {n_pix}")
                continue
            try:
                values = np.array([int(p) for p in pixels], dtype=np.int64)
            except ValueError:
                problem("bad_pixels", f"{where}: non-integer pixel value")
                continue
            if values.min() < 0 or values.max() > 255:
                problem("bad_pixels", f"{where}: pixel value outside 0..255")
                continue
            usage = row[iu].strip() if iu is not None and iu < len(row) else "all"
            face = values.astype(np.uint8).reshape(FACE_SIZE, FACE_SIZE)
            yield face, FER2013_LABELS[code], usage, ""


def _split_of(parts: tuple[str, ...]) -> str:
    stem = parts[-1]
    for prefix in SPLIT_PREFIXES:
        if stem.startswith(prefix + "_"):
            return prefix
    if len(parts) >= 3:
        folder = parts[-3].lower()
        if folder in TRAIN_FOLDERS:
            return "train"
        if folder in TEST_FOLDERS:
            return "test"
    return "all"


def _decode(data: bytes) -> np.ndarray | None:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    return None if img is None or img.size == 0 else to_face_input(img)


def _read_folder_entries(
    entries: Iterator[tuple[tuple[str, ...], Callable[[], bytes], str]],
    source: str,
    problem: _Problems,
) -> Iterator[tuple[np.ndarray, str, str, str]]:
    """Shared by directories and zips: `entries` yields (path parts, reader, display name)."""
    unknown: Counter[str] = Counter()
    class_dirs: Counter[tuple[str, ...]] = Counter()
    class_ok: Counter[tuple[str, ...]] = Counter()
    for parts, read, name in entries:
        if len(parts) < 2:
            problem.counts["no_class_folder"] += 1  # an image at the top level has no class
            continue
        folder = parts[-2]
        label = canonical_label(folder)
        if label is None:
            if folder not in unknown:
                _stderr(f"edge-fer: warning: {source}: unknown class folder {folder!r}, skipped")
            unknown[folder] += 1
            continue
        class_dirs[parts[:-1]] += 1
        try:
            face = _decode(read())
        except (OSError, zipfile.BadZipFile, cv2.error, ValueError) as e:
            problem("unreadable", f"{name}: cannot read ({e})")
            continue
        if face is None:
            problem("undecodable", f"{name}: not a decodable image")
            continue
        class_ok[parts[:-1]] += 1
        yield face, label, _split_of(parts), "/".join(parts)
    if unknown:
        problem.counts["unknown_class"] += sum(unknown.values())
    for d in class_dirs:
        if class_ok[d] == 0:
            problem("empty_class", f"{source}: class folder {'/'.join(d)!r} has no usable image")


def _dir_entries(root: Path, problem: _Problems):
    files = sorted(p for p in root.rglob("*") if p.is_file())
    class_folders = {p.parent for p in files if p.suffix.lower() in IMAGE_EXTENSIONS}
    for d in sorted(p for p in root.rglob("*") if p.is_dir()):
        if canonical_label(d.name) and d not in class_folders and not any(d.iterdir()):
            problem("empty_class", f"{d}: class folder has no images")
    for p in files:
        if p.suffix.lower() in IMAGE_EXTENSIONS:
            yield p.relative_to(root).parts, p.read_bytes, str(p)


def _zip_entries(zf: zipfile.ZipFile, path: Path, problem: _Problems):
    for info in sorted(zf.infolist(), key=lambda i: i.filename):
        name = info.filename
        if info.is_dir():
            continue
        pure = PurePosixPath(name.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts or (len(name) > 1 and name[1] == ":"):
            problem("unsafe_entry", f"{path}!{name}: unsafe path in zip")
            continue
        if pure.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        yield pure.parts, (lambda i=info: zf.read(i)), f"{path}!{name}"


def labelled_files(
    source: str | os.PathLike, report: Callable[[str], None] = _stderr
) -> Iterator[tuple[str, str, str, Callable[[], bytes]]]:
    """(display name, class, split, reader of its bytes) for each image in a folder or zip of
    class folders, not decoded: `evaluate --detect` reads whole photos. DataError when the
    source is neither; unknown class folders are reported and skipped."""
    path = Path(source)
    problem = _Problems(report)
    if path.is_dir():
        entries = _dir_entries(path, problem)
        yield from _classified(entries, str(path))
        return
    if not path.is_file() or path.suffix.lower() != ".zip":
        raise DataError(f"{path}: not a folder or zip of class folders")
    try:
        with zipfile.ZipFile(path) as zf:
            yield from _classified(_zip_entries(zf, path, problem), str(path))
    except zipfile.BadZipFile:
        raise DataError(f"{path}: not a readable zip file") from None


def _classified(entries, source: str) -> Iterator[tuple[str, str, str, Callable[[], bytes]]]:
    unknown: set[str] = set()
    for parts, read, name in entries:
        label = canonical_label(parts[-2]) if len(parts) >= 2 else None
        if label is None:
            if len(parts) >= 2 and parts[-2] not in unknown:
                unknown.add(parts[-2])
                _stderr(f"edge-fer: warning: {source}: unknown class folder {parts[-2]!r}, skipped")
            continue
        yield name, label, _split_of(parts), read


# ---- caching -------------------------------------------------------------------------------


def _fingerprint(path: Path) -> str:
    """Changes whenever the source's content may have: path, size and mtime of every file.
    Paths are resolved, so a dataset reached through a link shares one cache entry."""
    path = path.resolve()
    h = hashlib.sha256(f"v{CACHE_VERSION}:{path}".encode())
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for p in files:
        st = p.stat()
        h.update(f"{p}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def _content_digest(path: Path) -> str:
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for p in files:
        if path.is_dir():
            h.update(str(p.relative_to(path)).encode())
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


# ---- entry point ---------------------------------------------------------------------------


def load(
    source: str | os.PathLike,
    use_cache: bool = True,
    report: Callable[[str], None] = _stderr,
) -> Dataset:
    """Load FER2013 (or any emotion dataset in its layouts) with all the classes it holds.

    `source` is a Kaggle-style CSV, a folder of `[train|test/]<emotion>/*.jpg`, or a zip of
    that folder (read in place). Bad rows and entries are reported and skipped; DataError when
    nothing usable is left. Decoded arrays are cached, keyed by the files' size and mtime; a
    dataset's entry goes when it changes or disappears.
    """
    path = Path(source)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    key = _fingerprint(path)
    cached = cache_dir() / f"{CACHE_PREFIX}{key}.npz"
    if use_cache and cached.is_file():
        try:
            with np.load(cached, allow_pickle=False) as z:
                return Dataset(
                    z["images"],
                    z["labels"],
                    z["splits"],
                    tuple(z["classes"].tolist()),
                    str(path),
                    str(z["digest"]),
                    dict(zip(z["skip_kinds"].tolist(), z["skip_counts"].tolist(), strict=True)),
                    z["names"],
                )
        except (OSError, KeyError, ValueError):
            report(f"edge-fer: warning: cache {cached} unreadable, decoding again")

    progress(
        f"decoding {path}"
        + (f" (once: later reads use the cache in {cache_dir()})" if use_cache else "")
    )
    problem = _Problems(report)
    if path.is_dir():
        rows = _read_folder_entries(_dir_entries(path, problem), str(path), problem)
        items = list(rows)
    elif path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                items = list(
                    _read_folder_entries(_zip_entries(zf, path, problem), str(path), problem)
                )
        except zipfile.BadZipFile:
            raise DataError(f"{path}: not a readable zip file") from None
    elif path.suffix.lower() == ".csv":
        items = list(_read_csv(path, problem))
    else:
        raise DataError(f"{path}: unknown dataset format (expected a .csv, a .zip or a folder)")

    if not items:
        found = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in problem.counts.items())
        layout = (
            " (expected images in class folders: <emotion>/*.jpg, or train|test/<emotion>/"
            "*.jpg, e.g. happy/a.jpg; FER2013's fer2013.csv; or a zip of either)"
            if path.is_dir() or path.suffix.lower() == ".zip"
            else ""
        )
        raise DataError(f"{path}: no usable images ({found or 'nothing found'}){layout}")
    present = {label for _, label, _, _ in items}
    classes = tuple(c for c in FER2013_LABELS if c in present) + tuple(
        sorted(present - set(FER2013_LABELS))
    )
    index = {c: i for i, c in enumerate(classes)}
    ds = Dataset(
        images=np.stack([img for img, _, _, _ in items]),
        labels=np.array([index[label] for _, label, _, _ in items], dtype=np.int64),
        splits=np.array([s for _, _, s, _ in items]),
        classes=classes,
        source=str(path),
        digest=_content_digest(path),
        skipped=dict(problem.counts),
        names=np.array([name for _, _, _, name in items]),
    )
    if use_cache and _write_cache(cached, ds, str(path.resolve())):
        progress(f"cached as {cached} ({cached.stat().st_size / 2**20:.0f} MiB)")
    return ds


def _write_cache(target: Path, ds: Dataset, source: str) -> bool:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez(
            buf,
            images=ds.images,
            labels=ds.labels,
            splits=ds.splits,
            classes=np.array(ds.classes),
            digest=np.array(ds.digest),
            skip_kinds=np.array(list(ds.skipped), dtype=str),
            skip_counts=np.array(list(ds.skipped.values()), dtype=np.int64),
            names=ds.names,
            source=np.array(source),
        )
        tmp = target.with_suffix(f".{os.getpid()}.{time.monotonic_ns()}.tmp")
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, target)
    except OSError as e:
        _stderr(f"edge-fer: warning: cannot write dataset cache {target} ({e})")
        return False
    _evict_stale(target, source)
    return True


def _evict_stale(kept: Path, source: str) -> None:
    """Remove the other cache entries of `source` (made before it changed), those of datasets
    that no longer exist, unreadable ones and those of older cache versions, so the cache
    holds at most one entry per dataset on disk. Only files named as entries are looked at
    (CACHE_PREFIX; before version 3, 32 hex digits holding an entry's arrays)."""
    freed = 0
    for entry in kept.parent.glob("*.npz"):
        ours = entry.name.startswith(CACHE_PREFIX)
        legacy = len(entry.stem) == 32 and all(c in "0123456789abcdef" for c in entry.stem)
        if entry == kept or not (ours or legacy):
            continue
        try:
            with np.load(entry, allow_pickle=False) as z:
                of = str(z["source"]) if "source" in z.files else None
                is_entry = {"images", "labels", "splits", "classes", "digest"} <= set(z.files)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            of, is_entry = None, False
        if legacy and not is_entry:
            continue  # named like an old entry, but the user's own file
        if legacy or of is None or of == source or not Path(of).exists():
            with contextlib.suppress(OSError):
                size = entry.stat().st_size
                entry.unlink()
                freed += size
    if freed:
        progress(f"removed stale dataset caches ({freed / 2**20:.0f} MiB)")
