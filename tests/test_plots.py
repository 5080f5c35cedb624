"""The training and bench figures: nothing clipped, whole epochs, the kept epoch marked, a log
latency axis for wide ranges, no Pareto front for a single point."""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib", reason="the figures need matplotlib: pip install '.[train]'")

from edge_train.bench_plots import _pyplot, write_latency, write_pareto  # noqa: E402
from edge_train.plots import plot_confusion, plot_curves  # noqa: E402


def _whole_in_image(fig, png, dpi: int) -> None:
    """The saved PNG holds the whole drawing (every title, label and annotation), not a
    figure-sized crop of it."""
    import matplotlib.image
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    h, w = matplotlib.image.imread(png).shape[:2]
    fig.set_dpi(dpi)
    canvas = FigureCanvasAgg(fig)  # the saved figure was closed, which detached its canvas
    canvas.draw()
    renderer = canvas.get_renderer()
    drawn = fig.get_tightbbox(renderer)  # inches, over every artist
    ticks = {id(t) for ax in fig.axes for t in [*ax.get_xticklabels(), *ax.get_yticklabels()]}
    texts = fig.findobj(
        lambda a: hasattr(a, "get_text") and a.get_text() and a.get_visible() and id(a) not in ticks
    )  # titles, axis labels, legends, annotations
    assert texts
    for text in texts:
        box = text.get_window_extent(renderer).transformed(fig.dpi_scale_trans.inverted())
        assert drawn.x0 - 0.01 <= box.x0 and box.x1 <= drawn.x1 + 0.01, text.get_text()
    assert abs(w - (drawn.width + 0.2) * dpi) <= 3 and abs(h - (drawn.height + 0.2) * dpi) <= 3


def test_a_two_class_confusion_keeps_its_whole_title(tmp_path):
    rep = {
        "confusion": [[90, 10], [20, 80]],
        "labels": ["happy", "sad"],
        "accuracy": 0.85,
        "macro_f1": 0.849,
    }
    fig = plot_confusion(
        rep, tmp_path / "confusion.png", title="happy_sad-nano happy+sad on PublicTest"
    )
    assert (tmp_path / "confusion.png").stat().st_size > 0
    title = fig.axes[0].get_title()
    assert title.startswith("happy_sad-nano happy+sad on PublicTest\n")
    _whole_in_image(fig, tmp_path / "confusion.png", 100)


def test_short_curves_show_whole_epochs_markers_and_the_kept_epoch(tmp_path):
    history = [
        {
            "epoch": e,
            "loss": 1.0 / e,
            "val_loss": 1.2 / e,
            "accuracy": 0.5 + e / 10,
            "val_accuracy": 0.4 + e / 12,
        }
        for e in (1, 2, 3)
    ]
    fig = plot_curves(history, tmp_path / "curves.png", title="nano fer7", kept=2)
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if 1 <= t <= 3]
        assert ticks and all(float(t).is_integer() for t in ticks)
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert lines["train"].get_marker() == "o"
        assert list(lines["kept: epoch 2"].get_xdata()) == [2, 2]


def _latency(model: str, fmt: str, ms: float, acc: float | None = None) -> dict:
    return {
        "kind": "latency",
        "model": model,
        "format": fmt,
        "batch": 1,
        "threads": 1,
        "p50_ms": ms,
        "min_ms": ms * 0.9,
        "p90_ms": ms * 1.1,
        "p99_ms": ms * 1.3,
        "accuracy": acc,
        "labels": ["happy", "sad"],
        "eval_split": "PrivateTest",
    }


def test_latency_goes_log_only_when_the_range_is_wide(tmp_path):
    plt = _pyplot()
    wide = write_latency(
        [_latency("m", "int8", 0.7), _latency("m", "keras-predict", 40.0)],
        tmp_path / "wide.png",
        plt,
    )
    narrow = write_latency(
        [_latency("m", "int8", 0.7), _latency("m", "fp32", 1.1)], tmp_path / "narrow.png", plt
    )
    assert wide.axes[0].get_xscale() == "log" and "log scale" in wide.axes[0].get_xlabel()
    assert narrow.axes[0].get_xscale() == "linear"
    assert write_latency([], tmp_path / "none.png", plt) is None


def test_a_single_point_panel_draws_no_front(tmp_path):
    plt = _pyplot()
    one = write_pareto([_latency("m", "int8", 0.7, 0.9)], tmp_path / "one.png", plt)
    assert one.axes[0].get_legend() is None and not one.axes[0].get_lines()
    two = write_pareto(
        [_latency("m", "int8", 0.7, 0.9), _latency("n", "fp32", 1.4, 0.95)],
        tmp_path / "two.png",
        plt,
    )
    assert two.axes[0].get_legend() is not None
    _whole_in_image(two, tmp_path / "two.png", 110)
