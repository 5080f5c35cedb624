"""`python -m edge_export.dequantize`: the fp32 twin of a QDQ int8 file whose fp32 file is
gone, checked on the bundled fer7."""

from __future__ import annotations

import numpy as np
import pytest

from edge_runtime.classifier import MODELS_DIR, EmotionClassifier

pytest.importorskip("onnx", reason="needs onnx (pip install '.[train]')")


def test_the_twin_of_fer7_answers_as_the_int8_file_in_fp32(tmp_path):
    import onnx

    from edge_export.dequantize import main
    from edge_export.macs import count_macs

    int8, twin = MODELS_DIR / "fer7.int8.onnx", tmp_path / "fer7.fp32.onnx"
    assert main([str(int8), str(twin)]) == 0
    ops = {n.op_type for n in onnx.load(str(twin)).graph.node}
    assert not ops & {"QuantizeLinear", "DequantizeLinear"} and "Relu" in ops
    faces = np.random.default_rng(0).integers(0, 256, (64, 48, 48), dtype=np.uint8)
    a = EmotionClassifier(int8).predict_proba(faces)
    b = EmotionClassifier(twin).predict_proba(faces)
    assert np.abs(a - b).max() < 0.05 and (a.argmax(1) == b.argmax(1)).mean() >= 0.95
    assert count_macs(twin) == count_macs(int8)
    card = EmotionClassifier(twin).info.card
    assert card["dequantized_from"]["file"] == "fer7.int8.onnx"
    assert EmotionClassifier(twin).macs == card["macs"] == count_macs(int8)


def test_a_qoperator_file_or_an_existing_output_is_refused_in_one_line(tmp_path, capsys):
    from edge_export.dequantize import main

    taken = tmp_path / "taken.onnx"
    taken.write_bytes(b"mine")
    assert main([str(MODELS_DIR / "fer7.int8.onnx"), str(taken)]) == 1
    assert taken.read_bytes() == b"mine"
    # happy_sad ships in QOperator form (QLinearConv, ...): no QDQ pairs to take apart
    assert main([str(MODELS_DIR / "happy_sad.int8.onnx"), str(tmp_path / "hs.onnx")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)
    assert "exists" in err[0] and "happy_sad.int8.onnx: QOperator int8 (QGemm" in err[1]
