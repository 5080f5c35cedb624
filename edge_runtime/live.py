"""What a live view and fleet monitoring need from a running stream, gathered without
slowing it down.

`FrameHub` is a `FrameStream` observer. On the pipeline thread it only updates counters,
latency histograms and a per-second emotion timeline, and keeps a reference to the newest
frame (latest frame wins). JPEG encoding happens in the hub's own encoder thread, only
while a video client watches, at most `max_fps` times a second. `health()` is the
`/healthz` JSON, `prometheus()` the `/metrics` text.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edge_runtime.outputs import annotate
from edge_runtime.results import STAGES, FrameResult

if TYPE_CHECKING:
    from edge_runtime.recognizer import FrameStream

#: upper bounds (seconds) of the per-stage latency histogram buckets
LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)
STALL_SECONDS = 5.0  # a source with no frame for this long is reported "stalled"


@dataclass
class Bucket:
    """One second of the emotion timeline: frames seen, faces seen, summed probabilities."""

    t: int  # whole seconds since the hub started
    frames: int = 0
    faces: int = 0
    sums: list[float] = field(default_factory=list)

    def to_json(self) -> dict:
        n = max(self.faces, 1)
        return {
            "t": self.t,
            "frames": self.frames,
            "faces": self.faces,
            "mean": [round(s / n, 3) for s in self.sums] if self.faces else None,
        }


class FrameHub:
    """Collects every frame's result for the live view, `/healthz` and `/metrics`.

    Call it as a stream observer: `stream.observers.append(hub)`; `attach(stream)` lets it
    report the source's reopens and drops. `labels`: the model's classes, in order.
    """

    def __init__(
        self,
        labels: tuple[str, ...] | list[str],
        max_fps: float = 10.0,
        timeline_seconds: int = 300,
        jpeg_quality: int = 75,
    ) -> None:
        self.labels = tuple(labels)
        self.max_fps = max_fps
        self.jpeg_quality = jpeg_quality
        self.started = time.monotonic()
        self.stream: FrameStream | None = None
        self.cond = threading.Condition()
        # written by the pipeline thread (under cond)
        self.frames = 0
        self.faces = 0
        #: faces of the newest frame by label, and face-frames by label since the start
        self.faces_now: dict[str, int] = {}
        self.label_frames: dict[str, int] = {}
        self.full_detections = 0
        self.errors = 0
        self.seq = 0
        self.latest: tuple[FrameResult, np.ndarray] | None = None
        self.last_frame_at: float | None = None
        self.ended = False
        self._recent: deque[float] = deque(maxlen=64)
        self.timeline: deque[Bucket] = deque(maxlen=timeline_seconds)
        self.hist = {s: [0] * (len(LATENCY_BUCKETS) + 1) for s in STAGES}
        self.stage_sum = dict.fromkeys(STAGES, 0.0)
        # the encoder's output
        self.jpeg: bytes | None = None
        self.jpeg_seq = 0
        self.jpeg_frame = -1
        self.video_clients = 0
        self.event_clients = 0
        self.closing = False
        self._encoder: threading.Thread | None = None

    # --- the pipeline thread ---------------------------------------------------------
    def attach(self, stream: FrameStream) -> None:
        """Report this stream's source name, reopens and drops."""
        self.stream = stream

    def __call__(self, result: FrameResult, image: np.ndarray) -> None:
        """The observer: O(faces) bookkeeping and a reference to the frame; no encoding."""
        now = time.monotonic()
        t = int(now - self.started)
        with self.cond:
            self.frames += 1
            self.faces += len(result.faces)
            self.full_detections += int(result.detected)
            self.errors += int(result.error is not None)
            for stage, ms in result.stage_ms.items():
                counts = self.hist.get(stage)
                if counts is None:
                    continue
                s = ms / 1e3
                self.stage_sum[stage] += s
                counts[bisect.bisect_left(LATENCY_BUCKETS, s)] += 1  # first bucket with s <= le
            if not self.timeline or self.timeline[-1].t != t:
                self.timeline.append(Bucket(t, sums=[0.0] * len(self.labels)))
            now_by_label: dict[str, int] = {}
            for f in result.faces:
                now_by_label[f.label] = now_by_label.get(f.label, 0) + 1
                self.label_frames[f.label] = self.label_frames.get(f.label, 0) + 1
            self.faces_now = now_by_label
            b = self.timeline[-1]
            b.frames += 1
            for f in result.faces:
                b.faces += 1
                for i, lab in enumerate(self.labels):
                    b.sums[i] += f.probs.get(lab, 0.0)
            self._recent.append(now)
            self.last_frame_at = now
            self.latest = (result, image)
            self.seq += 1
            self.cond.notify_all()

    def counting(self, report: Callable[[str], None]) -> Callable[[str], None]:
        """`report` wrapped so that each pipeline event (a camera drop-out, a failed reopen)
        also counts as an error in `/metrics`."""

        def on_event(message: str) -> None:
            with self.cond:
                self.errors += 1
            report(message)

        return on_event

    def end(self) -> None:
        """The stream is over: health says "ended", waiting clients are released."""
        with self.cond:
            self.ended = True
            self.cond.notify_all()

    # --- the encoder thread ----------------------------------------------------------
    def start(self) -> None:
        """Start the JPEG encoder thread (idle while no video client watches)."""
        if self._encoder is None:
            self._encoder = threading.Thread(
                target=self._encode_loop, name="edge-fer-jpeg", daemon=True
            )
            self._encoder.start()

    def close(self) -> None:
        """Stop the encoder and release every waiting client."""
        with self.cond:
            self.closing = True
            self.cond.notify_all()
        if self._encoder is not None:
            self._encoder.join(timeout=5.0)
            self._encoder = None

    def encode(self, result: FrameResult, image: np.ndarray) -> bytes:
        """The frame with boxes, track ids, labels and scores drawn, as JPEG bytes."""
        ok, buf = cv2.imencode(
            ".jpg", annotate(image, result.faces), [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality]
        )
        if not ok:
            raise ValueError("JPEG encoding failed")
        return buf.tobytes()

    def _encode_loop(self) -> None:
        last = 0.0
        done = 0
        while True:
            with self.cond:
                while not self.closing and (self.video_clients == 0 or self.seq == done):
                    self.cond.wait(1.0)
                if self.closing:
                    return
            pause = last + 1.0 / self.max_fps - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            with self.cond:
                if self.latest is None:
                    continue
                result, image = self.latest
                done = self.seq
            jpeg = self.encode(result, image)
            last = time.monotonic()
            with self.cond:
                self.jpeg = jpeg
                self.jpeg_frame = result.frame
                self.jpeg_seq += 1
                self.cond.notify_all()

    # --- what clients read -----------------------------------------------------------
    def snapshot(self) -> bytes | None:
        """The newest annotated frame as JPEG (encoded now if the stream has moved on)."""
        with self.cond:
            latest, jpeg, jpeg_frame = self.latest, self.jpeg, self.jpeg_frame
        if latest is None:
            return None
        if jpeg is not None and jpeg_frame == latest[0].frame:
            return jpeg
        return self.encode(*latest)

    def fps(self) -> float:
        """Frames per second over the last (up to) 64 frames; 0 when stalled or ended."""
        with self.cond:
            recent = list(self._recent)
        if len(recent) < 2 or time.monotonic() - recent[-1] > STALL_SECONDS:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-9)

    def state(self) -> dict:
        """The current faces, frame rate and the latest timeline buckets (for the page)."""
        with self.cond:
            latest = self.latest
            buckets = [b.to_json() for b in list(self.timeline)[-2:]]
            frames = self.frames
        faces = [] if latest is None else [f.to_json(with_id=True) for f in latest[0].faces]
        return {
            "t": round(time.monotonic() - self.started, 2),
            "frame": None if latest is None else latest[0].frame,
            "frames": frames,
            "fps": round(self.fps(), 1),
            "faces": faces,
            "buckets": buckets,
        }

    def hello(self) -> dict:
        """What a page needs first: labels, timeline length and the whole timeline so far."""
        with self.cond:
            timeline = [b.to_json() for b in self.timeline]
        return {
            "labels": list(self.labels),
            "window": self.timeline.maxlen,
            "source": self.stream.source.name if self.stream is not None else None,
            "timeline": timeline,
            "t": round(time.monotonic() - self.started, 2),
        }

    @staticmethod
    def _stall_bound(stream) -> float:
        """How long without a frame means stalled, for any source: STALL_SECONDS, or three
        frame intervals of a slower source. A file or a looped demo has its next frame
        ready at once, so a long wait there is a pipeline that hangs."""
        fps = getattr(getattr(stream, "source", None), "fps", None)
        return max(STALL_SECONDS, 3.0 / fps) if fps and fps > 0 else STALL_SECONDS

    def camera(self) -> dict:
        """The source's name, state (waiting/ok/stalled/ended), reopens and dropped frames."""
        now = time.monotonic()
        with self.cond:
            last, ended = self.last_frame_at, self.ended
        stream = self.stream
        reader = stream.reader if stream is not None else None
        live = bool(stream is not None and stream.live)
        if ended:
            state = "ended"
        elif last is None:
            state = "waiting"
        elif now - last > self._stall_bound(stream):
            state = "stalled"
        else:
            state = "ok"
        return {
            "source": stream.source.name if stream is not None else None,
            "live": live,
            "state": state,
            "reopens": reader.reopens if reader is not None else 0,
            "dropped": reader.dropped if reader is not None else 0,
        }

    def health(self) -> dict:
        """The `/healthz` document; `status` is "ok" unless the camera stalled or ended."""
        now = time.monotonic()
        camera = self.camera()
        with self.cond:
            last = self.last_frame_at
            frames, faces, errors = self.frames, self.faces, self.errors
            clients = {"video": self.video_clients, "events": self.event_clients}
        return {
            "status": "ok" if camera["state"] in ("ok", "waiting") else camera["state"],
            "uptime_s": round(now - self.started, 3),
            "frames": frames,
            "faces": faces,
            "fps": round(self.fps(), 2),
            "last_frame_age_s": None if last is None else round(now - last, 3),
            "errors": errors,
            "camera": camera,
            "clients": clients,
        }

    def prometheus(self) -> str:
        """`/metrics` in the Prometheus text exposition format (version 0.0.4)."""
        h = self.health()
        cam = h["camera"]
        with self.cond:
            hist = {s: list(c) for s, c in self.hist.items()}
            sums = dict(self.stage_sum)
            full = self.full_detections
            faces_now, label_frames = dict(self.faces_now), dict(self.label_frames)
        lines: list[str] = []

        def metric(name: str, kind: str, help_: str, samples: list[tuple[str, float]]) -> None:
            lines.append(f"# HELP {name} {help_}")
            lines.append(f"# TYPE {name} {kind}")
            for labels, value in samples:
                lines.append(f"{name}{labels} {_num(value)}")

        metric("edge_fer_frames_total", "counter", "Frames processed.", [("", h["frames"])])
        metric(
            "edge_fer_faces_total",
            "counter",
            "Faces reported, summed over frames.",
            [("", h["faces"])],
        )
        metric(
            "edge_fer_full_detections_total",
            "counter",
            "Frames with a full-frame detection.",
            [("", full)],
        )
        metric(
            "edge_fer_camera_reopens_total",
            "counter",
            "Times the source was reopened.",
            [("", cam["reopens"])],
        )
        metric(
            "edge_fer_frames_dropped_total",
            "counter",
            "Frames of a live source dropped because the pipeline fell behind.",
            [("", cam["dropped"])],
        )
        metric(
            "edge_fer_errors_total",
            "counter",
            "Errors and warnings reported by the pipeline (camera drop-outs, reopen attempts).",
            [("", h["errors"])],
        )
        metric(
            "edge_fer_fps", "gauge", "Frames per second over the last 64 frames.", [("", h["fps"])]
        )
        metric(
            "edge_fer_uptime_seconds",
            "gauge",
            "Seconds since the run started.",
            [("", h["uptime_s"])],
        )
        age = h["last_frame_age_s"]
        metric(
            "edge_fer_last_frame_age_seconds",
            "gauge",
            "Seconds since the last frame (NaN before the first).",
            [("", float("nan") if age is None else age)],
        )
        metric(
            "edge_fer_camera_up",
            "gauge",
            "1 while the source delivers frames, else 0.",
            [("", int(cam["state"] == "ok"))],
        )
        metric(
            "edge_fer_live_clients",
            "gauge",
            "Connected live-view clients.",
            [(f'{{kind="{k}"}}', v) for k, v in h["clients"].items()],
        )
        every = [*self.labels, *(k for k in label_frames if k not in self.labels)]
        metric(
            "edge_fer_faces",
            "gauge",
            "Faces in the newest frame, by label (the tracks' steady labels; 'uncertain' below "
            "--min-confidence).",
            [(f'{{label="{k}"}}', faces_now.get(k, 0)) for k in every],
        )
        metric(
            "edge_fer_labels_total",
            "counter",
            "Face-frames by label since the start: each face of each frame counts once under "
            "its label (divide by the frame rate for face-seconds).",
            [(f'{{label="{k}"}}', label_frames.get(k, 0)) for k in every],
        )
        name = "edge_fer_stage_seconds"
        lines.append(f"# HELP {name} Time per frame spent in each pipeline stage.")
        lines.append(f"# TYPE {name} histogram")
        for stage, counts in hist.items():
            total = 0
            for le, c in zip((*LATENCY_BUCKETS, float("inf")), counts, strict=True):
                total += c
                lines.append(f'{name}_bucket{{stage="{stage}",le="{_num(le)}"}} {total}')
            lines.append(f'{name}_sum{{stage="{stage}"}} {_num(sums[stage])}')
            lines.append(f'{name}_count{{stage="{stage}"}} {total}')
        return "\n".join(lines) + "\n"


def _num(v: float) -> str:
    if isinstance(v, int):
        return str(v)
    if v != v:
        return "NaN"
    if v == float("inf"):
        return "+Inf"
    return repr(round(float(v), 6))
