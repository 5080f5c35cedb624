"""The `--demo` input: a photo of astronaut Eileen Collins (NASA, public domain; see
`data/README.md`) bundled in the package, and a simulated camera that pans and zooms over it.

A smiling face, so the demo shows the bundled models answering "happy".
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

DEMO_PHOTO = Path(__file__).parent / "data" / "astronaut.jpg"


def _smooth(t: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * min(max(t, 0.0), 1.0))


def pan_zoom_frames(
    photo: np.ndarray, frames: int = 150, size: tuple[int, int] = (480, 360)
) -> list[tuple[float, float, float]]:
    """The virtual camera's path: (centre x, centre y, zoom) per frame over `photo`.

    It starts wide, zooms in while panning across the photo and back, then zooms out."""
    h, w = photo.shape[:2]
    path = []
    for i in range(frames):
        t = i / max(frames - 1, 1)
        zoom = 1.0 + 0.25 * math.sin(math.pi * _smooth(t))
        cx = w / 2 + 0.12 * w * math.sin(2 * math.pi * t)
        cy = h * 0.36 + 0.03 * h * math.sin(2 * math.pi * t)
        path.append((cx, cy, zoom))
    return path


def render_view(
    photo: np.ndarray, cx: float, cy: float, zoom: float, size: tuple[int, int] = (480, 360)
) -> np.ndarray:
    """One camera frame of `size` (w, h): the part of `photo` around (cx, cy) at `zoom`."""
    h, w = photo.shape[:2]
    out_w, out_h = size
    base = min(w / out_w, h / out_h)  # photo pixels per output pixel at zoom 1
    s = base / zoom
    vw, vh = out_w * s, out_h * s
    x0 = min(max(cx - vw / 2, 0.0), w - vw)
    y0 = min(max(cy - vh / 2, 0.0), h - vh)
    m = np.array([[1 / s, 0, -x0 / s], [0, 1 / s, -y0 / s]], np.float32)
    return cv2.warpAffine(
        photo, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
