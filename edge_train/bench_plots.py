"""pareto.png (accuracy vs latency, Pareto front marked) and latency.png (bars with spread).

Part of `edge-fer bench`, kept in edge_train/ with the other plots so that edge_runtime never
imports matplotlib; matplotlib is imported lazily: on a runtime-only install the PNGs are
skipped with a note.
"""

from __future__ import annotations

from pathlib import Path

from edge_train.plots import save

PARETO, LATENCY = "pareto.png", "latency.png"


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def reference_rows(rows: list[dict]) -> list[dict]:
    """One latency row per model/format: batch 1 (else the smallest) at the fewest threads."""
    lat = [r for r in rows if r["kind"] == "latency"]
    if not lat:
        return []
    b = min(r["batch"] for r in lat)
    t = min(r["threads"] for r in lat)
    return [r for r in lat if r["batch"] == b and r["threads"] == t]


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both latency (lower) and accuracy
    (higher), sorted by latency."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def _label(r: dict) -> str:
    return f"{r['model']} {r['format']}"


def _task(r: dict) -> str:
    labels = r.get("labels") or []
    return f"{len(labels)} classes" if len(labels) != 2 else "+".join(labels)


# a label's offsets from its point tried in turn, in points: beside it, then further up or down
_LABEL_OFFSETS = [
    (5, 3),
    (5, -3),
    (-5, 3),
    (-5, -3),
    (5, 13),
    (5, -13),
    (-5, 13),
    (-5, -13),
    (5, 23),
    (5, -23),
    (-5, 23),
    (-5, -23),
]


def _overlap(a, b) -> float:
    """Area two display-space boxes share."""
    return max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0)) * max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))


def _place_labels(ax, pts: list[tuple[float, float]], texts: list[str], avoid: list) -> None:
    """Label each point at the first offset where its text stays inside the axes and covers no
    other label, point or artist in `avoid`; when none is free, where it covers the least."""
    ax.figure.canvas.draw()  # lays out the legend, whose box is then known
    renderer = ax.figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    dots = [ax.transData.transform(p) for p in pts]
    taken = [a.get_window_extent(renderer) for a in avoid]

    def cost(box) -> float:
        outside = box.width * box.height - _overlap(box, frame)
        covered = sum(_overlap(box, b) for b in taken)
        dots_hit = sum(
            box.x0 - 4 < px < box.x1 + 4 and box.y0 - 4 < py < box.y1 + 4 for px, py in dots
        )
        return outside + covered + 100.0 * dots_hit

    def label(text: str, xy: tuple[float, float], dx: float, dy: float, leader: bool):
        return ax.annotate(
            text,
            xy,
            textcoords="offset points",
            xytext=(dx, dy),
            fontsize=7,
            ha="left" if dx > 0 else "right",
            va="bottom" if dy > 0 else "top",
            arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "0.5"} if leader else None,
        )

    for (x, y), text in sorted(zip(pts, texts, strict=True), key=lambda t: -t[0][1]):
        best = None
        for dx, dy in _LABEL_OFFSETS:
            trial = label(text, (x, y), dx, dy, leader=False)
            box = trial.get_window_extent(renderer).padded(2)
            trial.remove()
            c = cost(box)
            if best is None or c < best[0]:
                best = (c, dx, dy, box)
            if c == 0:
                break
        _, dx, dy, box = best
        # a leader line tells which point a distant label belongs to
        label(text, (x, y), dx, dy, leader=abs(dy) > 10)
        taken.append(box)


def _wide(values: list[float]) -> bool:
    """A range for a log axis: narrow ones get ugly ticks."""
    return max(values) > 10 * min(values)


def _log_x(ax) -> None:
    """A log latency axis labelled in plain milliseconds at 1, 2 and 5 of each decade (0.1,
    0.2, 0.5, 1, 2), without the crowded "3x10^-1" labels of matplotlib's minor ticks."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def write_pareto(rows: list[dict], path: Path, plt):
    """One panel per task (accuracies of different label sets are not comparable), each
    with its own Pareto front where it has more than one point; the figure, or None when no
    row has an accuracy."""
    ref = [r for r in reference_rows(rows) if r.get("accuracy") is not None]
    if not ref:
        return None
    tasks = sorted({_task(r) for r in ref})
    fig, axes = plt.subplots(1, len(tasks), figsize=(6.5 * len(tasks), 4.8), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        group = [r for r in ref if _task(r) == task]
        pts = [(r["p50_ms"], 100 * r["accuracy"]) for r in group]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], c="0.6", zorder=2)
        if len(pts) > 1:
            front = pareto_front(pts)
            fx, fy = [pts[i][0] for i in front], [pts[i][1] for i in front]
            ax.step(fx, fy, where="post", c="tab:red", lw=1, zorder=1, label="Pareto front")
            ax.scatter(fx, fy, c="tab:red", zorder=3)
            ax.legend(loc="best")
        if _wide([p[0] for p in pts]):
            _log_x(ax)
        ax.margins(x=0.12, y=0.08)
        ax.set_xlabel(
            f"median latency, ms (batch {group[0]['batch']}, {group[0]['threads']} thread(s))"
        )
        ax.set_ylabel(f"accuracy, % ({group[0]['eval_split']})")
        ax.set_title(f"Accuracy vs latency: {task}")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    for ax, task in zip(axes[0], tasks, strict=True):
        group = [r for r in ref if _task(r) == task]
        _place_labels(
            ax,
            [(r["p50_ms"], 100 * r["accuracy"]) for r in group],
            [_label(r) for r in group],
            [a for a in [ax.get_legend()] if a],
        )
    return save(fig, path, dpi=110)


def write_latency(rows: list[dict], path: Path, plt):
    """Median bars with their spread, on a log axis when the latencies span more than 10x
    (else the fast ONNX bars vanish beside Keras `predict`); the figure, or None."""
    ref = reference_rows(rows)
    if not ref:
        return None
    ref = sorted(ref, key=lambda r: r["p50_ms"])
    y = list(range(len(ref)))
    med = [r["p50_ms"] for r in ref]
    err = [[r["p50_ms"] - r["min_ms"] for r in ref], [r["p90_ms"] - r["p50_ms"] for r in ref]]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(ref) + 1.5))
    ax.barh(
        y,
        med,
        xerr=err,
        color="tab:blue",
        alpha=0.8,
        capsize=3,
        label="median (whiskers: min to p90)",
    )
    ax.scatter([r["p99_ms"] for r in ref], y, marker="|", c="k", s=80, label="p99", zorder=3)
    ax.set_yticks(y, [_label(r) for r in ref], fontsize=8)
    ax.invert_yaxis()
    wide = _wide([r["min_ms"] for r in ref] + [r["p99_ms"] for r in ref])
    if wide:
        _log_x(ax)
    ax.set_xlabel(
        f"ms per call (batch {ref[0]['batch']}, {ref[0]['threads']} thread(s))"
        + (", log scale" if wide else "")
    )
    ax.set_title("Latency")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return save(fig, path, dpi=120)


def write_plots(rows: list[dict], out: Path) -> tuple[list[str], list[str]]:
    """(written file names, notes for the ones skipped)."""
    plt = _pyplot()
    if plt is None:
        return [], [
            "pareto.png and latency.png skipped: matplotlib is not installed "
            "(pip install matplotlib)"
        ]
    written, notes = [], []
    if write_pareto(rows, out / PARETO, plt):
        written.append(PARETO)
    else:
        notes.append("pareto.png skipped: no accuracy figures (pass --data)")
    if write_latency(rows, out / LATENCY, plt):
        written.append(LATENCY)
    return written, notes
