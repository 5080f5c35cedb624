"""A training run rebuilt from the fp32 ONNX file that `edge-fer export` wrote of it.

Run directories live outside the repository and can be lost with a machine; an exported fp32
file and its card (kept in git history, say) hold everything the run's `model.keras` and
`metrics.json` need: the weights, the architecture, the labels and the training record. The
rebuilt model is checked against the ONNX file before it is written.

    python -m edge_export.from_onnx MODEL.fp32.onnx MODEL.card.json RUN_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from edge_runtime.errors import EdgeFerError


class RebuildError(EdgeFerError):
    """An ONNX file whose weights do not fit the architecture its card names."""


def onnx_layers(proto) -> list[list[np.ndarray]]:
    """The weights of each Conv and MatMul(+Add) of the graph, in graph order, as Keras holds
    them (HWIO kernels). A flip-TTA graph runs the network twice on the same initializers;
    each is taken once."""
    from onnx import numpy_helper

    weights = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    nodes = list(proto.graph.node)
    layers, seen = [], set()
    for i, node in enumerate(nodes):
        if node.op_type not in ("Conv", "MatMul") or len(node.input) < 2:
            continue
        kernel = weights.get(node.input[1])
        if kernel is None or node.input[1] in seen:
            continue
        seen.add(node.input[1])
        # tf2onnx drops a bias of zeros
        bias = np.zeros(kernel.shape[0 if node.op_type == "Conv" else 1], kernel.dtype)
        if node.op_type == "Conv":
            if len(node.input) > 2:
                bias = weights[node.input[2]]
            layers.append([kernel.transpose(2, 3, 1, 0), bias])
        else:
            nxt = nodes[i + 1] if i + 1 < len(nodes) else None
            if nxt is not None and nxt.op_type == "Add" and nxt.input[1] in weights:
                bias = weights[nxt.input[1]]
            layers.append([kernel, bias])
    return layers


def _assign(model, layers: list[list[np.ndarray]], source: str) -> None:
    """Set the Conv2D and Dense weights of `model`. A convolution followed by batch norm was
    folded into one Conv at export: the conv takes the folded kernel and the batch norm becomes
    the identity plus the folded bias."""
    import keras

    weighted = (keras.layers.Conv2D, keras.layers.Dense)
    targets = [layer for layer in model.layers if isinstance(layer, weighted)]
    if len(targets) != len(layers):
        raise RebuildError(
            f"{source}: {len(layers)} weighted layers, but {model.name} has {len(targets)}"
        )
    following = {id(a): b for a, b in zip(model.layers, model.layers[1:], strict=False)}
    for layer, (kernel, bias) in zip(targets, layers, strict=True):
        if tuple(layer.kernel.shape) != kernel.shape:
            raise RebuildError(
                f"{source}: {layer.name} has kernel {tuple(layer.kernel.shape)}, the file "
                f"{kernel.shape}"
            )
        norm = following.get(id(layer))
        if isinstance(norm, keras.layers.BatchNormalization):
            layer.set_weights([kernel])
            ones = np.ones_like(bias)
            var = ones - norm.epsilon
            norm.set_weights([ones, bias, np.zeros_like(bias), var])
        else:
            layer.set_weights([kernel, bias] if layer.use_bias else [kernel])


def rebuild(onnx_path: Path, card: dict) -> tuple[object, float]:
    """The Keras model of `card["arch"]` holding the weights of the fp32 file `onnx_path`, and
    the largest difference of their probabilities (flip-averaged when the card says so) on
    random images, which must be float rounding only."""
    import onnx
    import onnxruntime as ort

    from edge_export.pipeline import ExportOptions
    from edge_train.archs import ARCHS, build
    from edge_train.run_dir import predict

    if card.get("columns_of"):
        raise RebuildError(f"{onnx_path}: exported for a subset of its classes; use the full model")
    if card["arch"] not in ARCHS:
        raise RebuildError(f"{onnx_path}: unknown architecture {card['arch']!r} in its card")
    labels = card["labels"]
    model = build(card["arch"], len(labels), augment=True, seed=0)
    _assign(model, onnx_layers(onnx.load(str(onnx_path))), str(onnx_path))

    images = np.random.default_rng(0).integers(0, 256, (64, 48, 48), dtype=np.uint8)
    keras_probs = predict(model, images)
    if card.get("flip_tta"):
        keras_probs = (keras_probs + predict(model, images[:, :, ::-1])) / 2.0
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    onnx_probs = sess.run(None, {sess.get_inputs()[0].name: images[:, None].astype(np.float32)})[0]
    diff = float(np.abs(keras_probs - onnx_probs).max())
    if not diff <= ExportOptions.max_prob_diff:
        raise RebuildError(
            f"{onnx_path}: the rebuilt model differs from the file (max |dp| {diff:.2e})"
        )
    return model, diff


def write_run(onnx_path: Path, card_path: Path, run_dir: Path) -> float:
    """Write RUN_DIR/model.keras and RUN_DIR/metrics.json; return the checked max |dp|."""
    card = json.loads(Path(card_path).read_text())
    missing = [k for k in ("task", "labels", "arch", "training") if k not in card]
    if missing:
        raise RebuildError(f"{card_path}: not an edge-fer model card (no {', '.join(missing)})")
    if "members" in card:
        raise RebuildError(f"{card_path}: the card of an ensemble; rebuild each member's own file")
    run_dir = Path(run_dir)
    if (run_dir / "model.keras").exists():
        raise RebuildError(f"{run_dir}/model.keras exists; not overwritten")
    model, diff = rebuild(Path(onnx_path), card)
    metrics = {
        "task": card["task"],
        "labels": card["labels"],
        "arch": card["arch"],
        "params": int(model.count_params()),
        **card["training"],
        "rebuilt_from": {"onnx": str(onnx_path), "card": str(card_path), "max_abs_diff": diff},
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    model.save(run_dir / "model.keras")
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return diff


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(
            "usage: python -m edge_export.from_onnx MODEL.fp32.onnx MODEL.card.json RUN_DIR",
            file=sys.stderr,
        )
        return 2
    try:
        diff = write_run(Path(argv[0]), Path(argv[1]), Path(argv[2]))
    except (EdgeFerError, OSError, ValueError) as e:
        print(f"edge-fer: {e}", file=sys.stderr)
        return 1
    print(f"{argv[2]}: rebuilt from {argv[0]} (Keras vs ONNX max |dp| {diff:.2e})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
