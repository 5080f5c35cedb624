"""Training figures: loss/accuracy curves and the confusion matrix (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: Path, dpi: int = 100):
    """Write `fig` with every title and label inside the image, close it and return it."""
    fig.savefig(path, dpi=dpi, bbox_inches="tight", pad_inches=0.1)
    _plt().close(fig)
    return fig


def plot_curves(history: list[dict], path: Path, title: str = "", kept: int = 0):
    """Loss and accuracy per epoch, training and validation, whole epochs on the axis and the
    kept epoch marked; the figure is returned."""
    from matplotlib.ticker import MaxNLocator

    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = [h["epoch"] for h in history]
    marker = "o" if len(epochs) <= 30 else None
    for key, ax in (("loss", ax1), ("accuracy", ax2)):
        ax.plot(epochs, [h[key] for h in history], marker=marker, ms=3, label="train")
        ax.plot(epochs, [h["val_" + key] for h in history], marker=marker, ms=3, label="validation")
        if kept:
            ax.axvline(kept, color="0.4", ls="--", lw=1, label=f"kept: epoch {kept}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return save(fig, path)


def plot_confusion(rep: dict, path: Path, title: str = ""):
    """Row-normalised confusion matrix with counts, from a `metrics.report` dict; the figure
    is returned."""
    import numpy as np

    plt = _plt()
    cm = np.array(rep["confusion"], dtype=float)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    labels = rep["labels"]
    side = max(4.0, 1.0 + 0.9 * len(labels))  # two classes still leave room for the title
    fig, ax = plt.subplots(figsize=(side, side - 0.2))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(
                j,
                i,
                f"{norm[i, j]:.2f}\n{int(cm[i, j])}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if norm[i, j] > 0.5 else "black",
            )
    ax.set_title(f"{title}\naccuracy {rep['accuracy']:.4f}, macro-F1 {rep['macro_f1']:.4f}")
    fig.tight_layout()
    return save(fig, path)
