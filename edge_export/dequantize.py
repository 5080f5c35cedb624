"""An fp32 twin of a QDQ int8 model whose fp32 file is gone: every weight dequantized once
into a float initializer, every activation's QuantizeLinear -> DequantizeLinear pair removed.
A pair whose range starts at zero stands for a ReLU the quantizer folded into it (ORT drops
a Relu whose output quantization clamps at zero), so the twin gets that Relu back.

The twin computes what the int8 graph computes without rounding its activations, with the
int8 file's weights (not the trained fp32 ones, which differ by their rounding). It serves
where only the cost of fp32 matters, or a CPU runs fp32 faster: its latency is the fp32
latency of the same network. Its card says where it came from.

    python -m edge_export.dequantize MODEL.int8.onnx MODEL.fp32.onnx
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from edge_export.macs import count_macs
from edge_runtime.errors import EdgeFerError
from edge_runtime.model_info import file_sha256


class DequantizeError(EdgeFerError):
    """A file that is not a QDQ model this module can take apart."""


#: int8 operators of the QOperator form, whose float twin this module does not build
QOPERATOR_OPS = {
    "QLinearConv",
    "QLinearMatMul",
    "QGemm",
    "QLinearMul",
    "QLinearAdd",
    "QLinearSoftmax",
    "ConvInteger",
    "MatMulInteger",
}


def _scaled(q: np.ndarray, scale: np.ndarray, zero: np.ndarray | int, axis: int) -> np.ndarray:
    """(q - zero) * scale, per tensor or per channel along `axis`."""
    scale, zero = np.asarray(scale, np.float32), np.asarray(zero, np.float32)
    if scale.ndim == 1 and q.ndim > 1:
        shape = [1] * q.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), (zero.reshape(shape) if zero.ndim else zero)
    return ((q.astype(np.float32) - zero) * scale).astype(np.float32)


def _activation(q, producer: dict, inits: dict, relus: list) -> str:
    """The float tensor a QuantizeLinear `q` quantizes, behind a Relu (appended to `relus`
    once per tensor) where its range starts at zero and its producer is no Relu already."""
    from onnx import helper, numpy_helper

    x = q.input[0]
    zero = numpy_helper.to_array(inits[q.input[2]]) if len(q.input) > 2 else np.uint8(0)
    if zero.ndim or int(zero) != np.iinfo(zero.dtype).min:
        return x
    if x in producer and producer[x].op_type in ("Relu", "Softmax", "Sigmoid"):
        return x
    out = f"{x}_relu"
    if all(r.output[0] != out for r in relus):
        relus.append(helper.make_node("Relu", [x], [out], name=out))
    return out


def dequantize(model):
    """The fp32 twin (an onnx.ModelProto) of QDQ `model`; DequantizeError if it has no
    QuantizeLinear/DequantizeLinear to remove."""
    import onnx
    from onnx import helper, numpy_helper

    g = model.graph
    qop = sorted({n.op_type for n in g.node if n.op_type in QOPERATOR_OPS})
    if qop:
        raise DequantizeError(f"QOperator int8 ({', '.join(qop)}), not QDQ: no fp32 twin here")
    inits = {t.name: t for t in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    floats, alias, relus = [], {}, []
    for n in g.node:
        if n.op_type != "DequantizeLinear":
            continue
        src = n.input[0]
        if src in inits:
            zero = numpy_helper.to_array(inits[n.input[2]]) if len(n.input) > 2 else 0
            axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
            w = _scaled(
                numpy_helper.to_array(inits[src]),
                numpy_helper.to_array(inits[n.input[1]]),
                zero,
                axis,
            )
            floats.append(numpy_helper.from_array(w, n.output[0]))
        elif src in producer and producer[src].op_type == "QuantizeLinear":
            alias[n.output[0]] = _activation(producer[src], producer, inits, relus)
        else:
            raise DequantizeError(f"DequantizeLinear {n.name!r} reads neither a weight nor a Q")
    if not floats and not alias:
        raise DequantizeError("no QuantizeLinear/DequantizeLinear pairs: not a QDQ int8 model")

    def real(name: str) -> str:
        while name in alias:
            name = alias[name]
        return name

    relu_of = {r.input[0]: r for r in relus}
    nodes = []
    for n in g.node:
        if n.op_type == "QuantizeLinear" and n.input[0] in relu_of:  # where its input is ready
            nodes.append(relu_of.pop(n.input[0]))
        if n.op_type in ("DequantizeLinear", "QuantizeLinear"):
            continue
        n2 = onnx.NodeProto()
        n2.CopyFrom(n)
        n2.ClearField("input")
        n2.input.extend(real(i) for i in n.input)
        nodes.append(n2)
    for out in g.output:  # a graph output that was a DequantizeLinear's keeps its name
        if out.name in alias:
            nodes.append(helper.make_node("Identity", [real(out.name)], [out.name]))
    used = {i for n in nodes for i in n.input}
    kept = [t for t in g.initializer if t.name in used]
    kept += [t for t in floats if t.name in used]
    graph = helper.make_graph(nodes, g.name, list(g.input), list(g.output), kept)
    graph.value_info.extend(v for v in g.value_info if v.type.tensor_type.elem_type == 1)
    out = helper.make_model(graph, opset_imports=list(model.opset_import))
    out.ir_version = model.ir_version
    out.metadata_props.extend(model.metadata_props)
    onnx.checker.check_model(out)
    return out


def write_twin(int8_path: Path, out_path: Path) -> None:
    """Write the fp32 twin of `int8_path` to `out_path`, its embedded card saying where it
    came from; never over an existing file."""
    import onnx

    if out_path.exists():
        raise DequantizeError(f"{out_path}: exists; not overwritten")
    try:
        model = onnx.load(str(int8_path))
    except Exception as e:  # onnx raises several types for unreadable files
        raise DequantizeError(f"{int8_path}: cannot read ONNX ({e})") from None
    try:
        twin = dequantize(model)
    except DequantizeError as e:
        raise DequantizeError(f"{int8_path}: {e}") from None
    for p in twin.metadata_props:
        if p.key == "edge_fer.card":
            card = json.loads(p.value)
            card["dequantized_from"] = {"file": int8_path.name, "sha256": file_sha256(int8_path)}
            card["macs"] = count_macs(twin)
            p.value = json.dumps(card)
    onnx.save(twin, str(out_path))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m edge_export.dequantize MODEL.int8.onnx MODEL.fp32.onnx")
        return 2
    try:
        write_twin(Path(args[0]), Path(args[1]))
    except DequantizeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
