"""Choose the export's --smooth sigma for a trained model on PublicTest (never PrivateTest):
accuracy and macro-F1 of the 7 classes and happy/sad accuracy through the happy and sad
columns, single pass, Keras, for each sigma.

    python tools/sigma_sweep.py RUN/model.keras ../shared/datasets/fer2013.zip
"""

from __future__ import annotations

import sys

import numpy as np

from edge_runtime.labels import task_probs
from edge_runtime.metrics import report
from export.smoothing import smooth
from train.data import load
from train.run_dir import load_keras, predict

SIGMAS = (0.0, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)


def main(model_path: str, data: str) -> None:
    model = load_keras(model_path)
    ds = load(data)
    part = ds.split(ds.choice_split())
    hs = part.only(("happy", "sad"))
    for sigma in SIGMAS:
        r = report(part.labels, predict(model, smooth(part.images, sigma)).argmax(1), ds.classes)
        ph = task_probs(predict(model, smooth(hs.images, sigma)), ds.classes, ("happy", "sad"))
        acc_hs = float(np.mean(ph.argmax(1) == hs.labels))
        print(
            f"sigma {sigma:.1f}: 7 classes {r['accuracy']:.4f} F1 {r['macro_f1']:.4f}  "
            f"happy/sad {acc_hs:.4f}  ({ds.choice_split()})",
            flush=True,
        )


if __name__ == "__main__":
    main(*sys.argv[1:3])
