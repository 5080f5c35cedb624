"""Multiply-accumulates per face, counted from an ONNX graph: the cost of a model on any CPU.

Every convolution and matrix product is counted at batch 1, in fp32 (Conv, Gemm, MatMul), QDQ
(the same nodes between DequantizeLinear) and QOperator (QLinearConv, QLinearMatMul,
ConvInteger, MatMulInteger, QGemm) form. A graph that runs its network twice (flip test-time
augmentation) counts twice. Element-wise ops, pooling and the softmax are not counted: next to
the convolutions they cost little, and every published MAC figure leaves them out.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

#: op type -> index of the weight among the node's inputs
_WEIGHT_INPUT = {
    "Conv": 1,
    "ConvInteger": 1,
    "QLinearConv": 3,
    "MatMul": 1,
    "MatMulInteger": 1,
    "QLinearMatMul": 3,
    "Gemm": 1,
    "QGemm": 3,
}
_CONVS = ("Conv", "ConvInteger", "QLinearConv")


def _run_shapes(model) -> dict[str, tuple[int, ...]]:
    """The shape of every tensor a weighted node reads or writes, from one run of one face:
    exact where ONNX shape inference stops (QOperator convolutions, computed Reshapes)."""
    import onnx
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    inits = {i.name: tuple(i.dims) for i in g.initializer}
    wanted = {t for n in g.node if n.op_type in _WEIGHT_INPUT for t in (*n.input, n.output[0])}
    have = {o.name for o in g.output}
    for name in sorted(wanted - have - set(inits) - {""}):
        g.output.append(onnx.ValueInfoProto(name=name))
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    feeds = {}
    for inp in sess.get_inputs():
        shape = [1] + [d if isinstance(d, int) else 1 for d in inp.shape[1:]]
        feeds[inp.name] = np.zeros(shape, np.float32)
    outs = sess.run(None, feeds)
    names = [o.name for o in sess.get_outputs()]
    return {**inits, **{n: tuple(v.shape) for n, v in zip(names, outs, strict=True)}}


def count_macs(model) -> int:
    """MACs of one face through `model` (an onnx.ModelProto or a path)."""
    import onnx

    if isinstance(model, str | Path):
        model = onnx.load(str(model))
    shapes = _run_shapes(model)
    total = 0
    for node in model.graph.node:
        if node.op_type not in _WEIGHT_INPUT:
            continue
        w, y = node.input[_WEIGHT_INPUT[node.op_type]], node.output[0]
        wt = shapes[w]
        if node.op_type not in _CONVS:
            # [rows, K] x [K, N]: rows * K * N
            total += math.prod(shapes[y][:-1]) * math.prod(wt)
        else:
            out = shapes[y]
            # out [N, Cout, H, W] x weight [Cout, Cin / group, kh, kw]: each output value
            # sums Cin / group * kh * kw products
            total += math.prod(out) * math.prod(wt[1:])
    return int(total)
