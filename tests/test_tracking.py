"""Tracks: overlap, stable ids, misses, smoothing."""

from __future__ import annotations

import numpy as np
import pytest

from edge_runtime.tracking import NO_HOLD, Hold, LabelFilter, Track, Tracker, iou, search_region


def test_iou():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [20, 20, 5, 5]])
    np.testing.assert_allclose(iou(a, b)[0], [1.0, 50 / 150, 0.0])


def test_search_region_is_centred_and_grown():
    assert search_region(np.array([10, 20, 30, 40]), 2.0) == (-15, 0, 80, 80)


def _frame(tracker, boxes):
    tracker.begin_frame()
    tracks = tracker.match(np.array(boxes, np.float32).reshape(-1, 4))
    missed = tracker.end_frame()
    return [t.id for t in tracks], missed


def test_ids_follow_moving_faces_and_new_faces_get_new_ids():
    tr = Tracker(iou_threshold=0.3, max_misses=2)
    assert _frame(tr, [[0, 0, 50, 50]]) == ([1], False)
    assert _frame(tr, [[5, 0, 50, 50], [200, 0, 50, 50]]) == ([1, 2], False)
    assert _frame(tr, [[200, 4, 50, 50], [10, 2, 50, 50]]) == ([2, 1], False)


def test_a_track_survives_short_misses_then_is_dropped():
    tr = Tracker(max_misses=2)
    _frame(tr, [[0, 0, 50, 50]])
    assert _frame(tr, []) == ([], True)
    assert _frame(tr, []) == ([], True)
    assert _frame(tr, [[2, 0, 50, 50]]) == ([1], False)  # back within max_misses: same id
    for _ in range(3):
        _frame(tr, [])
    assert tr.tracks == []
    assert _frame(tr, [[2, 0, 50, 50]]) == ([2], False)


def _labels(f: LabelFilter, frames: list[list[float]]) -> list[int]:
    t = Track(id=1, box=np.zeros(4, np.float32))
    out = []
    for p in frames:
        f.update(t, np.array(p))
        out.append(t.label)
    return out


HAPPY, SAD, NEUTRAL = [0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.3, 0.2, 0.5]


def test_label_filter_averages_log_probabilities():
    f = LabelFilter(0.25)
    t = Track(id=1, box=np.zeros(4, np.float32))
    f.update(t, np.array([0.5, 0.5]))
    np.testing.assert_allclose(t.probs, [0.5, 0.5], atol=1e-6)
    f.update(t, np.array([0.9, 0.1]))
    geometric = np.array([0.5**0.75 * 0.9**0.25, 0.5**0.75 * 0.1**0.25])
    np.testing.assert_allclose(t.probs, geometric / geometric.sum(), atol=1e-6)
    off = LabelFilter(None)
    off.update(t, np.array([0.2, 0.8]))
    np.testing.assert_allclose(t.probs, [0.2, 0.8], atol=1e-6)
    with pytest.raises(ValueError):
        LabelFilter(1.5)
    with pytest.raises(ValueError):
        Hold(1.0, 5, 3)


def test_hold_ignores_short_runs_of_another_class():
    flicker = [HAPPY] * 10 + [SAD] * 2 + [HAPPY] * 5 + [SAD] + [HAPPY] * 5
    assert set(_labels(LabelFilter(0.5, Hold(1.0, 3, 12)), flicker)) == {0}
    raw = _labels(LabelFilter(None, NO_HOLD), flicker)
    assert sum(a != b for a, b in zip(raw, raw[1:], strict=False)) == 4


def test_hold_follows_a_clear_change_within_its_frames_and_a_slight_one_within_max():
    hold = Hold(1.0, 3, 12)
    clear = _labels(LabelFilter(0.5, hold), [HAPPY] * 10 + [SAD] * 20)[10:]
    assert clear.index(1) + 1 <= 3 + 2  # the average crosses, then leads clearly for 3
    assert set(clear[clear.index(1) :]) == {1}
    slight = _labels(LabelFilter(0.5, hold), [HAPPY] * 10 + [NEUTRAL] * 30)[10:]
    assert 3 < slight.index(2) + 1 <= 12 + 2
    assert set(slight[slight.index(2) :]) == {2}


@pytest.mark.shared
def test_default_hold_cuts_label_switches_on_the_sample_video(shared_samples):
    """run's defaults against raw labels on a real clip: at most a third of the switches,
    and JSON's raw probabilities are each frame's own."""
    from edge_runtime.recognizer import EmotionRecognizer, RecognizerOptions

    def labels(options: RecognizerOptions) -> tuple[list[str], list[dict]]:
        rec = EmotionRecognizer("fer7-nano", options=options)
        faces = [
            max(r.faces, key=lambda f: f.box[2] * f.box[3])
            for r in rec.stream(str(shared_samples / "test.mp4"))
            if r.faces
        ]
        return [f.label for f in faces], [f.raw_probs for f in faces]

    def switches(seq: list[str]) -> int:
        return sum(a != b for a, b in zip(seq, seq[1:], strict=False))

    steady, raw_probs = labels(RecognizerOptions())
    raw, raw_twin = labels(RecognizerOptions(smoothing=None, hold=NO_HOLD))
    assert raw_probs == raw_twin
    assert raw == [max(p, key=p.__getitem__) for p in raw_probs]
    assert switches(raw) >= 3 and switches(steady) <= switches(raw) / 3


def test_the_run_summary_says_per_face_how_long_it_showed_each_label():
    """The facial-coding summary: seconds seen, share of each label, mean probabilities and
    the longest stretch of each label, per track (issue 51 item 10)."""
    from edge_runtime.results import Face, FrameResult, StreamStats

    def face(fid: int, label: str) -> Face:
        p = 0.8 if label == "happy" else 0.2
        return Face((0, 0, 9, 9), label, 0.8, {"happy": p, "sad": 1 - p}, id=fid)

    stats = StreamStats()
    labels = ["happy"] * 10 + ["sad"] * 5 + ["happy"] * 5
    for i, lab in enumerate(labels):
        faces = [face(1, lab)] + ([face(2, "sad")] if i >= 10 else [])
        stats.add(FrameResult(source="t", frame=i, timestamp=i * 0.04, faces=faces))
    tracks = stats.summary()["tracks"]
    one, two = tracks["1"], tracks["2"]
    assert one["frames"] == 20 and one["seconds"] == pytest.approx(0.8)
    assert one["share"] == {"happy": 0.75, "sad": 0.25}
    assert one["longest_s"]["happy"] == pytest.approx(0.4)
    assert one["longest_s"]["sad"] == pytest.approx(0.2)
    assert one["mean_probs"]["happy"] == pytest.approx(0.65)
    assert two["frames"] == 10 and two["seconds"] == pytest.approx(0.4)
    assert two["share"] == {"sad": 1.0}
