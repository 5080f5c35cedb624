"""What a camera does to a face crop that FER2013's images do not show: a tilted head, a loose
detector box, low light, motion, heavy JPEG, sensor noise, a small face. Each corruption maps
uint8 faces [N, H, W] to faces of the same shape, the same way on every run (seeded), so
`evaluate --corruptions` and `bench --corruptions` score every model on the very same images.

TensorFlow-free (OpenCV and numpy): the runtime's evaluate uses it.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

Corruption = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _each(faces: np.ndarray, fn: Callable[[np.ndarray, int], np.ndarray]) -> np.ndarray:
    return np.stack([fn(f, i) for i, f in enumerate(faces)]) if len(faces) else faces.copy()


def _warp(face: np.ndarray, m: np.ndarray) -> np.ndarray:
    h, w = face.shape
    return cv2.warpAffine(face, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def roll(degrees: float) -> Corruption:
    """The head tilted in the image plane by +-`degrees` (the sign drawn per face)."""

    def apply(faces: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        signs = rng.choice([-1.0, 1.0], len(faces))
        h, w = faces.shape[1:]
        return _each(
            faces,
            lambda f, i: _warp(f, cv2.getRotationMatrix2D((w / 2, h / 2), signs[i] * degrees, 1)),
        )

    return apply


def box_jitter(faces: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A detector box shifted by up to 15% of its side each way and scaled by 0.85-1.15."""
    h, w = faces.shape[1:]
    shift = rng.uniform(-0.15, 0.15, (len(faces), 2)) * (w, h)
    scale = rng.uniform(0.85, 1.15, len(faces))

    def one(f: np.ndarray, i: int) -> np.ndarray:
        m = cv2.getRotationMatrix2D((w / 2, h / 2), 0, 1 / scale[i])
        m[:, 2] += shift[i]
        return _warp(f, m)

    return _each(faces, one)


def low_light(faces: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A dim scene: gamma 2.2 on a face at 60% of its brightness."""
    x = (faces.astype(np.float32) / 255.0 * 0.6) ** 2.2
    return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)


def motion_blur(faces: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A moving head: a 7-pixel line blur (of a 48-pixel face) at a random angle."""
    n = max(3, round(faces.shape[2] * 7 / 48)) | 1
    angles = rng.uniform(0, 180, len(faces))

    def one(f: np.ndarray, i: int) -> np.ndarray:
        k = np.zeros((n, n), np.float32)
        k[n // 2, :] = 1.0
        k = cv2.warpAffine(
            k, cv2.getRotationMatrix2D((n / 2 - 0.5, n / 2 - 0.5), angles[i], 1), (n, n)
        )
        return cv2.filter2D(f, -1, k / max(float(k.sum()), 1e-6), borderType=cv2.BORDER_REPLICATE)

    return _each(faces, one)


def jpeg(quality: int) -> Corruption:
    """A stream compressed hard: JPEG at `quality`."""

    def apply(faces: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        def one(f: np.ndarray, i: int) -> np.ndarray:
            ok, buf = cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, quality])
            return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)

        return _each(faces, one)

    return apply


def sensor_noise(faces: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A small sensor at high gain: Gaussian noise of standard deviation 12 grey levels."""
    noisy = faces.astype(np.float32) + rng.normal(0, 12, faces.shape)
    return np.clip(noisy + 0.5, 0, 255).astype(np.uint8)


def small_face(pixels: int) -> Corruption:
    """A face `pixels` wide in the camera image, upscaled to the model's input."""

    def apply(faces: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = faces.shape[1:]
        return _each(
            faces,
            lambda f, i: cv2.resize(
                cv2.resize(f, (pixels, pixels), interpolation=cv2.INTER_AREA),
                (w, h),
                interpolation=cv2.INTER_LINEAR,
            ),
        )

    return apply


CORRUPTIONS: dict[str, Corruption] = {
    "roll15": roll(15),
    "roll30": roll(30),
    "box_jitter": box_jitter,
    "low_light": low_light,
    "motion_blur": motion_blur,
    "jpeg15": jpeg(15),
    "noise": sensor_noise,
    "face24": small_face(24),
}


def corrupted(faces: np.ndarray, name: str, seed: int = 0) -> np.ndarray:
    """`faces` under the corruption `name`, the same for the same faces and seed."""
    return CORRUPTIONS[name](faces, np.random.default_rng([seed, list(CORRUPTIONS).index(name)]))


def robustness(
    answer: Callable[[np.ndarray], np.ndarray],
    faces: np.ndarray,
    score: Callable[[np.ndarray], dict],
    seed: int = 0,
) -> dict:
    """Accuracy on the clean faces, on each corruption of them and the mean over the
    corruptions: `answer` gives a class index per face, `score` the figures of such answers
    (`votes.Truths.figures`); each truth's accuracy is kept ({"fer2013": ..., ...})."""

    def accuracies(pred: np.ndarray) -> dict[str, float | None]:
        fig = score(pred)
        return {k: v["accuracy"] for k, v in fig.items() if k != "sources"}

    out = {"clean": accuracies(answer(faces))}
    for name in CORRUPTIONS:
        out[name] = accuracies(answer(corrupted(faces, name, seed)))
    out["mean"] = {
        k: float(np.mean([out[c][k] for c in CORRUPTIONS]))
        if all(out[c][k] is not None for c in CORRUPTIONS)
        else None
        for k in out["clean"]
    }
    return out
