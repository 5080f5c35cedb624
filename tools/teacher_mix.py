"""Is a mean of teachers stronger than one? Accuracy on the choice split (PublicTest for FER2013;
never PrivateTest) of each teacher and of their equal-share mean, each read as `edge-fer train
--teacher` reads it (an exported .onnx as it is, a .keras model flip-averaged). With
`--classes happy,sad` the task keeps those classes and each teacher answers through their columns.

    python tools/teacher_mix.py ../shared/datasets/fer2013.zip \
        edge_runtime/models/fer7.int8.onnx ../runs/nano_deep/model.keras
    python tools/teacher_mix.py ../shared/datasets/fer2013.zip --classes happy,sad \
        edge_runtime/models/happy_sad.int8.onnx ../runs/nano_ens/model.keras
"""

from __future__ import annotations

import argparse

from edge_train.data import load
from edge_train.fit import load_teacher, load_teachers


def main(data: str, paths: list[str], classes: str | None) -> None:
    ds = load(data)
    if classes:
        ds = ds.task(tuple(classes.split(",")))
    split = ds.choice_split()
    part = ds.split(split)
    for name, teach in [(p, load_teacher(p, ds.classes)) for p in paths] + [
        (" + ".join(paths), load_teachers(paths, ds.classes))
    ]:
        accuracy = float((teach(part.images).argmax(1) == part.labels).mean())
        print(f"{accuracy:.2%}  {name}  ({split}, n={len(part)})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data")
    parser.add_argument("teachers", nargs="+")
    parser.add_argument("--classes", help="comma-separated classes to keep, e.g. happy,sad")
    args = parser.parse_args()
    main(args.data, args.teachers, args.classes)
