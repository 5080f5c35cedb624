"""Inputs a device meets when nobody watches: special files among the images, a small file
that declares a huge picture, a model whose metadata disagrees with its graph."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from conftest import build_tiny_onnx_model
from typer.testing import CliRunner

from edge_runtime.classifier import EmotionClassifier
from edge_runtime.cli import app
from edge_runtime.image_io import ImageError, decode_image
from edge_runtime.image_sources import read_file
from edge_runtime.model_info import PREFIX, ModelError


def test_fifos_and_devices_are_refused_without_reading_them(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)  # opening it for reading would block until a writer comes: never here
    with pytest.raises(ImageError, match="not a regular file \\(a FIFO\\)"):
        read_file(fifo)
    with pytest.raises(ImageError, match="not a regular file \\(a device\\)"):
        read_file(Path("/dev/zero"))  # endless: read, it would exhaust memory
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * 2000)
    with pytest.raises(ImageError, match="file too large"):
        read_file(big, max_bytes=1000)


def test_a_batch_goes_on_past_a_fifo(tmp_path, tiny_onnx_model, shared_samples):
    os.mkfifo(tmp_path / "pipe.jpg")
    res = CliRunner().invoke(
        app,
        [
            "predict",
            "--model",
            str(tiny_onnx_model),
            "--json",
            str(tmp_path / "pipe.jpg"),
            str(shared_samples / "justin.jpg"),
        ],
    )
    assert res.exit_code == 1
    assert "not a regular file (a FIFO)" in res.output and '"faces": [{' in res.output


def _tiff(width: int, height: int) -> bytes:
    """A little-endian TIFF header and one directory declaring width x height, no pixels."""
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (262, 3, 1, 1)]
    ifd = (
        struct.pack("<H", len(entries))
        + b"".join(struct.pack("<HHII", *e) for e in entries)
        + struct.pack("<I", 0)
    )
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\0" * 64


def test_a_small_tiff_declaring_a_huge_picture_is_refused_before_decoding():
    data = _tiff(32000, 32000)
    assert len(data) < 200
    with pytest.raises(ImageError, match="image too large: 32000x32000"):
        decode_image(data)


def _bigtiff(w: int, h: int) -> bytes:
    entries = [(256, 16, 1, w), (257, 16, 1, h), (258, 3, 1, 8), (277, 3, 1, 1)]
    ifd = struct.pack("<Q", len(entries)) + b"".join(
        struct.pack("<HHQQ", t, k, n, v) for t, k, n, v in entries
    )
    return b"II+\x00" + struct.pack("<HHQ", 8, 0, 16) + ifd + b"\0" * 64


def test_sizes_every_decoder_would_use_are_checked_before_decoding():
    """Duplicate size tags (the reader used to take the last, libtiff takes the first), a
    BigTIFF, a Radiance .hdr: refused from their headers; a format whose size cannot be read
    is refused rather than decoded (issue 50 F5)."""
    entries = [(256, 4, 1, 20000), (257, 4, 1, 20000), (256, 3, 1, 64), (257, 3, 1, 64)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", t, k, n, v) for t, k, n, v in entries
    )
    duplicated = b"II*\x00" + struct.pack("<I", 8) + ifd + b"\0" * 64
    with pytest.raises(ImageError, match="image too large: 20000x20000"):
        decode_image(duplicated)
    with pytest.raises(ImageError, match="image too large: 20000x20000"):
        decode_image(_bigtiff(20000, 20000))
    hdr = b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 10000 +X 10000\n" + b"\0" * 64
    with pytest.raises(ImageError, match="image too large: 10000x10000"):
        decode_image(hdr)
    with pytest.raises(ImageError, match="size can be checked before decoding"):
        decode_image(b"\x76\x2f\x31\x01" + b"\0" * 256)  # OpenEXR's magic
    pgm = cv2.imencode(".pgm", np.full((40, 30), 99, np.uint8))[1].tobytes()
    assert decode_image(pgm).shape[:2] == (40, 30)  # PNM is read, its size checked first


def _with_meta(src: Path, dst: Path, **changes: str) -> Path:
    model = onnx.load(str(src))
    for prop in model.metadata_props:
        key = prop.key.removeprefix(PREFIX)
        if key in changes:
            prop.value = changes[key]
    onnx.save(model, str(dst))
    return dst


@pytest.mark.parametrize(
    "field, value, message",
    [
        (
            "input",
            '{"height": 64, "width": 64, "channels": 1, "layout": "NCHW", '
            '"pixel_scale": "raw_0_255"}',
            "metadata says input height 64, the graph takes 48",
        ),
        (
            "input",
            '{"height": 20000, "width": 20000, "channels": 1, "layout": "NCHW", '
            '"pixel_scale": "raw_0_255"}',
            "input height 20000 in its metadata is outside",
        ),
        (
            "input",
            '{"height": 0, "width": 48, "channels": 1, "layout": "NCHW", '
            '"pixel_scale": "raw_0_255"}',
            "input height 0 in its metadata is outside",
        ),
        ("preprocess", '{"face_margin": NaN}', "face_margin nan in its metadata is outside"),
        ("preprocess", '{"face_margin": -0.5}', "face_margin -0.5 in its metadata is outside"),
    ],
)
def test_metadata_that_disagrees_with_the_graph_is_one_line(tmp_path, field, value, message):
    model = build_tiny_onnx_model(tmp_path / "ok.onnx")
    bad = _with_meta(model, tmp_path / "bad.onnx", **{field: value})
    with pytest.raises(ModelError, match=message):
        EmotionClassifier(bad)
    res = CliRunner().invoke(app, ["predict", "--model", str(bad), "--demo"])
    assert res.exit_code == 2 and message.split(" in its")[0] in res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1


def test_control_characters_in_a_name_are_shown_escaped(tmp_path, tiny_onnx_model):
    odd = tmp_path / "two\nlines\x1b[31m.png"
    odd.write_bytes(b"not an image")
    res = CliRunner().invoke(app, ["predict", "--model", str(tiny_onnx_model), str(odd)])
    assert res.exit_code == 1
    assert "two\\nlines\\x1b[31m.png" in res.output and "\x1b" not in res.output
    assert len(res.output.strip().splitlines()) == 2  # the result line and the warning


def test_ffmpegs_own_messages_stay_off_the_terminal(tmp_path, tiny_onnx_model):
    """A broken video gives edge-fer's one line, not FFmpeg's "moov atom not found" too;
    `edge-fer --verbose` lets FFmpeg speak."""
    import subprocess
    import sys

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 4096)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENCV_FFMPEG_LOGLEVEL", "EDGE_FER_VERBOSE")
    }
    cmd = [sys.executable, "-m", "edge_runtime.cli"]
    args = ["run", "--video", str(broken), "--model", str(tiny_onnx_model), "--quiet"]
    quiet = subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, timeout=120)
    assert quiet.returncode == 2
    assert quiet.stderr.splitlines() == [
        f"edge-fer: error: cannot open {broken}: a MP4/MOV file whose codec OpenCV's FFmpeg "
        "lacks, or a broken one"
    ]
    loud = subprocess.run(
        [*cmd, "--verbose", *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert loud.returncode == 2 and len(loud.stderr.splitlines()) > 1


def test_a_dynamic_graph_that_cannot_take_its_metadatas_size_fails_at_load(tmp_path):
    """A graph with dynamic height and width whose metadata names 64x64 (its Gemm needs 48):
    one line at load, not an onnxruntime traceback at the first face (issue 50 F9)."""
    import onnx

    model = onnx.load(str(build_tiny_onnx_model(tmp_path / "ok.onnx")))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "H", "W"
    onnx.save(model, str(tmp_path / "dynamic.onnx"))
    bad = _with_meta(
        tmp_path / "dynamic.onnx",
        tmp_path / "bad.onnx",
        input='{"height": 64, "width": 64, "channels": 1, "layout": "NCHW", '
        '"pixel_scale": "raw_0_255"}',
    )
    with pytest.raises(ModelError, match="cannot run on the 64x64 faces its metadata names"):
        EmotionClassifier(bad)
    res = CliRunner().invoke(app, ["predict", "--model", str(bad), "--demo"])
    assert res.exit_code == 2 and "cannot run on the 64x64 faces" in res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
