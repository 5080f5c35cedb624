"""The runtime's numpy-only figures against scikit-learn's and scipy's."""

from __future__ import annotations

import numpy as np
import pytest

from edge_runtime.metrics import paired, report

sklearn_metrics = pytest.importorskip("sklearn.metrics", reason="needs the [train] extra")
stats = pytest.importorskip("scipy.stats", reason="needs scipy (comes with scikit-learn)")


def test_report_matches_scikit_learn():
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 4, 300), rng.integers(0, 4, 300)
    p[:5] = 3  # class 3 predicted more often than it occurs
    r = report(y, p, ["a", "b", "c", "d"])
    assert r["accuracy"] == pytest.approx(sklearn_metrics.accuracy_score(y, p))
    assert r["macro_f1"] == pytest.approx(sklearn_metrics.f1_score(y, p, average="macro"))
    assert r["confusion"] == sklearn_metrics.confusion_matrix(y, p).tolist()
    recall = sklearn_metrics.recall_score(y, p, average=None)
    assert [r["per_class"][c]["recall"] for c in "abcd"] == pytest.approx(recall)


@pytest.mark.parametrize("only_a, only_b", [(0, 0), (3, 0), (26, 26), (40, 22), (7, 190)])
def test_paired_p_value_is_the_exact_mcnemar_test(only_a, only_b):
    both, neither = 500, 60
    y = np.zeros(both + neither + only_a + only_b, int)
    a = np.r_[np.zeros(both), np.ones(neither), np.zeros(only_a), np.ones(only_b)].astype(int)
    b = np.r_[np.zeros(both), np.ones(neither), np.ones(only_a), np.zeros(only_b)].astype(int)
    r = paired(y, a, b)
    assert (r["only_a_right"], r["only_b_right"]) == (only_a, only_b)
    n = only_a + only_b
    expected = stats.binomtest(only_a, n, 0.5).pvalue if n else 1.0
    assert r["p_value"] == pytest.approx(expected, rel=1e-9)
