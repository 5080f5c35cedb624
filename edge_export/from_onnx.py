"""A training run rebuilt from the fp32 ONNX file that `edge-fer export` wrote of it.

Run directories live outside the repository and can be lost with a machine; an exported fp32
file and its card (kept in git history, say) hold everything the run's `model.keras` and
`metrics.json` need: the weights, the architecture, the labels and the training record. The
rebuilt model is checked against the ONNX file before it is written.

    python -m edge_export.from_onnx MODEL.fp32.onnx MODEL.card.json RUN_DIR [DATA]

DATA (the dataset the run trained on) gives the batch norms the statistics the export dropped;
pass it when the rebuilt run is to be trained on.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from edge_runtime.errors import EdgeFerError


class RebuildError(EdgeFerError):
    """An ONNX file whose weights do not fit the architecture its card names."""


def _attr(node, name: str, default: int) -> int:
    return next((a.i for a in node.attribute if a.name == name), default)


def onnx_layers(proto) -> list[list[np.ndarray]]:
    """The weights of each Conv and MatMul(+Add) of the graph, in graph order, as Keras holds
    them: [kernel (HWIO, or HWC1 for a depthwise conv), scale, shift], where scale and shift are
    the batch norm that follows (1 and the folded bias where tf2onnx folded it into the conv).
    A flip-TTA graph runs the network twice on the same initializers; each is taken once."""
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
        after = nodes[i + 1 : i + 3]
        # tf2onnx drops a bias of zeros
        bias = np.zeros(kernel.shape[0 if node.op_type == "Conv" else 1], kernel.dtype)
        scale = np.ones_like(bias)
        if node.op_type == "Conv":
            if len(node.input) > 2:
                bias = weights[node.input[2]]
            depthwise = _attr(node, "group", 1) == kernel.shape[0] > 1 and kernel.shape[1] == 1
            kernel = kernel.transpose(2, 3, 0, 1) if depthwise else kernel.transpose(2, 3, 1, 0)
            # a depthwise conv's batch norm stays a Mul and an Add of per-channel constants
            ops = [n.op_type for n in after]
            if depthwise and ops == ["Mul", "Add"] and all(n.input[1] in weights for n in after):
                scale = weights[after[0].input[1]].reshape(-1)
                bias = weights[after[1].input[1]].reshape(-1)
        elif after and after[0].op_type == "Add" and after[0].input[1] in weights:
            bias = weights[after[0].input[1]]
        layers.append([kernel, scale, bias])
    return layers


def _assign(model, layers: list[list[np.ndarray]], source: str) -> None:
    """Set the convolution and Dense weights of `model`. A convolution followed by batch norm
    gives the batch norm the scale and shift that the export folded or kept (mean 0, variance 1)."""
    import keras

    weighted = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)
    targets = [layer for layer in model.layers if isinstance(layer, weighted)]
    if len(targets) != len(layers):
        raise RebuildError(
            f"{source}: {len(layers)} weighted layers, but {model.name} has {len(targets)}"
        )
    following = {id(a): b for a, b in zip(model.layers, model.layers[1:], strict=False)}
    for layer, (kernel, scale, shift) in zip(targets, layers, strict=True):
        if tuple(layer.kernel.shape) != kernel.shape:
            raise RebuildError(
                f"{source}: {layer.name} has kernel {tuple(layer.kernel.shape)}, the file "
                f"{kernel.shape}"
            )
        norm = following.get(id(layer))
        if isinstance(norm, keras.layers.BatchNormalization):
            layer.set_weights([kernel])
            var = np.ones_like(shift) - norm.epsilon
            norm.set_weights([scale, shift, np.zeros_like(shift), var])
        else:
            layer.set_weights([kernel, shift] if layer.use_bias else [kernel])


def rebuild(onnx_path: Path, card: dict, faces: np.ndarray | None = None) -> tuple[object, float]:
    """The Keras model of `card["arch"]` holding the weights of the fp32 file `onnx_path`, and
    the largest difference of their probabilities (flip-averaged when the card says so) on
    random images, which must be float rounding only. With `faces` (uint8 [N, 48, 48], as the
    network was trained on), its batch norms get their statistics, the function kept
    (`set_norm_statistics`)."""
    import onnx
    import onnxruntime as ort

    from edge_export.contrast import network_input
    from edge_export.pipeline import ExportOptions
    from edge_export.smoothing import kernel, smooth
    from edge_train.archs import ARCHS, build
    from edge_train.norms import set_norm_statistics
    from edge_train.run_dir import predict

    if card.get("columns_of"):
        raise RebuildError(f"{onnx_path}: exported for a subset of its classes; use the full model")
    if card["arch"] not in ARCHS:
        raise RebuildError(f"{onnx_path}: unknown architecture {card['arch']!r} in its card")
    labels = card["labels"]
    model = build(card["arch"], len(labels), augment=True, seed=0)
    layers = onnx_layers(onnx.load(str(onnx_path)))
    sigma = float(card.get("smooth_sigma") or 0.0)
    if sigma > 0:
        # the export's input smoothing is the graph's first Conv; the trained network never had it
        first = layers.pop(0)[0] if layers else None
        if first is None or not np.allclose(first[:, :, 0, 0], kernel(sigma), atol=1e-6):
            raise RebuildError(f"{onnx_path}: no smoothing of sigma {sigma} at its input")
    _assign(model, layers, str(onnx_path))
    if faces is not None:
        # The export keeps no statistics (mean 0 and variance 1 stand in), while in training
        # mode a batch norm normalises by the batch's own: uncalibrated, the rebuilt fer7-nano
        # scores 66% on PublicTest at inference and 24% in training mode in batches of 64.
        set_norm_statistics(model, faces, keep_function=True)

    images = np.random.default_rng(0).integers(0, 256, (64, 48, 48), dtype=np.uint8)
    stretched = bool(card.get("contrast_stretch"))
    keras_probs = predict(model, smooth(network_input(images, stretched), sigma))
    if card.get("flip_tta"):
        flipped = network_input(images[:, :, ::-1], stretched)
        keras_probs = (keras_probs + predict(model, smooth(flipped, sigma))) / 2.0
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    onnx_probs = sess.run(None, {sess.get_inputs()[0].name: images[:, None].astype(np.float32)})[0]
    diff = float(np.abs(keras_probs - onnx_probs).max())
    if not diff <= ExportOptions.max_prob_diff:
        raise RebuildError(
            f"{onnx_path}: the rebuilt model differs from the file (max |dp| {diff:.2e})"
        )
    return model, diff


def write_run(onnx_path: Path, card_path: Path, run_dir: Path, data: Path | None = None) -> float:
    """Write RUN_DIR/model.keras and RUN_DIR/metrics.json; return the checked max |dp|. With
    `data` (a dataset `edge-fer train` reads), the batch norms take their statistics from up to
    4,096 of its training faces (`Dataset.training_pool`), so that the rebuilt run can be
    trained on (`train --init`)."""
    card = json.loads(Path(card_path).read_text())
    missing = [k for k in ("task", "labels", "arch", "training") if k not in card]
    if missing:
        raise RebuildError(f"{card_path}: not an edge-fer model card (no {', '.join(missing)})")
    if "members" in card:
        raise RebuildError(f"{card_path}: the card of an ensemble; rebuild each member's own file")
    run_dir = Path(run_dir)
    for name in ("model.keras", "metrics.json"):
        if (run_dir / name).exists():
            raise RebuildError(f"{run_dir}/{name} exists; not overwritten")
    faces, statistics = None, None
    if data is not None:
        from edge_train.data import load

        train = load(data).training_pool().images
        pick = np.random.default_rng(0).permutation(len(train))[:4096]
        faces = train[np.sort(pick)]
        statistics = f"{len(faces)} training faces of {data}"
    model, diff = rebuild(Path(onnx_path), card, faces)
    metrics = {
        "task": card["task"],
        "labels": card["labels"],
        "arch": card["arch"],
        "params": int(model.count_params()),
        **card["training"],
        "rebuilt_from": {
            "onnx": str(onnx_path),
            "card": str(card_path),
            "max_abs_diff": diff,
            "norm_statistics_from": statistics,
        },
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    model.save(run_dir / "model.keras")
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return diff


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4):
        print(
            "usage: python -m edge_export.from_onnx MODEL.fp32.onnx MODEL.card.json RUN_DIR [DATA]",
            file=sys.stderr,
        )
        return 2
    try:
        data = Path(argv[3]) if len(argv) == 4 else None
        diff = write_run(Path(argv[0]), Path(argv[1]), Path(argv[2]), data)
    except (EdgeFerError, OSError, ValueError) as e:
        print(f"edge-fer: {e}", file=sys.stderr)
        return 1
    print(f"{argv[2]}: rebuilt from {argv[0]} (Keras vs ONNX max |dp| {diff:.2e})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
