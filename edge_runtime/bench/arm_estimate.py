"""Estimates, not timings, for a Raspberry Pi 4 (Cortex-A72, class neon: no int8 dot
products), which the bench cannot time on an x86 machine.

One published timing links the two CPUs: YuNet, the bundled face detector, on a 320x320 image
with one thread in OpenCV took 54.4 ms (median of three images) on one Cortex-A72 core at
1.5 GHz, and its int8 twin 62.1 ms (TonyCongqianWang/cv_facedetection_eval,
`time_comparison_pi.md`). The bench times the same detection here in the same interleaved
rounds as the models. A model's Pi 4 estimate is its fp32 time here times the ratio of the
two YuNet times; an int8 model's is its fp32 twin's estimate times YuNet's int8/fp32 ratio on
that core, because int8 without dot products runs no faster there. The ratio carries what a
small depthwise CNN (YuNet is one) gains from this CPU's wider vectors and clock; it assumes
onnxruntime's kernels gain as much as OpenCV's, which nothing here measures: the estimates
are rough.
"""

from __future__ import annotations

import platform

import cv2

from edge_runtime.demo import DEMO_PHOTO
from edge_runtime.detect import make_detector

#: YuNet 320x320, one thread, one Cortex-A72 core at 1.5 GHz, OpenCV DNN: fp32 and int8 ms
A72_YUNET_MS = 54.4
A72_YUNET_INT8_MS = 62.1
SIDE = 320
SOURCE = "TonyCongqianWang/cv_facedetection_eval, time_comparison_pi.md"


def estimable_here() -> bool:
    """Estimates are for machines that cannot time an ARM core themselves."""
    return platform.machine().lower() not in ("aarch64", "arm64")


def anchor_call(yunet_model=None):
    """A no-argument call running YuNet once on the demo photo at 320x320, as the published
    Pi 4 timing did; time it with the models."""
    det = make_detector("yunet", yunet_model, max_side=SIDE)
    img = cv2.resize(cv2.imread(str(DEMO_PHOTO)), (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    return lambda: det.detect(img, SIDE)


def estimates(latency_rows: list[dict], yunet_ms_here: float) -> list[dict]:
    """One estimate per model and format timed at batch 1 with one thread."""
    factor = A72_YUNET_MS / yunet_ms_here
    rows = [r for r in latency_rows if r["batch"] == 1 and r["threads"] == 1]
    fp32_here = {r["model"]: r["p50_ms"] for r in rows if r["format"] in ("fp32", "onnx")}
    out = []
    for r in rows:
        if r["format"] == "int8":
            base = fp32_here.get(r["model"])
            ms = None if base is None else base * factor * A72_YUNET_INT8_MS / A72_YUNET_MS
            basis = "its fp32 twin here x factor x YuNet int8/fp32 on the A72"
            if base is None:
                basis = "no fp32 twin timed in this run"
        elif r["format"] in ("fp32", "onnx", "tflite"):
            ms, basis = r["p50_ms"] * factor, "its time here x factor"
        else:  # Keras rows: TensorFlow is not what a Pi runs
            continue
        out.append(
            {
                "model": r["model"],
                "format": r["format"],
                "macs": r.get("macs"),
                "p50_ms_here": r["p50_ms"],
                "a72_ms_estimate": None if ms is None else float(ms),
                "basis": basis,
            }
        )
    return out


def summary(yunet_ms_here: float) -> dict:
    """What the estimates rest on, for results.json and the page."""
    return {
        "yunet_320_ms_here": float(yunet_ms_here),
        "yunet_320_ms_a72": A72_YUNET_MS,
        "yunet_320_int8_ms_a72": A72_YUNET_INT8_MS,
        "factor": A72_YUNET_MS / yunet_ms_here,
        "source": SOURCE,
    }
