"""Decoding still images safely: size guards, truncation checks, EXIF, alpha and 16-bit.

`decode_image(bytes)` returns what OpenCV decodes (gray or BGR, 8- or 16-bit) with the EXIF
orientation applied and any alpha channel composited over white, or raises `ImageError`
with a short reason. The pixel count is read from the file header *before* decoding, so a
small file that would expand into gigabytes (a decompression bomb) is refused cheaply.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import cv2
import numpy as np

from edge_runtime.errors import EdgeFerError, brief

MAX_PIXELS = 50_000_000  # 50 megapixels: larger than any phone photo, far below a bomb
MAX_FILE_BYTES = 64 * 1024 * 1024


class ImageError(EdgeFerError):
    """An input that is not a usable image; the message is the reason, for one-line reports."""


@dataclass(frozen=True)
class ImageHeader:
    format: str
    width: int
    height: int
    alpha: bool = False


def _jpeg_header(data: bytes) -> ImageHeader | None:
    i, n = 2, len(data)
    while i + 9 < n:
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return ImageHeader("jpeg", w, h)
        i += 2 + length
    return None


def _webp_header(data: bytes) -> ImageHeader | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        alpha = bool(data[20] & 0x10)
        w = 1 + int.from_bytes(data[24:27], "little")
        h = 1 + int.from_bytes(data[27:30], "little")
        return ImageHeader("webp", w, h, alpha)
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return ImageHeader("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, True)
    if chunk == b"VP8 " and len(data) >= 30:
        w, h = struct.unpack("<HH", data[26:30])
        return ImageHeader("webp", w & 0x3FFF, h & 0x3FFF)
    return None


def _tiff_header(data: bytes) -> ImageHeader | None:
    """Width and height from a TIFF's or BigTIFF's first image directory (tags 256 and 257).
    A tag given twice counts at its largest (decoders differ on which they take)."""
    end = "<" if data[:2] == b"II" else ">"
    big = data[2:4] in (b"+\x00", b"\x00+")
    try:
        if big:
            (ifd,) = struct.unpack(end + "Q", data[8:16])
            (count,) = struct.unpack(end + "Q", data[ifd : ifd + 8])
            first, width = ifd + 8, 20
        else:
            (ifd,) = struct.unpack(end + "I", data[4:8])
            (count,) = struct.unpack(end + "H", data[ifd : ifd + 2])
            first, width = ifd + 2, 12
        size: dict[int, int] = {}
        for i in range(min(count, 512)):
            entry = data[first + width * i : first + width * (i + 1)]
            tag, kind = struct.unpack(end + "HH", entry[:4])
            if tag not in (256, 257):
                continue
            value = entry[12:20] if big else entry[8:12]
            codes = {3: "H", 4: "I", 16: "Q"}
            if kind not in codes:
                return ImageHeader("tiff", 0, 0)
            (v,) = struct.unpack(end + codes[kind], value[: struct.calcsize(codes[kind])])
            size[tag] = max(size.get(tag, 0), v)
        return ImageHeader("bigtiff" if big else "tiff", size[256], size[257])
    except (struct.error, KeyError):
        return ImageHeader("tiff", 0, 0)  # a TIFF without a readable size: corrupt


def _pnm_header(data: bytes) -> ImageHeader | None:
    """Width and height of a PBM/PGM/PPM (P1-P6), whose header is text."""
    tokens: list[bytes] = []
    for line in data[:1024].split(b"\n"):
        tokens += line.split(b"#")[0].split()
        if len(tokens) >= 3:
            break
    try:
        return ImageHeader("pnm", int(tokens[1]), int(tokens[2]))
    except (IndexError, ValueError):
        return ImageHeader("pnm", 0, 0)


def _radiance_header(data: bytes) -> ImageHeader:
    """Width and height of a Radiance .hdr: the resolution line after its text header."""
    head = data[:8192]
    blank = head.find(b"\n\n")
    if blank >= 0:
        line = head[blank + 2 :].split(b"\n", 1)[0].split()
        if len(line) == 4 and line[0] in (b"-Y", b"+Y") and line[2] in (b"+X", b"-X"):
            try:
                return ImageHeader("hdr", int(line[3]), int(line[1]))
            except ValueError:
                pass
    return ImageHeader("hdr", 0, 0)


def read_header(data: bytes) -> ImageHeader | None:
    """Format, size and alpha from the first bytes of a PNG, JPEG, GIF, BMP, WebP, TIFF,
    BigTIFF, PNM or Radiance HDR file; None for any other data."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 26:
        w, h = struct.unpack(">II", data[16:24])
        return ImageHeader("png", w, h, alpha=data[25] in (4, 6) or b"tRNS" in data[:4096])
    if data[:3] == b"\xff\xd8\xff":
        return _jpeg_header(data)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        w, h = struct.unpack("<HH", data[6:10])
        return ImageHeader("gif", w, h)
    if data[:2] == b"BM" and len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        return ImageHeader("bmp", abs(w), abs(h))
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_header(data)
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _tiff_header(data)
    if len(data) > 2 and data[:1] == b"P" and data[1:2] in b"123456" and data[2:3].isspace():
        return _pnm_header(data)
    if data[:10] == b"#?RADIANCE" or data[:6] == b"#?RGBE":
        return _radiance_header(data)
    return None


def _truncated(fmt: str, data: bytes) -> bool:
    tail = data[-4096:].rstrip(b"\x00\r\n\t ")
    if fmt == "jpeg":
        return b"\xff\xd9" not in tail
    if fmt == "png":
        return b"IEND" not in data[-64:]
    if fmt == "gif":
        return not tail.endswith(b";")
    return False


def _composite_over_white(img: np.ndarray) -> np.ndarray:
    color, alpha = img[:, :, :3], img[:, :, 3:]
    top = 65535.0 if img.dtype == np.uint16 else 255.0
    a = alpha.astype(np.float32) / top
    out = color.astype(np.float32) * a + top * (1.0 - a)
    return np.clip(out + 0.5, 0, top).astype(img.dtype)


def video_container(data: bytes) -> str | None:
    """The container format of a video file from its first bytes, or None."""
    if data[4:8] == b"ftyp":
        return "MP4/MOV"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "Matroska/WebM"
    if data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        return "AVI"
    if data[:3] == b"FLV":
        return "FLV"
    if data[:4] == b"OggS":
        return "Ogg"
    if data[:4] == b"\x00\x00\x01\xba":
        return "MPEG-PS"
    if len(data) > 376 and data[0] == data[188] == data[376] == 0x47:
        return "MPEG-TS"
    return None


def decode_image(data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an encoded image; gray or BGR, uint8 or uint16, EXIF orientation applied.

    Raises ImageError for empty, unrecognised, truncated, corrupt or oversized data.
    """
    if not data:
        raise ImageError("empty file")
    header = read_header(data)
    if header is None:
        video = video_container(data)
        if video:
            raise ImageError(f"a video ({video}), not an image: use `edge-fer run --video`")
        # OpenCV would decode other formats (EXR, JPEG 2000, Sun raster...) before anything
        # could check how large they are: refused, so that no small file can claim gigabytes
        raise ImageError(
            "not an image format whose size can be checked before decoding (JPEG, PNG, GIF, "
            "WebP, TIFF, BMP, PNM, HDR)"
        )
    if header.width <= 0 or header.height <= 0:
        raise ImageError(f"corrupt {header.format} header")
    if header.width * header.height > max_pixels:
        raise ImageError(
            f"image too large: {header.width}x{header.height} pixels "
            f"(limit {max_pixels / 1e6:g} megapixels)"
        )
    if _truncated(header.format, data):
        raise ImageError(f"truncated {header.format} file")
    # ANYDEPTH|ANYCOLOR keeps 16-bit and gray and, unlike IMREAD_UNCHANGED, applies the EXIF
    # orientation; alpha needs IMREAD_UNCHANGED (formats with alpha rarely carry EXIF).
    flags = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR
    if header.alpha:
        flags = cv2.IMREAD_UNCHANGED
    buf = np.frombuffer(data, np.uint8)
    try:
        img = cv2.imdecode(buf, flags)
    except cv2.error as e:
        raise ImageError(f"cannot decode image ({brief(e, 120, last=True)})") from None
    if img is None or img.size == 0:
        raise ImageError(f"corrupt {header.format} file")
    if img.ndim == 3 and img.shape[2] == 4:
        img = _composite_over_white(img)
    return img
