"""Is a mean of teachers stronger than one? Accuracy on the choice split (PublicTest for FER2013;
never PrivateTest) of each teacher and of their equal-share mean, each read as `edge-fer train
--teacher` reads it (an exported .onnx as it is, a .keras model flip-averaged). With
`--classes happy,sad` the task keeps those classes and each teacher answers through their columns;
`--split Training` asks how closely a student copies its teacher on the images it learnt from.

    python tools/teacher_mix.py ../shared/datasets/fer2013.zip \
        edge_runtime/models/fer7.int8.onnx ../runs/nano_deep/model.keras
    python tools/teacher_mix.py ../shared/datasets/fer2013.zip --classes happy,sad \
        edge_runtime/models/happy_sad.int8.onnx ../runs/nano_ens/model.keras
"""

from __future__ import annotations

import argparse

from edge_train.data import SPLIT_CHOICES, load
from edge_train.fit import load_teacher


def main(data: str, paths: list[str], classes: str | None, split: str | None) -> None:
    ds = load(data)
    if classes:
        ds = ds.task(tuple(classes.split(",")))
    if split and ds.report_split() in SPLIT_CHOICES.get(split, (split,)):
        raise SystemExit(f"--split {split}: holds the report split, which is only ever reported")
    split = split or ds.choice_split()
    part = ds.split(split)
    answers = {p: load_teacher(p, ds.classes)(part.images) for p in paths}
    mean = sum(answers.values()) / len(answers)  # as `load_teachers` mixes them for training
    for name, probs in [*answers.items(), (" + ".join(paths), mean)]:
        accuracy = float((probs.argmax(1) == part.labels).mean())
        print(f"{accuracy:.2%}  {name}  ({split}, n={len(part)})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data")
    parser.add_argument("teachers", nargs="+")
    parser.add_argument("--classes", help="comma-separated classes to keep, e.g. happy,sad")
    parser.add_argument("--split", help="the split to score (default: the choice split)")
    args = parser.parse_args()
    main(args.data, args.teachers, args.classes, args.split)
