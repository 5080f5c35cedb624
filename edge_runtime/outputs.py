"""Where results go: readable lines, JSON Lines, a CSV timeline, annotated images and video.

Every writer has the same four methods (`image`, `frame`, `summary`, `close`), so the CLI
fans each result out to a list of them; a stream calls `frame` as an observer. No writer
replaces an existing file unless told to (`overwrite=True`).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import cv2
import numpy as np

from edge_runtime.detect import to_bgr_uint8
from edge_runtime.errors import EdgeFerError, one_line
from edge_runtime.native_logs import held_back
from edge_runtime.results import Face, FrameResult, ImageResult
from edge_runtime.rotation import Rotation, Segments

SAVE_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
# .webm (VP8) plays in browsers and, like .avi/.mkv, stays playable up to a sudden kill; an
# .mp4 (MPEG-4 part 2) is cheapest to encode but unreadable unless the run closes it.
VIDEO_CODECS = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "MJPG", ".webm": "VP80"}


class OutputError(EdgeFerError):
    """An output that cannot be written (exists without overwrite, bad suffix, I/O error)."""


def ensure_writable(path: Path, overwrite: bool) -> Path:
    """`path` if it may be (re)written; OutputError if it exists and overwrite is off."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputError(f"{path} exists; pass --overwrite to replace it")
    if path.is_dir():
        raise OutputError(f"{path} is a directory")
    if not path.parent.exists():
        raise OutputError(f"{path.parent}: no such directory")
    return path


def next_free(path: Path) -> Path:
    """`path`, or the first of `stem-2.ext`, `stem-3.ext`, ... that does not exist yet."""
    candidate, n = path, 2
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate


@contextmanager
def _writing(path: Path | str) -> Iterator[None]:
    """An OS error inside (a full disk, a vanished drive) becomes one OutputError line."""
    try:
        yield
    except OSError as e:
        raise OutputError(f"{path}: cannot write ({e.strerror or e})") from None


def _seen(face: Face) -> str:
    """The detector's confidence, as the text outputs show it."""
    return f" (face {face.face_score:.2f})" if face.face_score is not None else ""


def _same_columns(path: Path, header: list[str]) -> Path:
    """`path`, or the first of its `-2`, `-3`, ... twins with these columns (a model changed
    between restarts appends to one file of its own, not a new one each restart)."""
    if _first_row(path) == header:
        return path
    n = 2
    while True:
        twin = path.with_name(f"{path.stem}-{n}{path.suffix}")
        if not twin.is_file():
            return path
        if _first_row(twin) == header:
            return twin
        n += 1


def _cut_torn_row(path: Path) -> int:
    """Truncate a text file after its last newline; the bytes removed (0: none)."""
    with path.open("rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return 0
        pos = size
        while pos > 0:
            step = min(4096, pos)
            f.seek(pos - step)
            block = f.read(step)
            nl = block.rfind(b"\n")
            if nl >= 0:
                keep = pos - step + nl + 1
                break
            pos -= step
        else:
            keep = 0
        f.truncate(keep)
        return size - keep


def _first_row(path: Path) -> list[str] | None:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            return next(csv.reader(f), None)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None


def _faces_text(faces: list[Face]) -> str:
    if not faces:
        return "no face"
    parts = []
    for f in faces:
        who = f"#{f.id} " if f.id is not None else ""
        parts.append(f"{who}{f.answer}{_seen(f)}")
    return f"{len(faces)} face{'s' if len(faces) != 1 else ''}: " + ", ".join(parts)


def annotate(image: np.ndarray, faces: list[Face]) -> np.ndarray:
    """A BGR copy of `image` with each face's box, id, label and score drawn on it."""
    out = to_bgr_uint8(image).copy()
    h, w = out.shape[:2]
    thick = max(1, round(max(h, w) / 400))
    scale = max(0.4, max(h, w) / 1000)
    for f in faces:
        x, y, bw, bh = f.box
        cv2.rectangle(out, (x, y), (x + bw, y + bh), (60, 220, 60), thick)
        text = (f"#{f.id} " if f.id is not None else "") + f.answer
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        ty = y - 4 if y - th - base - 4 >= 0 else min(h - 1, y + bh + th + 4)
        tx = max(0, min(x, w - tw - 4))  # keep the label inside the image
        cv2.rectangle(out, (tx, ty - th - base), (tx + tw + 4, ty + base), (60, 220, 60), -1)
        cv2.putText(
            out, text, (tx + 2, ty), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick, cv2.LINE_AA
        )
    return out


class Writer:
    """Receives every result; the defaults ignore what a writer does not need."""

    def image(self, result: ImageResult, image: np.ndarray | None) -> None:
        pass

    def frame(self, result: FrameResult, image: np.ndarray) -> None:
        pass

    def summary(self, summary: dict) -> None:
        pass

    def close(self) -> None:
        pass


class TextWriter(Writer):
    """One readable line per image or frame (with the running frame rate) on `stream`;
    `frames=False` writes only the summary (quiet runs, services); `in_place` (a terminal)
    keeps one status line of the newest frame, rewritten at most STATUS_HZ times a second."""

    def __init__(
        self, stream: TextIO | None = None, frames: bool = True, in_place: bool = False
    ) -> None:
        self.stream = stream or sys.stdout
        self.frames = frames
        self.in_place = in_place
        self._t0: float | None = None
        self._n = 0
        self._shown = 0.0
        self._status = False

    def _line(self, text: str) -> None:
        with _writing(getattr(self.stream, "name", "output")):
            self.stream.write(one_line(text) + "\n")
            self.stream.flush()

    def image(self, result: ImageResult, image: np.ndarray | None) -> None:
        if result.error is not None:
            self._line(f"{result.source}: error: {result.error}")
            return
        boxes = "; ".join(f"{f.answer} at {list(f.box)}{_seen(f)}" for f in result.faces)
        n = len(result.faces)
        self._line(
            f"{result.source}: " + (f"{n} face{'s' if n != 1 else ''}: {boxes}" if n else "no face")
        )

    def frame(self, result: FrameResult, image: np.ndarray) -> None:
        if not self.frames:
            return
        now = time.perf_counter()
        if self._t0 is None:
            self._t0 = now
        self._n += 1
        fps = f"{(self._n - 1) / (now - self._t0):5.1f}" if now > self._t0 else "    -"
        text = (
            f"frame {result.frame:5d}  t={result.timestamp:7.2f}s  "
            f"{_faces_text(result.faces)}  | {fps} fps"
        )
        if not self.in_place:
            self._line(text)
            return
        if now - self._shown < 1 / STATUS_HZ:
            return
        self._shown = now
        width = shutil.get_terminal_size((100, 20)).columns - 1
        with _writing(getattr(self.stream, "name", "output")):
            self.stream.write("\r" + one_line(text)[:width].ljust(width))
            self.stream.flush()
        self._status = True

    def summary(self, summary: dict) -> None:
        if self._status:  # end the status line
            with _writing(getattr(self.stream, "name", "output")):
                self.stream.write("\n")
            self._status = False
        stages = ", ".join(f"{k} {v:.2f}" for k, v in summary["stage_ms"].items())
        self._line(
            f"summary: {summary['frames']} frames, {summary['faces']} faces, "
            f"{summary['fps']:.1f} fps; mean ms per frame: {stages}"
        )
        tracks = summary.get("tracks") or {}
        for tid, t in list(tracks.items())[:MAX_TRACK_LINES]:
            shares = sorted(t["share"].items(), key=lambda kv: -kv[1])
            self._line(
                f"face {tid}: seen {t['seconds']:.1f} s; "
                + ", ".join(
                    f"{lab} {100 * share:.0f}% (longest {t['longest_s'][lab]:.1f} s)"
                    for lab, share in shares
                )
            )
        if len(tracks) > MAX_TRACK_LINES:
            self._line(f"... and {len(tracks) - MAX_TRACK_LINES} more faces (--json has them)")


class JsonLinesWriter(Writer):
    """One JSON object per line: results, then `{"summary": ...}` at the end of a stream."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def _write(self, obj: dict) -> None:
        with _writing(getattr(self.stream, "name", "output")):
            self.stream.write(json.dumps(obj, separators=(", ", ": ")) + "\n")
            self.stream.flush()

    def image(self, result: ImageResult, image: np.ndarray | None) -> None:
        self._write(result.to_json())

    def frame(self, result: FrameResult, image: np.ndarray) -> None:
        self._write(result.to_json())

    def summary(self, summary: dict) -> None:
        self._write({"summary": summary})


TIMELINE_COLUMNS = "run frame timestamp faces id x y w h face_score label score".split()


class CsvTimelineWriter(Writer):
    """A per-frame emotion timeline: one row per face per frame (one empty row for a frame
    without faces), with every class probability in its own column: the track's averaged
    ones (which its steady label follows), then this frame's own as raw_<class>.

    An existing timeline with the same columns is appended to (a restarted service keeps its
    history); one with other columns is kept, and the timeline goes to the next free name.
    With `rotation`, the timeline is written as segments instead (edge_runtime.rotation),
    each with its header. `note` says what happened, for the user."""

    def __init__(
        self,
        path: Path,
        labels: tuple[str, ...],
        overwrite: bool = False,
        rotation: Rotation | None = None,
    ) -> None:
        path = Path(path)
        self.run = time.strftime("%Y-%m-%dT%H:%M:%S%z")  # tells appended runs apart
        self.header = [*TIMELINE_COLUMNS, *labels, *(f"raw_{k}" for k in labels)]
        self.labels = labels
        self.note: str | None = None
        self.segments = Segments(path, rotation) if rotation and rotation.active else None
        if self.segments is not None:
            self._open(ensure_writable(self.segments.start(), overwrite), append=False)
            return
        append = False
        if path.is_file() and not overwrite:
            path = _same_columns(path, self.header)
            if _first_row(path) == self.header:
                append, self.note = True, f"{path} exists: appending to it"
                with _writing(path):
                    torn = _cut_torn_row(path)
                if torn:
                    self.note += (
                        f"; its last row was cut short by a run that stopped mid-write, "
                        f"removed ({torn} bytes)"
                    )
            else:
                free = next_free(path)
                path, self.note = free, f"{path} has other columns: writing {free}"
        self._open(ensure_writable(path, overwrite or append), append)

    def _open(self, path: Path, append: bool) -> None:
        self.path, self._frames = path, 0
        with _writing(path):
            self._file = path.open("a" if append else "w", newline="", encoding="utf-8")
            self._csv = csv.writer(self._file)
            if not append:
                self._csv.writerow(self.header)

    def frame(self, result: FrameResult, image: np.ndarray) -> None:
        head = [self.run, result.frame, f"{result.timestamp:.3f}", len(result.faces)]
        if self._frames and self.segments is not None and self.segments.due(self._file.tell()):
            with _writing(self.path):
                self._file.close()
            self._open(self.segments.start(), append=False)
        self._frames += 1
        with _writing(self.path):
            if not result.faces:
                self._csv.writerow(head + [""] * (8 + 2 * len(self.labels)))
            for f in result.faces:
                seen = "" if f.face_score is None else f"{f.face_score:.4f}"
                self._csv.writerow(
                    head
                    + [
                        f.id,
                        *f.box,
                        seen,
                        f.label,
                        f"{f.score:.4f}",
                        *(f"{f.probs[k]:.4f}" for k in self.labels),
                        *(f"{f.raw_probs[k]:.4f}" if f.raw_probs else "" for k in self.labels),
                    ]
                )
            self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            try:
                self._file.close()
            except OSError:
                pass  # the write that failed already said so


class VideoSaver(Writer):
    """An annotated copy of the stream as a video (.mp4 with mp4v, .avi/.mkv with MJPG);
    with `rotation`, as segments (edge_runtime.rotation)."""

    def __init__(
        self,
        path: Path,
        fps: float | None,
        overwrite: bool = False,
        rotation: Rotation | None = None,
    ) -> None:
        path = Path(path)
        if path.suffix.lower() not in VIDEO_CODECS:
            raise OutputError(f"{path}: save a stream as .mp4, .avi, .mkv or .webm")
        self.note: str | None = None
        self.segments = Segments(path, rotation) if rotation and rotation.active else None
        if self.segments is not None:
            path = self.segments.start()
        elif path.exists() and not overwrite:  # a restarted run keeps the earlier video
            free = next_free(path)
            path, self.note = free, f"{path} exists: writing {free}"
        self.path = ensure_writable(path, overwrite)
        if path.suffix.lower() == ".mp4":
            self.note = ((self.note + "; ") if self.note else "") + (
                "an .mp4 is unreadable if the run is killed before it closes it; .mkv, .avi "
                "and .webm (plays in browsers) stay playable"
            )
        self.fps = fps if fps and fps > 0 else 25.0
        self._writer: cv2.VideoWriter | None = None
        self.frames = 0
        self._next_space_check = 0.0

    def frame(self, result: FrameResult, image: np.ndarray) -> None:
        out = annotate(image, result.faces)
        if self._writer is not None and self.segments is not None:
            size = 0
            if self.segments.rotation.max_bytes:  # a stat per frame only when size matters
                with _writing(self.path):
                    size = self.path.stat().st_size if self.path.exists() else 0
            if self.segments.due(size):
                self.close()
                self.path = self.segments.start()
        if self._writer is None:
            h, w = out.shape[:2]
            fourcc = cv2.VideoWriter_fourcc(*VIDEO_CODECS[self.path.suffix.lower()])
            with held_back():  # FFmpeg's note that WebM files VP8 under another tag
                self._writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (w, h))
            if not self._writer.isOpened():
                raise OutputError(f"{self.path}: OpenCV cannot write this video")
            self._size = (w, h)
        if (out.shape[1], out.shape[0]) != self._size:
            out = cv2.resize(out, self._size)
        self._writer.write(out)
        self.frames += 1
        if time.monotonic() >= self._next_space_check:
            self._check_space()

    def _check_space(self) -> None:
        """OpenCV's writer drops frames silently on a full disk: stop with one line while a
        few frames' worth of space is left (a file-system call once a second, every frame
        once the space left is short)."""
        with _writing(self.path):
            free = shutil.disk_usage(self.path.parent).free
            size = self.path.stat().st_size if self.path.exists() else 0
        need = max(MIN_FREE_BYTES, 4 * size // max(self.frames, 1))
        self._next_space_check = time.monotonic() + (SPACE_CHECK_S if free > 16 * need else 0)
        if free < need:
            self.close()
            raise OutputError(
                f"{self.path}: the disk is full ({free:,} bytes free after {self.frames} frames); "
                "stopped saving"
            )

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None


#: faces whose summary line the text output prints at the end of a run
MAX_TRACK_LINES = 20
#: how often a terminal's status line is rewritten
STATUS_HZ = 4.0
#: how often a video being saved checks the free space, and the least it leaves
SPACE_CHECK_S = 1.0
MIN_FREE_BYTES = 256 * 1024


def _stem_of(source: str) -> tuple[str, str]:
    if "://" in source:
        name = Path(urllib.parse.urlsplit(source).path).name or "image"
    else:
        name = Path(source).name
    p = Path(name)
    suffix = p.suffix.lower() if p.suffix.lower() in SAVE_IMAGE_SUFFIXES else ".png"
    return p.stem or "image", suffix


class ImageSaver(Writer):
    """Annotated stills: to `target` itself for one input, else into the directory `target`
    (same file names; `-2`, `-3`... when two inputs share a name)."""

    def __init__(self, target: Path, single: bool, overwrite: bool = False) -> None:
        self.target = Path(target)
        self.single = single and self.target.suffix.lower() in SAVE_IMAGE_SUFFIXES
        self.overwrite = overwrite
        self.saved: list[Path] = []
        self.note: str | None = None
        if self.single:
            if self.target.exists() and not overwrite and not self.target.is_dir():
                free = next_free(self.target)
                self.note = f"{self.target} exists: writing {free}"
                self.target = free
            ensure_writable(self.target, overwrite)
        else:
            if self.target.exists() and not self.target.is_dir():
                raise OutputError(
                    f"{self.target} is a file; --save needs a directory for several inputs"
                )
            self.target.mkdir(parents=True, exist_ok=True)
        self._used: set[Path] = set()

    def path_for(self, source: str) -> Path:
        if self.single:
            return self.target
        stem, suffix = _stem_of(source)
        p, k = self.target / f"{stem}{suffix}", 2
        while p in self._used:
            p, k = self.target / f"{stem}-{k}{suffix}", k + 1
        self._used.add(p)
        return p

    def image(self, result: ImageResult, image: np.ndarray | None) -> None:
        if image is None or result.error is not None:
            return
        path = self.path_for(result.source)
        if path.exists() and not self.overwrite and not self.single:
            path = next_free(path)  # an earlier run's file stays as it is
            self._used.add(path)
        path = ensure_writable(path, self.overwrite)
        if not cv2.imwrite(str(path), annotate(image, result.faces)):
            raise OutputError(f"{path}: cannot write image")
        self.saved.append(path)
