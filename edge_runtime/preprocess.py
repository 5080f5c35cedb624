"""Turning any image or face crop into the classifier's input: one function for train and device.

Both `edge_train/data.py` (dataset images of other sizes or in colour) and the runtime (face crops
from camera frames) call `to_face_input`, so a model never sees pixels prepared differently
on the device than in training.
"""

from __future__ import annotations

import cv2
import numpy as np

FACE_SIZE = 48


def to_gray_uint8(image: np.ndarray) -> np.ndarray:
    """Any decoded image (gray, BGR, BGRA; 8- or 16-bit, or float 0..1) as 2-D uint8 gray."""
    img = np.asarray(image)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        scale = 255.0 if img.size and float(np.nanmax(img)) <= 1.0 else 1.0
        img = np.clip(np.nan_to_num(img.astype(np.float32) * scale), 0, 255).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        return img
    if img.ndim == 3 and img.shape[2] == 3:
        return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if img.ndim == 3 and img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2GRAY)
    raise ValueError(f"unsupported image shape {img.shape}")


def to_face_input(image: np.ndarray, size: int = FACE_SIZE) -> np.ndarray:
    """A face crop (any size, colour or gray) as the model's `size` x `size` uint8 gray input.

    Shrinking uses area averaging (no aliasing), enlarging bilinear interpolation.
    """
    gray = to_gray_uint8(image)
    h, w = gray.shape
    if (h, w) == (size, size):
        return gray
    interp = cv2.INTER_AREA if h > size or w > size else cv2.INTER_LINEAR
    return cv2.resize(gray, (size, size), interpolation=interp)


def square_box(box: tuple[int, int, int, int], margin: float = 0.0) -> tuple[int, int, int, int]:
    """The square around a detector box [x, y, w, h], grown by `margin` of its side."""
    x, y, w, h = box
    side = max(w, h) * (1.0 + margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    s = int(round(side))
    return int(round(cx - side / 2.0)), int(round(cy - side / 2.0)), s, s


def crop_face(
    gray: np.ndarray, box: tuple[int, int, int, int], margin: float = 0.0, size: int = FACE_SIZE
) -> np.ndarray:
    """Cut the square around `box` out of a gray frame (edges replicated) as model input."""
    x, y, s, _ = square_box(box, margin)
    h, w = gray.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + s, w), min(y + s, h)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"face box {box} lies outside the {w}x{h} frame")
    crop = gray[y0:y1, x0:x1]
    pads = (y0 - y, y + s - y1, x0 - x, x + s - x1)
    if any(pads):
        crop = cv2.copyMakeBorder(crop, *pads, cv2.BORDER_REPLICATE)
    return to_face_input(crop, size)
