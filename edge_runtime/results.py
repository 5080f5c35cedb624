"""What the runtime reports: faces, per-image and per-frame results, the stream summary.

Every result turns into the JSON Lines objects of `edge-fer predict --json` / `run --json`
with `to_json()`; boxes are [x, y, w, h] in the original image's pixels.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

STAGES: tuple[str, ...] = ("read", "detect", "preprocess", "infer", "smooth")


@dataclass
class Face:
    """One face: where it is, what it shows, and (in streams) which track it belongs to."""

    box: tuple[int, int, int, int]
    label: str
    score: float
    probs: dict[str, float]
    id: int | None = None
    face_score: float | None = None  # the detector's confidence (Haar has none: 1.0)
    raw_probs: dict[str, float] | None = None  # streams: this frame's own, before averaging

    @property
    def answer(self) -> str:
        """The label and its probability, as printed and drawn: "happy 0.95", or for a face
        below --min-confidence "uncertain (sad 0.61)", naming the class it leaned to."""
        if self.label in self.probs:
            return f"{self.label} {self.score:.2f}"
        top = max(self.probs, key=self.probs.__getitem__)
        return f"{self.label} ({top} {self.score:.2f})"

    def to_json(self, with_id: bool = False) -> dict:
        d: dict = {"id": self.id} if with_id else {}
        d.update(
            box=[int(v) for v in self.box],
            label=self.label,
            score=round(float(self.score), 4),
            probs={k: round(float(v), 4) for k, v in self.probs.items()},
        )
        if self.face_score is not None:
            d["face_score"] = round(float(self.face_score), 4)
        if self.raw_probs is not None:
            d["raw_probs"] = {k: round(float(v), 4) for k, v in self.raw_probs.items()}
        return d


@dataclass
class ImageResult:
    """The faces of one still image, or the reason it could not be read."""

    source: str
    faces: list[Face] = field(default_factory=list)
    error: str | None = None
    timestamp: float = field(default_factory=time.time)
    stage_ms: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "timestamp": round(self.timestamp, 3),
            "faces": [f.to_json() for f in self.faces],
            "error": self.error,
        }


@dataclass
class FrameResult:
    """The faces of one stream frame with their track ids and the time each stage took.

    `timestamp` is seconds since the stream started: the position in the video for files,
    elapsed wall-clock time for live sources.
    """

    source: str
    frame: int
    timestamp: float
    faces: list[Face] = field(default_factory=list)
    stage_ms: dict[str, float] = field(default_factory=dict)
    detected: bool = False  # whether this frame paid for a full-frame detection
    error: str | None = None

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "frame": self.frame,
            "timestamp": round(self.timestamp, 3),
            "faces": [f.to_json(with_id=True) for f in self.faces],
            "error": self.error,
        }


@dataclass
class TrackLog:
    """What one face track showed over a stream: the facial-coding summary of a run."""

    first: float
    last: float
    frames: int = 0
    label_frames: dict[str, int] = field(default_factory=dict)
    prob_sums: dict[str, float] = field(default_factory=dict)
    longest: dict[str, float] = field(default_factory=dict)
    run_label: str = ""
    run_start: float = 0.0

    def add(self, face: Face, t: float, step: float) -> None:
        self.frames += 1
        self.last = t
        self.label_frames[face.label] = self.label_frames.get(face.label, 0) + 1
        for k, v in face.probs.items():
            self.prob_sums[k] = self.prob_sums.get(k, 0.0) + float(v)
        if face.label != self.run_label:
            self.run_label, self.run_start = face.label, t
        stretch = t - self.run_start + step
        self.longest[face.label] = max(self.longest.get(face.label, 0.0), stretch)

    def summary(self, step: float) -> dict:
        return {
            "seconds": round(self.last - self.first + step, 3),
            "frames": self.frames,
            "share": {k: round(v / self.frames, 4) for k, v in self.label_frames.items()},
            "mean_probs": {k: round(v / self.frames, 4) for k, v in self.prob_sums.items()},
            "longest_s": {k: round(v, 3) for k, v in self.longest.items()},
        }


MAX_TRACKS = 1000  # tracks a run's summary keeps (the oldest go first)


@dataclass
class StreamStats:
    """Running totals of a stream: frames, faces, wall time and time per stage."""

    frames: int = 0
    faces: int = 0
    full_detections: int = 0
    started: float = field(default_factory=time.perf_counter)
    ended: float | None = None
    stage_total_ms: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    tracks: dict[int, TrackLog] = field(default_factory=dict)
    first_timestamp: float | None = None
    last_timestamp: float | None = None
    _stamps: int = 0

    def add(self, result: FrameResult) -> None:
        self.frames += 1
        self.faces += len(result.faces)
        self.full_detections += int(result.detected)
        for k, v in result.stage_ms.items():
            self.stage_total_ms[k] = self.stage_total_ms.get(k, 0.0) + v
        t = result.timestamp
        if self.first_timestamp is None:
            self.first_timestamp = t
        self.last_timestamp, self._stamps = t, self._stamps + 1
        step = self._step()
        for face in result.faces:
            if face.id is None:
                continue
            log = self.tracks.get(face.id)
            if log is None:
                if len(self.tracks) >= MAX_TRACKS:
                    del self.tracks[next(iter(self.tracks))]
                log = self.tracks[face.id] = TrackLog(first=t, last=t)
            log.add(face, t, step)

    def _step(self) -> float:
        """The time one frame stands for: the mean interval between the frames so far."""
        if self.first_timestamp is None or self.last_timestamp is None or self._stamps < 2:
            return 0.0
        return (self.last_timestamp - self.first_timestamp) / (self._stamps - 1)

    def stop(self) -> None:
        if self.ended is None:
            self.ended = time.perf_counter()

    @property
    def seconds(self) -> float:
        return (self.ended or time.perf_counter()) - self.started

    @property
    def fps(self) -> float:
        s = self.seconds
        return self.frames / s if s > 0 else 0.0

    def summary(self) -> dict:
        """The `{"summary": ...}` payload: means over the whole run."""
        n = max(self.frames, 1)
        return {
            "frames": self.frames,
            "faces": self.faces,
            "fps": round(self.fps, 2),
            "seconds": round(self.seconds, 3),
            "full_detections": self.full_detections,
            "stage_ms": {k: round(v / n, 3) for k, v in self.stage_total_ms.items()},
            "tracks": {str(i): log.summary(self._step()) for i, log in self.tracks.items()},
        }
