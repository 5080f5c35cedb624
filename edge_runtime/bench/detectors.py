"""The face detectors' cost per frame: a full-frame detection at the frame sizes users run,
on the bundled demo photo rendered at each size (one real face), every detector timed in
the same interleaved rounds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2

from edge_runtime.demo import DEMO_PHOTO, render_view
from edge_runtime.detect import DETECTORS, make_detector
from edge_runtime.timing import interleaved

#: detectors that look for faces (`none` does not)
TIMED: tuple[str, ...] = tuple(d for d in DETECTORS if d != "none")


def parse_sizes(text: str) -> tuple[tuple[int, int], ...]:
    """`320x240,640x480` -> ((320, 240), (640, 480)); ValueError naming a bad entry."""
    sizes = []
    for part in text.split(","):
        try:
            w, h = (int(v) for v in part.strip().lower().split("x"))
        except ValueError:
            raise ValueError(f"{part.strip()!r} is not WIDTHxHEIGHT") from None
        if w < 32 or h < 32:
            raise ValueError(f"{part.strip()!r}: sides must be at least 32 pixels")
        sizes.append((w, h))
    return tuple(sizes)


def detector_rows(
    sizes: tuple[tuple[int, int], ...],
    threads: int = 1,
    runs: int = 50,
    warmup: int = 5,
    yunet_model: Path | None = None,
    on_block: Callable[[str], None] | None = None,
) -> list[dict]:
    """One row per detector x frame size: p50/p90/p99 ms of a full-frame detection at that
    size (no shrinking) and the faces it found."""
    cv2.setNumThreads(threads)
    photo = cv2.imread(str(DEMO_PHOTO))
    h0, w0 = photo.shape[:2]
    variants, keys = {}, {}
    for name in TIMED:
        det = make_detector(name, yunet_model if name == "yunet" else None)
        for w, h in sizes:
            frame = render_view(photo, w0 / 2, h0 * 0.4, 1.0, (w, h))
            side = max(w, h)
            label = f"{name} {w}x{h}"
            variants[label] = lambda d=det, f=frame, s=side: d.detect(f, s)
            keys[label] = (name, w, h, len(det.detect(frame, side)))
    timings = interleaved(
        variants, runs=runs, warmup=warmup, rounds=min(5, runs), on_block=on_block
    )
    return [
        {
            "detector": name,
            "width": w,
            "height": h,
            "threads": threads,
            "faces": faces,
            **timings[label],
        }
        for label, (name, w, h, faces) in keys.items()
    ]
