"""edge-fer's device runtime: faces and their expressions from images, cameras and videos.

    from edge_runtime import EmotionRecognizer
    rec = EmotionRecognizer("fer7")                      # YuNet finds the faces
    faces = rec.predict("photo.jpg")

Only numpy, OpenCV, onnxruntime (and typer for the CLI); never TensorFlow. Names are
imported lazily so that `import edge_runtime.labels` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "EmotionRecognizer": "edge_runtime.recognizer",
    "RecognizerOptions": "edge_runtime.recognizer",
    "FrameStream": "edge_runtime.recognizer",
    "EmotionClassifier": "edge_runtime.classifier",
    "Face": "edge_runtime.results",
    "FrameResult": "edge_runtime.results",
    "ImageResult": "edge_runtime.results",
    "make_detector": "edge_runtime.detect",
    "ModelError": "edge_runtime.model_info",
    "ModelInfo": "edge_runtime.model_info",
}

__all__ = [
    "EmotionClassifier",
    "EmotionRecognizer",
    "Face",
    "FrameResult",
    "FrameStream",
    "ImageResult",
    "ModelError",
    "ModelInfo",
    "RecognizerOptions",
    "make_detector",
]

if TYPE_CHECKING:
    from edge_runtime.classifier import EmotionClassifier
    from edge_runtime.detect import make_detector
    from edge_runtime.model_info import ModelError, ModelInfo
    from edge_runtime.recognizer import EmotionRecognizer, FrameStream, RecognizerOptions
    from edge_runtime.results import Face, FrameResult, ImageResult


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edge_runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
