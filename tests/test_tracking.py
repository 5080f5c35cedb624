"""Tracks: overlap, stable ids, misses, smoothing."""

from __future__ import annotations

import numpy as np
import pytest

from edge_runtime.tracking import Smoother, Tracker, iou, search_region


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


def test_smoother():
    s = Smoother(0.25)
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    assert s.update(None, a) is a
    np.testing.assert_allclose(s.update(a, b), [0.75, 0.25])
    off = Smoother(None)
    assert off.update(a, b) is b
    with pytest.raises(ValueError):
        Smoother(1.5)
