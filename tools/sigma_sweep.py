"""Choose the export's --smooth sigma for a trained model on its choice split (PublicTest for
FER2013; never PrivateTest): accuracy and macro-F1 over the model's classes, and for a model
with happy and sad among more classes, happy/sad accuracy through those two columns. Keras,
single pass, for each sigma.

    python tools/sigma_sweep.py RUN/model.keras ../shared/datasets/fer2013.zip
"""

from __future__ import annotations

import sys

import numpy as np

from edge_export.smoothing import smooth
from edge_runtime.labels import task_probs
from edge_runtime.metrics import report
from edge_train.data import load
from edge_train.run_dir import keras_labels, load_keras, predict

SIGMAS = (0.0, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)


def main(model_path: str, data: str) -> None:
    model = load_keras(model_path)
    ds = load(data)
    labels = keras_labels(model_path) or ds.classes
    split = ds.choice_split()
    part = ds.split(split).only(labels)
    pair = ("happy", "sad")
    hs = part.only(pair) if len(labels) > 2 and set(pair) <= set(labels) else None
    for sigma in SIGMAS:
        r = report(part.labels, predict(model, smooth(part.images, sigma)).argmax(1), labels)
        line = (
            f"sigma {sigma:.1f}: {len(labels)} classes {r['accuracy']:.4f} F1 {r['macro_f1']:.4f}"
        )
        if hs is not None:
            ph = task_probs(predict(model, smooth(hs.images, sigma)), labels, pair)
            line += f"  happy/sad {float(np.mean(ph.argmax(1) == hs.labels)):.4f}"
        print(f"{line}  ({split})", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
