"""Is a mean of teachers stronger than one? Accuracy on the choice split (PublicTest for FER2013;
never PrivateTest) of each teacher and of their equal-share mean, each read as `edge-fer train
--teacher` reads it (an exported .onnx as it is, a .keras model flip-averaged).

    python tools/teacher_mix.py ../shared/datasets/fer2013.zip \
        edge_runtime/models/fer7.int8.onnx ../runs/nano_deep/model.keras
"""

from __future__ import annotations

import sys

from edge_train.data import load
from edge_train.fit import load_teacher, load_teachers


def main(data: str, paths: list[str]) -> None:
    ds = load(data)
    split = ds.choice_split()
    part = ds.split(split)
    for name, teach in [(p, load_teacher(p, ds.classes)) for p in paths] + [
        (" + ".join(paths), load_teachers(paths, ds.classes))
    ]:
        accuracy = float((teach(part.images).argmax(1) == part.labels).mean())
        print(f"{accuracy:.2%}  {name}  ({split}, n={len(part)})")


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
