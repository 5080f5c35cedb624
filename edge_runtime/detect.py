"""Face detectors: one `Detector` interface, one small class per backend.

- `yunet` (the default): OpenCV Zoo's YuNet CNN through `cv2.FaceDetectorYN`, its 232 kB ONNX
  file bundled (Apache-2.0, `detectors/LICENSE-yunet`); another YuNet file can be given.
- `haar`: OpenCV's frontal-face cascade: no CNN, but slower on a Pi and more false faces.
- `none`: the whole image is the face (e.g. FER2013's 48x48 crops).

Detection runs on a copy of the image shrunk so its longer side is at most `max_side`
pixels (cost grows with pixels: measured one thread, Haar ~90 ms at 640x480, ~30 ms at
320x240); boxes are mapped back to the original pixels. `detect_in` looks only inside a
region (a track's neighbourhood), which is what most stream frames pay for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_runtime.errors import EdgeFerError

DETECTORS: tuple[str, ...] = ("yunet", "haar", "none")
DEFAULT_DETECTOR = "yunet"
YUNET_MODEL = Path(__file__).parent / "detectors" / "face_detection_yunet_2023mar.onnx"


class DetectorError(EdgeFerError):
    """A detector that cannot be built (unknown name, missing or bad model file)."""


@dataclass
class Detections:
    """Face boxes [K, 4] as float (x, y, w, h) in the caller's pixels, and scores [K]."""

    boxes: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))

    def at_least(self, score: float = 0.0, side: float = 0.0) -> Detections:
        """The detections scored at least `score` whose longer side is at least `side` px."""
        if not len(self) or (score <= 0 and side <= 0):
            return self
        keep = (self.scores >= score) & (np.maximum(self.boxes[:, 2], self.boxes[:, 3]) >= side)
        return Detections(self.boxes[keep], self.scores[keep])


def to_bgr_uint8(image: np.ndarray) -> np.ndarray:
    """A decoded image (gray, BGR or BGRA, 8- or 16-bit) as 3-channel uint8 BGR."""
    img = np.asarray(image)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        from edge_runtime.preprocess import to_gray_uint8

        img = to_gray_uint8(img)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    return img


def shrink(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """`image` shrunk (area interpolation) so its longer side is <= `max_side`, and the scale."""
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w)) if max_side > 0 else 1.0
    if scale >= 1.0:
        return image, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def suppress_nested(det: Detections, containment: float = 0.7) -> Detections:
    """Drop boxes lying mostly (`containment` of their area) inside a larger box: a detector
    firing on part of a face (a mouth, an eye pair) next to the whole face."""
    if len(det) < 2:
        return det
    b = det.boxes
    area = b[:, 2] * b[:, 3]
    x1, y1 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.minimum(x1[:, None], x1[None]) - np.maximum(b[:, None, 0], b[None, :, 0])
    ih = np.minimum(y1[:, None], y1[None]) - np.maximum(b[:, None, 1], b[None, :, 1])
    iw, ih = np.clip(iw, 0, None), np.clip(ih, 0, None)
    inside = (iw * ih) / np.maximum(area[:, None], 1e-6)  # [i, j]: share of i inside j
    bigger = area[None, :] > area[:, None]
    keep = ~np.any((inside >= containment) & bigger, axis=1)
    return Detections(det.boxes[keep], det.scores[keep])


class Detector:
    """Finds faces. Subclasses implement `infer` on an already shrunk image."""

    name = "base"
    #: longer side of the copy a region is shrunk to for `detect_in`
    region_side = 128

    def __init__(self, max_side: int = 320) -> None:
        self.max_side = int(max_side)

    def _preprocess(self, image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
        return shrink(image, max_side)

    def infer(self, image: np.ndarray, min_face: float, in_region: bool = False) -> Detections:
        """Detect on `image` as given; `min_face` is the smallest face as a fraction of its
        longer side; `in_region`: the image is a track's neighbourhood (a face is expected)."""
        raise NotImplementedError

    def _postprocess(self, det: Detections, scale: float, shape: tuple[int, ...]) -> Detections:
        if not len(det):
            return det
        boxes = det.boxes / scale
        h, w = shape[:2]
        x0 = np.clip(boxes[:, 0], 0, w)
        y0 = np.clip(boxes[:, 1], 0, h)
        x1 = np.clip(boxes[:, 0] + boxes[:, 2], 0, w)
        y1 = np.clip(boxes[:, 1] + boxes[:, 3], 0, h)
        keep = (x1 - x0 >= 2) & (y1 - y0 >= 2)
        out = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)[keep].astype(np.float32)
        return Detections(out, det.scores[keep].astype(np.float32))

    def detect(
        self,
        image: np.ndarray,
        max_side: int | None = None,
        min_face: float = 0.04,
        in_region: bool = False,
    ) -> Detections:
        """All faces in a BGR (or gray) uint8 image, boxes in its pixels."""
        small, scale = self._preprocess(image, self.max_side if max_side is None else max_side)
        det = suppress_nested(self.infer(small, min_face, in_region))
        return self._postprocess(det, scale, image.shape)

    def detect_in(self, image: np.ndarray, region: tuple[int, int, int, int]) -> Detections:
        """Faces inside `region` [x, y, w, h] of `image` (a face filling a good part of it),
        boxes in the image's pixels."""
        x, y, w, h = (int(v) for v in region)
        H, W = image.shape[:2]
        x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return Detections.empty()
        det = self.detect(image[y0:y1, x0:x1], self.region_side, 0.25, in_region=True)
        if len(det):
            det.boxes[:, 0] += x0
            det.boxes[:, 1] += y0
        return det


class HaarDetector(Detector):
    """OpenCV's Viola-Jones frontal-face cascade (bundled with opencv-python)."""

    name = "haar"
    region_side = 112

    def __init__(
        self,
        max_side: int = 320,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        region_min_neighbors: int = 3,
    ) -> None:
        super().__init__(max_side)
        path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise DetectorError(f"cannot load OpenCV's Haar cascade {path}")
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        # inside a track's neighbourhood a face is expected: accept weaker evidence
        # (measured on test.mp4: 115/115 frames found with 3 neighbours, 111 with 5)
        self.region_min_neighbors = region_min_neighbors

    def _preprocess(self, image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
        small, scale = shrink(image, max_side)
        if small.ndim == 3:
            small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        return small, scale

    def infer(self, image: np.ndarray, min_face: float, in_region: bool = False) -> Detections:
        side = max(20, int(min_face * max(image.shape[:2])))
        if min(image.shape[:2]) < side:
            return Detections.empty()
        neighbours = self.region_min_neighbors if in_region else self.min_neighbors
        found = self.cascade.detectMultiScale(
            image, self.scale_factor, neighbours, minSize=(side, side)
        )
        if len(found) == 0:
            return Detections.empty()
        boxes = np.asarray(found, np.float32).reshape(-1, 4)
        return Detections(boxes, np.ones(len(boxes), np.float32))


class YuNetDetector(Detector):
    """OpenCV Zoo's YuNet CNN detector via `cv2.FaceDetectorYN` (the bundled file by default)."""

    name = "yunet"
    region_side = 160

    def __init__(
        self,
        model_path: str | os.PathLike = YUNET_MODEL,
        max_side: int = 320,
        score_threshold: float = 0.7,
        nms_threshold: float = 0.3,
    ) -> None:
        super().__init__(max_side)
        path = Path(model_path)
        if not path.is_file():
            raise DetectorError(f"{path}: YuNet model file not found")
        try:
            self.model = cv2.FaceDetectorYN.create(
                str(path), "", (320, 320), score_threshold, nms_threshold, 5000
            )
        except cv2.error as e:
            msg = str(e).strip().splitlines()[-1][:160] if str(e).strip() else "cv2.error"
            raise DetectorError(f"{path}: not a YuNet model OpenCV can load ({msg})") from None
        self._size: tuple[int, int] | None = None

    def _preprocess(self, image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
        small, scale = shrink(image, max_side)
        if small.ndim == 2:
            small = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR)
        return small, scale

    def infer(self, image: np.ndarray, min_face: float, in_region: bool = False) -> Detections:
        h, w = image.shape[:2]
        if (w, h) != self._size:
            self.model.setInputSize((w, h))
            self._size = (w, h)
        _, faces = self.model.detect(image)
        if faces is None or len(faces) == 0:
            return Detections.empty()
        faces = np.asarray(faces, np.float32)
        keep = np.maximum(faces[:, 2], faces[:, 3]) >= min_face * max(h, w) * 0.5
        return Detections(faces[keep, :4].copy(), faces[keep, -1].copy())


class WholeImageDetector(Detector):
    """No detection: the whole image is one face (the input already is a face crop)."""

    name = "none"

    def detect(
        self,
        image: np.ndarray,
        max_side: int | None = None,
        min_face: float = 0.04,
        in_region: bool = False,
    ) -> Detections:
        h, w = image.shape[:2]
        return Detections(np.array([[0, 0, w, h]], np.float32), np.ones(1, np.float32))

    def detect_in(self, image: np.ndarray, region: tuple[int, int, int, int]) -> Detections:
        return self.detect(image)


def make_detector(
    name: str = DEFAULT_DETECTOR, model_path: str | os.PathLike | None = None, max_side: int = 320
) -> Detector:
    """Build the detector called `name` (`yunet`, `haar` or `none`).

    `model_path` is another YuNet file for `yunet` (the bundled one by default), refused
    otherwise.
    """
    key = (name or DEFAULT_DETECTOR).strip().lower()
    if key not in DETECTORS:
        raise DetectorError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}")
    if key == "yunet":
        return YuNetDetector(model_path or YUNET_MODEL, max_side=max_side)
    if model_path is not None:
        raise DetectorError(f"--detector-model is only used with --detector yunet, not {key}")
    if key == "haar":
        return HaarDetector(max_side=max_side)
    return WholeImageDetector(max_side=max_side)
