"""`EmotionRecognizer`: faces and their expressions in images, cameras and videos.

    from edge_runtime import EmotionRecognizer
    rec = EmotionRecognizer("fer7")                # or a path to an edge-fer .onnx file
    for face in rec.predict("photo.jpg"): print(face.label, face.score, face.box)
    for frame in rec.stream(0): print(frame.frame, [f.label for f in frame.faces])

Stills: full detection on a copy shrunk to `still_detect_size`, no smoothing. Streams:
full-frame detection every `detect_every` frames (and whenever a track is missed or none
exists), otherwise each track is re-detected in a region around its last box; each track's
log-probabilities are averaged over its frames and its label changes only when another
class leads for a while (`tracking.LabelFilter`, `Hold`). All faces of an image or a frame
go through the classifier in one batched call.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_runtime.classifier import EmotionClassifier
from edge_runtime.detect import (
    DEFAULT_DETECTOR,
    Detections,
    Detector,
    make_detector,
    to_bgr_uint8,
)
from edge_runtime.image_io import ImageError, decode_image
from edge_runtime.image_sources import read_file
from edge_runtime.labels import UNCERTAIN
from edge_runtime.preprocess import crop_face
from edge_runtime.providers import Provider
from edge_runtime.results import Face, FrameResult, StreamStats
from edge_runtime.stream_sources import (
    CaptureSource,
    DemoSource,
    FrameReader,
    FrameSource,
    camera_source,
    video_source,
)
from edge_runtime.tracking import Hold, LabelFilter, Track, Tracker, iou, search_region

FrameObserver = Callable[[FrameResult, np.ndarray], None]


@dataclass
class RecognizerOptions:
    """Tuning of detection, tracking and smoothing (the defaults suit a 320-640 px camera)."""

    detect_size: int = 320  # streams: longer side of the copy a full-frame detection sees
    still_detect_size: int = 640  # stills: same, for single images (accuracy over speed)
    detect_every: int = 10  # streams: a full-frame detection at least every N frames
    smoothing: float | None = 0.5  # streams: EMA weight of the newest frame's log-probs; None = off
    hold: Hold = field(default_factory=Hold)  # streams: when a track's label may change
    max_misses: int = 8  # streams: frames a track may go unseen before it is dropped
    iou_threshold: float = 0.3  # streams: overlap for a detection to continue a track
    min_face: float = 0.04  # smallest face, as a fraction of the image's longer side
    min_face_size: int = 0  # smallest face side in the image's pixels (0: no bound)
    min_face_score: float = 0.0  # lowest detector confidence kept (YuNet's floor is 0.7)
    min_confidence: float = 0.0  # a face whose top probability is lower is labelled "uncertain"


def _as_image(image: np.ndarray | str | os.PathLike) -> np.ndarray:
    if isinstance(image, np.ndarray):
        return image
    return decode_image(read_file(Path(image)))


class EmotionRecognizer:
    """A face detector plus an edge-fer emotion classifier.

    `model`: a bundled model name, a path to an edge-fer ONNX file, an `EmotionClassifier`,
    or None for the bundled default. `detector`: "yunet" (the default, bundled;
    `detector_model` names another YuNet file), "haar", "none", or a `Detector`. `threads`:
    onnxruntime intra-op threads. `precision`: auto, int8 or fp32 (see EmotionClassifier).
    `provider`: the onnxruntime execution provider, `auto` or a name such as `cuda`, with its
    `provider_options` (edge_runtime.providers).
    """

    def __init__(
        self,
        model: str | os.PathLike | EmotionClassifier | None = None,
        detector: str | Detector = DEFAULT_DETECTOR,
        detector_model: str | os.PathLike | None = None,
        threads: int = 1,
        options: RecognizerOptions | None = None,
        precision: str = "auto",
        provider: str | Provider = "auto",
        provider_options: dict[str, str] | None = None,
    ) -> None:
        self.options = options or RecognizerOptions()
        if isinstance(model, EmotionClassifier):
            self.classifier = model
        else:
            self.classifier = EmotionClassifier(
                model, threads, precision, provider=provider, provider_options=provider_options
            )
        if isinstance(detector, Detector):
            self.detector = detector
        else:
            self.detector = make_detector(detector, detector_model, self.options.detect_size)
        self.margin = self.classifier.info.face_margin
        self.size = (self.classifier.info.height, self.classifier.info.width)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.classifier.labels

    # --- one image ---------------------------------------------------------------------
    def _crops(self, bgr: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        h, w = self.size
        if not len(boxes):
            return np.zeros((0, h, w), np.uint8)
        return np.stack(
            [crop_face(bgr, tuple(int(round(v)) for v in b), self.margin, size=h) for b in boxes]
        )

    def _faces(
        self,
        boxes: np.ndarray,
        probs: np.ndarray,
        ids: list[int] | None = None,
        face_scores: np.ndarray | list[float] | None = None,
        chosen: list[int | None] | None = None,
        raw: np.ndarray | None = None,
    ) -> list[Face]:
        """Faces with `probs` per box, labelled with `chosen` (streams: each track's steady
        label) or the most likely class; `raw`: this frame's own probabilities (streams)."""
        labels = self.labels
        faces = []
        for i, (b, p) in enumerate(zip(boxes, probs, strict=True)):
            k = int(np.argmax(p)) if chosen is None or chosen[i] is None else chosen[i]
            faces.append(
                Face(
                    box=tuple(int(round(v)) for v in b),
                    label=labels[k] if float(p[k]) >= self.options.min_confidence else UNCERTAIN,
                    score=float(p[k]),
                    probs={lab: float(v) for lab, v in zip(labels, p, strict=True)},
                    id=None if ids is None else ids[i],
                    face_score=None if face_scores is None else float(face_scores[i]),
                    raw_probs=None
                    if raw is None
                    else {lab: float(v) for lab, v in zip(labels, raw[i], strict=True)},
                )
            )
        return faces

    def predict(
        self, image: np.ndarray | str | os.PathLike, timings: dict[str, float] | None = None
    ) -> list[Face]:
        """The faces in one image (an array as decoded by OpenCV, or a file path), left to
        right: box [x, y, w, h] in the image's pixels, label, score and all probabilities.

        `timings`, if given, receives milliseconds per stage (detect, preprocess, infer).
        """
        t0 = time.perf_counter()
        bgr = to_bgr_uint8(_as_image(image))
        det = self._kept(
            self.detector.detect(bgr, self.options.still_detect_size, self.options.min_face)
        )
        order = np.argsort(det.boxes[:, 0], kind="stable")
        boxes, scores = det.boxes[order], det.scores[order]
        t1 = time.perf_counter()
        crops = self._crops(bgr, boxes)
        t2 = time.perf_counter()
        probs = self.classifier.predict_proba(crops) if len(crops) else np.zeros((0, 1))
        t3 = time.perf_counter()
        if timings is not None:
            timings.update(
                detect=(t1 - t0) * 1e3, preprocess=(t2 - t1) * 1e3, infer=(t3 - t2) * 1e3
            )
        return self._faces(boxes, probs, face_scores=scores)

    def _kept(self, det: Detections) -> Detections:
        return det.at_least(self.options.min_face_score, self.options.min_face_size)

    # --- streams -----------------------------------------------------------------------
    def stream(
        self,
        source: FrameSource | int | str,
        max_frames: int | None = None,
        duration: float | None = None,
        stop: threading.Event | None = None,
        on_event: Callable[[str], None] | None = None,
    ) -> FrameStream:
        """Per-frame results for a camera (index or device path as int/"/dev/videoN"), a video
        file or URL, "demo", or any `FrameSource`. Iterate the returned `FrameStream`; its
        `summary()` gives frames, faces, fps and mean milliseconds per stage.

        The source is opened when iteration starts (`SourceError` if it cannot be).
        """
        if isinstance(source, int) or (isinstance(source, str) and source.startswith("/dev/")):
            source = camera_source(str(source))
        elif isinstance(source, str):
            source = DemoSource() if source == "demo" else video_source(source)
        return FrameStream(self, source, max_frames, duration, stop, on_event)


class FrameStream:
    """An iterator of `FrameResult`s over a source, with running statistics.

    `observers` are called with (result, frame image) for every frame, after the result is
    complete: the hook for live views and writers.
    """

    def __init__(
        self,
        recognizer: EmotionRecognizer,
        source: FrameSource,
        max_frames: int | None = None,
        duration: float | None = None,
        stop: threading.Event | None = None,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.recognizer = recognizer
        self.source = source
        self.max_frames = max_frames
        self.duration = duration
        self.stop = stop or threading.Event()
        self.on_event = on_event
        self.observers: list[FrameObserver] = []
        #: first and longest wait (s) between attempts to reopen a live source
        self.reader_backoff: tuple[float, float] = (0.5, 8.0)
        self.stats = StreamStats()
        self.reader: FrameReader | None = None
        #: True while the pipeline waits for the source's next frame (False while it works on
        #: one or its consumer holds the last result): whether a reopen means "alive"
        self.waiting_for_frame = False
        opts = recognizer.options
        self.tracker = Tracker(opts.iou_threshold, opts.max_misses)
        self.label_filter = LabelFilter(opts.smoothing, opts.hold)
        self._since_full = opts.detect_every  # the first frame gets a full detection
        self._need_full = True

    @property
    def live(self) -> bool:
        return self.source.live

    def summary(self) -> dict:
        s = self.stats.summary()
        if self.reader is not None:
            s["dropped"] = self.reader.dropped
            s["reopens"] = self.reader.reopens
        return s

    def _track(self, bgr: np.ndarray) -> tuple[np.ndarray, list[Track], bool]:
        """Boxes and tracks of the faces in this frame, and whether it was a full detection."""
        rec, opts, tracker = self.recognizer, self.recognizer.options, self.tracker
        tracker.begin_frame()
        full = self._need_full or not tracker.tracks or self._since_full >= opts.detect_every
        if full:
            det = rec._kept(rec.detector.detect(bgr, opts.detect_size, opts.min_face))
            tracks = tracker.match(det.boxes, scores=det.scores)
            self._since_full = 1
        else:
            tracks = []
            for t in list(tracker.tracks):
                det = rec._kept(rec.detector.detect_in(bgr, search_region(t.box)))
                if not len(det):
                    continue
                best = int(np.argmax(iou(t.box[None], det.boxes)[0] + 1e-3 * det.scores))
                tracks.extend(
                    tracker.match(det.boxes[best : best + 1], [t], det.scores[best : best + 1])
                )
            # two tracks that converged on one face: keep the older
            tracks.sort(key=lambda t: t.id)
            kept: list = []
            for t in tracks:
                if all(iou(t.box[None], k.box[None])[0, 0] < 0.5 for k in kept):
                    kept.append(t)
                else:
                    t.seen_this_frame = False
                    t.misses = opts.max_misses  # dropped at end_frame
            tracks = kept
            self._since_full += 1
        self._need_full = tracker.end_frame()
        tracks.sort(key=lambda t: float(t.box[0]))
        boxes = np.stack([t.box for t in tracks]) if tracks else np.zeros((0, 4), np.float32)
        return boxes, tracks, full

    def process(
        self, image: np.ndarray, index: int, timestamp: float, read_ms: float = 0.0
    ) -> FrameResult:
        """Detect/track, classify (one batch) and smooth one frame."""
        rec = self.recognizer
        t0 = time.perf_counter()
        bgr = to_bgr_uint8(image)
        boxes, tracks, full = self._track(bgr)
        ids = [t.id for t in tracks]
        t1 = time.perf_counter()
        crops = rec._crops(bgr, boxes)
        t2 = time.perf_counter()
        probs = rec.classifier.predict_proba(crops) if len(crops) else np.zeros((0, 1))
        t3 = time.perf_counter()
        by_id = {t.id: t for t in self.tracker.tracks}
        for i, p in zip(ids, probs, strict=True):
            self.label_filter.update(by_id[i], p)
        faces = rec._faces(
            boxes,
            np.asarray([by_id[i].probs for i in ids]).reshape(len(ids), len(rec.labels)),
            ids,
            [t.score for t in tracks],
            chosen=[by_id[i].label for i in ids],
            raw=probs,
        )
        t4 = time.perf_counter()
        return FrameResult(
            source=self.source.name,
            frame=index,
            timestamp=timestamp,
            faces=faces,
            detected=full,
            stage_ms={
                "read": read_ms,
                "detect": (t1 - t0) * 1e3,
                "preprocess": (t2 - t1) * 1e3,
                "infer": (t3 - t2) * 1e3,
                "smooth": (t4 - t3) * 1e3,
            },
        )

    def open(self) -> FrameStream:
        """Open the source and start reading it (SourceError if it cannot be opened).

        Iterating opens it too; call this first to tell a bad source from a bad frame."""
        if self.reader is None:
            self.reader = FrameReader(
                self.source, on_event=self.on_event, backoff=self.reader_backoff
            )
            self.reader.start()
            self.stats = StreamStats()
        return self

    def close(self) -> None:
        """Stop the reading thread and release the source."""
        self.stats.stop()
        if self.reader is not None:
            self.reader.close()

    def __iter__(self) -> Iterator[FrameResult]:
        self.open()
        assert self.reader is not None
        t_end = None if self.duration is None else time.monotonic() + self.duration
        try:
            while True:
                if self.max_frames is not None and self.stats.frames >= self.max_frames:
                    break
                if t_end is not None and time.monotonic() >= t_end:
                    break
                t0 = time.perf_counter()
                self.waiting_for_frame = True
                frame = self.reader.get(self.stop, t_end)
                self.waiting_for_frame = False
                if frame is None:
                    break
                result = self.process(
                    frame.image, frame.index, frame.timestamp, (time.perf_counter() - t0) * 1e3
                )
                self.stats.add(result)
                for observer in self.observers:
                    observer(result, frame.image)
                yield result
        finally:
            self.close()


__all__ = [
    "CaptureSource",
    "DemoSource",
    "EmotionRecognizer",
    "FrameStream",
    "ImageError",
    "RecognizerOptions",
]
