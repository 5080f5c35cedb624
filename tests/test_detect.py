"""Detectors: the factory, box mapping from the shrunk copy, nested-box suppression."""

from __future__ import annotations

import numpy as np
import pytest

from edge_runtime.detect import (
    Detections,
    Detector,
    DetectorError,
    HaarDetector,
    WholeImageDetector,
    YuNetDetector,
    make_detector,
    shrink,
    suppress_nested,
    to_bgr_uint8,
)


class FixedBoxDetector(Detector):
    """Reports one box at a fixed place of whatever (shrunk) image it is given."""

    name = "fixed"

    def __init__(self, box, max_side=320):
        super().__init__(max_side)
        self.box = np.array([box], np.float32)
        self.seen_shapes = []

    def infer(self, image, min_face, in_region=False):
        self.seen_shapes.append(image.shape[:2])
        return Detections(self.box.copy(), np.ones(1, np.float32))


def test_boxes_are_mapped_back_from_the_shrunk_copy():
    det = FixedBoxDetector((10, 20, 30, 30), max_side=320)
    image = np.zeros((480, 640, 3), np.uint8)
    out = det.detect(image)
    assert det.seen_shapes == [(240, 320)]
    np.testing.assert_allclose(out.boxes[0], [20, 40, 60, 60])


def test_detect_in_region_offsets_boxes():
    det = FixedBoxDetector((8, 8, 16, 16))
    image = np.zeros((400, 400, 3), np.uint8)
    det.region_side = 64
    out = det.detect_in(image, (100, 50, 64, 64))
    np.testing.assert_allclose(out.boxes[0], [108, 58, 16, 16])


def test_boxes_are_clipped_to_the_image():
    det = FixedBoxDetector((-10, -10, 50, 50))
    out = det.detect(np.zeros((100, 100, 3), np.uint8))
    np.testing.assert_allclose(out.boxes[0], [0, 0, 40, 40])


def test_shrink_keeps_small_images():
    img = np.zeros((100, 50), np.uint8)
    same, scale = shrink(img, 320)
    assert same is img and scale == 1.0


def test_nested_boxes_are_suppressed():
    det = Detections(
        np.array([[0, 0, 100, 100], [30, 30, 20, 20], [200, 0, 50, 50]], np.float32),
        np.ones(3, np.float32),
    )
    out = suppress_nested(det)
    assert out.boxes.tolist() == [[0, 0, 100, 100], [200, 0, 50, 50]]


def test_none_detector_is_the_whole_image():
    out = WholeImageDetector().detect(np.zeros((48, 60), np.uint8))
    assert out.boxes.tolist() == [[0, 0, 60, 48]]


def test_haar_finds_nothing_in_a_flat_image():
    assert len(HaarDetector().detect(np.full((240, 320, 3), 128, np.uint8))) == 0


def test_factory_names_and_errors(tmp_path):
    assert isinstance(make_detector("haar"), HaarDetector)
    assert isinstance(make_detector("NONE"), WholeImageDetector)
    with pytest.raises(DetectorError, match="unknown detector"):
        make_detector("mtcnn")
    assert isinstance(make_detector(), YuNetDetector)  # the bundled file, nothing to download
    assert isinstance(make_detector("yunet"), YuNetDetector)
    with pytest.raises(DetectorError, match="not found"):
        make_detector("yunet", tmp_path / "missing.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(DetectorError, match="YuNet"):
        make_detector("yunet", bad)
    with pytest.raises(DetectorError, match="only used with"):
        make_detector("haar", bad)


def test_yunet_loads_the_bundled_model(yunet_model):
    det = make_detector("yunet", yunet_model)
    assert len(det.detect(np.full((240, 320, 3), 128, np.uint8))) == 0


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((10, 12), np.uint8),
        np.zeros((10, 12, 1), np.uint8),
        np.zeros((10, 12, 4), np.uint8),
        np.zeros((10, 12, 3), np.uint16),
    ],
)
def test_to_bgr_uint8(image):
    out = to_bgr_uint8(image)
    assert out.shape == (10, 12, 3) and out.dtype == np.uint8
