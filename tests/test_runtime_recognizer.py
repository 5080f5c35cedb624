"""EmotionRecognizer on synthetic images: boxes, batching, smoothing, tracking ids."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edge_runtime import EmotionRecognizer, RecognizerOptions
from edge_runtime.classifier import EmotionClassifier
from edge_runtime.detect import Detections, Detector
from edge_runtime.preprocess import crop_face, to_face_input
from edge_runtime.stream_sources import FrameSource


class BoxesDetector(Detector):
    """Reports the given boxes (in original pixels) wherever it is asked."""

    name = "boxes"

    def __init__(self, boxes):
        super().__init__(10_000)
        self.boxes = np.array(boxes, np.float32).reshape(-1, 4)

    def detect(self, image, max_side=None, min_face=0.04, in_region=False):
        return Detections(self.boxes.copy(), np.ones(len(self.boxes), np.float32))

    def detect_in(self, image, region):
        x, y, w, h = region
        inside = [
            b
            for b in self.boxes
            if b[0] >= x and b[1] >= y and b[0] + b[2] <= x + w and b[1] + b[3] <= y + h
        ]
        return Detections(np.array(inside, np.float32).reshape(-1, 4), np.ones(len(inside)))


class ArraySource(FrameSource):
    def __init__(self, frames):
        self.frames, self.i, self.name, self.fps = frames, 0, "arrays", 10.0

    def open(self):
        self.i = 0

    def read(self):
        if self.i >= len(self.frames):
            return False, None
        self.i += 1
        return True, self.frames[self.i - 1]


class CountingClassifier(EmotionClassifier):
    calls: list

    def predict_proba(self, faces, batch_size=256):
        self.calls.append(len(faces))
        return super().predict_proba(faces, batch_size)


@pytest.fixture()
def classifier(tiny_onnx_model):
    clf = CountingClassifier(tiny_onnx_model)
    clf.calls = []
    return clf


def _image(seed=0, shape=(240, 320, 3)):
    return np.random.default_rng(seed).integers(0, 255, shape, np.uint8)


def test_predict_on_a_face_crop_with_no_detector(tiny_onnx_model):
    rec = EmotionRecognizer(tiny_onnx_model, detector="none")
    img = _image(shape=(48, 48))
    faces = rec.predict(img)
    assert len(faces) == 1
    f = faces[0]
    assert f.box == (0, 0, 48, 48) and f.id is None
    assert list(f.probs) == list(rec.labels)
    assert f.label == max(f.probs, key=f.probs.get) and f.score == f.probs[f.label]
    expected = rec.classifier.predict_proba(to_face_input(img)[None])[0]
    np.testing.assert_allclose(list(f.probs.values()), expected, rtol=1e-6)


def test_a_face_below_min_confidence_is_uncertain_in_every_output(tiny_onnx_model):
    img = _image(shape=(48, 48))
    sure = EmotionRecognizer(tiny_onnx_model, detector="none").predict(img)[0]
    for t, label in ((sure.score, sure.label), (np.nextafter(sure.score, 1.0), "uncertain")):
        rec = EmotionRecognizer(
            tiny_onnx_model, detector="none", options=RecognizerOptions(min_confidence=float(t))
        )
        f = rec.predict(img)[0]
        assert f.label == label and f.score == sure.score and f.probs == sure.probs
        assert f.to_json()["label"] == label
    assert f.answer == f"uncertain ({sure.label} {sure.score:.2f})"
    assert sure.answer == f"{sure.label} {sure.score:.2f}"


def test_all_faces_of_an_image_in_one_batch_left_to_right(classifier):
    boxes = [[200, 10, 60, 60], [10, 100, 50, 50], [100, 50, 40, 40]]
    rec = EmotionRecognizer(classifier, detector=BoxesDetector(boxes))
    img = _image()
    faces = rec.predict(img)
    assert classifier.calls == [3]
    assert [f.box for f in faces] == [(10, 100, 50, 50), (100, 50, 40, 40), (200, 10, 60, 60)]
    crop = crop_face(img, (10, 100, 50, 50), classifier.info.face_margin)
    np.testing.assert_allclose(
        list(faces[0].probs.values()), classifier.predict_proba(crop[None])[0], rtol=1e-6
    )


def test_face_margin_from_the_model_is_used(tmp_path):
    from conftest import build_tiny_onnx_model

    path = build_tiny_onnx_model(tmp_path / "m.onnx", face_margin=0.4)
    rec = EmotionRecognizer(path, detector=BoxesDetector([[100, 80, 50, 50]]))
    img = _image()
    got = rec.predict(img)[0].probs
    want = rec.classifier.predict_proba(crop_face(img, (100, 80, 50, 50), 0.4)[None])[0]
    np.testing.assert_allclose(list(got.values()), want, rtol=1e-6)


def test_predict_reads_paths_and_handles_gray_and_16_bit(tiny_onnx_model, tmp_path):
    import cv2

    rec = EmotionRecognizer(tiny_onnx_model, detector="none")
    p = tmp_path / "deep.png"
    cv2.imwrite(str(p), (np.arange(48 * 48, dtype=np.uint16).reshape(48, 48) * 20))
    assert len(rec.predict(p)) == 1
    assert len(rec.predict(np.zeros((48, 48), np.uint8))) == 1


def test_stream_tracks_ids_smooths_and_batches(classifier):
    boxes = [[20, 20, 60, 60], [200, 100, 60, 60]]
    opts = RecognizerOptions(detect_every=4, smoothing=0.5)
    rec = EmotionRecognizer(classifier, detector=BoxesDetector(boxes), options=opts)
    frames = [_image(i) for i in range(9)]
    stream = rec.stream(ArraySource(frames))
    results = list(stream)
    assert len(results) == 9
    assert all([f.id for f in r.faces] == [1, 2] for r in results)
    assert [r.detected for r in results] == [True, False, False, False] * 2 + [True]
    assert classifier.calls == [2] * 9
    # smoothing: frame 1's output is the normalised geometric mean of frames 0 and 1 raw
    # probabilities, which JSON keeps beside it
    raw = [
        classifier.predict_proba(np.stack([crop_face(f, tuple(b)) for b in boxes]))
        for f in frames[:2]
    ]
    mean = np.sqrt(raw[0][0] * raw[1][0])
    np.testing.assert_allclose(
        list(results[1].faces[0].probs.values()), mean / mean.sum(), rtol=1e-5
    )
    np.testing.assert_allclose(list(results[1].faces[0].raw_probs.values()), raw[1][0], rtol=1e-6)
    assert "raw_probs" in results[1].faces[0].to_json()
    s = stream.summary()
    assert s["frames"] == 9 and s["faces"] == 18
    assert set(s["stage_ms"]) == {"read", "detect", "preprocess", "infer", "smooth"}


def test_stream_without_smoothing_and_with_bounds(classifier):
    opts = RecognizerOptions(smoothing=None)
    rec = EmotionRecognizer(classifier, detector=BoxesDetector([[20, 20, 60, 60]]), options=opts)
    frames = [_image(i) for i in range(10)]
    results = list(rec.stream(ArraySource(frames), max_frames=3))
    assert len(results) == 3
    raw = classifier.predict_proba(crop_face(frames[2], (20, 20, 60, 60))[None])[0]
    np.testing.assert_allclose(list(results[2].faces[0].probs.values()), raw, rtol=1e-6)


def test_observers_see_every_frame(classifier):
    rec = EmotionRecognizer(classifier, detector="none")
    stream = rec.stream(ArraySource([_image(i, (48, 48)) for i in range(4)]))
    seen = []
    stream.observers.append(lambda result, image: seen.append((result.frame, image.shape)))
    list(stream)
    assert seen == [(i, (48, 48)) for i in range(4)]  # frames as the source delivered them


def test_missing_or_bad_model_is_a_model_error(tmp_path):
    from edge_runtime.model_info import ModelError

    with pytest.raises(ModelError, match="not found"):
        EmotionRecognizer(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(ModelError, match="cannot load"):
        EmotionRecognizer(bad)


def test_training_uses_the_same_face_preprocessing():
    """edge_train/data.py decodes dataset images through the runtime's own to_face_input."""
    data = pytest.importorskip("edge_train.data")
    import cv2

    img = _image(3, (96, 96, 3))
    png = cv2.imencode(".png", img)[1].tobytes()
    if not hasattr(data, "_decode"):
        pytest.skip("edge_train.data has no _decode helper to compare against")
    np.testing.assert_array_equal(data._decode(png), crop_face(img, (0, 0, 96, 96)))
    np.testing.assert_array_equal(data._decode(png), to_face_input(img))


def test_stream_goes_on_after_the_camera_drops_out(classifier):
    from test_sources_stream import FakeCapture

    from edge_runtime.stream_sources import CaptureSource

    opened = []

    def opener(target):
        opened.append(target)
        return FakeCapture(fail_after=4)

    events = []
    src = CaptureSource(0, live=True, name="camera 0", opener=opener)
    rec = EmotionRecognizer(classifier, detector="none")
    stream = rec.stream(src, max_frames=10, on_event=events.append)
    stream.reader_backoff = (0.01, 0.02)
    results = list(stream)
    assert len(results) == 10
    assert stream.summary()["reopens"] >= 2
    assert any("reopened" in e for e in events)


def test_a_reopen_while_the_consumer_holds_a_frame_is_not_a_sign_of_life(classifier):
    """`run` pings systemd's watchdog on a reopen only while the pipeline waits for frames:
    a consumer stuck on a frame (a blocked stdout) while the camera keeps dropping out must
    not look alive (issue 50 F4)."""
    from test_sources_stream import FakeCapture

    from edge_runtime.stream_sources import CaptureSource

    src = CaptureSource(0, live=True, opener=lambda t: FakeCapture(fail_after=2))
    rec = EmotionRecognizer(classifier, detector="none")
    seen: list[bool] = []
    stream = rec.stream(src, on_event=lambda m: seen.append(stream.waiting_for_frame))
    stream.reader_backoff = (0.01, 0.02)
    for _ in stream:
        assert not stream.waiting_for_frame
        deadline = time.monotonic() + 5
        while len(seen) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)  # stuck here while the reader drops out and reopens
        break
    assert len(seen) >= 3 and not any(seen)


def test_duration_bounds_an_endless_live_source(classifier):
    from test_sources_stream import FakeCapture

    from edge_runtime.stream_sources import CaptureSource

    src = CaptureSource(0, live=True, opener=lambda t: FakeCapture(delay=0.005))
    rec = EmotionRecognizer(classifier, detector="none")
    stream = rec.stream(src, duration=0.3)
    frames = sum(1 for _ in stream)
    assert frames > 0 and stream.summary()["seconds"] < 5
