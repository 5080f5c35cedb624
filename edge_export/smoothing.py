"""Gaussian smoothing of the input inside the exported graph.

The Training images of the shared FER2013 copy were recovered from a 224x224 upscaled copy
and are softer than its test images (and than a camera's face crop, shrunk with area
averaging); a model trained on them scores higher on sharp faces smoothed a little. The
export bakes the smoothing into the graph, so every input (FER2013, photos, cameras) gets it
and nothing on the device can drift from it.

Borders: the zero-padded convolution is divided by the kernel mass inside the image
(normalised convolution), so edge pixels keep their brightness. The same arithmetic runs in
NumPy (Keras-side scores, parity) and in the graph (a Conv and a Mul).
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def kernel(sigma: float) -> np.ndarray:
    """A normalised 2-D Gaussian, radius ceil(3 sigma)."""
    r = max(1, math.ceil(3 * sigma))
    g = np.exp(-(np.arange(-r, r + 1, dtype=np.float64) ** 2) / (2 * sigma**2))
    k = np.outer(g, g)
    return (k / k.sum()).astype(np.float32)


def border_gain(sigma: float, shape: tuple[int, int]) -> np.ndarray:
    """1 / (kernel mass inside the image) per pixel, [H, W]."""
    ones = cv2.filter2D(
        np.ones(shape, np.float32), -1, kernel(sigma), borderType=cv2.BORDER_CONSTANT
    )
    return (1.0 / ones).astype(np.float32)


def smooth(images: np.ndarray, sigma: float) -> np.ndarray:
    """Smoothed float32 copies of uint8/float [N, H, W] images (identity for sigma 0)."""
    x = images.astype(np.float32)
    if sigma <= 0:
        return x
    k, gain = kernel(sigma), border_gain(sigma, x.shape[1:])
    return np.stack([cv2.filter2D(i, -1, k, borderType=cv2.BORDER_CONSTANT) * gain for i in x])


def smooth_tf(image, sigma: float):
    """The same on an NHWC one-channel TensorFlow tensor, for the exported graph."""
    import tensorflow as tf

    h, w = int(image.shape[1]), int(image.shape[2])
    k = tf.constant(kernel(sigma)[:, :, None, None])
    gain = tf.constant(border_gain(sigma, (h, w))[None, :, :, None])
    return tf.nn.conv2d(image, k, strides=1, padding="SAME") * gain
