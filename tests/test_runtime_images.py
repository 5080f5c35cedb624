"""Still images: decoding (gray, RGBA, 16-bit, EXIF rotation), guards, input expansion."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from edge_runtime.image_io import ImageError, decode_image, read_header
from edge_runtime.image_sources import expand_inputs


def _jpeg(img: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", img)[1].tobytes()


def _png(img: np.ndarray) -> bytes:
    return cv2.imencode(".png", img)[1].tobytes()


def with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """`jpeg` with an APP1 EXIF segment holding only the Orientation tag."""
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
    tiff += struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0)
    payload = b"Exif\x00\x00" + tiff
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + app1 + jpeg[2:]


def test_header_sizes():
    img = np.zeros((30, 40, 3), np.uint8)
    for data, fmt in (
        (_png(img), "png"),
        (_jpeg(img), "jpeg"),
        (cv2.imencode(".bmp", img)[1].tobytes(), "bmp"),
        (cv2.imencode(".webp", img)[1].tobytes(), "webp"),
    ):
        h = read_header(data)
        assert (h.format, h.width, h.height) == (fmt, 40, 30)
    assert read_header(b"hello") is None


def test_gray_and_16_bit_are_kept():
    gray = np.tile(np.arange(40, dtype=np.uint8), (30, 1))
    assert decode_image(_png(gray)).shape == (30, 40)
    deep = gray.astype(np.uint16) * 256
    out = decode_image(_png(deep))
    assert out.dtype == np.uint16 and out.shape == (30, 40)


def test_rgba_is_composited_over_white():
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[:10, :, 3] = 255  # top half opaque black, bottom half transparent
    out = decode_image(_png(rgba))
    assert out.shape == (20, 20, 3)
    assert out[:10].max() == 0 and out[10:].min() == 255


def test_exif_orientation_is_applied():
    img = np.zeros((40, 80, 3), np.uint8)
    img[:, :40] = 255  # left half white
    rotated = decode_image(with_exif_orientation(_jpeg(img), 6))  # 6: rotate 90 clockwise
    assert rotated.shape[:2] == (80, 40)
    assert rotated[:30].mean() > 200 and rotated[50:].mean() < 50
    plain = decode_image(with_exif_orientation(_jpeg(img), 1))
    assert plain.shape[:2] == (40, 80)


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty"),
        (b"just some text, not a picture", "not an image"),
    ],
)
def test_bad_bytes(data, reason):
    with pytest.raises(ImageError, match=reason):
        decode_image(data)


def test_truncated_jpeg_and_png_are_refused():
    img = np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)
    for data, fmt in ((_jpeg(img), "jpeg"), (_png(img), "png")):
        with pytest.raises(ImageError, match=f"truncated {fmt}"):
            decode_image(data[: len(data) // 2])


def test_pixel_limit_is_checked_before_decoding():
    data = _png(np.zeros((600, 600), np.uint8))
    with pytest.raises(ImageError, match="too large: 600x600"):
        decode_image(data, max_pixels=100_000)
    assert decode_image(data).shape == (600, 600)


def test_expand_inputs(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/one.jpg", "a/b/two.PNG", "a/notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    items = expand_inputs(
        [
            str(tmp_path / "a"),
            str(tmp_path / "a" / "*.jpg"),
            str(tmp_path / "missing.jpg"),
            str(tmp_path / "empty"),
            str(tmp_path / "*.gif"),
            "ftp://example.com/x.jpg",
            "https://example.com/y.jpg",
        ]
    )
    got = [(i.source.replace(str(tmp_path), "T"), i.error) for i in items]
    assert got == [
        ("T/a/b/two.PNG", None),
        ("T/a/one.jpg", None),
        ("T/a/one.jpg", None),
        ("T/missing.jpg", "no such file or directory"),
        ("T/empty", "no images found in directory"),
        ("T/*.gif", "no files match this pattern"),
        ("ftp://example.com/x.jpg", "unsupported URL scheme 'ftp' (only http and https)"),
        ("https://example.com/y.jpg", None),
    ]
    assert items[-1].url == "https://example.com/y.jpg"


def test_a_folder_scan_counts_and_names_what_it_skips(tmp_path, tiny_onnx_model, monkeypatch):
    import os

    from typer.testing import CliRunner

    from edge_runtime.cli import app
    from edge_runtime.native_logs import VERBOSE_ENV

    monkeypatch.setenv(VERBOSE_ENV, "")  # --verbose below sets it; restored after the test

    (tmp_path / "sub").mkdir()
    cv2.imwrite(str(tmp_path / "sub" / "face.png"), np.full((48, 48), 90, np.uint8))
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "broken.jpg").symlink_to(tmp_path / "nowhere.jpg")
    os.mkfifo(tmp_path / "camera.jpg")
    skipped: list[tuple[str, str]] = []
    items = expand_inputs([str(tmp_path)], skipped)
    assert [i.source for i in items] == [str(tmp_path / "sub" / "face.png")]
    assert sorted((p.replace(str(tmp_path), "T"), why) for p, why in skipped) == [
        ("T/broken.jpg", "broken link"),
        ("T/camera.jpg", "not a regular file"),
        ("T/notes.txt", "other file type (.txt)"),
    ]

    args = ["predict", str(tmp_path), "--model", str(tiny_onnx_model), "--detector", "none"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "skipped 3 folder entries: " in res.stderr and "--verbose" in res.stderr
    assert "notes.txt" not in res.stderr
    res = CliRunner().invoke(app, ["--verbose", *args])
    for name in ("broken.jpg: broken link", "camera.jpg: not a regular file", "notes.txt"):
        assert name in res.stderr


def _twins() -> dict[str, bytes]:
    """The bundled demo photo in every format a user may hand over, made here with Pillow."""
    import io

    from PIL import Image

    from edge_runtime.demo import DEMO_PHOTO

    bgr = cv2.imread(str(DEMO_PHOTO))
    rgb = Image.fromarray(bgr[:, :, ::-1].copy())
    palette = rgb.convert("P", palette=Image.ADAPTIVE)

    def save(img, fmt: str, **kw) -> bytes:
        buf = io.BytesIO()
        img.save(buf, fmt, **kw)
        return buf.getvalue()

    # stored a quarter turn counter-clockwise; EXIF 6 says: turn it clockwise to show it
    turned = _jpeg(cv2.rotate(bgr, cv2.ROTATE_90_COUNTERCLOCKWISE))
    return {
        "gif palette": save(palette, "GIF"),
        "gif transparent index": save(palette, "GIF", transparency=0),
        "gif animated, first frame": save(
            palette,
            "GIF",
            save_all=True,
            duration=100,
            append_images=[palette.rotate(90), Image.new("P", rgb.size)],
        ),
        "jpeg cmyk": save(rgb.convert("CMYK"), "JPEG", quality=95),
        "png 16-bit": _png(bgr.astype(np.uint16) * 257),
        "png rgba": save(rgb.convert("RGBA"), "PNG"),
        "png palette": save(palette, "PNG"),
        "png gray + alpha": save(rgb.convert("LA"), "PNG"),
        "jpeg exif-rotated": with_exif_orientation(turned, 6),
        "webp": save(rgb, "WEBP", quality=95),
        "tiff": save(rgb, "TIFF"),
        "bmp": save(rgb, "BMP"),
    }


def test_every_format_gives_the_face_and_label_of_its_jpeg_twin():
    pytest.importorskip("PIL", reason="the test makes its images with Pillow")
    from edge_runtime import EmotionRecognizer
    from edge_runtime.demo import DEMO_PHOTO

    rec = EmotionRecognizer()
    (want,) = rec.predict(DEMO_PHOTO)
    for name, data in _twins().items():
        faces = rec.predict(decode_image(data))
        assert len(faces) == 1, f"{name}: {len(faces)} faces"
        got = faces[0]
        assert got.label == want.label, f"{name}: {got.label} vs {want.label}"
        assert np.abs(np.subtract(got.box, want.box)).max() <= 4, f"{name}: {got.box} vs {want.box}"
        assert abs(got.score - want.score) < 0.05, name
