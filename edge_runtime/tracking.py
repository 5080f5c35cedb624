"""Face tracks across stream frames: stable ids, and per-track steady labels.

Between full-frame detections each track is re-detected in a region around its last box;
a track not found for `max_misses` frames in a row is dropped. A new detection joins the
track it overlaps most (IoU), or starts a new track with the next id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes a [N, 4] and b [M, 4] (x, y, w, h) -> [N, M]."""
    a = np.asarray(a, np.float32).reshape(-1, 4)
    b = np.asarray(b, np.float32).reshape(-1, 4)
    ax1, ay1 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx1, by1 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.minimum(ax1[:, None], bx1[None]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(ay1[:, None], by1[None]) - np.maximum(a[:, None, 1], b[None, :, 1])
    iw, ih = np.clip(iw, 0, None), np.clip(ih, 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-6), 0.0)


def search_region(box: np.ndarray, grow: float = 2.0) -> tuple[int, int, int, int]:
    """The square region, `grow` times the box's longer side, centred on the box."""
    x, y, w, h = (float(v) for v in box)
    side = max(w, h) * grow
    cx, cy = x + w / 2, y + h / 2
    return int(cx - side / 2), int(cy - side / 2), int(round(side)), int(round(side))


@dataclass(frozen=True)
class Hold:
    """When a track's label may change: another class must lead the current one by `margin`
    (in averaged log-probability: 1.0 is e = 2.7 times as likely) for `frames` frames in a
    row, or lead it at all for `max_frames` in a row. Short runs of another class (a blink,
    a word, a turn of the head) leave the label alone; a clear change shows within `frames`
    frames, a slight one within `max_frames`."""

    margin: float = 1.0
    frames: int = 3
    max_frames: int = 12

    def __post_init__(self) -> None:
        if self.margin < 0 or self.frames < 1 or self.max_frames < self.frames:
            raise ValueError(
                f"hold: margin >= 0 and 1 <= frames <= max frames, got {self.margin}, "
                f"{self.frames}, {self.max_frames}"
            )


#: a new label as soon as it leads
NO_HOLD = Hold(0.0, 1, 1)


class LabelFilter:
    """A track's steady label: class log-probabilities averaged over its frames (an
    exponential moving average, `alpha` the newest frame's weight; None or 1.0: none), and
    the label changed only as `hold` allows. Averaging log-probabilities multiplies the
    frames' evidence, so a confident frame outweighs several unsure ones."""

    def __init__(self, alpha: float | None, hold: Hold = NO_HOLD) -> None:
        if alpha is not None and not 0.0 < alpha <= 1.0:
            raise ValueError(f"smoothing alpha must be in (0, 1], got {alpha}")
        self.alpha = alpha
        self.hold = hold

    def update(self, track: Track, probs: np.ndarray) -> np.ndarray:
        """Take this frame's `probs` into the track: sets `track.probs` (the averaged
        probabilities) and `track.label` (the steady label's index); returns `track.probs`."""
        logp = np.log(np.clip(np.asarray(probs, np.float64), 1e-6, 1.0))
        if track.log_probs is None or self.alpha is None or self.alpha >= 1.0:
            track.log_probs = logp
        else:
            track.log_probs = self.alpha * logp + (1.0 - self.alpha) * track.log_probs
        p = np.exp(track.log_probs - track.log_probs.max())
        track.probs = (p / p.sum()).astype(np.float32)
        best = int(np.argmax(track.log_probs))
        if track.label is None or best == track.label:
            track.label, track.challenger, track.led, track.led_clearly = best, None, 0, 0
            return track.probs
        if best != track.challenger:
            track.challenger, track.led, track.led_clearly = best, 0, 0
        track.led += 1
        lead = track.log_probs[best] - track.log_probs[track.label]
        track.led_clearly = track.led_clearly + 1 if lead >= self.hold.margin else 0
        if track.led_clearly >= self.hold.frames or track.led >= self.hold.max_frames:
            track.label, track.challenger, track.led, track.led_clearly = best, None, 0, 0
        return track.probs


@dataclass
class Track:
    """One face followed across frames."""

    id: int
    box: np.ndarray
    probs: np.ndarray | None = None  # averaged over its frames (LabelFilter)
    log_probs: np.ndarray | None = field(default=None, repr=False)
    label: int | None = None  # the steady label's class index
    challenger: int | None = field(default=None, repr=False)
    led: int = field(default=0, repr=False)  # frames the challenger has led in a row
    led_clearly: int = field(default=0, repr=False)  # ... by the hold's margin
    score: float = 1.0  # the detector's confidence in its latest box
    misses: int = 0
    age: int = 0
    seen_this_frame: bool = field(default=False, repr=False)


class Tracker:
    """Assigns detections to tracks by overlap and keeps their smoothed probabilities."""

    def __init__(self, iou_threshold: float = 0.3, max_misses: int = 3) -> None:
        self.iou_threshold = iou_threshold
        self.max_misses = max_misses
        self.tracks: list[Track] = []
        self._next_id = 1

    def reset(self) -> None:
        self.tracks = []

    def begin_frame(self) -> None:
        for t in self.tracks:
            t.seen_this_frame = False

    def match(
        self,
        boxes: np.ndarray,
        tracks: list[Track] | None = None,
        scores: np.ndarray | None = None,
    ) -> list[Track]:
        """Attach each box (with the detector's `scores`) to a track (greedy by IoU; new tracks
        for the rest), in box order. Tracks that got no box are left unseen (`end_frame`)."""
        tracks = self.tracks if tracks is None else tracks
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        assigned: list[Track | None] = [None] * len(boxes)
        if len(boxes) and tracks:
            m = iou(boxes, np.stack([t.box for t in tracks]))
            pairs = sorted(
                ((m[i, j], i, j) for i in range(m.shape[0]) for j in range(m.shape[1])),
                reverse=True,
            )
            used_b, used_t = set(), set()
            for score, i, j in pairs:
                if score < self.iou_threshold:
                    break
                if i in used_b or j in used_t:
                    continue
                used_b.add(i)
                used_t.add(j)
                assigned[i] = tracks[j]
        out: list[Track] = []
        for i, t in enumerate(assigned):
            if t is None:
                t = Track(id=self._next_id, box=boxes[i])
                self._next_id += 1
                self.tracks.append(t)
            t.box = boxes[i]
            t.score = 1.0 if scores is None else float(scores[i])
            t.seen_this_frame = True
            t.misses = 0
            t.age += 1
            out.append(t)
        return out

    def end_frame(self) -> bool:
        """Count misses of unseen tracks and drop the lost ones; True if any went unseen."""
        missed = False
        kept: list[Track] = []
        for t in self.tracks:
            if not t.seen_this_frame:
                t.misses += 1
                missed = True
            if t.misses <= self.max_misses:
                kept.append(t)
        self.tracks = kept
        return missed
