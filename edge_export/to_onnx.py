"""Keras 3 -> ONNX, converted in-process with tf2onnx, NCHW input, named input and output.

`tf2onnx.convert.from_keras` fails on Keras 3 models; `from_function` over a traced call with
a named input signature works and lets us name the output. `inputs_as_nchw` makes the graph
take [N, 1, 48, 48] so tf2onnx's optimiser drops the NHWC<->NCHW Transposes around every
convolution; for a single gray channel the two layouts hold the same bytes anyway. One
Transpose remains in architectures that Flatten (Keras flattens in HWC order), on a tensor of
a few thousand values.
"""

from __future__ import annotations

import os

from edge_export.contrast import stretch_tf
from edge_export.smoothing import smooth_tf

OPSET = 17
INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"


def keras_to_onnx(
    model,
    opset: int = OPSET,
    flip_tta: bool = False,
    columns: list[int] | None = None,
    smooth_sigma: float = 0.0,
    contrast_stretch: bool = False,
):
    """An onnx.ModelProto of `model` (inference mode): input `image` float32 [N, 1, H, W]
    of raw 0..255 pixels, output `probabilities` [N, C]. With `contrast_stretch` each face is
    first stretched to 0..255 (edge_export.contrast), with `smooth_sigma` then smoothed
    (edge_export.smoothing). With `flip_tta` the graph averages the probabilities
    of each face and its mirror image (test-time augmentation). With `columns` it outputs
    only those classes' probabilities, renormalised to sum to 1."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    import tf2onnx

    h, w, c = model.input_shape[1:]
    spec = (tf.TensorSpec((None, h, w, c), tf.float32, name=INPUT_NAME),)

    @tf.function(input_signature=spec)
    def serve(image):
        if contrast_stretch:
            image = stretch_tf(image)
        if smooth_sigma > 0:
            image = smooth_tf(image, smooth_sigma)
        probs = model(image, training=False)
        if flip_tta:
            probs = (probs + model(tf.reverse(image, axis=[2]), training=False)) / 2.0
        if columns is not None:
            probs = tf.gather(probs, columns, axis=1)
            probs = probs / tf.maximum(tf.reduce_sum(probs, axis=1, keepdims=True), 1e-12)
        return {OUTPUT_NAME: probs}

    proto, _ = tf2onnx.convert.from_function(
        serve, input_signature=spec, opset=opset, inputs_as_nchw=[INPUT_NAME]
    )
    canonical_names(proto)
    proto.producer_name = "edge-fer"
    proto.producer_version = ""
    proto.graph.doc_string = ""
    proto.graph.name = model.name
    return proto


def canonical_names(proto) -> None:
    """Rename nodes and tensors by position (tf2onnx numbers generated names with a counter
    that differs between runs), so that the same model always gives the same bytes."""
    g = proto.graph
    keep = {v.name for v in g.input} | {v.name for v in g.output}
    names: dict[str, str] = {}

    def rename(name: str, new: str) -> str:
        if not name or name in keep:
            return name
        return names.setdefault(name, new)

    inits = {init.name: init for init in g.initializer}
    for i, node in enumerate(g.node):
        node.name = f"{node.op_type.lower()}_{i}"
        for j, inp in enumerate(node.input):
            if inp in inits:
                node.input[j] = rename(inp, f"w{len(names)}")
            else:
                node.input[j] = names.get(inp, inp)
        for j, out in enumerate(node.output):
            node.output[j] = rename(out, f"t{i}_{j}")
    ordered = []
    for init in sorted(inits.values(), key=lambda t: int(names.get(t.name, "w-1")[1:])):
        copy = type(init)()
        copy.CopyFrom(init)
        copy.name = names.get(init.name, init.name)
        ordered.append(copy)
    del g.initializer[:]
    g.initializer.extend(ordered)
    for vi in g.value_info:
        vi.name = names.get(vi.name, vi.name)
    dims: dict[str, str] = {}
    for vi in [*g.input, *g.output, *g.value_info]:
        for d in vi.type.tensor_type.shape.dim:
            if d.dim_param:
                d.dim_param = dims.setdefault(d.dim_param, "N" if not dims else f"dim{len(dims)}")


def count_ops(proto, op_type: str) -> int:
    return sum(1 for n in proto.graph.node if n.op_type == op_type)


def set_metadata(proto, meta: dict[str, str]) -> None:
    """Replace the model's `metadata_props` with `meta` (sorted, so files are reproducible)."""
    del proto.metadata_props[:]
    for k in sorted(meta):
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, meta[k]
