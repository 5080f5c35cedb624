"""What an edge-fer ONNX file says about itself: the `metadata_props` contract.

`edge_export/` writes these keys, the runtime reads them; a model without them is refused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from edge_runtime.errors import EdgeFerError


def file_sha256(path) -> str:
    """The SHA-256 of a model file (or any file), as cards and benchmark tables give it."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


FORMAT_VERSION = 1
PREFIX = "edge_fer."
MIN_SIDE, MAX_SIDE = 8, 512  # face input sides a model may declare, in pixels
MAX_MARGIN = 2.0  # face crop margin, as a share of the detector box's side


class ModelError(EdgeFerError):
    """A model file that cannot be used: missing, corrupt, or without edge-fer metadata."""


@dataclass(frozen=True)
class ModelInfo:
    """Everything the runtime needs to feed a model and read its answer.

    Input: float32 raw gray pixels 0..255 (scaling happens inside the graph), laid out as
    `layout` ("NCHW": [N, 1, 48, 48]; "NHWC": [N, 48, 48, 1]). Output: softmax probabilities
    over `labels`, in that order.
    """

    labels: tuple[str, ...]
    task: str
    height: int = 48
    width: int = 48
    channels: int = 1
    layout: str = "NCHW"
    pixel_scale: str = "raw_0_255"
    face_margin: float = 0.0
    card: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_metadata(self) -> dict[str, str]:
        """The `metadata_props` entries (all strings) for this model."""
        d = asdict(self)
        return {
            PREFIX + "format_version": str(self.format_version),
            PREFIX + "labels": json.dumps(list(self.labels)),
            PREFIX + "task": self.task,
            PREFIX + "input": json.dumps(
                {k: d[k] for k in ("height", "width", "channels", "layout", "pixel_scale")}
            ),
            PREFIX + "preprocess": json.dumps(
                {
                    "color": "gray",
                    "crop": "square",
                    "face_margin": self.face_margin,
                    "resize": "area when shrinking, bilinear when enlarging",
                }
            ),
            PREFIX + "card": json.dumps(self.card, sort_keys=True),
        }

    @classmethod
    def from_metadata(cls, meta: dict[str, str], source: str = "model") -> ModelInfo:
        """Read the entries written by `to_metadata`; ModelError when any is missing or bad."""
        try:
            version = int(meta[PREFIX + "format_version"])
        except KeyError:
            raise ModelError(
                f"{source}: not an edge-fer model (no '{PREFIX}format_version' metadata); "
                "export it with `edge-fer export`"
            ) from None
        except ValueError:
            raise ModelError(f"{source}: bad edge-fer format version") from None
        if version > FORMAT_VERSION:
            raise ModelError(
                f"{source}: edge-fer model format {version} is newer than this runtime "
                f"understands ({FORMAT_VERSION}); upgrade edge-fer"
            )
        try:
            labels = tuple(json.loads(meta[PREFIX + "labels"]))
            inp = json.loads(meta[PREFIX + "input"])
            pre = json.loads(meta.get(PREFIX + "preprocess", "{}"))
            card = json.loads(meta.get(PREFIX + "card", "{}"))
            info = cls(
                labels=labels,
                task=meta[PREFIX + "task"],
                height=int(inp["height"]),
                width=int(inp["width"]),
                channels=int(inp["channels"]),
                layout=str(inp["layout"]),
                pixel_scale=str(inp["pixel_scale"]),
                face_margin=float(pre.get("face_margin", 0.0)),
                card=card,
                format_version=version,
            )
        except (KeyError, ValueError, TypeError) as e:
            raise ModelError(f"{source}: incomplete edge-fer metadata ({e})") from None
        if len(labels) < 2 or info.channels != 1 or info.layout not in ("NCHW", "NHWC"):
            raise ModelError(f"{source}: unsupported model input or labels in metadata")
        if info.pixel_scale != "raw_0_255":
            raise ModelError(f"{source}: unsupported pixel scaling {info.pixel_scale!r}")
        for field_name in ("height", "width"):
            side = getattr(info, field_name)
            if not MIN_SIDE <= side <= MAX_SIDE:
                raise ModelError(
                    f"{source}: input {field_name} {side} in its metadata is outside "
                    f"{MIN_SIDE}..{MAX_SIDE}"
                )
        if not 0.0 <= info.face_margin <= MAX_MARGIN:  # NaN fails this too
            raise ModelError(
                f"{source}: face_margin {info.face_margin} in its metadata is outside "
                f"0..{MAX_MARGIN:g}"
            )
        return info

    def check_graph_input(self, shape: list, source: str = "model") -> None:
        """ModelError when the graph's input shape disagrees with the metadata (a dynamic
        dimension agrees with anything)."""
        want = (
            [1, self.height, self.width] if self.layout == "NCHW" else [self.height, self.width, 1]
        )
        names = (
            ("channels", "height", "width")
            if self.layout == "NCHW"
            else ("height", "width", "channels")
        )
        if len(shape) != 4:
            raise ModelError(f"{source}: graph input has {len(shape)} dimensions, expected 4")
        for name, got, expected in zip(names, shape[1:], want, strict=True):
            if isinstance(got, int) and got != expected:
                raise ModelError(
                    f"{source}: metadata says input {name} {expected}, the graph takes {got}"
                )
