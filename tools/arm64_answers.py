"""Every bundled model's answers in every shipped precision, as JSON on stdout: what
`tools/arm64_check.sh` compares between this machine and an emulated Raspberry Pi.

The faces are the same everywhere: crops of the bundled demo photo around its face at a few
shifts and scales, mirrored, and seeded noise, so nothing depends on the detector or on files
outside the package. Runs with the runtime alone (numpy, OpenCV, onnxruntime).
"""

from __future__ import annotations

import json
import platform

import cv2
import numpy as np

from edge_runtime.classifier import EmotionClassifier, bundled_files, bundled_models
from edge_runtime.cpu import cpu_info
from edge_runtime.demo import DEMO_PHOTO
from edge_runtime.preprocess import to_face_input

FACE = (178, 63, 90, 114)  # YuNet's box of the demo photo's face (x, y, w, h)


def faces() -> np.ndarray:
    gray = cv2.cvtColor(cv2.imread(str(DEMO_PHOTO)), cv2.COLOR_BGR2GRAY)
    x, y, w, h = FACE
    out = []
    for dx in (-8, 0, 8):
        for dy in (-8, 0, 8):
            for grow in (0.9, 1.0, 1.2):
                side = int(max(w, h) * grow)
                cx, cy = x + w // 2 + dx, y + h // 2 + dy
                crop = gray[
                    max(cy - side // 2, 0) : cy + side // 2, max(cx - side // 2, 0) : cx + side // 2
                ]
                out.append(to_face_input(crop))
    out += [f[:, ::-1] for f in out]
    rng = np.random.default_rng(0)
    out += list(rng.integers(0, 256, (10, 48, 48), np.uint8))
    return np.ascontiguousarray(np.stack(out))


def main() -> None:
    x = faces()
    answers = {}
    for name in bundled_models():
        for precision in bundled_files(name):
            clf = EmotionClassifier(name, precision=precision)
            answers[f"{name}.{precision}"] = clf.predict_proba(x).round(6).tolist()
    cpu = cpu_info()
    print(
        json.dumps(
            {
                "machine": platform.machine(),
                "cpu": cpu["model"],
                "isa_class": cpu["isa_class"],
                "faces": len(x),
                "answers": answers,
            }
        )
    )


if __name__ == "__main__":
    main()
